package entra

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

const tn = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

func TestScanRecordAmbiguity(t *testing.T) {
	for rec, want := range map[string]string{
		`{"category":"AuditLogs","tenantId":"` + tn + `"}`:                "",
		`{"category":"AuditLogs","tenantId":"` + tn + `","TenantId":"x"}`: "differs",
		`{"category":"AuditLogs","tenant\u0049d":"x"}`:                    "escaped",
		`{"category":"AuditLogs","category":"SignInLogs"}`:                "twice",
		`{"category":"AuditLogs","CATEGORY":"SignInLogs"}`:                "differs",
		`{"category":7}`: "not a string",
		`{"category":"AuditLogs","properties":{},"properties":{}}`:                           "twice",
		`{"category":"AuditLogs","propertie` + "\u017f" + `":{}}`:                            "differs",
		`{"category":"AuditLogs","Level":4,"level":"x","tenantid2":"x","tenantIdentity":""}`: "",
	} {
		sc, err := ScanRecord([]byte(rec), 0)
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		if (want == "") != (sc.Ambiguity == "") || !strings.Contains(sc.Ambiguity, want) {
			t.Errorf("%s: ambiguity %q, want %q", rec, sc.Ambiguity, want)
		}
	}
}

func TestStrictDecodersNameThePlace(t *testing.T) {
	rec := `{"category":"AuditLogs","tenantId":"` + tn + `","properties":{"targetResources":[{"id":"a"},{"id":"b","Id":"c"}]}}`
	_, err := DecodeAuditLog([]byte(rec))
	var ae *AmbiguousError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAmbiguous) || ae.Path != "properties.targetResources[1]" || !strings.Contains(ae.Reason, `"Id"`) {
		t.Fatalf("err = %v (%+v)", err, ae)
	}
	// "Level" and "level" are both Entra's; either alone is fine, both is twice.
	for rec, ok := range map[string]bool{`{"Level":4}`: true, `{"level":"Informational"}`: true, `{"Level":4,"level":4}`: false} {
		if _, err := DecodeAuditLog([]byte(rec)); (err == nil) != ok {
			t.Errorf("%s: %v", rec, err)
		}
	}
}

// FuzzOneReading holds the scan and the typed decoders to one reading:
// whenever the scan sees no ambiguity and a decoder accepts the record,
// both read the same category and tenant.
func FuzzOneReading(f *testing.F) {
	for _, file := range []string{"sample-ServicePrincipalSignInLogs.json", "sample-ServicePrincipalRiskEvents.json", "sample-RiskyServicePrincipals.json", "sample-AuditLogs.json"} {
		for _, r := range sampleRecords(f, file) {
			f.Add(r)
		}
	}
	for _, s := range []string{
		`{"category":"ServicePrincipalRiskEvents","tenantId":"a","TenantId":"b"}`,
		`{"category":"ServicePrincipalRiskEvents","tenant\u0049d":"b","resourceId":"/tenants/a/x"}`,
		`{"category":"ServicePrincipalRiskEvents","tenantId":"a","tenantId":"b"}`,
		`{"category":"AuditLogs","tenantId":"a\u0062"}`,
		`{"categor\u0079":"AuditLogs","tenantId":"a","properties":{"id":"x","ID":"y"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		sc, err := ScanRecord(rec, jsonscan.SkipWS(rec, 0))
		if err != nil || sc.Ambiguity != "" {
			return
		}
		rec = rec[:sc.End]
		var env struct {
			Category string `json:"category"`
		}
		check := func(e Envelope, err error) {
			if err != nil {
				return
			}
			if got := e.Tenant(); got != sc.Tenant() {
				t.Fatalf("decoder read tenant %q, scan %q: %s", got, sc.Tenant(), rec)
			}
			if json.Unmarshal(rec, &env) == nil && env.Category != string(sc.Category) {
				t.Fatalf("decoder read category %q, scan %q: %s", env.Category, sc.Category, rec)
			}
		}
		s, err := DecodeSignIn(rec)
		check(s.Envelope, err)
		r, err := DecodeRiskEvent(rec)
		check(r.Envelope, err)
		p, err := DecodeRiskyServicePrincipal(rec)
		check(p.Envelope, err)
		a, err := DecodeAuditLog(rec)
		check(a.Envelope, err)
	})
}
