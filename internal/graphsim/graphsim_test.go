package graphsim

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

const (
	tfApp      = "acc848e9-e8ec-4feb-a521-8d58b5482e09"
	tfAppID    = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	tfSP       = "b029d485-a308-4311-8720-fb3192e5284e"
	leakedKey  = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	secondKey  = "5e1c7a3b-8d24-4f96-b0e1-3a7c9d2f6b84"
	oldCert    = "3f5518bb-4d4d-480f-bdd0-7b04a58e2800"
	keepCert   = "c7d2a9e4-1b6f-4a83-9e05-6f8b3c1d2a97"
	leakedDet  = "2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"
	billSP     = "91d3f6a2-4c8e-4b17-b5a0-6e2d9c1f7a83"
	billAppID  = "e2b7d4f1-8c3a-4b69-a0d5-7f1e9c2b6a38"
	billSPKey  = "f0b0b335-1d71-4883-8f98-567911bfdca6"
	orphanApp  = "5b7d9f1b-3e5a-4c7e-9b1d-4f6a8c0e2d35"
	demoSeed   = "../../testdata/tenant/demo.json"
	senderUPN  = "secops-noreply@contoso.com"
	riskPolicy = "5f2b8c1d-0a9e-4d3b-9c7a-1e2f3a4b5c6d"
)

var fixedNow = time.Date(2025, 3, 4, 10, 2, 11, 0, time.UTC)

// sim starts the demo tenant on an httptest server and returns it with the
// Graph base URL.
func sim(t *testing.T, opts ...Option) (*Tenant, string) {
	t.Helper()
	seed, err := Load(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	// The route tests send raw requests back to back; the identity
	// protection and Conditional Access limit has tests of its own
	// (throttle_test.go), which turn it back on with WithThrottle.
	opts = append([]Option{WithClock(func() time.Time { return fixedNow }), WithLogger(zaptest.NewLogger(t)),
		WithoutThrottle("route tests send raw requests back to back")}, opts...)
	ten := New(*seed, opts...)
	srv := httptest.NewServer(ten.Handler())
	t.Cleanup(srv.Close)
	return ten, srv.URL + "/v1.0"
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request; hdr holds extra header name/value pairs.
func do(t *testing.T, method, url string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %s", method, url, raw)
		}
	}
	return r
}

func (r resp) wantStatus(t *testing.T, want int) resp {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.raw)
	}
	return r
}

// wantError checks Graph's error shape, including innerError.
func (r resp) wantError(t *testing.T, status int, code, msgPart string) {
	t.Helper()
	r.wantStatus(t, status)
	e, _ := r.body["error"].(map[string]any)
	inner, _ := e["innerError"].(map[string]any)
	if e["code"] != code || !strings.Contains(fmt.Sprint(e["message"]), msgPart) || inner["request-id"] == "" || inner["date"] != "2025-03-04T10:02:11" {
		t.Fatalf("error %s, want code %s with message containing %q and an innerError", r.raw, code, msgPart)
	}
}

func keyIDs[T PasswordCredential | KeyCredential](creds []T) []string {
	var ids []string
	for _, c := range creds {
		switch c := any(c).(type) {
		case PasswordCredential:
			ids = append(ids, c.KeyID)
		case KeyCredential:
			ids = append(ids, c.KeyID)
		}
	}
	return ids
}

