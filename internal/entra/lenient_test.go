package entra

import (
	"errors"
	"strings"
	"testing"
)

const lenientTenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

// A bad value in a field no decision reads (a time, a display name, a
// location) keeps the record: the field is left empty and named in
// Tolerated. A bad value in a field a decision reads still fails it.
func TestLenientFieldsKeepTheRecord(t *testing.T) {
	rec := `{"time":"8/22/2022 6:07:16 PM","category":"ServicePrincipalRiskEvents","tenantId":"` + lenientTenant + `","Level":"loud",
	"properties":{"id":"86e1e2b9c8e5d5a6c6ff1b5eb5c3f1f0a0e6e0e4e2e1d6b1a0f3c2b9e8d7c6a5","riskEventType":"leakedCredentials","riskState":"atRisk","riskLevel":"high",
	"lastUpdatedDateTime":"yesterday-ish","detectedDateTime":17,"location":[1,2],"servicePrincipalDisplayName":{"x":1},
	"appId":"6131d760-7fda-4db5-8bb1-b771898e9f15","keyIds":["0f4d8b5e-1c2a-4e3f-9a8b-7c6d5e4f3a2b"]}}`
	r, err := DecodeRiskEvent([]byte(rec))
	if err != nil {
		t.Fatalf("a bad lastUpdatedDateTime quarantined the whole detection: %v", err)
	}
	if r.Properties.RiskEventType != "leakedCredentials" || len(r.Properties.KeyIDs) != 1 || !r.Properties.LastUpdatedDateTime.IsZero() {
		t.Errorf("properties = %+v", r.Properties)
	}
	got := strings.Join(r.Tolerated, "\n")
	for _, want := range []string{"Level", "properties.lastUpdatedDateTime", "properties.detectedDateTime", "properties.location", "properties.servicePrincipalDisplayName"} {
		if !strings.Contains(got, want+": ") {
			t.Errorf("Tolerated does not name %s:\n%s", want, got)
		}
	}
	// Decision fields stay strict.
	for good, bad := range map[string]string{
		`"riskState":"atRisk"`: `"riskState":["atRisk"]`, `"riskLevel":"high"`: `"riskLevel":3`,
		`"keyIds":["0f4d8b5e-1c2a-4e3f-9a8b-7c6d5e4f3a2b"]`: `"keyIds":{"a":1}`,
		`"appId":"6131d760-7fda-4db5-8bb1-b771898e9f15"`:    `"appId":42`, `"riskEventType":"leakedCredentials"`: `"riskEventType":true`,
	} {
		if _, err := DecodeRiskEvent([]byte(strings.Replace(rec, good, bad, 1))); err == nil {
			t.Errorf("%s: a bad decision field was tolerated", bad)
		}
	}
	// The key rules still hold for lenient fields: one reading of the keys.
	dup := strings.Replace(rec, `"lastUpdatedDateTime":"yesterday-ish"`, `"lastUpdatedDateTime":"x","LastUpdatedDateTime":"y"`, 1)
	if _, err := DecodeRiskEvent([]byte(dup)); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("case-variant lenient key: %v", err)
	}
}
