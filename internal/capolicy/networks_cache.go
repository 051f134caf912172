package capolicy

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
)

// Networks answers detection's question "where may this service principal
// sign in from?": the app's networks in the rules file, else the named
// locations a location-based Conditional Access block policy allows it
// (read from Graph and refreshed by the timer). That is how a tenant
// without Workload Identities Premium, which gets no risk detections, still
// sees a sign-in from elsewhere as risky.
//
// It is the one cache of the tenant's policies and named locations the
// responder keeps between invocations; Refresh replaces it whole.
type Networks struct {
	// Configured returns the networks the rules file gives an app (by
	// appId); it wins over the policies.
	Configured func(appID []byte) []netip.Prefix

	mu       sync.RWMutex
	policies []Policy
	locs     []NamedLocation
	bySP     map[string][]netip.Prefix // memo per service principal; nil entries memo "none"
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
	ps, err := g.ConditionalAccessPolicies(ctx)
	if err != nil {
		return fmt.Errorf("refresh allowed networks: %w", err)
	}
	ls, err := g.NamedLocations(ctx)
	if err != nil {
		return fmt.Errorf("refresh allowed networks: %w", err)
	}
	n.mu.Lock()
	n.policies, n.locs, n.bySP = ps, ls, map[string][]netip.Prefix{}
	n.mu.Unlock()
	return nil
}

func (n *Networks) configured(appID []byte) []netip.Prefix {
	if n.Configured == nil {
		return nil
	}
	return n.Configured(appID)
}
