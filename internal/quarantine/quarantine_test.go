package quarantine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func items(n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = NewItem(MalformedEvent, "junk", Position{Partition: "1", Event: i, Record: -1}, []byte(fmt.Sprintf("junk %d", i)), t0.Add(time.Duration(i)))
	}
	return out
}

func TestDirKeepAll(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	its := items(300)
	if err := d.KeepAll(context.Background(), its); err != nil {
		t.Fatal(err)
	}
	// Idempotent: a redelivered batch keeps nothing twice.
	if err := d.KeepAll(context.Background(), its[:10]); err != nil {
		t.Fatal(err)
	}
	got, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(its) {
		t.Fatalf("listed %d items, kept %d", len(got), len(its))
	}
	for _, it := range its {
		b, err := d.Body(it.ID)
		if err != nil || !bytes.Equal(b, it.Body) {
			t.Fatalf("%s: body %q, %v", it.ID, b, err)
		}
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(d.Path)
	if len(ents) != 2*len(its) {
		t.Errorf("%d files for %d items", len(ents), len(its))
	}
}

func TestDirKeepAllHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Dir{Path: t.TempDir()}).KeepAll(ctx, items(3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

type oneByOne struct{ kept []Item }

func (o *oneByOne) Keep(_ context.Context, it Item) error {
	o.kept = append(o.kept, it)
	return nil
}

// A store without a batch form still gets every item, one by one.
func TestKeepAllFallsBackToKeep(t *testing.T) {
	k := &oneByOne{}
	if err := KeepAll(context.Background(), k, items(5)); err != nil || len(k.kept) != 5 {
		t.Fatalf("kept %d, %v", len(k.kept), err)
	}
}

// BenchmarkDirKeep compares keeping 256 items one by one (a sync each) with
// one KeepAll (one sync for all).
func BenchmarkDirKeep(b *testing.B) {
	its := items(256)
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			d := Dir{Path: b.TempDir()}
			for _, it := range its {
				if err := d.Keep(context.Background(), it); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("KeepAll", func(b *testing.B) {
		for b.Loop() {
			if err := (Dir{Path: b.TempDir()}).KeepAll(context.Background(), its); err != nil {
				b.Fatal(err)
			}
		}
	})
}
