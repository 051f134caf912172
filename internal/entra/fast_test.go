package entra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleRecords(t testing.TB, file string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "entra", file))
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Records []json.RawMessage }
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(env.Records))
	for i, r := range env.Records {
		out[i] = r
	}
	return out
}

// The sign-in screen must hand over keys encoding/json would match to a
// field it reads: other case, other letters of the same fold (the long s
// and the Kelvin sign are longer in UTF-8), escapes, and the same inside
// status.
func TestScanSignInFoldedKeys(t *testing.T) {
	for _, props := range []string{
		`{"RiskState":"atRisk"}`,
		"{\"ri\u017fkState\":\"atRisk\"}",
		"{\"ris\u212aState\":\"atRisk\"}",
		`{"ri\u0073kState":"atRisk"}`,
		`{"status":{"ErrorCode":53003}}`,
		`{"status":{"errorCode":0,"ERRORCODE":53003}}`,
		`{"status":{"error\u0043ode":53003}}`,
	} {
		rec := []byte(`{"category":"ServicePrincipalSignInLogs","properties":` + props + `}`)
		v, err := ScanSignIn(rec, strings.Index(string(rec), `"properties":`)+len(`"properties":`))
		if err != nil {
			t.Fatalf("%s: %v", props, err)
		}
		if !v.Escaped {
			t.Errorf("%s: screen did not hand the record over", props)
		}
	}
}

func TestCredentialPhrasesMatchIsCredentialChange(t *testing.T) {
	for _, b := range credentialPhrases {
		p := string(b)
		for _, name := range []string{p, strings.ToUpper(p), "Update application – " + p + " "} {
			if !(AuditLog{Properties: AuditProperties{ActivityDisplayName: name}}).IsCredentialChange() {
				t.Errorf("IsCredentialChange(%q) = false: the phrase lists differ", name)
			}
		}
	}
}

func TestScanAudit(t *testing.T) {
	for _, r := range sampleRecords(t, "sample-AuditLogs.json") {
		v, err := ScanAudit(r)
		if err != nil || v.Escaped || CouldBeCredentialChange(v.ActivityDisplayName) {
			t.Errorf("sample audit record: %+v %v", v, err)
		}
	}
	for rec, want := range map[string]bool{
		`{"properties":{"activityDisplayName":"Update device"}}`:                                             false,
		`{"properties":{"activityDisplayName":"Update application – Certificates and secrets management "}}`: true,
		`{"properties":{"activityDisplayName":"ADD PASSWORD"}}`:                                              true,
		`{"properties":{"activityDisplayName":"Update device","activityDisplayName":"x"}}`:                   true,
		`{"properties":{"ActivityDisplayName":"Add password"}}`:                                              true,
		`{"Properties":{"activityDisplayName":"Add password"}}`:                                              true,
		`{"properties":{"activityDisplayName":"Add pass\u0077ord"}}`:                                         true,
		`{"properties":{"activityDisplayName":7}}`:                                                           true,
		`{"properties":"x"}`:                          true,
		`{"properties":null}`:                         false,
		`{"properties":{"activityDisplayName":null}}`: false,
		`{"properties":{}}`:                           false,
	} {
		v, err := ScanAudit([]byte(rec))
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		if got := v.Escaped || CouldBeCredentialChange(v.ActivityDisplayName); got != want {
			t.Errorf("%s: hand over = %v, want %v", rec, got, want)
		}
	}
}

// FuzzAuditScreen holds the audit screen to the full decoder: whenever the
// full decoder reads a credential change, the screen must hand the record
// over. The other direction only costs time.
func FuzzAuditScreen(f *testing.F) {
	for _, r := range sampleRecords(f, "sample-AuditLogs.json") {
		f.Add(r)
	}
	f.Add([]byte(`{"category":"AuditLogs","properties":{"activityDisplayName":"Update application – Certificates and secrets management "}}`))
	f.Add([]byte(`{"category":"AuditLogs","Properties":{"ActivityDisplayName":"Add password"}}`))
	f.Add([]byte(`{"properties":{"activityDisplayName":"Add pa\u0073sword"},"properties":{}}`))
	f.Add([]byte("{\"properties\":{\"activityDi\u017fplayName\":\"add password\"}}"))
	f.Fuzz(func(t *testing.T, rec []byte) {
		v, err := ScanAudit(rec)
		if err != nil {
			return
		}
		a, err := DecodeAuditLog(rec)
		if err != nil {
			return
		}
		if a.IsCredentialChange() && !v.Escaped && !CouldBeCredentialChange(v.ActivityDisplayName) {
			t.Fatalf("audit screen dropped a credential change %q: %s", a.Properties.ActivityDisplayName, rec)
		}
	})
}
