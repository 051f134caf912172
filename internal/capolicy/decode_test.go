package capolicy_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/incident"
)

// sample reads a reference sample (copied from reference/entra/graph) and
// returns the JSON at the given path of object keys, e.g. response.body.
func sample(t *testing.T, file string, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var ok bool
		if data, ok = m[k]; !ok {
			t.Fatalf("%s: no key %q", file, k)
		}
	}
	return data
}

func TestDecodeReferenceListSample(t *testing.T) {
	ps, err := capolicy.DecodePolicies(sample(t, "12-list-conditionalaccess-policies.json", "response", "body"))
	if err != nil {
		t.Fatal(err)
	}
	want := []capolicy.Policy{{
		ID:          "5f2b8c1d-0a9e-4d3b-9c7a-1e2f3a4b5c6d",
		DisplayName: "WID - Block risky workload identities",
		State:       "enabled",
		Conditions: capolicy.Conditions{
			ServicePrincipalRiskLevels: []string{"high", "medium"},
			Applications:               capolicy.Applications{IncludeApplications: []string{"All"}, ExcludeApplications: []string{}},
			ClientApplications: &capolicy.ClientApplications{
				IncludeServicePrincipals: []string{"ServicePrincipalsInMyTenant"},
				ExcludeServicePrincipals: []string{"11111111-2222-3333-4444-555555555555"},
			},
		},
		GrantControls: &capolicy.GrantControls{Operator: "OR", BuiltInControls: []string{"block"}},
	}}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("decoded:\n%+v\nwant\n%+v", ps, want)
	}
	for _, tc := range []struct {
		sp      capolicy.Subject
		outcome string
	}{
		{capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"}, incident.VerdictBlocked},
		{capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "medium"}, incident.VerdictBlocked},
		{capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "low"}, incident.VerdictNoPolicy},
		{capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "hidden"}, incident.VerdictCannotEvaluate},
		{capolicy.Subject{ServicePrincipalID: "11111111-2222-3333-4444-555555555555", RiskLevel: "high"}, incident.VerdictExcluded},
	} {
		if v := capolicy.Evaluate(ps, nil, tc.sp); v.Outcome != tc.outcome {
			t.Errorf("%+v: outcome %q, want %q (%s)", tc.sp, v.Outcome, tc.outcome, v.Summary)
		}
	}
}

