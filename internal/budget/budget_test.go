package budget

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock whose sleep moves it forward.
type clock struct {
	mu      sync.Mutex
	t       time.Time
	onSleep func()
}

// It starts at the wall clock's now, so real context deadlines read against it.
func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if f := c.onSleep; f != nil {
		c.onSleep = nil
		f()
	}
	c.mu.Lock()
	c.t = c.t.Add(max(d, 0))
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) since(t0 time.Time) time.Duration { return c.now().Sub(t0) }

func TestBurstThenRate(t *testing.T) {
	c := newClock()
	b := New(Config{Rate: 1, Burst: 2}, c.now, c.sleep)
	t0 := c.now()
	var at []time.Duration
	for range 5 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		at = append(at, c.since(t0))
	}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 3 * time.Second}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("request %d admitted at %v, want %v (all: %v)", i, at[i], want[i], at)
		}
	}
	if s := b.Stats(); s.Admitted != 5 || s.MaxWait != time.Second {
		t.Fatalf("stats %+v", s)
	}
}

func TestRefusedPastDeadlineTakesNoSlot(t *testing.T) {
	c := newClock()
	b := New(Config{Rate: 1, Burst: 1}, c.now, c.sleep)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The next slot is 1s away; a caller with half a second left is refused
	// at once and told how long the queue is.
	ctx, cancel := context.WithDeadline(context.Background(), c.now().Add(500*time.Millisecond))
	defer cancel()
	t0 := c.now()
	err := b.Wait(ctx)
	var ex *ExhaustedError
	if !errors.As(err, &ex) || ex.Wait != time.Second {
		t.Fatalf("want ExhaustedError with a 1s wait, got %v", err)
	}
	if c.since(t0) != 0 {
		t.Fatal("a refused caller waited")
	}
	// The refusal took no slot: the next caller still gets the 1s slot.
	if err := b.Wait(context.Background()); err != nil || c.since(t0) != time.Second {
		t.Fatalf("next caller admitted after %v (%v), want 1s", c.since(t0), err)
	}
	if s := b.Stats(); s.Refused != 1 || s.Admitted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestThrottledPausesAndDoubles(t *testing.T) {
	c := newClock()
	b := New(Config{Rate: 1, Burst: 3}, c.now, c.sleep)
	t0 := c.now()
	b.Throttled(0)
	if err := b.Wait(context.Background()); err != nil || c.since(t0) != 2*time.Second {
		t.Fatalf("first request after a 429 at %v, want 2s (%v)", c.since(t0), err)
	}
	// No burst after a pause: the next goes one interval later.
	if err := b.Wait(context.Background()); err != nil || c.since(t0) != 3*time.Second {
		t.Fatalf("second request after a 429 at %v, want 3s", c.since(t0))
	}
	t1 := c.now()
	b.Throttled(0) // the second in a row: 4s
	if err := b.Wait(context.Background()); err != nil || c.since(t1) != 4*time.Second {
		t.Fatalf("after the second 429 in a row at %v, want 4s", c.since(t1))
	}
	b.Answered()
	t2 := c.now()
	b.Throttled(0) // a success came between: 2s again
	if err := b.Wait(context.Background()); err != nil || c.since(t2) != 2*time.Second {
		t.Fatalf("after an answer then a 429 at %v, want 2s", c.since(t2))
	}
	b.Throttled(time.Minute + 5*time.Second) // a Retry-After wins over the doubling
	t3 := c.now()
	if err := b.Wait(context.Background()); err != nil || c.since(t3) != 65*time.Second {
		t.Fatalf("after a Retry-After of 65s at %v", c.since(t3))
	}
	if s := b.Stats(); s.Throttled != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBackoffIsBounded(t *testing.T) {
	c := newClock()
	b := New(Config{Rate: 1, Burst: 1, MaxBackoff: 10 * time.Second}, c.now, c.sleep)
	for range 20 {
		b.Throttled(0)
	}
	t0 := c.now()
	if err := b.Wait(context.Background()); err != nil || c.since(t0) > 10*time.Second {
		t.Fatalf("waited %v after 20 429s, want at most MaxBackoff 10s", c.since(t0))
	}
}

// A 429 that arrives while a caller waits for its slot sends it behind the
// pause: it does not go out into a tenant that just said stop.
func TestThrottledWhileWaitingRequeues(t *testing.T) {
	c := newClock()
	b := New(Config{Rate: 1, Burst: 1}, c.now, c.sleep)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	t0 := c.now()
	c.onSleep = func() { b.Throttled(0) } // another request saw a 429 meanwhile
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.since(t0); got < 2*time.Second {
		t.Fatalf("admitted %v after a 429 that paused the budget for 2s", got)
	}
	if s := b.Stats(); s.Admitted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCancelledWhileWaiting(t *testing.T) {
	b := New(Config{Rate: 0.001, Burst: 1}, nil, nil)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

// Work that can wait goes only when the budget is idle and whole, one
// request at a time: it never queues ahead of an incident.
func TestWaitIdleLeavesTheBurst(t *testing.T) {
	c := newClock()
	b := New(Config{Rate: 1, Burst: 2}, c.now, c.sleep)
	t0 := c.now()
	if err := b.Wait(context.Background()); err != nil { // an incident's read
		t.Fatal(err)
	}
	if err := b.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The budget was whole again only 1s later: the idle work waited for it.
	if got := c.since(t0); got < time.Second {
		t.Fatalf("idle work went after %v, before the budget was whole", got)
	}
	if err := b.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.since(t0); got < 2*time.Second {
		t.Fatalf("second idle request after %v: one at a time, each on a whole budget", got)
	}
}
