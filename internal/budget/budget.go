// Package budget is the request budget of one tenant's identity protection
// and Conditional Access APIs: service-principal risk detections, risky
// service principals, Conditional Access policies and named locations.
//
// Microsoft documents about one request per second per tenant for these
// APIs, shared by every application in the tenant, and their 429 carries no
// Retry-After (reference/entra/graph-write-facts.md §5; whether the
// service-principal risk APIs fall under it is not stated, so they are
// treated as if they do). Verify, reconcile and replay all read them, so
// they draw from one Budget per Graph client: internal/graph holds it and
// puts every such request through it, the SDK's own retries included.
//
// The model is a reservation queue (GCRA): each request takes the next
// slot, at most Burst of them back to back and then one every 1/Rate. A
// caller whose slot would come after its context's deadline is refused at
// once with an *ExhaustedError that says how long the queue is, instead of
// waiting to fail: an incident run parks and the Sweep re-drives it, a
// reconcile round stops and resumes next time. A 429 pauses the whole
// budget (2s, doubling per 429 in a row, at most MaxBackoff) and the
// requests after the pause go one at a time: a throttled tenant is not
// hammered by the callers queued behind the one that saw it.
//
// Work that can wait (the Conditional Access cache's refresh, reconcile)
// uses WaitIdle: it goes only when the budget is idle with its burst
// whole, one request at a time, so it never queues ahead of an incident and
// never takes more than one slot of the burst an incident arriving after it
// would use.
//
// Across instances: a per-instance share, not the ledger. Rate is this
// instance's share of the tenant's limit (SPRESPONDER_RISK_API_RATE; the
// operator divides the tenant's one request per second by the instances
// that may run at once, which the Event Hub's partition count caps for the
// EntraLogs trigger). Reserving each slot in the ledger would put a
// conditional blob write, tens of milliseconds and an ETag race between
// instances, in front of every verify read on the containment path, and the
// ledger's control records are append-only documents not made for a write
// per second. The limit is also shared with every other application in the
// tenant, which no ledger of ours can see: what holds the line when the
// shares are wrong is the backoff after a 429, which every instance obeys
// for itself within seconds. Reconcile's backoff across rounds is in the
// ledger already (internal/reconcile).
package budget

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spresponder/spresponder/internal/retry"
)

// Defaults: the tenant's documented limit, for one instance, and room for
// the two reads one incident's verify sends at once.
const (
	DefaultRate       = 1.0
	DefaultBurst      = 2
	DefaultMaxBackoff = time.Minute
	firstBackoff      = 2 * time.Second
)

// Config tunes a Budget. Zero fields take the defaults.
type Config struct {
	// Rate is requests per second this instance may send on average.
	Rate float64
	// Burst is how many may go back to back after a quiet spell.
	Burst int
	// MaxBackoff bounds the pause after 429s in a row.
	MaxBackoff time.Duration
}

// Stats are a budget's counters since it was made.
type Stats struct {
	Admitted  int           // requests let through
	Refused   int           // callers refused because their slot was past their deadline
	Throttled int           // 429 answers seen
	MaxWait   time.Duration // longest wait of an admitted request
}

// Budget is safe for concurrent use.
type Budget struct {
	interval   time.Duration
	tau        time.Duration // (Burst-1) x interval: how far ahead of the queue a request may go
	maxBackoff time.Duration
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error

	mu      sync.Mutex
	tat     time.Time // theoretical arrival time of the next request
	paused  time.Time // no request before this (after a 429)
	inARow  int       // 429s without a success between them
	stats   Stats
	waiting int
}

// New makes a budget. now and sleep may be nil (the wall clock and
// retry.Sleep); tests give their own.
func New(cfg Config, now func() time.Time, sleep func(context.Context, time.Duration) error) *Budget {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = retry.Sleep
	}
	iv := time.Duration(float64(time.Second) / cfg.Rate)
	return &Budget{interval: iv, tau: time.Duration(cfg.Burst-1) * iv, maxBackoff: cfg.MaxBackoff, now: now, sleep: sleep}
}

// ExhaustedError refuses a request whose turn would come after its
// caller's deadline.
type ExhaustedError struct {
	// Wait is how long until the request's turn would have come.
	Wait time.Duration
	// Waiting is how many requests were queued ahead of it.
	Waiting int
	// Paused is true while the budget backs off after a 429.
	Paused bool
}

func (e *ExhaustedError) Error() string {
	why := "its request budget"
	if e.Paused {
		why = "its request budget, paused after Graph answered 429"
	}
	return fmt.Sprintf("identity protection and Conditional Access reads are queued for %s behind %d request(s) (%s): not sent within the deadline",
		e.Wait.Round(time.Second), e.Waiting, why)
}

// Wait takes the next slot and waits for it. It fails at once, taking no
// slot, when the slot comes after ctx's deadline, and fails with ctx's
// error when ctx ends while waiting. A 429 seen while it waited sends it
// back to the queue behind the pause.
func (b *Budget) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		slot, wait, err := b.reserve(ctx)
		if err != nil {
			return err
		}
		err = b.sleep(ctx, wait)
		b.mu.Lock()
		b.waiting--
		again := b.paused.After(slot)
		if err == nil && !again {
			b.stats.Admitted++
		}
		b.mu.Unlock()
		if err != nil || !again {
			return err
		}
	}
}

// WaitIdle is Wait for work that can wait (the Conditional Access cache's
// refresh on the timer and at start-up, reconcile's pages): it takes a slot
// only when the budget is idle, no request queued and the burst whole, so
// it never queues ahead of an incident. It ends only with ctx.
func (b *Budget) WaitIdle(ctx context.Context) error {
	for {
		b.mu.Lock()
		now := b.now()
		idle := b.waiting == 0 && !b.tat.After(now) && !b.paused.After(now)
		wait := max(b.tat.Sub(now), b.paused.Sub(now), b.interval/4)
		b.mu.Unlock()
		if idle {
			return b.Wait(ctx)
		}
		if err := b.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// reserve takes the next slot, or refuses when it comes after ctx's
// deadline.
func (b *Budget) reserve(ctx context.Context) (slot time.Time, wait time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	base := later(b.tat, now)
	slot = later(later(base.Add(-b.tau), now), b.paused)
	if dl, ok := ctx.Deadline(); ok && slot.After(dl) {
		b.stats.Refused++
		return slot, 0, &ExhaustedError{Wait: slot.Sub(now), Waiting: b.waiting, Paused: b.paused.After(now)}
	}
	b.tat = later(base, slot).Add(b.interval)
	wait = slot.Sub(now)
	b.waiting++
	b.stats.MaxWait = max(b.stats.MaxWait, wait)
	return slot, wait, nil
}

// Throttled records a 429 without Retry-After: the budget pauses, doubling
// per 429 in a row, and resumes one request at a time. retryAfter, when
// Graph sent one, replaces the doubling.
func (b *Budget) Throttled(retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Throttled++
	b.inARow++
	d := retryAfter
	if d <= 0 {
		d = min(firstBackoff<<min(b.inARow-1, 10), b.maxBackoff)
	}
	b.paused = later(b.paused, b.now().Add(d))
	// After the pause no burst: the slots resume one interval apart.
	b.tat = later(b.tat, b.paused.Add(b.tau))
}

// Answered records any answer other than 429: the run of 429s is over.
func (b *Budget) Answered() {
	b.mu.Lock()
	b.inARow = 0
	b.mu.Unlock()
}

// Stats returns the counters so far.
func (b *Budget) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
