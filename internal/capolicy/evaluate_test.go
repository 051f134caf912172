package capolicy_test

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/incident"
)

const (
	spID      = "b029d485-a308-4311-8720-fb3192e5284e" // Terraform-Datadog-CLI's service principal (object id)
	appID     = "6131d760-7fda-4db5-8bb1-b771898e9f15" // the same app's appId
	otherSPID = "5338db98-8266-400c-ba61-d8efab370100"
	corpLocID = "3e5a7c9e-1b3d-4f5a-9c7e-1a3c5e7a9c1e"
	euLocID   = "7c9e1a3c-5e7a-4c1e-9a3c-5e7a9c1e3a5c"
)

// riskPolicy is the recommended policy: block every service principal in
// the tenant at the given risk levels, for all resources. Options adjust it.
func riskPolicy(id, name string, levels []string, opts ...func(*capolicy.Policy)) capolicy.Policy {
	p := capolicy.Policy{
		ID:          id,
		DisplayName: name,
		State:       capolicy.StateEnabled,
		Conditions: capolicy.Conditions{
			ServicePrincipalRiskLevels: levels,
			Applications:               capolicy.Applications{IncludeApplications: []string{"All"}},
			ClientApplications:         &capolicy.ClientApplications{IncludeServicePrincipals: []string{capolicy.AllServicePrincipals}},
		},
		GrantControls: &capolicy.GrantControls{Operator: "OR", BuiltInControls: []string{"block"}},
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func state(s string) func(*capolicy.Policy) { return func(p *capolicy.Policy) { p.State = s } }

func include(ids ...string) func(*capolicy.Policy) {
	return func(p *capolicy.Policy) { p.Conditions.ClientApplications.IncludeServicePrincipals = ids }
}

func exclude(ids ...string) func(*capolicy.Policy) {
	return func(p *capolicy.Policy) { p.Conditions.ClientApplications.ExcludeServicePrincipals = ids }
}

func filter(mode, rule string) func(*capolicy.Policy) {
	return func(p *capolicy.Policy) {
		p.Conditions.ClientApplications.ServicePrincipalFilter = &capolicy.Filter{Mode: mode, Rule: rule}
	}
}

func grant(controls ...string) func(*capolicy.Policy) {
	return func(p *capolicy.Policy) { p.GrantControls.BuiltInControls = controls }
}

func apps(include []string, exclude ...string) func(*capolicy.Policy) {
	return func(p *capolicy.Policy) {
		p.Conditions.Applications = capolicy.Applications{IncludeApplications: include, ExcludeApplications: exclude}
	}
}

func locations(include, exclude []string) func(*capolicy.Policy) {
	return func(p *capolicy.Policy) {
		p.Conditions.Locations = &capolicy.Locations{IncludeLocations: include, ExcludeLocations: exclude}
	}
}

var (
	corp = capolicy.NamedLocation{
		ID: corpLocID, DisplayName: "Corporate egress (NAT)", Type: capolicy.LocationIP, IsTrusted: true,
		IPRanges: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1200::/48")},
	}
	eu = capolicy.NamedLocation{ID: euLocID, DisplayName: "EU offices", Type: capolicy.LocationCountry, Countries: []string{"DE", "FR"}}
)

var testLocations = []capolicy.NamedLocation{corp, eu}

func userPolicy() capolicy.Policy {
	return capolicy.Policy{
		ID: "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6", DisplayName: "Require MFA for all users", State: capolicy.StateEnabled,
		Conditions: capolicy.Conditions{
			Applications: capolicy.Applications{IncludeApplications: []string{"All"}},
			Users:        &capolicy.Users{IncludeUsers: []string{"All"}},
		},
		GrantControls: &capolicy.GrantControls{Operator: "OR", BuiltInControls: []string{"mfa"}},
	}
}

// wantPolicy is what a test checks of one PolicyEval: its id, whether it
// applies, its kind, and reasons it must contain (in full).
type wantPolicy struct {
	id      string
	applies bool
	kind    string
	reasons []string
}

func TestEvaluate(t *testing.T) {
	const (
		riskID   = "5f2b8c1d-0a9e-4d3b-9c7a-1e2f3a4b5c6d"
		pilotID  = "8a1c3e5f-7b9d-4f1a-a3c5-e7f9b1d3f5a7"
		locID    = "2c4e6a8c-0e2a-4c6e-8a0c-2e4a6c8e0a2c"
		riskName = "WID - Block risky workload identities"
	)
	hm := []string{"high", "medium"}
	locationPolicy := riskPolicy(locID, "WID - Block CI outside corporate egress", nil,
		include(spID), locations([]string{"All"}, []string{corpLocID}), func(p *capolicy.Policy) { p.GrantControls.Operator = "and" })

	tests := []struct {
		name        string
		policies    []capolicy.Policy
		sp          capolicy.Subject
		outcome     string
		summary     string // exact when set
		summaryHas  []string
		policies2   []wantPolicy // checked in order, and the count must match
		wantNoEvals bool
	}{
		{
			name:        "no policies at all",
			sp:          capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:     incident.VerdictNoPolicy,
			summary:     "No Conditional Access policy for workload identities exists, so nothing blocks this app's sign-ins if its credentials are misused.",
			wantNoEvals: true,
		},
		{
			name:     "enabled risk policy covers the level: blocked",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm)},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictBlocked,
			summary:  `Conditional Access blocks new sign-ins by this app at risk level high: enabled policy "WID - Block risky workload identities" covers it.`,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindRisk, reasons: []string{
				"enabled", "includes all service principals in the tenant", "applies to tokens for all resources",
				"risk levels high, medium include high", "grant: block",
			}}},
		},
		{
			name:     "risk level not covered: no policy",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm)},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "low"},
			outcome:  incident.VerdictNoPolicy,
			summary:  "No enabled Conditional Access policy blocks this app at risk level low.",
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"risk levels high, medium do not include low",
			}}},
		},
		{
			name:     "one risk level: singular wording",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, []string{"high"})},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "medium"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, kind: capolicy.KindRisk, reasons: []string{
				"risk level high does not include medium",
			}}},
		},
		{
			name:     "one risk level and a hidden level: depends",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, []string{"high"})},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "hidden"},
			outcome:  incident.VerdictCannotEvaluate,
			summary:  `Whether Conditional Access blocks this app depends on its risk level, which is unknown: policy "WID - Block risky workload identities" blocks only at risk level high.`,
		},
		{
			name:     "risk level case and spacing do not matter",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, []string{"High"})},
			sp:       capolicy.Subject{ServicePrincipalID: strings.ToUpper(spID), RiskLevel: " HIGH "},
			outcome:  incident.VerdictBlocked,
		},
		{
			name:     "report-only policy does not block",
			policies: []capolicy.Policy{riskPolicy(pilotID, "Pilot", hm, state(capolicy.StateReportOnly))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictReportOnly,
			summary:  `Conditional Access does not block this app yet: policy "Pilot" would block it at risk level high but is report-only, so it only logs.`,
			policies2: []wantPolicy{{id: pilotID, applies: true, kind: capolicy.KindRisk, reasons: []string{
				"report-only: evaluates but does not block",
			}}},
		},
		{
			name:     "excluded by object id",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, exclude(spID))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictExcluded,
			summary:  `Conditional Access does not block this app: policy "WID - Block risky workload identities" would block it at risk level high but excludes it.`,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"includes all service principals in the tenant", "excludes this service principal",
			}}},
		},
		{
			name:     "exclusion matches whatever the case of the id",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, exclude(strings.ToUpper(spID)))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictExcluded,
		},
		{
			name:     "excluded and the level not covered: the level decides, no policy",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, exclude(spID))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "low"},
			outcome:  incident.VerdictNoPolicy,
		},
		{
			name:     "included by object id",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, include(otherSPID, spID))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "medium"},
			outcome:  incident.VerdictBlocked,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindRisk, reasons: []string{
				"includes this service principal by its object id", "risk levels high, medium include medium",
			}}},
		},
		{
			name:     "included by object id of another service principal only",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, include(otherSPID))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"does not include this service principal",
			}}},
		},
		{
			// Conditional Access names the service principal's object id; the
			// appId of the same app is a different GUID and must not match.
			name:     "appId given instead of the object id does not match",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, include(spID))},
			sp:       capolicy.Subject{ServicePrincipalID: appID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"does not include this service principal",
			}}},
		},
		{
			name:     "appId in the policy's exclusions does not exclude the service principal",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, exclude(appID))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictBlocked,
		},
		{
			name:     "grant mfa is not block",
			policies: []capolicy.Policy{riskPolicy(riskID, "MFA", hm, grant("mfa"))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"grant is mfa, not block: does not block",
			}}},
		},
		{
			name:     "no grant controls",
			policies: []capolicy.Policy{riskPolicy(riskID, "Session only", hm, func(p *capolicy.Policy) { p.GrantControls = nil })},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, kind: capolicy.KindRisk, reasons: []string{
				"no grant control: does not block",
			}}},
		},
		{
			name:     "includeApplications not All",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, apps([]string{"00000003-0000-0000-c000-000000000000"}))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, kind: capolicy.KindRisk, reasons: []string{
				"applies only to tokens for 1 selected resource, not to all",
			}}},
		},
		{
			name:     "includeApplications empty",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, apps(nil))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, kind: capolicy.KindRisk, reasons: []string{
				"applies to tokens for no resource",
			}}},
		},
		{
			name:     "All applications with an exclusion still blocks, narrowed",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, apps([]string{"All"}, "797f4846-ba00-4fd7-ba43-dac1f8f63013"))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictBlocked,
			summary:  `Conditional Access blocks new sign-ins by this app at risk level high: enabled policy "WID - Block risky workload identities" covers it, except for tokens to the resources it excludes.`,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindRisk, reasons: []string{
				"applies to tokens for all resources except 1 excluded (797f4846-ba00-4fd7-ba43-dac1f8f63013)",
			}}},
		},
		{
			name: "a narrowed policy next to a full one: no caveat",
			policies: []capolicy.Policy{
				riskPolicy(riskID, riskName, hm, apps([]string{"All"}, "797f4846-ba00-4fd7-ba43-dac1f8f63013")),
				riskPolicy(pilotID, "Full", []string{"high"}),
			},
			sp:      capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome: incident.VerdictBlocked,
			summary: `Conditional Access blocks new sign-ins by this app at risk level high: enabled policies "Full" and "WID - Block risky workload identities" cover it.`,
		},
		{
			name:       "include filter on custom security attributes: cannot evaluate",
			policies:   []capolicy.Policy{riskPolicy(riskID, "Tagged", hm, include(otherSPID), filter("include", `CustomSecurityAttribute.Risk_Tier -eq "ci"`))},
			sp:         capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:    incident.VerdictCannotEvaluate,
			summary:    `Cannot tell whether Conditional Access blocks this app: policy "Tagged" selects service principals by custom security attributes, which the responder does not read.`,
			summaryHas: nil,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"does not include this service principal",
				`may include it through a filter on custom security attributes (CustomSecurityAttribute.Risk_Tier -eq "ci"), which the responder does not read`,
			}}},
		},
		{
			name:     "exclude filter over an included service principal: cannot evaluate",
			policies: []capolicy.Policy{riskPolicy(riskID, "Tagged", hm, filter("exclude", `CustomSecurityAttribute.Risk_Tier -eq "legacy"`))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictCannotEvaluate,
		},
		{
			name:     "include filter when already included: the filter cannot change the answer",
			policies: []capolicy.Policy{riskPolicy(riskID, "Tagged", hm, filter("include", `CustomSecurityAttribute.Risk_Tier -eq "ci"`))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictBlocked,
		},
		{
			name:     "exclude filter on a policy that excludes the id anyway",
			policies: []capolicy.Policy{riskPolicy(riskID, "Tagged", hm, exclude(spID), filter("exclude", `CustomSecurityAttribute.Risk_Tier -eq "x"`))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictExcluded,
		},
		{
			name: "a certain block wins over a filter that cannot be evaluated",
			policies: []capolicy.Policy{
				riskPolicy(pilotID, "Tagged", hm, include(otherSPID), filter("include", `CustomSecurityAttribute.Risk_Tier -eq "ci"`)),
				riskPolicy(riskID, riskName, hm),
			},
			sp:      capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome: incident.VerdictBlocked,
		},
		{
			name:     "filter on a policy that would not block anyway is irrelevant",
			policies: []capolicy.Policy{riskPolicy(riskID, "Tagged", hm, grant("mfa"), include(otherSPID), filter("include", `CustomSecurityAttribute.Risk_Tier -eq "ci"`))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
		},
		{
			name:     "disabled policy is listed and ignored",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, state(capolicy.StateDisabled))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			summary:  "No enabled Conditional Access policy blocks this app at risk level high.",
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"disabled: has no effect",
			}}},
		},
		{
			name:     "a state this code does not know is not enforcement",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, state("enabledSometimes"))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				`state "enabledSometimes" is not one the responder knows: treated as not enforced`,
			}}},
		},
		{
			name:     "hidden risk level and a policy for some levels: depends on the level",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm)},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "hidden"},
			outcome:  incident.VerdictCannotEvaluate,
			summary:  `Whether Conditional Access blocks this app depends on its risk level, which is unknown: policy "WID - Block risky workload identities" blocks only at risk levels high, medium.`,
			policies2: []wantPolicy{{id: riskID, applies: false, kind: capolicy.KindRisk, reasons: []string{
				"risk levels high, medium: whether this service principal's level is among them is unknown",
			}}},
		},
		{
			name:     "unknown risk level and a policy for every level: blocked",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, []string{"low", "medium", "high"})},
			sp:       capolicy.Subject{ServicePrincipalID: spID},
			outcome:  incident.VerdictBlocked,
			summary:  `Conditional Access blocks new sign-ins by this app whatever its risk level: enabled policy "WID - Block risky workload identities" covers it.`,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindRisk, reasons: []string{
				"risk levels low, medium, high cover every level, so the unknown level of this service principal does not matter",
			}}},
		},
		{
			name:     "unknown risk level and an excluding policy: excluded still",
			policies: []capolicy.Policy{riskPolicy(riskID, riskName, hm, exclude(spID))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "hidden"},
			outcome:  incident.VerdictExcluded,
			summary:  `Conditional Access does not block this app: policy "WID - Block risky workload identities" would block it but excludes it.`,
		},
		{
			name:     "no risk condition and no location: blocks regardless of risk",
			policies: []capolicy.Policy{riskPolicy(riskID, "Block everything", nil)},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "none"},
			outcome:  incident.VerdictBlocked,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindOther, reasons: []string{
				"no risk condition: applies at any risk level",
			}}},
		},
		{
			name:     "location policy alone: not blocked, but named with its networks",
			policies: []capolicy.Policy{locationPolicy},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictNoPolicy,
			summary:  `No enabled Conditional Access policy blocks this app at risk level high; policy "WID - Block CI outside corporate egress" still blocks its sign-ins outside "Corporate egress (NAT)" (198.51.100.0/24, 2001:db8:1200::/48).`,
			policies2: []wantPolicy{{id: locID, applies: true, kind: capolicy.KindLocation, reasons: []string{
				"enabled", "includes this service principal by its object id", "no risk condition: applies at any risk level",
				`blocks only sign-ins outside "Corporate egress (NAT)" (198.51.100.0/24, 2001:db8:1200::/48)`, "grant: block",
			}}},
		},
		{
			name:      "location policy that does not include the service principal",
			policies:  []capolicy.Policy{locationPolicy},
			sp:        capolicy.Subject{ServicePrincipalID: otherSPID, RiskLevel: "high"},
			outcome:   incident.VerdictNoPolicy,
			summary:   "No enabled Conditional Access policy blocks this app at risk level high.",
			policies2: []wantPolicy{{id: locID, applies: false, kind: capolicy.KindLocation}},
		},
		{
			name:     "risk and location policies: blocked by risk, location listed too",
			policies: []capolicy.Policy{locationPolicy, riskPolicy(riskID, riskName, hm)},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:  incident.VerdictBlocked,
			summary:  `Conditional Access blocks new sign-ins by this app at risk level high: enabled policy "WID - Block risky workload identities" covers it.`,
			policies2: []wantPolicy{
				{id: locID, applies: true, kind: capolicy.KindLocation},
				{id: riskID, applies: true, kind: capolicy.KindRisk},
			},
		},
		{
			name:     "location policy excluding AllTrusted names the trusted locations",
			policies: []capolicy.Policy{riskPolicy(locID, "Outside trusted", nil, locations([]string{"All"}, []string{"AllTrusted"}))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "low"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: locID, applies: true, kind: capolicy.KindLocation, reasons: []string{
				`blocks only sign-ins outside the trusted locations "Corporate egress (NAT)" (198.51.100.0/24, 2001:db8:1200::/48)`,
			}}},
		},
		{
			name:     "location policy that blocks from some places",
			policies: []capolicy.Policy{riskPolicy(locID, "Not from the EU", nil, locations([]string{euLocID, "0f0f0f0f-0000-0000-0000-000000000000"}, []string{corpLocID}))},
			sp:       capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "low"},
			outcome:  incident.VerdictNoPolicy,
			policies2: []wantPolicy{{id: locID, applies: true, kind: capolicy.KindLocation, reasons: []string{
				`blocks only sign-ins from "EU offices" (countries DE, FR) and unknown named location 0f0f0f0f-0000-0000-0000-000000000000, except from "Corporate egress (NAT)" (198.51.100.0/24, 2001:db8:1200::/48)`,
			}}},
		},
		{
			name:      "a location condition over every location is no restriction",
			policies:  []capolicy.Policy{riskPolicy(riskID, riskName, hm, locations([]string{"All"}, nil))},
			sp:        capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:   incident.VerdictBlocked,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindRisk}},
		},
		{
			name:      "policies for users only are not listed",
			policies:  []capolicy.Policy{userPolicy(), riskPolicy(riskID, riskName, hm)},
			sp:        capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:   incident.VerdictBlocked,
			policies2: []wantPolicy{{id: riskID, applies: true, kind: capolicy.KindRisk}},
		},
		{
			name:        "only user policies: no policy for workload identities",
			policies:    []capolicy.Policy{userPolicy()},
			sp:          capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome:     incident.VerdictNoPolicy,
			summaryHas:  []string{"No Conditional Access policy for workload identities exists"},
			wantNoEvals: true,
		},
		{
			name: "excluded from the enforced policy wins over a report-only one",
			policies: []capolicy.Policy{
				riskPolicy(pilotID, "Pilot", hm, state(capolicy.StateReportOnly)),
				riskPolicy(riskID, riskName, hm, exclude(spID)),
			},
			sp:      capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome: incident.VerdictExcluded,
			policies2: []wantPolicy{ // enforced policies first
				{id: riskID, applies: false, kind: capolicy.KindRisk},
				{id: pilotID, applies: true, kind: capolicy.KindRisk},
			},
		},
		{
			name: "report-only plus a location block: both named",
			policies: []capolicy.Policy{
				riskPolicy(pilotID, "Pilot", hm, state(capolicy.StateReportOnly)),
				locationPolicy,
			},
			sp:      capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"},
			outcome: incident.VerdictReportOnly,
			summary: `Conditional Access does not block this app yet: policy "Pilot" would block it at risk level high but is report-only, so it only logs; policy "WID - Block CI outside corporate egress" still blocks its sign-ins outside "Corporate egress (NAT)" (198.51.100.0/24, 2001:db8:1200::/48).`,
		},
		{
			name: "several report-only policies",
			policies: []capolicy.Policy{
				riskPolicy(pilotID, "Pilot B", hm, state(capolicy.StateReportOnly)),
				riskPolicy(riskID, "Pilot A", hm, state(capolicy.StateReportOnly)),
			},
			sp:      capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "medium"},
			outcome: incident.VerdictReportOnly,
			summary: `Conditional Access does not block this app yet: policies "Pilot A" and "Pilot B" would block it at risk level medium but are report-only, so they only log.`,
		},
		{
			name:        "empty service principal id",
			policies:    []capolicy.Policy{riskPolicy(riskID, riskName, hm)},
			sp:          capolicy.Subject{RiskLevel: "high"},
			outcome:     incident.VerdictCannotEvaluate,
			summary:     "Cannot tell whether Conditional Access blocks this app: the service principal's object id is not known, so its inclusion in policies cannot be checked.",
			wantNoEvals: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := capolicy.Evaluate(tc.policies, testLocations, tc.sp)
			if v.Outcome != tc.outcome {
				t.Errorf("outcome = %q, want %q\nsummary: %s\npolicies: %+v", v.Outcome, tc.outcome, v.Summary, v.Policies)
			}
			if tc.summary != "" && v.Summary != tc.summary {
				t.Errorf("summary:\n got %s\nwant %s", v.Summary, tc.summary)
			}
			for _, s := range tc.summaryHas {
				if !strings.Contains(v.Summary, s) {
					t.Errorf("summary %q does not contain %q", v.Summary, s)
				}
			}
			if !strings.HasSuffix(v.Summary, ".") || strings.Count(v.Summary, ". ") > 0 {
				t.Errorf("summary is not one sentence: %q", v.Summary)
			}
			if tc.wantNoEvals && len(v.Policies) != 0 {
				t.Errorf("policies = %+v, want none", v.Policies)
			}
			if tc.policies2 != nil {
				if len(v.Policies) != len(tc.policies2) {
					t.Fatalf("got %d policy evaluations, want %d: %+v", len(v.Policies), len(tc.policies2), v.Policies)
				}
				for i, w := range tc.policies2 {
					checkPolicyEval(t, v.Policies[i], w)
				}
			}
		})
	}
}

