package app

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/rules"
)

// networks answers detection's question "where may this service principal
// sign in from?": the app's networks in the rules file, else the named
// locations a location-based Conditional Access block policy allows it
// (read from Graph and refreshed by the timer). That is how a tenant
// without Workload Identities Premium, which gets no risk detections, still
// sees a sign-in from elsewhere as risky.
type networks struct {
	rules *rules.Set

	mu       sync.RWMutex
	policies []capolicy.Policy
	locs     []capolicy.NamedLocation
	bySP     map[string][]netip.Prefix // memo per service principal; nil entries memo "none"
}

// caReader is what networks reads from Graph.
type caReader interface {
	ConditionalAccessPolicies(ctx context.Context) ([]capolicy.Policy, error)
	NamedLocations(ctx context.Context) ([]capolicy.NamedLocation, error)
}

// For implements detect.Options.AllowedNetworks.
func (n *networks) For(appID, spID []byte) []netip.Prefix {
	if nets := n.rules.AllowedNetworksOf(appID); len(nets) > 0 {
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
	nets = capolicy.AllowedNetworks(n.policies, n.locs, string(spID))
	n.bySP[string(spID)] = nets
	return nets
}

// refresh re-reads the Conditional Access policies and named locations.
func (n *networks) refresh(ctx context.Context, g caReader) error {
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