func TestDemoSeedLoads(t *testing.T) {
	s, err := Load(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	if s.TenantID != "4bbb79f7-5724-4c9e-95f3-de075f6ec090" || !s.WorkloadIdentitiesPremium ||
		len(s.Applications) != 6 || len(s.ServicePrincipals) != 7 || len(s.ConditionalAccessPolicies) != 3 {
		t.Fatalf("unexpected demo seed: tenant %s, %d apps, %d SPs, %d policies", s.TenantID, len(s.Applications), len(s.ServicePrincipals), len(s.ConditionalAccessPolicies))
	}
}

func TestDecodeSeedIsStrict(t *testing.T) {
	for name, tc := range map[string]struct{ seed, want string }{
		"unknown top-level key": {`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","aplications":[]}`, `unknown field "aplications"`},
		"unknown nested key":    {`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","users":[{"id":"8105c513-d24b-4b8d-9035-f8d48854d703","userPrincipalName":"a@b","email":"x"}]}`, `unknown field "email"`},
		"dangling owner": {`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","applications":[{"id":"acc848e9-e8ec-4feb-a521-8d58b5482e09","appId":"6131d760-7fda-4db5-8bb1-b771898e9f15",
			"owners":[{"@odata.type":"#microsoft.graph.user","id":"8105c513-d24b-4b8d-9035-f8d48854d703"}]}]}`, "is not a user in the seed"},
		"secretText": {`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","applications":[{"id":"acc848e9-e8ec-4feb-a521-8d58b5482e09","appId":"6131d760-7fda-4db5-8bb1-b771898e9f15",
			"passwordCredentials":[{"keyId":"dbcd79c0-c3ea-46b9-9604-ff40d43b8618","secretText":"s3cret"}]}]}`, "has secretText"},
		"bad fault":     {`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","faults":[{"route":"POST /x","kind":"status","status":200}]}`, "not an HTTP error status"},
		"trailing data": {`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090"} {}`, "trailing data"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeSeed(strings.NewReader(tc.seed))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSeedFaultsAndLatencyApply(t *testing.T) {
	s, err := DecodeSeed(strings.NewReader(`{"tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","workloadIdentitiesPremium":true,"latency":"1ms",
		"faults":[{"route":"GET /identity/conditionalAccess/policies","kind":"status","status":503,"retryAfterSeconds":2,"times":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(*s).Handler())
	defer srv.Close()
	r := do(t, "GET", srv.URL+"/v1.0/identity/conditionalAccess/policies", nil)
	if r.status != 503 || r.header.Get("Retry-After") != "2" {
		t.Fatalf("first call: %d Retry-After %q, want 503 with Retry-After 2", r.status, r.header.Get("Retry-After"))
	}
	do(t, "GET", srv.URL+"/v1.0/identity/conditionalAccess/policies", nil).wantStatus(t, 200)
}

func TestGetApplicationAndServicePrincipalAddressing(t *testing.T) {
	_, base := sim(t)
	for _, tc := range []struct{ path, wantID string }{
		{"/applications/" + tfApp, tfApp},
		{"/applications(appId='" + tfAppID + "')", tfApp},
		{"/applications%28appId=%27" + tfAppID + "%27%29", tfApp}, // as url.PathEscape writes it
		{"/applications(appId=%27" + tfAppID + "%27)", tfApp},
		{"/servicePrincipals/" + tfSP, tfSP},
		{"/servicePrincipals(appId='" + tfAppID + "')", tfSP},
		{"/servicePrincipals%28appId=%27" + tfAppID + "%27%29", tfSP},
		{"/servicePrincipals(appId='" + billAppID + "')", billSP},
	} {
		r := do(t, "GET", base+tc.path, nil).wantStatus(t, 200)
		if r.body["id"] != tc.wantID || !strings.HasSuffix(fmt.Sprint(r.body["@odata.context"]), "/$entity") {
			t.Errorf("GET %s: id %v context %v, want %s", tc.path, r.body["id"], r.body["@odata.context"], tc.wantID)
		}
	}
	do(t, "GET", base+"/applications/00000000-0000-0000-0000-000000000000", nil).
		wantError(t, 404, "Request_ResourceNotFound", "does not exist")
	// A multi-tenant app's service principal exists without an application.
	do(t, "GET", base+"/applications(appId='f7b9d1f3-5c7e-4a9b-8d2f-6e8a0c2e4a02')", nil).wantError(t, 404, "Request_ResourceNotFound", "")
	do(t, "GET", base+"/servicePrincipals(appId='f7b9d1f3-5c7e-4a9b-8d2f-6e8a0c2e4a02')", nil).wantStatus(t, 200)
}

func TestSelectAndKeyVisibility(t *testing.T) {
	_, base := sim(t)
	// The SDK writes the option as %24select.
	r := do(t, "GET", base+"/applications(appId='"+tfAppID+"')?%24select=id,appId,displayName,passwordCredentials,keyCredentials", nil).wantStatus(t, 200)
	for _, k := range []string{"id", "appId", "displayName", "passwordCredentials", "keyCredentials", "@odata.context"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("selected property %s missing", k)
		}
	}
	if _, ok := r.body["tags"]; ok || len(r.body) != 6 {
		t.Errorf("$select returned extra properties: %v", r.raw)
	}
	keys := r.body["keyCredentials"].([]any)
	if keys[0].(map[string]any)["key"] == nil {
		t.Error("key not returned on $select=keyCredentials for a single object")
	}
	for _, p := range r.body["passwordCredentials"].([]any) {
		if p.(map[string]any)["secretText"] != nil {
			t.Error("secretText returned")
		}
	}
	// Without $select every property comes back, but never the key.
	r = do(t, "GET", base+"/applications/"+tfApp, nil).wantStatus(t, 200)
	if r.body["tags"] == nil || r.body["keyCredentials"].([]any)[0].(map[string]any)["key"] != nil {
		t.Errorf("full GET: %s", r.raw)
	}
	do(t, "GET", base+"/applications/"+tfApp+"?$select=id,secretSauce", nil).
		wantError(t, 400, "Request_UnsupportedQuery", "Property 'secretSauce' does not exist")
	do(t, "GET", base+"/applications/"+tfApp+"?$expand=owners", nil).wantError(t, 400, "Request_UnsupportedQuery", "$expand")
	r = do(t, "GET", base+"/servicePrincipals/"+tfSP+"?$select=accountEnabled,appOwnerOrganizationId", nil).wantStatus(t, 200)
	if r.body["accountEnabled"] != true || r.body["appOwnerOrganizationId"] != "4bbb79f7-5724-4c9e-95f3-de075f6ec090" {
		t.Errorf("service principal: %s", r.raw)
	}
}

func TestRemovePassword(t *testing.T) {
	ten, base := sim(t)
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"keyId": leakedKey}).wantStatus(t, 204)
	app, _ := ten.Application(tfApp)
	if got := keyIDs(app.PasswordCredentials); !slices.Equal(got, []string{secondKey}) {
		t.Fatalf("passwords after removal: %v", got)
	}
	// Removing it again fails the way Graph does for an unknown keyId.
	do(t, "POST", base+"/applications(appId='"+tfAppID+"')/removePassword", map[string]string{"keyId": leakedKey}).
		wantError(t, 400, "Request_BadRequest", "No password credential found with keyId "+leakedKey)
	// A certificate's keyId is not a password credential either.
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"keyId": oldCert}).wantError(t, 400, "Request_BadRequest", "")
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"passwordId": leakedKey}).wantError(t, 400, "Request_BadRequest", "Invalid property 'passwordId'")

	// A secret that lives on the service principal, by appId.
	do(t, "POST", base+"/servicePrincipals(appId='"+billAppID+"')/removePassword", map[string]string{"keyId": billSPKey}).wantStatus(t, 204)
	sp, _ := ten.ServicePrincipal(billSP)
	if len(sp.PasswordCredentials) != 0 {
		t.Fatalf("SP passwords after removal: %v", keyIDs(sp.PasswordCredentials))
	}
	w := ten.Writes()
	if len(w) != 2 || w[0].Route != "POST /applications/{id}/removePassword" || w[0].Target != tfApp || !slices.Equal(w[0].RemovedKeyIDs, []string{leakedKey}) ||
		w[1].Route != "POST /servicePrincipals/{id}/removePassword" || w[1].Target != billSP || !w[1].Time.Equal(fixedNow) {
		t.Fatalf("writes: %+v", w)
	}
}

func TestPatchKeyCredentials(t *testing.T) {
	ten, base := sim(t)
	r := do(t, "GET", base+"/applications/"+tfApp+"?$select=keyCredentials", nil).wantStatus(t, 200)
	var keep map[string]any
	for _, k := range r.body["keyCredentials"].([]any) {
		if k.(map[string]any)["keyId"] == keepCert {
			keep = k.(map[string]any)
		}
	}
	keep["@odata.type"] = "#microsoft.graph.keyCredential" // the SDK sends it

	// A kept certificate without its key is rejected and nothing changes.
	noKey := map[string]any{}
	for k, v := range keep {
		noKey[k] = v
	}
	delete(noKey, "key")
	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"keyCredentials": []any{noKey}}).wantError(t, 400, "Request_BadRequest", "no key")
	bad := map[string]any{"@odata.type": "#microsoft.graph.application", "keyCredentials": []any{map[string]any{"key": keep["key"], "type": "AsymmetricX509Cert", "usage": "Encrypt"}}}
	do(t, "PATCH", base+"/applications/"+tfApp, bad).wantError(t, 400, "Request_BadRequest", `"usage"`)
	if app, _ := ten.Application(tfApp); len(app.KeyCredentials) != 2 {
		t.Fatalf("a rejected PATCH changed the keys: %v", keyIDs(app.KeyCredentials))
	}

	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"@odata.type": "#microsoft.graph.application", "keyCredentials": []any{keep}}).wantStatus(t, 204)
	app, _ := ten.Application(tfApp)
	if got := keyIDs(app.KeyCredentials); !slices.Equal(got, []string{keepCert}) || *app.KeyCredentials[0].CustomKeyIdentifier != "BAB9708A6F644BD4ECA34FF14EBC36A9A359F01E" {
		t.Fatalf("keys after PATCH: %v", got)
	}
	w := ten.Writes()
	if len(w) != 1 || !slices.Equal(w[0].RemovedKeyIDs, []string{oldCert}) || len(w[0].AddedKeyIDs) != 0 || !slices.Equal(w[0].Fields, []string{"keyCredentials"}) {
		t.Fatalf("writes: %+v", w)
	}
	// Passwords cannot be changed by PATCH, and unknown properties are refused.
	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"passwordCredentials": []any{}}).
		wantError(t, 400, "Request_BadRequest", "New password credentials must be generated with service actions")
	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"displayNam": "x"}).wantError(t, 400, "Request_BadRequest", "Invalid property 'displayNam'")
	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"accountEnabled": false}).wantError(t, 400, "Request_BadRequest", "Invalid property 'accountEnabled'")
	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"keyCredentials": "nope"}).wantError(t, 400, "BadRequest", "does not match schema")

	// Disabling a service principal, and tagging it.
	do(t, "PATCH", base+"/servicePrincipals(appId='"+tfAppID+"')", map[string]any{"accountEnabled": false, "tags": []string{"quarantined"}}).wantStatus(t, 204)
	sp, _ := ten.ServicePrincipal(tfSP)
	risky := ten.RiskyServicePrincipals()
	if *sp.AccountEnabled || !slices.Equal(sp.Tags, []string{"quarantined"}) || risky[0].ID != tfSP || risky[0].IsEnabled {
		t.Fatalf("SP after PATCH: enabled %v tags %v; risky isEnabled %v", *sp.AccountEnabled, sp.Tags, risky[0].IsEnabled)
	}
}

func TestPatchAddsCertificate(t *testing.T) {
	ids := 0
	ten, base := sim(t, WithIDs(func() string { ids++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids) }))
	app, _ := ten.Application(tfApp)
	var body []map[string]any
	for _, k := range app.KeyCredentials {
		body = append(body, map[string]any{"keyId": k.KeyID, "key": *k.Key, "type": k.Type, "usage": k.Usage, "customKeyIdentifier": *k.CustomKeyIdentifier})
	}
	body = append(body, map[string]any{"key": *app.KeyCredentials[0].Key, "type": "AsymmetricX509Cert", "usage": "Verify", "displayName": "CN=new"})
	do(t, "PATCH", base+"/applications/"+tfApp, map[string]any{"keyCredentials": body}).wantStatus(t, 204)
	app, _ = ten.Application(tfApp)
	if len(app.KeyCredentials) != 3 || !strings.HasPrefix(app.KeyCredentials[2].KeyID, "00000000-0000-4000-8000-") ||
		*app.KeyCredentials[2].CustomKeyIdentifier != "C1B6098259A3E2A6A234BAE568E7A727A8A45DB1" { // SHA-1 of the seed's first certificate
		t.Fatalf("added key: %+v", app.KeyCredentials[2])
	}
}

func TestOwners(t *testing.T) {
	_, base := sim(t)
	r := do(t, "GET", base+"/applications(appId='"+tfAppID+"')/owners?$select=id,displayName,mail,userPrincipalName", nil).wantStatus(t, 200)
	v := r.body["value"].([]any)
	if len(v) != 2 {
		t.Fatalf("owners: %s", r.raw)
	}
	user, bot := v[0].(map[string]any), v[1].(map[string]any)
	if user["@odata.type"] != "#microsoft.graph.user" || user["mail"] != "AlexW@contoso.com" ||
		bot["@odata.type"] != "#microsoft.graph.servicePrincipal" || bot["mail"] != nil || bot["displayName"] != "deploy-bot" {
		t.Fatalf("owners: %s", r.raw)
	}
	if _, ok := bot["mail"]; !ok {
		t.Error("a selected property a service principal lacks must come back as null")
	}
	r = do(t, "GET", base+"/servicePrincipals/"+tfSP+"/owners", nil).wantStatus(t, 200)
	if v := r.body["value"].([]any); len(v) != 1 || v[0].(map[string]any)["userPrincipalName"] != "MeganB@contoso.com" {
		t.Fatalf("SP owners: %s", r.raw)
	}
	r = do(t, "GET", base+"/applications/"+orphanApp+"/owners", nil).wantStatus(t, 200)
	if v := r.body["value"].([]any); len(v) != 0 {
		t.Fatalf("orphan owners: %s", r.raw)
	}
}

func TestRiskDetections(t *testing.T) {
	_, base := sim(t)
	r := do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections/"+leakedDet, nil).wantStatus(t, 200)
	if r.body["riskEventType"] != "leakedCredentials" || fmt.Sprint(r.body["keyIds"]) != "["+leakedKey+"]" || r.body["@odata.type"] != odataDetection {
		t.Fatalf("detection: %s", r.raw)
	}
	do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections/nope", nil).wantError(t, 404, "Request_ResourceNotFound", "nope")
	r = do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections?$filter=servicePrincipalId%20eq%20'"+tfSP+"'", nil).wantStatus(t, 200)
	if v := r.body["value"].([]any); len(v) != 2 {
		t.Fatalf("filter by servicePrincipalId: %d detections", len(v))
	}
	r = do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections?$filter=id+eq+'"+leakedDet+"'&$select=id,keyIds", nil).wantStatus(t, 200)
	if v := r.body["value"].([]any); len(v) != 1 || len(v[0].(map[string]any)) != 3 {
		t.Fatalf("filter by id with $select: %s", r.raw)
	}
	r = do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections?$filter=riskEventType%20eq%20'leakedCredentials'%20and%20(riskLevel%20eq%20'high'%20or%20riskLevel%20eq%20'low')", nil).wantStatus(t, 200)
	if v := r.body["value"].([]any); len(v) != 4 {
		t.Fatalf("compound filter: %d detections", len(v))
	}
	do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections?$filter=servicePrincipalId%20ne%20'x'", nil).wantError(t, 400, "BadRequest", "Invalid filter clause")
}

func TestPagingFollowsNextLink(t *testing.T) {
	_, base := sim(t)
	var ids []string
	next := base + "/identityProtection/servicePrincipalRiskDetections?$top=2&$select=id"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := do(t, "GET", next, nil).wantStatus(t, 200)
		for _, v := range r.body["value"].([]any) {
			ids = append(ids, v.(map[string]any)["id"].(string))
		}
		next, _ = r.body["@odata.nextLink"].(string)
	}
	if len(ids) != 5 || ids[0] != leakedDet {
		t.Fatalf("paged ids: %v", ids)
	}
}

func TestConfirmCompromisedAndDismiss(t *testing.T) {
	ten, base := sim(t)
	do(t, "POST", base+"/identityProtection/riskyServicePrincipals/confirmCompromised", map[string]any{"servicePrincipalIds": []string{tfSP}}).wantStatus(t, 204)
	r := do(t, "GET", base+"/identityProtection/riskyServicePrincipals/"+tfSP, nil, "Prefer", "include-unknown-enum-members").wantStatus(t, 200)
	if r.body["riskLevel"] != "high" || r.body["riskState"] != "confirmedCompromised" || r.body["riskDetail"] != "adminConfirmedServicePrincipalCompromised" ||
		r.body["riskLastUpdatedDateTime"] != "2025-03-04T10:02:11Z" {
		t.Fatalf("after confirm: %s", r.raw)
	}
	// Without the Prefer header Graph hides evolvable enum members.
	r = do(t, "GET", base+"/identityProtection/servicePrincipalRiskDetections/"+leakedDet, nil).wantStatus(t, 200)
	if r.body["riskDetail"] != "unknownFutureValue" || r.body["activity"] != "unknownFutureValue" || r.body["riskState"] != "confirmedCompromised" {
		t.Fatalf("detection after confirm, without Prefer: %s", r.raw)
	}
	// An SP that was not at risk gets a risky entry when confirmed.
	do(t, "POST", base+"/identityProtection/riskyServicePrincipals/confirmCompromised", map[string]any{"servicePrincipalIds": []string{"11111111-2222-3333-4444-555555555555"}}).wantStatus(t, 204)
	do(t, "POST", base+"/identityProtection/riskyServicePrincipals/dismiss", map[string]any{"servicePrincipalIds": []string{tfSP}}).wantStatus(t, 204)
	r = do(t, "GET", base+"/identityProtection/riskyServicePrincipals?$filter=riskState%20eq%20'dismissed'", nil, "Prefer", "include-unknown-enum-members").wantStatus(t, 200)
	v := r.body["value"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["riskLevel"] != "none" || v[0].(map[string]any)["riskDetail"] != "adminDismissedAllRiskForServicePrincipal" {
		t.Fatalf("after dismiss: %s", r.raw)
	}
	for _, d := range ten.RiskDetections() {
		if d.ServicePrincipalID == tfSP && d.RiskState != "dismissed" {
			t.Errorf("detection %s state %s after dismiss", d.ID, d.RiskState)
		}
	}
	if n := len(ten.RiskyServicePrincipals()); n != 5 {
		t.Errorf("%d risky service principals, want 5", n)
	}
	do(t, "POST", base+"/identityProtection/riskyServicePrincipals/dismiss", map[string]any{"servicePrincipalIds": []string{}}).wantError(t, 400, "BadRequest", "")
	do(t, "POST", base+"/identityProtection/riskyServicePrincipals/dismiss", map[string]any{"servicePrincipalIds": []string{"00000000-0000-0000-0000-000000000000"}}).wantError(t, 400, "BadRequest", "not found")
}

func TestLicenceSwitch(t *testing.T) {
	ten, base := sim(t, WithWorkloadIdentitiesPremium(false))
	for _, c := range []struct{ method, path string }{
		{"GET", "/identityProtection/servicePrincipalRiskDetections/" + leakedDet},
		{"GET", "/identityProtection/servicePrincipalRiskDetections"},
		{"GET", "/identityProtection/riskyServicePrincipals/" + tfSP},
		{"POST", "/identityProtection/riskyServicePrincipals/confirmCompromised"},
	} {
		do(t, c.method, base+c.path, map[string]any{"servicePrincipalIds": []string{tfSP}}).wantError(t, 403, "Forbidden", "Workload ID Premium")
	}
	do(t, "GET", base+"/identity/conditionalAccess/policies", nil).wantStatus(t, 200)
	if ten.RiskyServicePrincipals()[0].RiskState != "atRisk" || len(ten.Writes()) != 0 {
		t.Fatal("a refused call changed the tenant")
	}
	ten.SetWorkloadIdentitiesPremium(true)
	do(t, "GET", base+"/identityProtection/riskyServicePrincipals/"+tfSP, nil).wantStatus(t, 200)
}

func TestUsersAndSendMail(t *testing.T) {
	ten, base := sim(t)
	r := do(t, "GET", base+"/users/AlexW@contoso.com?$select=mail", nil).wantStatus(t, 200)
	if r.body["mail"] != "AlexW@contoso.com" || r.body["id"] != "8105c513-d24b-4b8d-9035-f8d48854d703" {
		t.Fatalf("user: %s", r.raw)
	}
	msg := map[string]any{"message": map[string]any{
		"subject":      "[ACTION TAKEN] Client secret revoked on app Terraform-Datadog-CLI",
		"body":         map[string]any{"contentType": "HTML", "content": "<p>keyId " + leakedKey + " removed</p>"},
		"toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "AlexW@contoso.com"}}},
		"ccRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "secops@contoso.com"}}},
	}, "saveToSentItems": false}
	do(t, "POST", base+"/users/"+senderUPN+"/sendMail", msg).wantStatus(t, 202)
	sent := ten.SentMail()
	if len(sent) != 1 || sent[0].From != senderUPN || !slices.Equal(sent[0].To, []string{"AlexW@contoso.com"}) ||
		!slices.Equal(sent[0].Cc, []string{"secops@contoso.com"}) || !strings.Contains(string(sent[0].Message), leakedKey) || *sent[0].SaveToSentItems {
		t.Fatalf("sent mail: %+v", sent)
	}
	do(t, "POST", base+"/users/nobody@contoso.com/sendMail", msg).wantError(t, 404, "ErrorInvalidUser", "nobody@contoso.com")
	do(t, "POST", base+"/users/"+senderUPN+"/sendMail", map[string]any{"message": map[string]any{"subject": "x"}}).wantError(t, 400, "ErrorInvalidRecipients", "")
	do(t, "GET", base+"/users/nobody@contoso.com", nil).wantError(t, 404, "Request_ResourceNotFound", "")
}

func TestConditionalAccess(t *testing.T) {
	_, base := sim(t)
	r := do(t, "GET", base+"/identity/conditionalAccess/policies", nil).wantStatus(t, 200)
	v := r.body["value"].([]any)
	if len(v) != 3 || !strings.HasSuffix(r.body["@odata.context"].(string), "/v1.0/$metadata#identity/conditionalAccess/policies") {
		t.Fatalf("policies: %s", r.raw)
	}
	p := v[0].(map[string]any)
	ca := p["conditions"].(map[string]any)["clientApplications"].(map[string]any)
	if p["id"] != riskPolicy || p["state"] != "enabled" || fmt.Sprint(ca["includeServicePrincipals"]) != "[ServicePrincipalsInMyTenant]" ||
		fmt.Sprint(p["grantControls"].(map[string]any)["builtInControls"]) != "[block]" || v[1].(map[string]any)["state"] != "enabledForReportingButNotEnforced" {
		t.Fatalf("risk policy: %v", p)
	}
	r = do(t, "GET", base+"/identity/conditionalAccess/namedLocations", nil).wantStatus(t, 200)
	loc := r.body["value"].([]any)[0].(map[string]any)
	if loc["@odata.type"] != "#microsoft.graph.ipNamedLocation" || loc["ipRanges"].([]any)[0].(map[string]any)["cidrAddress"] != "198.51.100.0/24" {
		t.Fatalf("named locations: %s", r.raw)
	}
	do(t, "GET", base+"/identity/conditionalAccess/policies/"+riskPolicy+"?$select=state", nil).wantStatus(t, 200)
}

func TestUnexpectedRequestsAreRecorded(t *testing.T) {
	ten, base := sim(t)
	do(t, "DELETE", base+"/applications/"+tfApp, nil).wantError(t, 405, "Request_BadRequest", "not allowed")
	do(t, "DELETE", base+"/servicePrincipals/"+tfSP, nil).wantStatus(t, 405)
	do(t, "POST", base+"/applications/"+tfApp+"/removeKey", map[string]string{"keyId": oldCert, "proof": "x"}).wantError(t, 400, "BadRequest", "removeKey")
	do(t, "GET", base+"/groups", nil).wantStatus(t, 400)
	do(t, "GET", strings.TrimSuffix(base, "/v1.0")+"/beta/applications/"+tfApp, nil).wantStatus(t, 404)
	if _, ok := ten.Application(tfApp); !ok || len(ten.Writes()) != 0 {
		t.Fatal("an unexpected request changed the tenant")
	}
	u := ten.Unexpected()
	if len(u) != 5 || u[0].Method != "DELETE" || u[0].Status != 405 || u[0].Route != "" {
		t.Fatalf("unexpected: %+v", u)
	}
	do(t, "GET", base+"/applications/"+tfApp, nil).wantStatus(t, 200)
	if n := len(ten.Unexpected()); n != 5 {
		t.Fatalf("a served request was recorded as unexpected (%d)", n)
	}
}

func TestThrottlingWithRetryAfter(t *testing.T) {
	ten, base := sim(t)
	if err := ten.AddFault(Fault{Route: "POST /applications/*/removePassword", Kind: FaultStatus, Status: 429, RetryAfter: 7, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r := do(t, "POST", base+"/applications(appId='"+tfAppID+"')/removePassword", map[string]string{"keyId": leakedKey})
	r.wantError(t, 429, "TooManyRequests", "Please retry again later.")
	if r.header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After %q, want 7", r.header.Get("Retry-After"))
	}
	if app, _ := ten.Application(tfApp); len(app.PasswordCredentials) != 2 {
		t.Fatal("a throttled write was applied")
	}
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"keyId": leakedKey}).wantStatus(t, 204)
	reqs := ten.Requests()
	if len(reqs) != 2 || reqs[0].Fault != "status 429 before" || reqs[0].Status != 429 || reqs[1].Fault != "" {
		t.Fatalf("request log: %+v", reqs)
	}
	if c := ten.RouteCounts()["POST /applications/{id}/removePassword"]; c != 2 {
		t.Fatalf("route count %d, want 2", c)
	}
}

func TestFaultAfterWriteLeavesOutcomeUnknown(t *testing.T) {
	ten, base := sim(t)
	ten.AddFault(Fault{Route: "POST /applications/{id}/removePassword", Kind: FaultStatus, Status: 500, Times: 1, Phase: After})
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"keyId": leakedKey}).wantError(t, 500, "UnknownError", "")
	// The client cannot know; re-reading shows the write happened, and a
	// blind retry fails because the secret is already gone.
	r := do(t, "GET", base+"/applications/"+tfApp+"?$select=passwordCredentials", nil).wantStatus(t, 200)
	if strings.Contains(r.raw, leakedKey) || len(ten.Writes()) != 1 {
		t.Fatal("the write was not applied before the fault")
	}
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"keyId": leakedKey}).wantStatus(t, 400)

	// The same with a dropped connection.
	ten.AddFault(Fault{Route: "POST /identityProtection/riskyServicePrincipals/confirmCompromised", Kind: FaultDrop, Times: 1, Phase: After})
	b, _ := json.Marshal(map[string]any{"servicePrincipalIds": []string{tfSP}})
	if _, err := http.Post(base+"/identityProtection/riskyServicePrincipals/confirmCompromised", "application/json", bytes.NewReader(b)); err == nil {
		t.Fatal("dropped connection: no error")
	}
	if ten.RiskyServicePrincipals()[0].RiskState != "confirmedCompromised" {
		t.Fatal("the write was not applied before the drop")
	}
	if last := ten.Requests()[len(ten.Requests())-1]; last.Status != 0 || last.Fault != "drop after" {
		t.Fatalf("request log entry for the drop: %+v", last)
	}
}

func TestFaultBeforeWriteLeavesTenantUnchanged(t *testing.T) {
	ten, base := sim(t)
	ten.AddFault(Fault{Route: "* /servicePrincipals/*", Kind: FaultStatus, Status: 503, Times: 2})
	do(t, "PATCH", base+"/servicePrincipals/"+tfSP, map[string]any{"accountEnabled": false}).wantError(t, 503, "ServiceUnavailable", "")
	do(t, "GET", base+"/servicePrincipals/"+tfSP, nil).wantStatus(t, 503)
	if sp, _ := ten.ServicePrincipal(tfSP); !*sp.AccountEnabled || len(ten.Writes()) != 0 {
		t.Fatal("write applied despite a fault before it")
	}
	do(t, "GET", base+"/servicePrincipals/"+tfSP, nil).wantStatus(t, 200) // times exhausted
	ten.ClearFaults()
}

func TestTimeoutFault(t *testing.T) {
	ten, base := sim(t)
	ten.AddFault(Fault{Route: "POST /servicePrincipals/*/removePassword", Kind: FaultTimeout, Times: 1, Phase: After, Delay: Duration(5 * time.Second)})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := client.Post(base+"/servicePrincipals/"+billSP+"/removePassword", "application/json", strings.NewReader(`{"keyId":"`+billSPKey+`"}`))
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout fault: err %v after %v", err, time.Since(start))
	}
	if sp, _ := ten.ServicePrincipal(billSP); len(sp.PasswordCredentials) != 0 {
		t.Fatal("write not applied before the hold")
	}
	deadline := time.Now().Add(2 * time.Second)
	for ten.RouteCounts()["POST /servicePrincipals/{id}/removePassword"] == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the handler logs once it notices the client left
	}
	if reqs := ten.Requests(); len(reqs) != 1 || reqs[0].Status != 0 || reqs[0].Fault != "timeout after" {
		t.Fatalf("request log: %+v", reqs)
	}
}

func TestLatency(t *testing.T) {
	ten, base := sim(t, WithLatency(30*time.Millisecond))
	ten.AddFault(Fault{Route: "GET /users/*", Kind: FaultLatency, Delay: Duration(40 * time.Millisecond)})
	start := time.Now()
	do(t, "GET", base+"/applications/"+tfApp, nil).wantStatus(t, 200)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("global latency not applied: %v", d)
	}
	start = time.Now()
	do(t, "GET", base+"/users/"+senderUPN, nil).wantStatus(t, 200)
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Fatalf("route latency not added: %v", d)
	}
}

func TestConcurrentUse(t *testing.T) {
	ten, base := sim(t)
	ten.AddFault(Fault{Route: "GET /applications/*", Kind: FaultStatus, Status: 429, RetryAfter: 1, Times: 5})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 4 {
			case 0:
				http.Get(base + "/applications/" + tfApp)
			case 1:
				b := strings.NewReader(`{"servicePrincipalIds":["` + tfSP + `"]}`)
				http.Post(base+"/identityProtection/riskyServicePrincipals/confirmCompromised", "application/json", b)
			case 2:
				http.Post(base+"/applications/"+tfApp+"/removePassword", "application/json", strings.NewReader(`{"keyId":"`+leakedKey+`"}`))
			case 3:
				_ = ten.Snapshot()
				_ = ten.RouteCounts()
			}
		}()
	}
	wg.Wait()
	removals := 0
	for _, w := range ten.Writes() {
		if w.Route == "POST /applications/{id}/removePassword" {
			removals++
		}
	}
	if removals != 1 || len(ten.Requests()) != 12 {
		t.Fatalf("%d removals (want exactly 1), %d requests (want 12)", removals, len(ten.Requests()))
	}
}

func TestAdminAPI(t *testing.T) {
	ten, base := sim(t)
	root := strings.TrimSuffix(base, "/v1.0")
	do(t, "POST", root+"/_sim/faults", []Fault{{Route: "GET /users/*", Kind: FaultStatus, Status: 500, Times: 1}}).wantStatus(t, 204)
	do(t, "POST", root+"/_sim/faults", []Fault{{Route: "nonsense", Kind: FaultStatus, Status: 500}}).wantStatus(t, 400)
	do(t, "GET", base+"/users/"+senderUPN, nil).wantStatus(t, 500)
	do(t, "POST", base+"/applications/"+tfApp+"/removePassword", map[string]string{"keyId": leakedKey}).wantStatus(t, 204)
	r := do(t, "GET", root+"/_sim/requests", nil).wantStatus(t, 200)
	if len(r.body["requests"].([]any)) != 2 || r.body["counts"].(map[string]any)["GET /users/{id}"] != float64(1) {
		t.Fatalf("admin requests: %s", r.raw)
	}
	r = do(t, "GET", root+"/_sim/state", nil).wantStatus(t, 200)
	var st State
	if err := json.Unmarshal([]byte(r.raw), &st); err != nil || len(st.Writes) != 1 || len(st.Applications) != 6 || !st.WorkloadIdentitiesPremium {
		t.Fatalf("admin state (%v): %s", err, r.raw[:200])
	}
	do(t, "DELETE", root+"/_sim/faults", nil).wantStatus(t, 204)
	if len(ten.Unexpected()) != 0 {
		t.Fatal("admin requests must not be logged as Graph requests")
	}
}

func TestStartServesAndShutsDown(t *testing.T) {
	seed, err := Load(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	ten := New(*seed, WithFaults(Fault{Route: "GET /users/*", Kind: FaultTimeout, Times: 1}))
	ctx, cancel := context.WithCancel(t.Context())
	base, err := ten.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/v1.0") {
		t.Fatalf("base URL %q", base)
	}
	do(t, "GET", base+"/servicePrincipals/"+tfSP, nil).wantStatus(t, 200)
	// A request held by a timeout fault ends when the server shuts down.
	done := make(chan error, 1)
	go func() {
		_, err := http.Get(base + "/users/" + senderUPN)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("held request survived shutdown")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := http.Get(base + "/servicePrincipals/" + tfSP); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server still serving after ctx was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeReportsURL(t *testing.T) {
	seed, err := Load(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	urls := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- New(*seed).Serve(ctx, "127.0.0.1:0", func(u string) { urls <- u }) }()
	u := <-urls
	do(t, "GET", u+"/identity/conditionalAccess/namedLocations", nil).wantStatus(t, 200)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// msgraph-sdk-go gzips request bodies by default and retries plain on 415.
func TestGzipRequestBodies(t *testing.T) {
	ten, base := sim(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"keyId":"` + leakedKey + `"}`))
	zw.Close()
	req, _ := http.NewRequest("POST", base+"/applications/"+tfApp+"/removePassword", bytes.NewReader(buf.Bytes()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || len(ten.Writes()) != 1 {
		t.Fatalf("gzip body: status %d, %d writes", res.StatusCode, len(ten.Writes()))
	}
	req, _ = http.NewRequest("POST", base+"/applications/"+tfApp+"/removePassword", strings.NewReader(`{}`))
	req.Header.Set("Content-Encoding", "br")
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != 415 {
		t.Fatalf("unsupported encoding: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
}
