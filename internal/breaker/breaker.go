// Package breaker is the blast-radius breaker: at most Limit destructive
// actions (credential removals) per Window, tenant-wide. Past it every
// further incident is notify-only and on-call is paged: a flood of
// detections is more likely a bug, a forged stream or a mass leak that a
// person must look at than a reason to strip a whole tenant of credentials.
//
// Reservations are counted in a Store. Memory serves one process (tests,
// CLI); the ledger's shared record (ETag-conditional) serves all instances
// of the Function App, because the breaker is only as wide as its count.
package breaker

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Store records reservations per tenant. Reserve must be atomic: it adds n
// reservations at now if the count within window plus n stays within
// limit, and reports whether it did and the count after the call.
type Store interface {
	Reserve(ctx context.Context, tenant string, n, limit int, window time.Duration, now time.Time) (ok bool, count int, err error)
}

// Breaker decides whether a destructive action may go ahead.
type Breaker struct {
	store  Store
	limit  int
	window time.Duration
	now    func() time.Time
}

// New builds a breaker. limit <= 0 disables destructive actions entirely.
func New(store Store, limit int, window time.Duration, now func() time.Time) *Breaker {
	return &Breaker{store: store, limit: limit, window: window, now: now}
}

// Decision is the outcome of Allow.
type Decision struct {
	Allowed bool
	Count   int // actions in the window after this decision
	Limit   int
	Window  time.Duration
}

func (d Decision) String() string {
	if d.Allowed {
		return fmt.Sprintf("breaker: %d of %d removals in the last %s", d.Count, d.Limit, d.Window)
	}
	return fmt.Sprintf("breaker open: %d removals in the last %s reach the limit of %d", d.Count, d.Window, d.Limit)
}

// Allow reserves n actions for tenant.
func (b *Breaker) Allow(ctx context.Context, tenant string, n int) (Decision, error) {
	d := Decision{Limit: b.limit, Window: b.window}
	if b.limit <= 0 {
		return d, nil
	}
	ok, count, err := b.store.Reserve(ctx, tenant, n, b.limit, b.window, b.now())
	if err != nil {
		return d, fmt.Errorf("breaker: %w", err)
	}
	d.Allowed, d.Count = ok, count
	return d, nil
}

// Memory is an in-process Store.
type Memory struct {
	mu   sync.Mutex
	hits map[string][]time.Time
}

// NewMemory returns an empty in-process store.
func NewMemory() *Memory { return &Memory{hits: map[string][]time.Time{}} }

// Reserve implements Store.
func (m *Memory) Reserve(_ context.Context, tenant string, n, limit int, window time.Duration, now time.Time) (bool, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ok bool
	m.hits[tenant], ok = Admit(m.hits[tenant], n, limit, window, now)
	return ok, len(m.hits[tenant]), nil
}

// Admit is a Store's decision over the list of reservation times it
// keeps: it drops those outside the window and adds n at now if they fit
// within limit. It returns the list to keep (the reservations in the
// window, the new ones included when ok) and whether they fit.
func Admit(hits []time.Time, n, limit int, window time.Duration, now time.Time) (kept []time.Time, ok bool) {
	kept = hits[:0:0]
	for _, t := range hits {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	if len(kept)+n > limit {
		return kept, false
	}
	for range n {
		kept = append(kept, now)
	}
	return kept, true
}
