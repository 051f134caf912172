package logtable

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/jsonscan"
)

// FuzzRecord maps arbitrary rows: an error is fine, a panic is not, and a
// record that comes out is valid JSON whose envelope reads one way.
func FuzzRecord(f *testing.F) {
	for _, s := range []string{
		`{"Type":"AADServicePrincipalSignInLogs","Category":"ServicePrincipalSignInLogs","AppId":"a","ResultType":"7000222","LocationDetails":"{\"city\":\"x\"}"}`,
		`{"Type":"AADServicePrincipalRiskEvents","Id":"x","KeyIds":"[\"a\"]","Location":"null","AADTenantId":"t"}`,
		`{"Type":"AADRiskyServicePrincipals","AccountEnabled":"True","IsProcessing":false}`,
		`{"Type":"AuditLogs","TargetResources":"[{\"id\":\"x\"}]","Category":"ApplicationManagement","ResourceId":"/tenants/t/x"}`,
		`{"Type":"AADServicePrincipalSignInLogs","AppId":"a","appId":"b"}`,
		`{"Type":"Nope","a.b":1,"properties":{"x":1}}`,
	} {
		f.Add([]byte(s), "4bbb79f7-5724-4c9e-95f3-de075f6ec090")
	}
	f.Fuzz(func(t *testing.T, obj []byte, tenant string) {
		var r Row
		if _, err := jsonscan.Object(obj, jsonscan.SkipWS(obj, 0), func(key []byte, esc bool, v int) (int, error) {
			end, err := jsonscan.SkipValue(obj, v)
			if err == nil {
				r = append(r, Column{Name: string(key), Value: obj[v:end], Escaped: esc})
			}
			return end, err
		}); err != nil {
			return
		}
		rec, err := Record(r, Options{Tenant: tenant})
		if err != nil {
			var le *Error
			if !errors.Is(err, entra.ErrAmbiguous) && !errors.As(err, &le) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if !json.Valid(rec) {
			t.Fatalf("invalid record %q from %q", rec, obj)
		}
		sc, err := entra.ScanRecord(rec, 0)
		if err != nil || sc.Ambiguity != "" {
			t.Fatalf("record reads two ways (%v, %q): %s", err, sc.Ambiguity, rec)
		}
	})
}
