package ledger_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/ledger"
)

// controlSuite runs the control records against one backend.
func controlSuite(t *testing.T, open func(t *testing.T) ledger.Incidents) {
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
		if _, err := locks.Acquire(context.Background(), "obj", "dead-writer", time.Minute); err != nil {
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
	t.Run("ControlRecordsAreNotIncidents", func(t *testing.T) {
		for _, id := range []string{"breaker-x", "lock-1", "control-killswitch", "attempts-1", "decision-1"} {
			if !ledger.IsControl(id) {
				t.Errorf("%s is not a control record", id)
			}
		}
		if ledger.IsControl("inc-0123") {
			t.Error("an incident is a control record")
		}
	})
}

func TestControlRecordsFile(t *testing.T) {
	controlSuite(t, func(t *testing.T) ledger.Incidents {
		fs, err := ledger.NewFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return fs
	})
}

func TestControlRecordsBlob(t *testing.T) {
	azurite.BlobEndpoint(t)
	controlSuite(t, func(t *testing.T) ledger.Incidents { return openBlob(t) })
}