func checkPolicyEval(t *testing.T, got incident.PolicyEval, w wantPolicy) {
	t.Helper()
	if got.ID != w.id || got.Applies != w.applies || got.Kind != w.kind {
		t.Errorf("policy %s: applies=%v kind=%q, want %s applies=%v kind=%q; reasons %q", got.ID, got.Applies, got.Kind, w.id, w.applies, w.kind, got.Reasons)
	}
	for _, r := range w.reasons {
		if !slices.Contains(got.Reasons, r) {
			t.Errorf("policy %s: reasons %q lack %q", got.ID, got.Reasons, r)
		}
	}
}

func TestEvaluateReasonsInOrder(t *testing.T) {
	p := riskPolicy("p1", "Block", []string{"high", "medium"}, include(spID), exclude(otherSPID), grant("block"))
	v := capolicy.Evaluate([]capolicy.Policy{p}, nil, capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "low"})
	want := []string{
		"enabled",
		"includes this service principal by its object id",
		"applies to tokens for all resources",
		"risk levels high, medium do not include low",
		"grant: block",
	}
	if len(v.Policies) != 1 || !reflect.DeepEqual(v.Policies[0].Reasons, want) {
		t.Fatalf("policies = %+v, want reasons %q", v.Policies, want)
	}
	if v.RiskLevel != "low" {
		t.Errorf("risk level = %q", v.RiskLevel)
	}
}

