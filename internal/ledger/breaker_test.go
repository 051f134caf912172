package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/ledger"
)

func TestBreakerStoreSharedAcrossStores(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	var allowed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Four "instances", each with its own store handle on one directory.
	for range 4 {
		fs, err := ledger.NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		b := breaker.New(ledger.BreakerStore{L: fs}, 5, time.Hour, func() time.Time { return now })
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := b.Allow(context.Background(), "t1", 1)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("allowed %d removals across instances, limit 5", allowed)
	}
	fs, _ := ledger.NewFileStore(dir)
	later := breaker.New(ledger.BreakerStore{L: fs}, 5, time.Hour, func() time.Time { return now.Add(time.Hour) })
	if d, err := later.Allow(context.Background(), "t1", 1); err != nil || !d.Allowed {
		t.Fatalf("after the window: %+v %v", d, err)
	}
}
