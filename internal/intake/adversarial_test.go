package intake

import (
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/quarantine"
)

// Attacks on intake by whoever can send to the hub (THREATS.md invariants 3
// and 10): one record must have one reading, and every id that can reach a
// Graph URL must be an id.

const foreignTenant = "99999999-0000-4000-8000-000000000000"

// leakRecord is a leaked-credential detection in the raw diagnostic form,
// with the envelope keys (after time) and the properties given as JSON
// members, so a test can spell, repeat or escape any of them.
func leakRecord(envelope, props string) string {
	return `{"time":"3/4/2025 9:58:11 AM",` + envelope + `,"Level":4,"properties":{` + props + `}}`
}

const (
	okEnvelope = `"resourceId":"/tenants/` + tenant + `/providers/microsoft.aadiam","category":"ServicePrincipalRiskEvents","tenantId":"` + tenant + `"`
	okProps    = `"id":"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5","riskEventType":"leakedCredentials","riskState":"atRisk","riskLevel":"high",` +
		`"servicePrincipalId":"b029d485-a308-4311-8720-fb3192e5284e","appId":"6131d760-7fda-4db5-8bb1-b771898e9f15","keyIds":["dbcd79c0-c3ea-46b9-9604-ff40d43b8618"],` +
		`"activityDateTime":"2025-03-04T07:12:00Z"`
)

func events(recs ...string) []byte {
	return []byte(`{"records":[` + strings.Join(recs, ",") + `]}`)
}

// expectKept runs one record through intake with the tenant allow-list and
// wants it quarantined for reason, with no signal made of it.
func expectKept(t *testing.T, name, rec string, reason quarantine.Reason, detail string) {
	t.Helper()
	res, k := run(t, Config{AllowedTenants: []string{tenant}}, events(rec))
	if len(res.Signals) != 0 {
		t.Errorf("%s: made signals %+v", name, res.Signals)
	}
	if len(k.items) != 1 || k.items[0].Reason != reason || !strings.Contains(k.items[0].Detail, detail) {
		var got []string
		for _, it := range k.items {
			got = append(got, string(it.Reason)+": "+it.Detail)
		}
		t.Errorf("%s: kept %v, want one %s mentioning %q", name, got, reason, detail)
	}
}

func TestControlRecordGivesASignal(t *testing.T) {
	res, k := run(t, Config{AllowedTenants: []string{tenant}}, events(leakRecord(okEnvelope, okProps)))
	if len(k.items) != 0 || len(res.Signals) != 1 || res.Signals[0].TenantID != tenant {
		t.Fatalf("control record: signals %+v, kept %+v", res.Signals, k.items)
	}
}

// The scanner used to decide the allow-list on the exact "tenantId" while
// encoding/json gave the signal the tenant of "TenantId" (last match wins,
// case-insensitively): each record passed the allow-list and made a signal
// in a tenant of the sender's choosing.
func TestOneReadingOfTheEnvelope(t *testing.T) {
	rid := `"resourceId":"/tenants/` + tenant + `/providers/microsoft.aadiam"`
	for _, tc := range []struct{ name, envelope, detail string }{
		{"case variant beside", okEnvelope + `,"TenantId":"` + foreignTenant + `"`, "TenantId"},
		{"case variant instead", rid + `,"category":"ServicePrincipalRiskEvents","TenantId":"` + foreignTenant + `"`, "TenantId"},
		{"escaped key", rid + `,"category":"ServicePrincipalRiskEvents","tenant\u0049d":"` + foreignTenant + `"`, "escaped"},
		{"escaped key beside", okEnvelope + `,"tenant\u0049d":"` + foreignTenant + `"`, "escaped"},
		{"exact duplicate", okEnvelope + `,"tenantId":"` + foreignTenant + `"`, "twice"},
		{"duplicate category", okEnvelope + `,"Category":"SignInLogs"`, "Category"},
		{"category case variant only", rid + `,"Category":"ServicePrincipalRiskEvents","tenantId":"` + tenant + `"`, "Category"},
		{"resourceId variant", okEnvelope + `,"ResourceId":"/tenants/` + foreignTenant + `/providers/microsoft.aadiam"`, "ResourceId"},
		{"properties twice", okEnvelope + `,"properties":{},"Properties":{}`, "roperties"},
		{"Kelvin sign", rid + `,"category":"ServicePrincipalRiskEvents","tenantId":"` + tenant + `","tenantI\u212a":"x"`, "escaped"},
		{"tenantId and resourceId disagree", `"resourceId":"/tenants/` + foreignTenant + `/providers/microsoft.aadiam","category":"ServicePrincipalRiskEvents","tenantId":"` + tenant + `"`, "resourceId"},
		{"tenantId not a string", rid + `,"category":"ServicePrincipalRiskEvents","tenantId":7`, "tenantId"},
	} {
		expectKept(t, tc.name, leakRecord(tc.envelope, okProps), quarantine.Ambiguous, tc.detail)
	}
	// The long s raw (not escaped) folds to s for encoding/json, so
	// "propertieſ" is a second properties object.
	expectKept(t, "raw long s in a key", leakRecord(okEnvelope+`,"propertie`+"\u017f"+`":{"appId":"11111111-1111-4111-8111-111111111111"}`, okProps), quarantine.Ambiguous, "properties")
}

