package graphsim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// The reach routes: role assignments need a filter and expand only
// roleDefinition; delegated grants are the client's own.
func TestReachRoutes(t *testing.T) {
	seed, err := Load(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	const sp = "b029d485-a308-4311-8720-fb3192e5284e"
	seed.RoleAssignments = []RoleAssignment{
		{ID: "ra1", PrincipalID: sp, RoleDefinitionID: "62e90394-69f5-4237-9190-012177145e10", DirectoryScopeID: "/"},
		{ID: "ra2", PrincipalID: "5338db98-8266-400c-ba61-d8efab370100", RoleDefinitionID: "f2ef992c-3afb-46b9-b7cf-a126ee74c451", DirectoryScopeID: "/"},
	}
	seed.OAuth2PermissionGrants = []OAuth2PermissionGrant{{ID: "g1", ClientID: sp, ConsentType: "AllPrincipals", ResourceID: "0b8f5c1e-6a43-4c8e-9d3b-7f2a91c0e5d4", Scope: "User.Read"}}
	srv := httptest.NewServer(New(*seed, WithLogger(zaptest.NewLogger(t))).Handler())
	t.Cleanup(srv.Close)
	base := srv.URL + "/v1.0"

	q := url.Values{"$filter": {"principalId eq '" + sp + "'"}, "$expand": {"roleDefinition"}}
	r := do(t, "GET", base+"/roleManagement/directory/roleAssignments?"+q.Encode(), nil).wantStatus(t, http.StatusOK)
	items, _ := r.body["value"].([]any)
	if len(items) != 1 {
		t.Fatalf("filtered assignments: %s", r.raw)
	}
	def, _ := items[0].(map[string]any)["roleDefinition"].(map[string]any)
	if def["displayName"] != "Global Administrator" || def["templateId"] != "62e90394-69f5-4237-9190-012177145e10" {
		t.Errorf("expanded role definition: %v", def)
	}
	do(t, "GET", base+"/roleManagement/directory/roleAssignments", nil).wantStatus(t, http.StatusBadRequest)
	q.Set("$expand", "principal")
	do(t, "GET", base+"/roleManagement/directory/roleAssignments?"+q.Encode(), nil).wantStatus(t, http.StatusBadRequest)

	r = do(t, "GET", base+"/servicePrincipals/"+sp+"/oauth2PermissionGrants", nil).wantStatus(t, http.StatusOK)
	if !strings.Contains(r.raw, `"scope":"User.Read"`) {
		t.Errorf("grants: %s", r.raw)
	}
	r = do(t, "GET", base+"/servicePrincipals/5338db98-8266-400c-ba61-d8efab370100/oauth2PermissionGrants", nil).wantStatus(t, http.StatusOK)
	if items, _ := r.body["value"].([]any); len(items) != 0 {
		t.Errorf("another client's grants: %s", r.raw)
	}
}