func TestDecodeReferenceCreateSample(t *testing.T) {
	p, err := capolicy.DecodePolicy(sample(t, "13-ca-policy-workload-identity-risk-block.json", "request", "body"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "" || p.State != capolicy.StateEnabled || !p.TargetsWorkloadIdentities() {
		t.Fatalf("decoded %+v", p)
	}
	p.ID = "created"
	v := capolicy.Evaluate([]capolicy.Policy{p}, nil, capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"})
	if v.Outcome != incident.VerdictBlocked || len(v.Policies) != 1 || v.Policies[0].Kind != capolicy.KindRisk {
		t.Fatalf("verdict %+v", v)
	}
}

// The location sample has Microsoft's placeholders where ids belong; it
// must still decode and evaluate to something sensible, not fail.
func TestDecodeReferenceLocationSample(t *testing.T) {
	p, err := capolicy.DecodePolicy(sample(t, "14-ca-policy-workload-identity-location-block.json", "request", "body"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Conditions.Locations == nil || len(p.Conditions.Locations.ExcludeLocations) != 1 {
		t.Fatalf("locations not decoded: %+v", p.Conditions)
	}
	v := capolicy.Evaluate([]capolicy.Policy{p}, nil, capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"})
	if v.Outcome != incident.VerdictNoPolicy || len(v.Policies) != 1 {
		t.Fatalf("verdict %+v", v)
	}
	pe := v.Policies[0]
	if pe.Kind != capolicy.KindLocation || pe.Applies {
		t.Errorf("policy eval %+v", pe)
	}
	for _, r := range []string{
		`state "enabled OR disabled OR enabledForReportingButNotEnforced" is not one the responder knows: treated as not enforced`,
		"does not include this service principal",
		"blocks only sign-ins outside unknown named location [Named location ID] OR AllTrusted",
	} {
		if !strings.Contains(strings.Join(pe.Reasons, "\n"), r) {
			t.Errorf("reasons %q lack %q", pe.Reasons, r)
		}
	}
}

func TestDecodeTenantFixture(t *testing.T) {
	ps, err := capolicy.DecodePolicies(sample(t, "tenant-policies.json"))
	if err != nil {
		t.Fatal(err)
	}
	locs, err := capolicy.DecodeNamedLocations(sample(t, "tenant-namedlocations.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantLocs := []capolicy.NamedLocation{
		{ID: corpLocID, DisplayName: "Corporate egress (NAT)", Type: capolicy.LocationIP, IsTrusted: true,
			IPRanges: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1200::/48")}},
		{ID: euLocID, DisplayName: "EU offices", Type: capolicy.LocationCountry, Countries: []string{"DE", "FR"}},
	}
	if !reflect.DeepEqual(locs, wantLocs) {
		t.Fatalf("locations:\n%+v\nwant\n%+v", locs, wantLocs)
	}

	v := capolicy.Evaluate(ps, locs, capolicy.Subject{ServicePrincipalID: spID, RiskLevel: "high"})
	if v.Outcome != incident.VerdictBlocked {
		t.Errorf("outcome %q: %s", v.Outcome, v.Summary)
	}
	var got []string
	for _, p := range v.Policies {
		got = append(got, p.DisplayName)
	}
	want := []string{ // the user MFA policy is left out
		"WID - Block CI identities outside corporate egress",
		"WID - Block risky workload identities",
		"WID - Block low-risk workload identities (report-only pilot)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("policies %q, want %q", got, want)
	}

	v = capolicy.Evaluate(ps, locs, capolicy.Subject{ServicePrincipalID: otherSPID, RiskLevel: "low"})
	if v.Outcome != incident.VerdictReportOnly {
		t.Errorf("low risk: outcome %q: %s", v.Outcome, v.Summary)
	}

	nets := capolicy.AllowedNetworks(ps, locs, spID)
	if want := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1200::/48")}; !reflect.DeepEqual(nets, want) {
		t.Errorf("allowed networks %v, want %v", nets, want)
	}
	if nets := capolicy.AllowedNetworks(ps, locs, otherSPID); nets != nil {
		t.Errorf("allowed networks of an app no location policy covers: %v", nets)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
		is               error
	}{
		{"not JSON", `{"value":[`, "decode conditional access policies", nil},
		{"not a collection", `{"id":"x","state":"enabled"}`, `no "value" array`, nil},
		{"more pages", `{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies?$skiptoken=2"}`, "more pages", capolicy.ErrMorePages},
		{"policy without id", `{"value":[{"displayName":"Nameless","state":"enabled"}]}`, `value[0] ("Nameless") has no id`, nil},
		{"wrong type", `{"value":[{"id":"a","conditions":{"servicePrincipalRiskLevels":"high"}}]}`, "cannot unmarshal", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := capolicy.DecodePolicies([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
	if _, err := capolicy.DecodePolicy([]byte(`[]`)); err == nil {
		t.Error("DecodePolicy accepted an array")
	}
}

func TestDecodeNamedLocations(t *testing.T) {
	locs, err := capolicy.DecodeNamedLocations([]byte(`{"value":[
		{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"a","displayName":"Host","isTrusted":false,
		 "ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"203.0.113.7/24"}]},
		{"@odata.type":"#microsoft.graph.compliantNetworkNamedLocation","id":"b","displayName":"Global Secure Access"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []capolicy.NamedLocation{
		{ID: "a", DisplayName: "Host", Type: capolicy.LocationIP, IPRanges: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
		{ID: "b", DisplayName: "Global Secure Access", Type: "#microsoft.graph.compliantNetworkNamedLocation"},
	}
	if !reflect.DeepEqual(locs, want) {
		t.Fatalf("got %+v\nwant %+v", locs, want)
	}

	_, err = capolicy.DecodeNamedLocations([]byte(`{"value":[{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"a","ipRanges":[{"cidrAddress":"10.0.0.300/8"}]}]}`))
	if err == nil || !strings.Contains(err.Error(), "value[0] (a) ipRanges[0]") {
		t.Errorf("bad range: err = %v", err)
	}
	_, err = capolicy.DecodeNamedLocations([]byte(`{"value":[],"@odata.nextLink":"x"}`))
	if !errors.Is(err, capolicy.ErrMorePages) {
		t.Errorf("next link: err = %v", err)
	}
}

func FuzzDecodePolicies(f *testing.F) {
	for _, name := range []string{"tenant-policies.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"value":[{"id":"a","state":"enabled","conditions":{"clientApplications":{"servicePrincipalFilter":{"mode":"include","rule":"x"}},"locations":{"includeLocations":["AllTrusted"]}},"grantControls":{"builtInControls":["block"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := capolicy.DecodePolicies(data)
		if err != nil {
			return
		}
		for _, level := range []string{"high", "hidden"} {
			v := capolicy.Evaluate(ps, testLocations, capolicy.Subject{ServicePrincipalID: spID, RiskLevel: level})
			if v.Outcome == "" || v.Summary == "" {
				t.Fatalf("empty verdict for %s", data)
			}
		}
		_ = capolicy.AllowedNetworks(ps, testLocations, spID)
	})
}
