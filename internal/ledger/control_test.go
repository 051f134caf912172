package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
)

// controlSuite runs the control records against one backend.
func controlSuite(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	t.Run("LockSerialisesWriters", func(t *testing.T) {
		l := open(t)
		locks := ledger.ObjectLocks{L: l, Poll: time.Millisecond}
		var inside, maxInside atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				release, err := locks.Acquire(ctx, "0b8f6f3e-0000-4000-8000-000000000001", "writer-"+string(rune('a'+i)), time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				if err := release(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if maxInside.Load() != 1 {
			t.Fatalf("%d writers held the object at once", maxInside.Load())
		}
	})
	t.Run("LockExpires", func(t *testing.T) {
		l := open(t)
		now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		locks := ledger.ObjectLocks{L: l, Now: clock, Poll: time.Millisecond}
		release, err := locks.Acquire(context.Background(), "obj", "dead-writer", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if _, err := locks.Acquire(ctx, "obj", "next", time.Minute); !errors.Is(err, ledger.ErrLocked) {
			t.Fatalf("held lock: got %v, want ErrLocked", err)
		}
		now = now.Add(2 * time.Minute)
		if _, err := locks.Acquire(context.Background(), "obj", "next", time.Minute); err != nil {
			t.Fatalf("expired lock not taken over: %v", err)
		}
		// The first holder, back from the dead, releases nothing of next's.
		if err := release(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel2()
		if _, err := locks.Acquire(ctx2, "obj", "third", time.Minute); !errors.Is(err, ledger.ErrLocked) {
			t.Fatalf("a stale release freed the new holder's lease: %v", err)
		}
	})
	t.Run("KillSwitch", func(t *testing.T) {
		l := open(t)
		k := ledger.KillSwitch{L: l}
		if s, err := k.State(context.Background()); err != nil || s.On {
			t.Fatalf("never set: %+v %v", s, err)
		}
		if _, err := k.Set(context.Background(), true, "forged events in the hub", "alice"); err != nil {
			t.Fatal(err)
		}
		// Another process's handle on the same ledger sees it.
		s, err := ledger.KillSwitch{L: l}.State(context.Background())
		if err != nil || !s.On || s.By != "alice" || s.Reason != "forged events in the hub" {
			t.Fatalf("after on: %+v %v", s, err)
		}
		if s, err := k.Set(context.Background(), false, "cleaned up", "bob"); err != nil || s.On {
			t.Fatalf("after off: %+v %v", s, err)
		}
	})
	t.Run("Attempts", func(t *testing.T) {
		l := open(t)
		a := ledger.Attempts{L: l}
		for want := 1; want <= 3; want++ {
			n, err := a.Add(context.Background(), "7", 1200)
			if err != nil || n != want {
				t.Fatalf("attempt %d: got %d %v", want, n, err)
			}
		}
		if n, _ := a.Add(context.Background(), "7", 1300); n != 1 {
			t.Fatalf("another batch shares the count: %d", n)
		}
		// A partition id from the outside never becomes a path.
		if _, err := a.Add(context.Background(), "../../etc/passwd", 1); err != nil {
			t.Fatalf("odd partition id: %v", err)
		}
	})
	t.Run("Decisions", func(t *testing.T) {
		l := open(t)
		d := ledger.Decisions{L: l}
		if _, ok, err := d.Lookup(context.Background(), "SP", "KEY"); ok || err != nil {
			t.Fatalf("none yet: %v %v", ok, err)
		}
		at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		if err := d.Record(context.Background(), "SP", "KEY", ledger.Decision{Incident: "inc-1", By: "alice", Note: "false positive", At: at}); err != nil {
			t.Fatal(err)
		}
		got, ok, err := d.Lookup(context.Background(), "sp", "key")
		if err != nil || !ok || got.By != "alice" || got.Note != "false positive" || got.Incident != "inc-1" || !got.At.Equal(at) {
			t.Fatalf("lookup in another case: %+v %v %v", got, ok, err)
		}
	})
	t.Run("ConditionalWrites", func(t *testing.T) {
		l := open(t)
		ctx := context.Background()
		if _, _, err := l.GetControl(ctx, "test", "x"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("missing record: %v", err)
		}
		v1, err := l.PutControl(ctx, "test", "x", []byte(`{"n":1}`), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.PutControl(ctx, "test", "x", []byte(`{"n":9}`), ""); !errors.Is(err, ledger.ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
		v2, err := l.PutControl(ctx, "test", "x", []byte(`{"n":2}`), v1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.PutControl(ctx, "test", "x", []byte(`{"n":9}`), v1); !errors.Is(err, ledger.ErrConflict) {
			t.Fatalf("write on a stale version: %v, want ErrConflict", err)
		}
		data, v, err := l.GetControl(ctx, "test", "x")
		if err != nil || string(data) != `{"n":2}` || v != v2 {
			t.Fatalf("read back %q %q %v, want {\"n\":2} %q", data, v, err, v2)
		}
		for _, bad := range [][2]string{{"../incidents", "x"}, {"test", "../../x"}, {"test", "a/b"}, {"", "x"}} {
			if _, _, err := l.GetControl(ctx, ledger.ControlKind(bad[0]), bad[1]); err == nil || errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("kind %q id %q: %v, want an invalid id", bad[0], bad[1], err)
			}
		}
	})
	t.Run("ChangeConcurrent", func(t *testing.T) {
		l := open(t)
		type counter struct{ N int }
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for range 4 {
					if _, err := ledger.ChangeControl(context.Background(), l, "test", "counter", func(c *counter, _ bool) error { c.N++; return nil }); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		c, found, err := ledger.ReadControl[counter](context.Background(), l, "test", "counter")
		if err != nil || !found || c.N != 24 {
			t.Fatalf("counter %d found %v %v, want 24: a change was lost", c.N, found, err)
		}
	})
	t.Run("ControlRecordsAreNotIncidents", func(t *testing.T) {
		l := open(t)
		ctx := context.Background()
		sp, now := "6b1f5f3e-5e2a-4c55-9a0e-2f1a1c7f0b11", time.Now()
		if _, err := (ledger.ObjectLocks{L: l}).Acquire(ctx, sp, "me", time.Minute); err != nil {
			t.Fatal(err)
		}
		mustDo(t, func() error { _, err := (ledger.KillSwitch{L: l}).Set(ctx, true, "test", "me"); return err })
		mustDo(t, func() error { _, err := (ledger.Attempts{L: l}).Add(ctx, "0", 1); return err })
		mustDo(t, func() error { return ledger.Decisions{L: l}.Record(ctx, sp, sp, ledger.Decision{By: "me", At: now}) })
		mustDo(t, func() error {
			_, _, err := (ledger.BreakerStore{L: l}).Reserve(ctx, "tenant", 1, 5, time.Hour, now)
			return err
		})
		mustDo(t, func() error { return ledger.Watermarks{L: l}.Advance(ctx, "detections", now) })
		mustDo(t, func() error { return ledger.Heartbeats{L: l}.Seen(ctx, "ServicePrincipalSignInLogs", now) })
		mustDo(t, func() error {
			_, err := (ledger.SelfTests{L: l}).Record(ctx, "spresponder-selftest-1", now)
			return err
		})
		st := ledger.Store{L: l}
		all, err := l.List(ctx, ledger.Filter{})
		open, err2 := st.Open(ctx)
		bySP, err3 := st.ByServicePrincipal(ctx, sp)
		if err := errors.Join(err, err2, err3); err != nil {
			t.Fatal(err)
		}
		if len(all)+len(open)+len(bySP) != 0 {
			t.Fatalf("control records listed as incidents: %d in the list, %d open, %d of the service principal", len(all), len(open), len(bySP))
		}
	})
}

func mustDo(t *testing.T, fn func() error) {
	t.Helper()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
}

func TestControlRecordsFile(t *testing.T) {
	controlSuite(t, func(t *testing.T) ledger.Ledger { return openFile(t) })
}

func TestControlRecordsBlob(t *testing.T) {
	controlSuite(t, func(t *testing.T) ledger.Ledger { return openBlob(t) })
}

// testdata/ledger-v1 is a file ledger written by the version before
// control records had their own kinds (one incident; the kill switch on;
// a decision; a breaker count, a lease, attempts, a watermark, a heartbeat
// and a self-test marker, all as incident-shaped documents). A ledger
// written so keeps working: the incident lists show the incident only, the
// kill switch stays on and the decision is honoured until they are set
// again.
func previousVersionSuite(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	all, err := l.List(ctx, ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != "inc-8a13920f5bd76b345cedf902" {
		var got []string
		for _, in := range all {
			got = append(got, in.ID)
		}
		t.Fatalf("incidents listed: %v, want only inc-8a13920f5bd76b345cedf902", got)
	}
	if ins, err := (ledger.Store{L: l}).ByServicePrincipal(ctx, "6b1f5f3e-5e2a-4c55-9a0e-2f1a1c7f0b11"); err != nil || len(ins) != 1 {
		t.Fatalf("incidents of the service principal: %d %v, want 1", len(ins), err)
	}
	on, reason, err := ledger.Store{L: l}.KillSwitch(ctx)
	if err != nil || !on {
		t.Fatalf("kill switch set on by the previous version reads %v (%s) %v", on, reason, err)
	}
	d, found, err := ledger.Decisions{L: l}.Lookup(ctx, "6B1F5F3E-5E2A-4C55-9A0E-2F1A1C7F0B11", "9a3c2c1e-1111-4a4a-8b8b-000000000001")
	if err != nil || !found || d.By != "bob" || d.Note != "rotated by the owner" || d.Incident != "inc-8a13920f5bd76b345cedf902" {
		t.Fatalf("decision of the previous version: %+v %v %v", d, found, err)
	}
	// Written again, the records of their own kind win.
	if _, err := (ledger.KillSwitch{L: l}).Set(ctx, false, "hub access rotated", "carol"); err != nil {
		t.Fatal(err)
	}
	if on, _, err := (ledger.Store{L: l}).KillSwitch(ctx); err != nil || on {
		t.Fatalf("kill switch after off: %v %v", on, err)
	}
	if err := (ledger.Decisions{L: l}).Record(ctx, "6b1f5f3e-5e2a-4c55-9a0e-2f1a1c7f0b11", "9a3c2c1e-1111-4a4a-8b8b-000000000001", ledger.Decision{By: "dave", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := (ledger.Decisions{L: l}).Lookup(ctx, "6b1f5f3e-5e2a-4c55-9a0e-2f1a1c7f0b11", "9a3c2c1e-1111-4a4a-8b8b-000000000001"); d.By != "dave" {
		t.Fatalf("decision after a new one: %+v", d)
	}
}

func TestPreviousVersionLedgerFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "ledger-v1"))); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	previousVersionSuite(t, l)
}

func TestPreviousVersionLedgerBlob(t *testing.T) {
	l := openBlob(t)
	// The previous version created every document with Claim, as here.
	docs, _ := filepath.Glob(filepath.Join("testdata", "ledger-v1", "incidents", "*.json"))
	for _, p := range docs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var in incident.Incident
		if err := json.Unmarshal(data, &in); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.Claim(context.Background(), &in); err != nil {
			t.Fatal(err)
		}
	}
	if len(docs) != 9 {
		t.Fatalf("%d documents in testdata/ledger-v1", len(docs))
	}
	previousVersionSuite(t, l)
}
