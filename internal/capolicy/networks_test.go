package capolicy_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/spresponder/spresponder/internal/capolicy"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestAllowedNetworks(t *testing.T) {
	branch := capolicy.NamedLocation{ID: "branch", DisplayName: "Branch", Type: capolicy.LocationIP,
		IPRanges: prefixes("203.0.113.0/24", "198.51.100.128/25", "10.0.0.0/8")}
	untrustedCorp := corp
	untrustedCorp.IsTrusted = false
	trustedEU := eu
	trustedEU.IsTrusted = true
	locs := []capolicy.NamedLocation{corp, eu, branch}

	outsideCorp := func(opts ...func(*capolicy.Policy)) capolicy.Policy {
		return riskPolicy("loc", "Outside corp", nil, append([]func(*capolicy.Policy){include(spID), locations([]string{"All"}, []string{corpLocID})}, opts...)...)
	}
	corpV4V6 := prefixes("198.51.100.0/24", "2001:db8:1200::/48")

	tests := []struct {
		name     string
		policies []capolicy.Policy
		locs     []capolicy.NamedLocation
		sp       string
		want     []netip.Prefix
	}{
		{name: "enabled location policy", policies: []capolicy.Policy{outsideCorp()}, want: corpV4V6},
		{name: "report-only counts: it states where the app runs", policies: []capolicy.Policy{outsideCorp(state(capolicy.StateReportOnly))}, want: corpV4V6},
		{name: "disabled does not count", policies: []capolicy.Policy{outsideCorp(state(capolicy.StateDisabled))}},
		{name: "object id only: the appId matches nothing", policies: []capolicy.Policy{outsideCorp()}, sp: appID},
		{name: "excluded service principal", policies: []capolicy.Policy{outsideCorp(include(capolicy.AllServicePrincipals), exclude(spID))}},
		{name: "all service principals in the tenant", policies: []capolicy.Policy{outsideCorp(include(capolicy.AllServicePrincipals))}, want: corpV4V6},
		{name: "grant not block", policies: []capolicy.Policy{outsideCorp(grant("mfa"))}},
		{name: "resources excluded", policies: []capolicy.Policy{outsideCorp(apps([]string{"All"}, "x"))}},
		{name: "risk condition: not about normal operation", policies: []capolicy.Policy{outsideCorp(func(p *capolicy.Policy) { p.Conditions.ServicePrincipalRiskLevels = []string{"high"} })}},
		{name: "filter that may exclude it", policies: []capolicy.Policy{outsideCorp(filter("exclude", "CustomSecurityAttribute.a -eq \"b\""))}},
		{name: "blocks from some places only", policies: []capolicy.Policy{outsideCorp(locations([]string{euLocID}, nil))}},
		{name: "blocks everywhere: no allowed network", policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, nil))}},
		{name: "country among the allowed locations: left out", policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, []string{corpLocID, euLocID}))}},
		{name: "unknown location id: left out", policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, []string{"gone"}))}},
		{
			name:     "AllTrusted expands to the trusted IP locations",
			policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, []string{"AllTrusted"}))},
			want:     corpV4V6,
		},
		{
			name:     "AllTrusted with a trusted country location: left out",
			policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, []string{"AllTrusted"}))},
			locs:     []capolicy.NamedLocation{corp, trustedEU},
		},
		{
			name:     "AllTrusted with no trusted location allows nothing",
			policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, []string{"AllTrusted"}))},
			locs:     []capolicy.NamedLocation{untrustedCorp},
		},
		{
			name:     "union within a policy, sorted, nested ranges folded",
			policies: []capolicy.Policy{outsideCorp(locations([]string{"All"}, []string{"branch", corpLocID}))},
			want:     prefixes("10.0.0.0/8", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:1200::/48"),
		},
		{
			name: "intersection across policies: a sign-in must pass both",
			policies: []capolicy.Policy{
				outsideCorp(),
				riskPolicy("loc2", "Outside branch", nil, include(capolicy.AllServicePrincipals), locations([]string{"All"}, []string{"branch"})),
			},
			want: prefixes("198.51.100.128/25"),
		},
		{
			name: "a policy that does not count does not narrow the others",
			policies: []capolicy.Policy{
				outsideCorp(),
				riskPolicy("loc2", "Outside branch", nil, include(otherSPID), locations([]string{"All"}, []string{"branch"})),
			},
			want: corpV4V6,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.locs
			if l == nil {
				l = locs
			}
			sp := tc.sp
			if sp == "" {
				sp = spID
			}
			if got := capolicy.AllowedNetworks(tc.policies, l, sp); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := capolicy.AllowedNetworks([]capolicy.Policy{outsideCorp(include(capolicy.AllServicePrincipals))}, locs, ""); got != nil {
		t.Errorf("empty service principal id: %v", got)
	}
}
