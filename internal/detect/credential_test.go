package detect

import (
	"slices"
	"strings"
	"testing"
)

const tn = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

func auditRecord(activity, target string, props string, extra string) []byte {
	return []byte(`{"time":"2025-03-04T10:20:00Z","category":"AuditLogs","tenantId":"` + tn + `","level":"Informational","properties":{
	 "id":"Directory_7e4a","activityDisplayName":"` + activity + `","operationType":"Update","result":"success",` + extra + `
	 "initiatedBy":{"user":{"userPrincipalName":"alex@contoso.com"}},
	 "targetResources":[` + target[:len(target)-1] + `,"modifiedProperties":[` + props + `]}]}}`)
}

const (
	k1 = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	k2 = "5b8e2c1f-7a4d-4e96-b03c-d1f9a6e8c274"
	k3 = "c7890f61-2f17-478f-bc60-60fd19c09588"
)

func keyDesc(ids ...string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, `\"[KeyIdentifier=`+id+`,KeyType=Password,KeyUsage=Verify,DisplayName=ci]\"`)
	}
	return `"[` + strings.Join(parts, ",") + `]"`
}

// A credential change names the object it changed and exactly the keys
// added and removed: KeyDescription lists every key before and after, and
// the keys in both did not change.
func TestCredentialChangeDiffsKeys(t *testing.T) {
	for _, c := range []struct {
		name, activity, target, props, extra string
		want                                 Signal
	}{{
		name:     "secret added to an application that had one",
		activity: "Update application – Certificates and secrets management ",
		target:   `{"id":"acc848e9-e8ec-4feb-a521-8d58b5482e09","displayName":"Payroll","type":"Application"}`,
		props:    `{"displayName":"KeyDescription","oldValue":` + keyDesc(k1) + `,"newValue":` + keyDesc(k1, k2) + `},{"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"KeyDescription\""}`,
		extra:    `"additionalDetails":[{"key":"User-Agent","value":"x"},{"key":"AppId","value":"6131D760-7fda-4db5-8bb1-b771898e9f15"}],`,
		want: Signal{Kind: CredentialChange, TargetObjectID: "acc848e9-e8ec-4feb-a521-8d58b5482e09", TargetType: "application", AppID: "6131d760-7fda-4db5-8bb1-b771898e9f15",
			KeysAdded: []string{k2}, KeyIDs: []string{k2}, Operation: "Update application – Certificates and secrets management", InitiatedBy: "alex@contoso.com", AuditID: "Directory_7e4a"},
	}, {
		name:     "secret removed from a service principal",
		activity: "Remove service principal credentials",
		target:   `{"id":"3d9a7e2f-5c14-4b80-a6d3-8f0e1c7b4a59","displayName":"Sync","type":"ServicePrincipal"}`,
		props:    `{"displayName":"KeyDescription","oldValue":` + keyDesc(k1, k3) + `,"newValue":` + keyDesc(k3) + `},{"displayName":"TargetId.ServicePrincipalNames","oldValue":null,"newValue":"\"f1c7a3e9-2d58-4b06-9e4a-7c0b5d8f3e12;https://sync.contoso.com\""}`,
		want: Signal{Kind: CredentialChange, TargetObjectID: "3d9a7e2f-5c14-4b80-a6d3-8f0e1c7b4a59", TargetType: "servicePrincipal", ServicePrincipalID: "3d9a7e2f-5c14-4b80-a6d3-8f0e1c7b4a59",
			AppID: "f1c7a3e9-2d58-4b06-9e4a-7c0b5d8f3e12", KeysRemoved: []string{k1}, KeyIDs: []string{k1}, Operation: "Remove service principal credentials", InitiatedBy: "alex@contoso.com", AuditID: "Directory_7e4a"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			b := NewBatch(Options{})
			out, err := b.AuditLog(auditRecord(c.activity, c.target, c.props, c.extra), tn, Source{})
			if err != nil || out != Signalled {
				t.Fatalf("%v %v", out, err)
			}
			s := b.Signals()
			if len(s) != 1 {
				t.Fatalf("signals = %+v", s)
			}
			got := s[0]
			if got.Kind != c.want.Kind || got.TargetObjectID != c.want.TargetObjectID || got.TargetType != c.want.TargetType ||
				got.AppID != c.want.AppID || got.ServicePrincipalID != c.want.ServicePrincipalID ||
				!slices.Equal(got.KeysAdded, c.want.KeysAdded) || !slices.Equal(got.KeysRemoved, c.want.KeysRemoved) || !slices.Equal(got.KeyIDs, c.want.KeyIDs) ||
				got.Operation != c.want.Operation || got.InitiatedBy != c.want.InitiatedBy || got.AuditID != c.want.AuditID {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			// Its own fields: the risk-detection ones stay empty.
			if got.DetectionID != "" || got.RiskEventType != "" || got.RiskDetail != "" {
				t.Errorf("credential change reuses risk fields: %+v", got)
			}
		})
	}
}

func signIn(code int, risk string) []byte {
	return []byte(`{"time":"2025-03-04T10:20:00Z","category":"ServicePrincipalSignInLogs","tenantId":"` + tn + `","properties":{
	"id":"a5b7c9d1-0000-4000-8000-00000000000` + string(rune('0'+code%10)) + `","appId":"6131d760-7fda-4db5-8bb1-b771898e9f15","servicePrincipalId":"b029d485-2a9c-4d88-8b5f-5d8c1e9f7a6b",
	"servicePrincipalCredentialKeyId":"` + k1 + `","ipAddress":"203.0.113.9","riskLevelDuringSignIn":"` + risk + `","status":{"errorCode":` + itoa(code) + `}}}`)
}

func itoa(n int) string {
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if b == nil {
		return "0"
	}
	return string(b)
}

func feed(t *testing.T, b *Batch, recs ...[]byte) {
	t.Helper()
	for _, r := range recs {
		if _, err := b.SignIn(r, strings.Index(string(r), `"properties":`)+len(`"properties":`), tn, Source{}); err != nil {
			t.Fatal(err)
		}
	}
}

// 7000222 is an expired secret: the app's own, past its date (a CI job
// still using it), not a guess. Its sign-ins make their own kind of signal,
// apart from invalid-secret tries.
func TestExpiredSecretIsNotAGuess(t *testing.T) {
	b := NewBatch(Options{})
	feed(t, b, signIn(ExpiredClientSecret, "none"), signIn(ExpiredClientSecret, "none"), signIn(ExpiredClientSecret, "none"),
		signIn(InvalidClientSecret, "none"), signIn(InvalidClientSecret, "none"), signIn(InvalidClientSecret, "none"))
	var kinds []Kind
	for _, s := range b.Signals() {
		kinds = append(kinds, s.Kind)
		if s.Count != 3 {
			t.Errorf("%s count %d", s.Kind, s.Count)
		}
	}
	if !slices.Equal(kinds, []Kind{ExpiredSecretSignIns, FailedSecretSignIns}) {
		t.Fatalf("kinds = %v", kinds)
	}
}

// A failed sign-in Entra rated risky keeps the rating in its signal, and
// is not left waiting for the threshold.
func TestRiskyFailedSignInKeepsItsRating(t *testing.T) {
	b := NewBatch(Options{})
	feed(t, b, signIn(InvalidClientSecret, "high"))
	s := b.Signals()
	if len(s) != 1 || s[0].Kind != FailedSecretSignIns || s[0].RiskLevel != "high" {
		t.Fatalf("signals = %+v", s)
	}
	// A later try without risk folds into it and does not lower it.
	feed(t, b, signIn(InvalidClientSecret, "none"))
	if s := b.Signals(); len(s) != 1 || s[0].RiskLevel != "high" || s[0].Count != 2 {
		t.Fatalf("signals = %+v", s)
	}
}
