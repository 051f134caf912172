package detect

import (
	"strings"
	"testing"
)

// An audit record of a Conditional Access policy or named location change
// in the configured tenant tells the cache it is stale; the same record of
// another tenant, and other audit activities, do not; nor does it become a
// signal.
func TestPolicyChangeAuditInvalidates(t *testing.T) {
	const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	rec := func(tenantID, activity string) []byte {
		return []byte(`{"time":"2026-11-29T10:20:00Z","category":"AuditLogs","tenantId":"` + tenantID + `","level":"Informational","properties":{
		 "id":"IPCGraph_1","category":"Policy","activityDisplayName":"` + activity + `","operationType":"Update",
		 "initiatedBy":{"user":{"userPrincipalName":"admin@contoso.com"}},
		 "targetResources":[{"id":"5f2b8c1d-0a9e-4d3b-9c7a-1e2f3a4b5c6d","displayName":"Block risky workload identities","type":"Policy"}]}}`)
	}
	for _, c := range []struct {
		name, tenant, activity string
		want                   int
	}{
		{"policy updated", tenant, "Update conditional access policy", 1},
		{"policy added", tenant, "Add conditional access policy", 1},
		{"named location deleted", tenant, "Delete named location", 1},
		{"escaped activity name", tenant, `Update conditional access \u0070olicy`, 1},
		{"another tenant", "8a4de8b5-095c-47d0-a96f-a75130c61d53", "Update conditional access policy", 0},
		{"another activity", tenant, "Update policy", 0},
		{"a lookalike", tenant, "Update conditional access policy template", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			b := NewBatch(Options{PolicyChanged: func() { n++ }})
			out, err := b.AuditLog(rec(c.tenant, c.activity), tenant, Source{})
			if c.tenant != tenant {
				if err == nil || !strings.Contains(err.Error(), "tenant") {
					t.Fatalf("a foreign tenant's record: %v %v", out, err)
				}
			} else if err != nil || out != AuditNotCredentialChange {
				t.Fatalf("outcome %v %v", out, err)
			}
			if n != c.want || len(b.Signals()) != 0 {
				t.Fatalf("PolicyChanged called %d times (want %d), signals %v", n, c.want, b.Signals())
			}
		})
	}
}
