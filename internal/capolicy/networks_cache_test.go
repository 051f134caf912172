package capolicy_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/spresponder/spresponder/internal/capolicy"
)

type caFixture struct {
	policies []capolicy.Policy
	locs     []capolicy.NamedLocation
}

func (f caFixture) ConditionalAccessPolicies(context.Context) ([]capolicy.Policy, error) {
	return f.policies, nil
}
func (f caFixture) NamedLocations(context.Context) ([]capolicy.NamedLocation, error) {
	return f.locs, nil
}

// TestNetworksFromConditionalAccess: an app without networks in the rules
// file gets those of the location policy that covers its service
// principal, so a sign-in from elsewhere is a risky sign-in even without
// Workload Identities Premium.
func TestNetworksFromConditionalAccess(t *testing.T) {
	pb, err := os.ReadFile("testdata/tenant-policies.json")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := os.ReadFile("testdata/tenant-namedlocations.json")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := capolicy.DecodePolicies(pb)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := capolicy.DecodeNamedLocations(lb)
	if err != nil {
		t.Fatal(err)
	}
	n := &capolicy.Networks{}
	if got := n.For([]byte("6131d760-7fda-4db5-8bb1-b771898e9f15"), []byte("b029d485-a308-4311-8720-fb3192e5284e")); got != nil {
		t.Fatalf("before the first refresh: %v", got)
	}
	if err := n.Refresh(context.Background(), caFixture{ps, ls}); err != nil {
		t.Fatal(err)
	}
	got := n.For([]byte("6131d760-7fda-4db5-8bb1-b771898e9f15"), []byte("b029d485-a308-4311-8720-fb3192e5284e"))
	if !slices.Contains(got, netip.MustParsePrefix("198.51.100.0/24")) {
		t.Fatalf("networks = %v", got)
	}
	if other := n.For([]byte("7f3a1c2e-9b4d-4e8f-a6c1-0d5e2b8f4a73"), []byte("5338db98-8266-400c-ba61-d8efab370100")); other != nil {
		t.Errorf("a service principal no location policy covers got %v", other)
	}
}
