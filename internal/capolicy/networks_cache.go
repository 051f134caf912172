package capolicy

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Networks answers detection's question "where may this service principal
// sign in from?": the app's networks in the rules file, else the named
// locations a location-based Conditional Access block policy allows it
// (read from Graph and refreshed by the timer). That is how a tenant
// without Workload Identities Premium, which gets no risk detections, still
// sees a sign-in from elsewhere as risky.
//
// It is the one cache of the tenant's policies and named locations the
// responder keeps between invocations, and verify's source for the
// Conditional Access verdict (Current), so an incident costs no request to
// these APIs, which allow about one request per second per tenant
// (internal/budget). Refresh replaces it whole. The rules of staleness:
//   - the Sweep timer refreshes it on every run (every 2 minutes);
//   - an audit record of a Conditional Access policy or named location
//     change marks it stale (Invalidate), and the next reader refreshes it
//     once the copy is ChangeGrace old;
//   - a reader that finds it older than its maxAge
//     (SPRESPONDER_CA_CACHE_MAX_AGE), stale or never read refreshes it
//     first, one refresh at a time (concurrent readers wait for that one);
//   - when that refresh fails, the reader gets the error, never the old
//     copy: a verdict is never computed from policies older than maxAge
//     (verify parks on a transient error, else the verdict is
//     cannotEvaluate with the reason).
type Networks struct {
	// Configured returns the networks the rules file gives an app (by
	// appId); it wins over the policies.
	Configured func(appID []byte) []netip.Prefix
	// Now is the clock of the cache's age (time.Now when nil).
	Now func() time.Time

	mu       sync.RWMutex
	policies []Policy
	locs     []NamedLocation
	bySP     map[string][]netip.Prefix // memo per service principal; nil entries memo "none"
	read     time.Time                 // when the copy was read; zero: never
	gen      uint64                    // changes seen (Invalidate)
	readGen  uint64                    // gen when the copy was read
	flight   *flight                   // the refresh under way, if any
}

// ChangeGrace is how young a copy may be and still be used after a change
// was seen: audit records can be forged by anyone who can send to the hub,
// so a flood of them costs at most one refresh (two requests) per grace.
const ChangeGrace = 30 * time.Second

// Snapshot is one reading of the tenant's policies and named locations.
type Snapshot struct {
	Policies  []Policy
	Locations []NamedLocation
	Read      time.Time
}

type flight struct {
	done chan struct{}
	err  error
}

// Reader is what Networks reads from Graph.
type Reader interface {
	ConditionalAccessPolicies(ctx context.Context) ([]Policy, error)
	NamedLocations(ctx context.Context) ([]NamedLocation, error)
}

// For implements detect.Options.AllowedNetworks.
func (n *Networks) For(appID, spID []byte) []netip.Prefix {
	if nets := n.configured(appID); len(nets) > 0 {
		return nets
	}
	if len(spID) == 0 {
		return nil
	}
	n.mu.RLock()
	nets, ok := n.bySP[string(spID)]
	empty := len(n.policies) == 0
	n.mu.RUnlock()
	if ok || empty {
		return nets
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	nets = AllowedNetworks(n.policies, n.locs, string(spID))
	n.bySP[string(spID)] = nets
	return nets
}

// Refresh re-reads the Conditional Access policies and named locations.
func (n *Networks) Refresh(ctx context.Context, g Reader) error {
	n.mu.RLock()
	gen := n.gen
	n.mu.RUnlock()
	ps, err := g.ConditionalAccessPolicies(ctx)
	if err != nil {
		return fmt.Errorf("refresh Conditional Access policies: %w", err)
	}
	ls, err := g.NamedLocations(ctx)
	if err != nil {
		return fmt.Errorf("refresh named locations: %w", err)
	}
	n.mu.Lock()
	n.policies, n.locs, n.bySP = ps, ls, map[string][]netip.Prefix{}
	n.read, n.readGen = n.now(), gen
	n.mu.Unlock()
	return nil
}

// Invalidate records that a policy or named location changed: the next
// reader refreshes the copy. A refresh under way when the change is seen
// does not count as fresh.
func (n *Networks) Invalidate() {
	n.mu.Lock()
	n.gen++
	n.mu.Unlock()
}

// Current returns the policies and named locations, refreshing them first
// when the copy is older than maxAge, marked stale or never read (the
// rules in the type's comment).
func (n *Networks) Current(ctx context.Context, g Reader, maxAge time.Duration) (Snapshot, error) {
	if s, ok := n.Fresh(maxAge); ok {
		return s, nil
	}
	n.mu.Lock()
	f := n.flight
	if f == nil {
		// This reader refreshes; readers meanwhile wait for it.
		f = &flight{done: make(chan struct{})}
		n.flight = f
		n.mu.Unlock()
		f.err = n.Refresh(ctx, g)
		n.mu.Lock()
		n.flight = nil
		n.mu.Unlock()
		close(f.done)
	} else {
		n.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return Snapshot{}, ctx.Err()
		}
	}
	if f.err != nil {
		return Snapshot{}, f.err
	}
	return n.snapshot(), nil
}

// Fresh returns the copy when Current would return it without a read.
func (n *Networks) Fresh(maxAge time.Duration) (Snapshot, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	age := n.now().Sub(n.read)
	if n.read.IsZero() || age > maxAge || (n.readGen != n.gen && age >= ChangeGrace) {
		return Snapshot{}, false
	}
	return Snapshot{Policies: n.policies, Locations: n.locs, Read: n.read}, true
}

func (n *Networks) snapshot() Snapshot {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return Snapshot{Policies: n.policies, Locations: n.locs, Read: n.read}
}

func (n *Networks) now() time.Time {
	if n.Now == nil {
		return time.Now()
	}
	return n.Now()
}

func (n *Networks) configured(appID []byte) []netip.Prefix {
	if n.Configured == nil {
		return nil
	}
	return n.Configured(appID)
}
