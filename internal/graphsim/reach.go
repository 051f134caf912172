package graphsim

import (
	"net/http"
	"slices"
	"strings"
)

// This file serves what the reach of a leaked credential (internal/reach)
// reads, after containment: a service principal's active directory role
// assignments (GET /roleManagement/directory/roleAssignments with
// $filter=principalId eq '...' and $expand=roleDefinition; least
// privilege RoleManagement.Read.Directory) and its delegated permission
// grants (GET /servicePrincipals/{id}/oauth2PermissionGrants; least
// privilege Directory.Read.All). App role assignments and resource service
// principals with appRoles are served by setup.go. Shapes follow Graph
// v1.0's unifiedRoleAssignment, unifiedRoleDefinition and
// oAuth2PermissionGrant resources. A missing permission is simulated with
// a 403 fault on the route (Fault{Kind: FaultStatus, Status: 403}).

// RoleAssignment is an active directory role assignment
// (unifiedRoleAssignment). For a built-in role, roleDefinitionId is the
// role's template id.
type RoleAssignment struct {
	ID               string `json:"id"`
	PrincipalID      string `json:"principalId"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
}

// RoleDefinition is a directory role (unifiedRoleDefinition), the fields
// the responder reads.
type RoleDefinition struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	IsBuiltIn   bool   `json:"isBuiltIn"`
	TemplateID  string `json:"templateId"`
}

// OAuth2PermissionGrant is a delegated permission grant.
type OAuth2PermissionGrant struct {
	ID          string  `json:"id"`
	ClientID    string  `json:"clientId"`
	ConsentType string  `json:"consentType"`
	PrincipalID *string `json:"principalId"`
	ResourceID  string  `json:"resourceId"`
	Scope       string  `json:"scope"`
}

// BuiltInRoleDefinitions are a few Entra built-in roles with their
// template ids (Microsoft's; reference/entra/permission-tiers.md, ENTRA-DOC).
func BuiltInRoleDefinitions() []RoleDefinition {
	def := func(id, name string) RoleDefinition {
		return RoleDefinition{ID: id, DisplayName: name, IsBuiltIn: true, TemplateID: id}
	}
	return []RoleDefinition{
		def("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"),
		def("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"),
		def("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
		def("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
	}
}

// WindowsDefenderATPAppID is Microsoft Defender for Endpoint's API
// (WindowsDefenderATP) appId, the same in every tenant.
const WindowsDefenderATPAppID = "fc780465-2017-40d4-a0c5-307022471b92"

// WindowsDefenderATPServicePrincipal returns Defender for Endpoint's
// service principal with some of its application permissions (ids as
// listed in reference/entra/permission-tiers.md, from first-party app
// dumps). Its object id is this simulator's.
func WindowsDefenderATPServicePrincipal() ServicePrincipal {
	return firstParty("5d7e2a10-3c1b-4f8e-9a6d-2b4c8e1f7a93", WindowsDefenderATPAppID, "WindowsDefenderATP",
		appRole("7e4e1300-e1b9-4102-88ba-f0cb6e6d5974", "Machine.Isolate"),
		appRole("a86d9824-b2b6-45f8-b042-16bc4922ed4e", "Machine.Scan"),
		appRole("ea8291d3-4b9a-44b5-bc3a-6cea3026dc79", "Machine.Read.All"),
		appRole("93489bf5-0fbc-4f2d-b901-33f2fe08ff05", "AdvancedQuery.Read.All"),
	)
}

// reachRoutes are registered by buildRoutes.
func reachRoutes(r func(method, path string, h func(*Tenant, *call) reply) route) []route {
	return []route{
		r("GET", "/roleManagement/directory/roleAssignments", (*Tenant).listRoleAssignments),
		r("GET", "/servicePrincipals/{id}/oauth2PermissionGrants", (*Tenant).listDelegatedGrants),
	}
}

var (
	roleAssignmentProps = keysOf(toMap(RoleAssignment{}), map[string]any{"roleDefinition": nil})
	grantProps          = keysOf(toMap(OAuth2PermissionGrant{}))
)

// listRoleAssignments needs a $filter (Graph refuses to list every
// assignment of a large tenant unfiltered on this API in some tenants;
// the responder always filters on principalId), and expands only
// roleDefinition.
func (t *Tenant) listRoleAssignments(c *call) reply {
	if rep := checkQuery(c, "$filter", "$expand", "$select", "$top", "$skiptoken"); rep != nil {
		return *rep
	}
	q := c.r.URL.Query()
	if q.Get("$filter") == "" {
		return gerr(http.StatusBadRequest, "BadRequest", "A filter on principalId or roleDefinitionId is required by the simulated tenant.")
	}
	expand := q.Get("$expand")
	if expand != "" && !strings.EqualFold(expand, "roleDefinition") {
		return gerr(http.StatusBadRequest, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.unifiedRoleAssignment'.", expand)
	}
	ms := make([]map[string]any, 0, len(t.roleAssignments))
	for _, a := range t.roleAssignments {
		m := toMap(a)
		if expand != "" {
			if i := slices.IndexFunc(t.roleDefinitions, func(d RoleDefinition) bool { return strings.EqualFold(d.ID, a.RoleDefinitionID) }); i >= 0 {
				m["roleDefinition"] = toMap(t.roleDefinitions[i])
			}
		}
		ms = append(ms, m)
	}
	return list(c, "roleManagement/directory/roleAssignments", ms, roleAssignmentProps)
}

func (t *Tenant) listDelegatedGrants(c *call) reply {
	sp := t.findSP(c.params[0])
	if sp == nil {
		return notFound(c.params[0])
	}
	var mine []OAuth2PermissionGrant
	for _, g := range t.grants {
		if strings.EqualFold(g.ClientID, sp.ID) {
			mine = append(mine, g)
		}
	}
	return listAll(c, "oauth2PermissionGrants", mine, grantProps)
}
