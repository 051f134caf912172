package graphsim

import (
	"testing"
)

// TestChangedSinceFilters: the two filters a reconcile round sends, and
// nothing wider: ge only on the two date fields, with an unquoted
// DateTimeOffset literal.
func TestChangedSinceFilters(t *testing.T) {
	_, base := sim(t)
	det := base + "/identityProtection/servicePrincipalRiskDetections?$filter="
	r := do(t, "GET", det+"lastUpdatedDateTime%20ge%202025-03-05T00:00:00Z", nil).wantStatus(t, 200)
	for _, v := range r.body["value"].([]any) {
		if v.(map[string]any)["lastUpdatedDateTime"].(string) < "2025-03-05" {
			t.Fatalf("a detection updated before the bound came back: %s", r.raw)
		}
	}
	all := do(t, "GET", det+"lastUpdatedDateTime%20ge%202000-01-01T00:00:00Z", nil).wantStatus(t, 200)
	none := do(t, "GET", det+"lastUpdatedDateTime%20ge%202100-01-01T00:00:00Z", nil).wantStatus(t, 200)
	if n, m, k := len(all.body["value"].([]any)), len(r.body["value"].([]any)), len(none.body["value"].([]any)); n < 2 || m >= n || m == 0 || k != 0 {
		t.Fatalf("ge filter: all %d, since 2025-03-05 %d, in 2100 %d", n, m, k)
	}
	risky := base + "/identityProtection/riskyServicePrincipals?$filter="
	r = do(t, "GET", risky+"riskLastUpdatedDateTime%20ge%202025-03-06T00:00:00Z", nil).wantStatus(t, 200)
	if v := r.body["value"].([]any); len(v) == 0 {
		t.Fatalf("risky ge filter found nothing: %s", r.raw)
	}
	do(t, "GET", det+"detectedDateTime%20ge%202025-03-05T00:00:00Z", nil).wantError(t, 400, "BadRequest", "only 'eq'")
	do(t, "GET", det+"lastUpdatedDateTime%20ge%20'2025-03-05'", nil).wantError(t, 400, "BadRequest", "DateTimeOffset")
	do(t, "GET", det+"lastUpdatedDateTime%20gt%202025-03-05T00:00:00Z", nil).wantError(t, 400, "BadRequest", "only 'eq'")
}
