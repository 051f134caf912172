package detect

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/jsonscan"
)

func records(t testing.TB, file string) [][]byte {
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

// FuzzSignInScreen holds the fast screen to the full decoder: whenever the
// full decoder would make a signal of a sign-in, the screen must let the
// record through. A screen that lets too much through only costs time; one
// that lets too little through would lose a risky sign-in, so only that
// direction fails.
func FuzzSignInScreen(f *testing.F) {
	for _, r := range records(f, "sample-ServicePrincipalSignInLogs.json") {
		f.Add(r)
	}
	f.Add([]byte(`{"category":"ServicePrincipalSignInLogs","properties":{"riskState":"atRisk","status":{"errorCode":"0"}}}`))
	f.Add([]byte(`{"category":"ServicePrincipalSignInLogs","properties":{"RiskState":"atRisk"}}`))
	f.Add([]byte(`{"category":"ServicePrincipalSignInLogs","properties":{"ris\u006bState":"atRisk"}}`))
	f.Add([]byte(`{"category":"ServicePrincipalSignInLogs","properties":{"status":{"errorCode":53003.0}}}`))
	f.Add([]byte(`{"category":"ServicePrincipalSignInLogs","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","properties":{"riskState":"atRisk","riskState":"none"}}`))
	f.Add([]byte(`{"category":"ServicePrincipalSignInLogs","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","properties":{"status":{"errorCode":0,"errorCode":7000215}}}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		sc, err := entra.ScanRecord(rec, jsonscan.SkipWS(rec, 0))
		if err != nil || sc.Properties < 0 {
			return
		}
		// The sample's key is watched, so the screen is held to the
		// KeySignIn path too.
		b := NewBatch(Options{WatchedKey: func(_, key []byte) bool { return string(key) == "dbcd79c0-c3ea-46b9-9604-ff40d43b8618" }})
		v, err := entra.ScanSignIn(rec, sc.Properties)
		if err != nil {
			return
		}
		full, err := entra.DecodeSignIn(rec[:sc.End])
		if err != nil {
			return
		}
		if sigs := b.SignInSignals(full, Source{}); len(sigs) > 0 && !v.Escaped && !b.signInMatters(v) {
			t.Fatalf("fast screen dropped a record the full decoder signals as %s: %s", sigs[0].Kind, rec)
		}
	})
}

// FuzzRecordDecoders feeds arbitrary records to every typed decoder and to
// the batch: errors are fine, panics are not.
func FuzzRecordDecoders(f *testing.F) {
	for _, file := range []string{"sample-ServicePrincipalSignInLogs.json", "sample-ServicePrincipalRiskEvents.json", "sample-RiskyServicePrincipals.json", "sample-AuditLogs.json", "sample-SignInLogs.json"} {
		for _, r := range records(f, file) {
			f.Add(r)
		}
	}
	f.Add([]byte(`{"category":"ServicePrincipalRiskEvents","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","properties":{"riskState":"atRisk","appId":"../x","keyIds":["a/b"]}}`))
	f.Add([]byte(`{"category":"ServicePrincipalRiskEvents","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","properties":{"riskState":"atRisk","AppId":"x","appId":"y"}}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		b := NewBatch(Options{})
		sc, err := entra.ScanRecord(rec, jsonscan.SkipWS(rec, 0))
		if err != nil {
			return
		}
		rec = rec[:sc.End]
		tenant := sc.Tenant()
		if sc.Properties >= 0 {
			_, _ = b.SignIn(rec, sc.Properties, tenant, Source{})
		}
		_, _ = b.RiskEvent(rec, tenant, Source{})
		_, _ = b.RiskyServicePrincipal(rec, tenant, Source{})
		_, _ = b.AuditLog(rec, tenant, Source{})
		for _, s := range b.Signals() {
			if s.Count < 1 {
				t.Fatalf("signal with count %d", s.Count)
			}
			// Whatever the record, a signal carries the scanned tenant
			// and ids that are safe in a Graph URL.
			if s.TenantID != tenant {
				t.Fatalf("signal tenant %q, scanned %q", s.TenantID, tenant)
			}
			if err := s.CheckIDs(); err != nil {
				t.Fatalf("signal with a bad id: %v", err)
			}
			if err := oneMeaning(s); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// oneMeaning checks that a signal's fields keep one meaning each: a risk
// state is not a detection id, an audit record's activity is not a risk
// event type.
func oneMeaning(s Signal) error {
	switch s.Kind {
	case RiskyServicePrincipal:
		if s.DetectionID != "" || s.RiskState == "" {
			return fmt.Errorf("risky service principal: detectionId %q, riskState %q: the state belongs in riskState only", s.DetectionID, s.RiskState)
		}
	case CredentialChange:
		if s.DetectionID != "" || s.RiskEventType != "" || s.RiskState != "" || s.Activity != "" {
			return fmt.Errorf("credential change with risk fields: detectionId %q riskEventType %q riskState %q activity %q", s.DetectionID, s.RiskEventType, s.RiskState, s.Activity)
		}
	}
	return nil
}

// The contract samples, through detection: every signal keeps its fields
// to one meaning (the fuzz target holds any record to the same).
func TestSignalFieldsKeepOneMeaning(t *testing.T) {
	kinds := map[Kind]int{}
	for _, file := range []string{"sample-ServicePrincipalRiskEvents.json", "sample-RiskyServicePrincipals.json", "sample-AuditLogs.json"} {
		b := NewBatch(Options{})
		for _, rec := range records(t, file) {
			sc, err := entra.ScanRecord(rec, jsonscan.SkipWS(rec, 0))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = b.RiskEvent(rec, sc.Tenant(), Source{})
			_, _ = b.RiskyServicePrincipal(rec, sc.Tenant(), Source{})
			_, _ = b.AuditLog(rec, sc.Tenant(), Source{})
		}
		for _, s := range b.Signals() {
			kinds[s.Kind]++
			if err := oneMeaning(s); err != nil {
				t.Errorf("%s: %v", file, err)
			}
		}
	}
	audit := []byte(`{"time":"2026-11-29T08:00:00Z","category":"AuditLogs","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","operationName":"Update application – Certificates and secrets management ","properties":{"id":"Directory_1","activityDisplayName":"Update application – Certificates and secrets management ","operationType":"Update","result":"success","activityDateTime":"2026-11-29T08:00:00Z","initiatedBy":{"user":{"userPrincipalName":"alex@contoso.com"}},"targetResources":[{"id":"0b8f6f3e-0000-4000-8000-000000000001","type":"Application","displayName":"x"}]}}`)
	b := NewBatch(Options{})
	if _, err := b.AuditLog(audit, "4bbb79f7-5724-4c9e-95f3-de075f6ec090", Source{}); err != nil {
		t.Fatal(err)
	}
	if len(b.Signals()) != 1 || b.Signals()[0].OpType != "Update" || oneMeaning(b.Signals()[0]) != nil {
		t.Fatalf("credential change %+v", b.Signals())
	}
	if kinds[RiskyServicePrincipal] == 0 || kinds[LeakedCredential] == 0 {
		t.Fatalf("samples gave %v", kinds)
	}
}

func TestAuditCredentialChange(t *testing.T) {
	rec := []byte(`{"time":"2025-03-04T10:20:00Z","category":"AuditLogs","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","level":"Informational","properties":{
	 "id":"Directory_1","activityDisplayName":"Update application – Certificates and secrets management ","operationType":"Update",
	 "initiatedBy":{"app":{"displayName":"spresponder"}},
	 "targetResources":[{"id":"acc848e9-e8ec-4feb-a521-8d58b5482e09","displayName":"Terraform-Datadog-CLI","type":"Application",
	   "modifiedProperties":[{"displayName":"KeyDescription","oldValue":"[\"[KeyIdentifier=DBCD79C0-c3ea-46b9-9604-ff40d43b8618,KeyType=Password,KeyUsage=Verify,DisplayName=ci-secret]\"]","newValue":"[]"}]}]}}`)
	b := NewBatch(Options{})
	if _, err := b.AuditLog(rec, "4bbb79f7-5724-4c9e-95f3-de075f6ec090", Source{}); err != nil {
		t.Fatal(err)
	}
	s := b.Signals()
	if len(s) != 1 || s[0].Kind != CredentialChange || len(s[0].KeyIDs) != 1 || s[0].KeyIDs[0] != "dbcd79c0-c3ea-46b9-9604-ff40d43b8618" || s[0].InitiatedBy != "spresponder" || s[0].RiskDetail != "" {
		t.Fatalf("signals = %+v", s)
	}
	// The sample audit record (a device update) is not credential management.
	b = NewBatch(Options{})
	for _, r := range records(t, "sample-AuditLogs.json") {
		if out, err := b.AuditLog(r, "8a4de8b5-095c-47d0-a96f-a75130c61d53", Source{}); err != nil || out != AuditNotCredentialChange {
			t.Fatalf("sample audit record: %v %v", out, err)
		}
	}
}
