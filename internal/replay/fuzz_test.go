package replay

import (
	"encoding/json"
	"testing"
)

// FuzzRead splits arbitrary files: an error is fine, a panic is not, and
// every event is either marked bad or a JSON body.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"records":[{"category":"AuditLogs"}]}`,
		"{\"category\":\"ServicePrincipalSignInLogs\"}\n{\"time\":1}\nnot json\n",
		`[{"Type":"AADServicePrincipalRiskEvents","Id":"x"},{"category":"x"},3]`,
		"TimeGenerated [UTC],Type,AppId\n\"3/4/2025, 1:00:00.000 PM\",AADRiskyServicePrincipals,a\nx,\"y\n",
		`{"tables":[{"columns":[{"name":"Type"}],"rows":[["AuditLogs"],[1,2]]}]}`,
		`{"Data":{"events":"[]"},"Metadata":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(data, "events", Options{Tenant: "4bbb79f7-5724-4c9e-95f3-de075f6ec090"})
		if err != nil {
			return
		}
		for _, ev := range file.Events {
			if ev.Err == nil && !json.Valid(ev.Body) && file.Unit != "event" {
				t.Fatalf("event without an error is not JSON: %q", ev.Body)
			}
		}
	})
}
