package logtable

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/jsonscan"
)

const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

func row(t *testing.T, obj string) Row {
	t.Helper()
	b := []byte(obj)
	var r Row
	if _, err := jsonscan.Object(b, 0, func(key []byte, esc bool, v int) (int, error) {
		end, err := jsonscan.SkipValue(b, v)
		r = append(r, Column{Name: string(key), Value: b[v:end], Escaped: esc})
		return end, err
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServicePrincipalSignInRow(t *testing.T) {
	r := row(t, `{"TenantId":"11111111-2222-4333-8444-555555555555","TimeGenerated":"2025-03-04T10:20:00.123Z","Type":"AADServicePrincipalSignInLogs",
	"Category":"ServicePrincipalSignInLogs","Id":"a5b7c9d1-0000-4000-8000-000000000001","AppId":"6131d760-7fda-4db5-8bb1-b771898e9f15",
	"ServicePrincipalId":"b029d485-2a9c-4d88-8b5f-5d8c1e9f7a6b","ServicePrincipalCredentialKeyId":"dbcd79c0-c3ea-46b9-9604-ff40d43b8618",
	"ResultType":"7000215","IPAddress":"203.0.113.9","LocationDetails":"{\"city\":\"Oslo\",\"countryOrRegion\":\"NO\"}",
	"ConditionalAccessPolicies":"[]","_BilledSize":1234,"SourceSystem":"Azure"}`)
	rec, err := Record(r, Options{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	si, err := entra.DecodeSignIn(rec)
	if err != nil {
		t.Fatalf("%v: %s", err, rec)
	}
	p := si.Properties
	if si.Category != "ServicePrincipalSignInLogs" || si.Tenant() != tenant || p.AppID != "6131d760-7fda-4db5-8bb1-b771898e9f15" ||
		p.Status.ErrorCode != 7000215 || p.Location.City != "Oslo" || p.ServicePrincipalCredentialKeyID != "dbcd79c0-c3ea-46b9-9604-ff40d43b8618" {
		t.Errorf("decoded %+v from %s", si, rec)
	}
	if strings.Contains(string(rec), "11111111-2222") {
		t.Errorf("the workspace id became part of the record: %s", rec)
	}
}

func TestOneReadingOfARow(t *testing.T) {
	base := `"Type":"AADServicePrincipalRiskEvents","Id":"x","RiskState":"atRisk"`
	for _, c := range []struct{ row, want string }{
		{`{` + base + `,"AppId":"a","AppId":"b"}`, `column "AppId" twice`},
		{`{` + base + `,"AppId":"a","appId":"b"}`, `differ only in case`},
		{`{` + base + `,"App\u0049d":"a"}`, `escaped column name`},
		{`{"Type":"AADServicePrincipalSignInLogs","Category":"SignInLogs"}`, `give category two values`},
		{`{"Type":"AuditLogs","AADTenantId":"99999999-0000-4000-8000-000000000000"}`, `give tenantId two values`},
	} {
		_, err := Record(row(t, c.row), Options{Tenant: tenant})
		if !errors.Is(err, entra.ErrAmbiguous) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.row, err, c.want)
		}
	}
	// The same value from Type and Category is one reading.
	if _, err := Record(row(t, `{"Type":"AADServicePrincipalSignInLogs","Category":"ServicePrincipalSignInLogs"}`), Options{}); err != nil {
		t.Error(err)
	}
	_, err := Record(row(t, `{"TimeGenerated":"2025-03-04T10:20:00Z","AppId":"a"}`), Options{})
	var le *Error
	if !errors.As(err, &le) || le.Reason != "unknownShape" || !strings.Contains(err.Error(), "Type") {
		t.Errorf("row without Type: %v", err)
	}
}

func TestTextValuesFromCSV(t *testing.T) {
	cell := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	r := Row{{Name: "Type", Value: cell("AADRiskyServicePrincipals")}, {Name: "Id", Value: cell("b029d485-2a9c-4d88-8b5f-5d8c1e9f7a6b")},
		{Name: "AccountEnabled", Value: cell("True")}, {Name: "IsProcessing", Value: cell("false")}, {Name: "RiskState", Value: cell("atRisk")},
		{Name: "RiskDetail", Value: cell("")}, {Name: "TimeGenerated", Value: cell("3/4/2025, 10:20:00.123 AM")}}
	rec, err := Record(r, Options{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	p, err := entra.DecodeRiskyServicePrincipal(rec)
	if err != nil || p.Properties.AccountEnabled == nil || !*p.Properties.AccountEnabled || p.Properties.IsProcessing || p.Time.IsZero() || len(p.Tolerated) != 0 {
		t.Fatalf("%+v %v %v: %s", p, p.Tolerated, err, rec)
	}
}