// Every identity field of the properties is read once, spelled exactly.
func TestOneReadingOfTheProperties(t *testing.T) {
	for _, tc := range []struct{ name, props, detail string }{
		{"appId case variant", okProps + `,"AppId":"11111111-1111-4111-8111-111111111111"`, "AppId"},
		{"servicePrincipalId twice", okProps + `,"servicePrincipalId":"11111111-1111-4111-8111-111111111111"`, "twice"},
		{"keyIds variant", okProps + `,"KeyIDs":["11111111-1111-4111-8111-111111111111"]`, "KeyIDs"},
		{"escaped id key", okProps + `,"i\u0064":"abc"`, "escaped"},
		{"riskEventType variant", okProps + `,"RiskEventType":"suspiciousSignins"`, "RiskEventType"},
		{"riskState twice", okProps + `,"riskState":"dismissed"`, "twice"},
	} {
		expectKept(t, tc.name, leakRecord(okEnvelope, tc.props), quarantine.Ambiguous, tc.detail)
	}
	// Sign-ins and audit records, including nested identity fields.
	signin := func(props string) string {
		return `{"time":"2025-03-04T10:15:02Z","category":"ServicePrincipalSignInLogs","tenantId":"` + tenant + `","properties":{` + props + `}}`
	}
	base := `"id":"7e1a9c44-2f0b-4b3e-8a51-1c2d3e4f5a00","appId":"6131d760-7fda-4db5-8bb1-b771898e9f15","servicePrincipalId":"b029d485-a308-4311-8720-fb3192e5284e","ipAddress":"203.0.113.9","riskState":"atRisk","status":{"errorCode":0}`
	expectKept(t, "sign-in key id twice", signin(base+`,"servicePrincipalCredentialKeyId":"dbcd79c0-c3ea-46b9-9604-ff40d43b8618","servicePrincipalCredentialKeyId":"11111111-1111-4111-8111-111111111111"`), quarantine.Ambiguous, "twice")
	expectKept(t, "sign-in riskState twice (benign last)", signin(base+`,"riskState":"none"`), quarantine.Ambiguous, "twice")
	expectKept(t, "sign-in errorCode variant", signin(strings.Replace(base, `"status":{"errorCode":0}`, `"status":{"errorCode":0,"ErrorCode":53003}`, 1)), quarantine.Ambiguous, "ErrorCode")
	audit := func(target string) string {
		return `{"time":"2025-03-04T10:20:00Z","category":"AuditLogs","tenantId":"` + tenant + `","properties":{"id":"Directory_1","activityDisplayName":"Update application – Certificates and secrets management","targetResources":[` + target + `]}}`
	}
	expectKept(t, "audit target id variant", audit(`{"id":"b029d485-a308-4311-8720-fb3192e5284e","ID":"11111111-1111-4111-8111-111111111111","type":"ServicePrincipal"}`), quarantine.Ambiguous, "ID")
}

// Ids from an event go into Graph request paths: each must be an id.
func TestIdentityIDsAreValidated(t *testing.T) {
	for _, tc := range []struct{ name, props, detail string }{
		{"appId path", strings.Replace(okProps, `"appId":"6131d760-7fda-4db5-8bb1-b771898e9f15"`, `"appId":"../../applications"`, 1), "appId"},
		{"servicePrincipalId query", strings.Replace(okProps, `"servicePrincipalId":"b029d485-a308-4311-8720-fb3192e5284e"`, `"servicePrincipalId":"b029d485?$select=x"`, 1), "servicePrincipalId"},
		{"keyId slash", strings.Replace(okProps, `["dbcd79c0-c3ea-46b9-9604-ff40d43b8618"]`, `["dbcd79c0-c3ea-46b9-9604-ff40d43b8618","a/b"]`, 1), "keyIds"},
		{"detection id traversal", strings.Replace(okProps, `"id":"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"`, `"id":"2856d6e8/../../x"`, 1), "id"},
		{"detection id percent", strings.Replace(okProps, `"id":"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"`, `"id":"2856%2F"`, 1), "id"},
		{"detection id space", strings.Replace(okProps, `"id":"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"`, `"id":"2856 d6"`, 1), "id"},
	} {
		expectKept(t, tc.name, leakRecord(okEnvelope, tc.props), quarantine.InvalidID, tc.detail)
	}
	// Without an allow-list (dry-run) a tenant that is not a GUID still
	// never becomes a signal.
	res, k := run(t, Config{}, events(leakRecord(`"category":"ServicePrincipalRiskEvents","tenantId":"../x"`, okProps)))
	if len(res.Signals) != 0 || len(k.items) != 1 || k.items[0].Reason != quarantine.InvalidID {
		t.Errorf("non-GUID tenant: signals %+v kept %+v", res.Signals, k.items)
	}
}