// TestEvaluateDeterministic: Graph does not promise an order, so the verdict
// must not depend on it.
func TestEvaluateDeterministic(t *testing.T) {
	policies := []capolicy.Policy{
		riskPolicy("a1", "Same name", []string{"high"}),
		riskPolicy("a0", "Same name", []string{"high"}),
		riskPolicy("b", "Pilot", []string{"high"}, state(capolicy.StateReportOnly)),
		riskPolicy("c", "Off", []string{"high"}, state(capolicy.StateDisabled)),
		riskPolicy("d", "Outside corp", nil, include(spID), locations([]string{"All"}, []string{"AllTrusted"})),
		riskPolicy("e", "Excludes it", []string{"high"}, exclude(spID)),
		userPolicy(),
	}
	locs := []capolicy.NamedLocation{corp, eu, {ID: "x", DisplayName: "Branch", Type: capolicy.LocationIP, IsTrusted: true,
		IPRanges: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}}
	sp := capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"}
	want := capolicy.Evaluate(policies, locs, sp)
	var ids []string
	for _, p := range want.Policies {
		ids = append(ids, p.ID)
	}
	// enforced before report-only before disabled; then by name, then id
	if wantIDs := []string{"e", "d", "a0", "a1", "b", "c"}; !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("order = %v, want %v", ids, wantIDs)
	}
	if !strings.Contains(want.Summary, `policies "Same name" and "Same name" cover it`) {
		t.Errorf("summary = %q", want.Summary)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		ps := slices.Clone(policies)
		r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		ls := slices.Clone(locs)
		r.Shuffle(len(ls), func(i, j int) { ls[i], ls[j] = ls[j], ls[i] })
		if got := capolicy.Evaluate(ps, ls, sp); !reflect.DeepEqual(got, want) {
			t.Fatalf("order-dependent verdict:\n got %+v\nwant %+v", got, want)
		}
	}
}

func TestEvaluateManyNames(t *testing.T) {
	var ps []capolicy.Policy
	for _, n := range []string{"D", "A", "C", "B"} {
		ps = append(ps, riskPolicy("id-"+n, n, []string{"high"}))
	}
	v := capolicy.Evaluate(ps, nil, capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"})
	if want := `enabled policies "A", "B" and 2 more cover it.`; !strings.HasSuffix(v.Summary, want) {
		t.Errorf("summary = %q, want suffix %q", v.Summary, want)
	}
}

func TestCannotEvaluate(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"reading Conditional Access policies needs Policy.Read.All, which the responder lacks.",
			"Cannot tell whether Conditional Access blocks this app: reading Conditional Access policies needs Policy.Read.All, which the responder lacks."},
		{"  ", "Cannot tell whether Conditional Access blocks this app: no reason was given."},
	} {
		v := capolicy.CannotEvaluate(tc.reason)
		if v.Outcome != incident.VerdictCannotEvaluate || v.Summary != tc.want || v.Policies != nil {
			t.Errorf("CannotEvaluate(%q) = %+v, want summary %q", tc.reason, v, tc.want)
		}
	}
}
