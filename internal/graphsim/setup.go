package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// This file serves what `spresponder setup` and `spresponder check` call:
// a resource service principal's appRoles (Microsoft Graph's, found by its
// well-known appId), the app role assignments of a service principal (its
// application permissions) and granting one, and creating or switching on
// a Conditional Access policy. Shapes follow Graph v1.0's appRole,
// appRoleAssignment and conditionalAccessPolicy resources.

// AppRole is an application permission a resource service principal
// offers (Graph's appRole, the fields the responder reads).
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
	Origin             string   `json:"origin"`
}

// AppRoleAssignment grants principalId the app role appRoleId of the
// resource service principal resourceId.
type AppRoleAssignment struct {
	ID                   string  `json:"id"`
	AppRoleID            string  `json:"appRoleId"`
	PrincipalID          string  `json:"principalId"`
	PrincipalDisplayName string  `json:"principalDisplayName"`
	PrincipalType        string  `json:"principalType"`
	ResourceID           string  `json:"resourceId"`
	ResourceDisplayName  string  `json:"resourceDisplayName"`
	CreatedDateTime      *string `json:"createdDateTime"`
	DeletedDateTime      *string `json:"deletedDateTime"`
}

// MicrosoftGraphAppID is Microsoft Graph's appId, the same in every tenant.
const MicrosoftGraphAppID = "00000003-0000-0000-c000-000000000000"

// MicrosoftGraphServicePrincipal returns Microsoft Graph's service
// principal as a tenant holds it, with the application permissions the
// responder uses among its appRoles (and a few it never asks for, so a test
// can tell a right choice from a lucky one). The object id is this
// simulator's; in a real tenant it differs per tenant, which is why setup
// looks it up by appId. Role ids are Microsoft's (checked against
// reference/entra/permission-tiers.md and public permission lists).
func MicrosoftGraphServicePrincipal() ServicePrincipal {
	return firstParty("0b8f5c1e-6a43-4c8e-9d3b-7f2a91c0e5d4", MicrosoftGraphAppID, "Microsoft Graph",
		appRole("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All"),
		appRole("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "Application.ReadWrite.All"),
		appRole("6e472fd1-ad78-48da-a0f0-97ab2c6b769e", "IdentityRiskEvent.Read.All"),
		appRole("607c7344-0eed-41e5-823a-9695ebe1b7b0", "IdentityRiskyServicePrincipal.Read.All"),
		appRole("cb8d6980-6bcb-4507-afec-ed6de3a2d798", "IdentityRiskyServicePrincipal.ReadWrite.All"),
		appRole("246dd0d5-5bd0-4def-940b-0421030a5b68", "Policy.Read.All"),
		appRole("b633e1c5-b582-4048-a93e-9f11b44c7e96", "Mail.Send"),
		appRole("df021288-bdef-4463-88db-98f22de89214", "User.Read.All"),
		appRole("498476ce-e0fe-48b0-b801-37ba7e2685c6", "Organization.Read.All"),
		appRole("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All"),
		appRole("06b708a9-e830-4db3-a914-8e69da51d44f", "AppRoleAssignment.ReadWrite.All"),
		appRole("01c0a623-fc9b-48e9-b794-0756f8e8f067", "Policy.ReadWrite.ConditionalAccess"),
	)
}

// firstParty is a Microsoft first-party service principal as a tenant
// holds it, with the given application permissions among its appRoles.
func firstParty(objectID, appID, name string, roles ...AppRole) ServicePrincipal {
	return ServicePrincipal{ID: objectID, AppID: appID, DisplayName: name, ServicePrincipalType: "Application",
		AppOwnerOrganizationID: ptr("f8cdef31-a31e-4b4a-93e4-5f571e91255a"), AppRoles: roles}
}

// appRole is an application permission of a first-party API.
func appRole(id, value string) AppRole {
	return AppRole{ID: id, Value: value, DisplayName: value, Description: "Allows the app to use " + value + " without a signed-in user.",
		AllowedMemberTypes: []string{"Application"}, IsEnabled: true, Origin: "Application"}
}

// setupRoutes are registered by buildRoutes.
func setupRoutes(r func(method, path string, h func(*Tenant, *call) reply) route) []route {
	const policies = "identity/conditionalAccess/policies"
	return []route{
		r("GET", "/servicePrincipals/{id}/appRoleAssignments", (*Tenant).listAppRoleAssignments),
		r("POST", "/servicePrincipals/{id}/appRoleAssignments", (*Tenant).grantAppRole),
		r("POST", "/"+policies, (*Tenant).createPolicy),
		r("PATCH", "/"+policies+"/{id}", (*Tenant).patchPolicy),
	}
}

var assignmentProps = keysOf(toMap(AppRoleAssignment{}))

// AppRoleAssignments returns a snapshot of every app role assignment.
func (t *Tenant) AppRoleAssignments() []AppRoleAssignment {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.assignments)
}

// ConditionalAccessPolicies returns a snapshot of the policies.
func (t *Tenant) ConditionalAccessPolicies() []ConditionalAccessPolicy {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.policies)
}

func (t *Tenant) listAppRoleAssignments(c *call) reply {
	sp := t.findSP(c.params[0])
	if sp == nil {
		return notFound(c.params[0])
	}
	var mine []AppRoleAssignment
	for _, a := range t.assignments {
		if strings.EqualFold(a.PrincipalID, sp.ID) {
			mine = append(mine, a)
		}
	}
	return listAll(c, "servicePrincipals('"+sp.ID+"')/appRoleAssignments", mine, assignmentProps)
}

// grantAppRole is POST /servicePrincipals/{id}/appRoleAssignments. Graph
// checks that the principal in the body is the one in the path, that the
// resource exists and offers the role to applications; a second grant of
// the same role fails (wording as reported for Graph; UNVERIFIED).
func (t *Tenant) grantAppRole(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	sp := t.findSP(c.params[0])
	if sp == nil {
		return notFound(c.params[0])
	}
	var in struct {
		PrincipalID string `json:"principalId"`
		ResourceID  string `json:"resourceId"`
		AppRoleID   string `json:"appRoleId"`
	}
	if err := json.Unmarshal(c.body, &in); err != nil {
		return badPayload()
	}
	if !strings.EqualFold(in.PrincipalID, sp.ID) {
		return gerr(http.StatusBadRequest, "Request_BadRequest", "principalId in the payload does not match the service principal in the URL.")
	}
	res := t.findSP(in.ResourceID)
	if res == nil || !isGUID(in.ResourceID) {
		return gerr(http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", in.ResourceID)
	}
	i := slices.IndexFunc(res.AppRoles, func(r AppRole) bool { return strings.EqualFold(r.ID, in.AppRoleID) })
	if i < 0 || !res.AppRoles[i].IsEnabled || !slices.Contains(res.AppRoles[i].AllowedMemberTypes, "Application") {
		return gerr(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned was not found on application '%s'.", res.AppID)
	}
	for _, a := range t.assignments {
		if strings.EqualFold(a.PrincipalID, sp.ID) && strings.EqualFold(a.ResourceID, res.ID) && strings.EqualFold(a.AppRoleID, in.AppRoleID) {
			return gerr(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned already exists on the object")
		}
	}
	created := t.now().UTC().Format("2006-01-02T15:04:05.0000000Z")
	a := AppRoleAssignment{ID: t.newID(), AppRoleID: strings.ToLower(in.AppRoleID), PrincipalID: sp.ID, PrincipalDisplayName: sp.DisplayName,
		PrincipalType: "ServicePrincipal", ResourceID: res.ID, ResourceDisplayName: res.DisplayName, CreatedDateTime: &created}
	t.assignments = append(t.assignments, a)
	t.wrote(c, Write{Target: sp.ID, Fields: []string{"appRoleAssignment:" + res.AppRoles[i].Value}})
	rep := single(c, "servicePrincipals('"+sp.ID+"')/appRoleAssignments", toMap(a))
	rep.status = http.StatusCreated
	return rep
}

// createPolicy is POST /identity/conditionalAccess/policies. Graph
// requires conditions.applications and conditions.clientAppTypes, and
// users or clientApplications; the SDK adds @odata.type to nested objects,
// so unknown properties are ignored here rather than refused. Creating or
// changing a policy for workload identities needs Workload Identities
// Premium (Entra docs); the error Graph then returns is UNVERIFIED.
func (t *Tenant) createPolicy(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	var p ConditionalAccessPolicy
	var raw struct {
		Conditions struct {
			ClientAppTypes []string `json:"clientAppTypes"`
		} `json:"conditions"`
	}
	if json.Unmarshal(c.body, &p) != nil || json.Unmarshal(c.body, &raw) != nil {
		return badPayload()
	}
	if rep := t.validatePolicy(p, len(raw.Conditions.ClientAppTypes) > 0); rep != nil {
		return *rep
	}
	now := t.now().UTC()
	p.ID, p.CreatedDateTime, p.ModifiedDateTime = t.newID(), &now, &now
	t.policies = append(t.policies, p)
	t.wrote(c, Write{Target: p.ID, Fields: []string{"create:" + p.State}})
	rep := single(c, "identity/conditionalAccess/policies", toMap(p))
	rep.status = http.StatusCreated
	return rep
}

func (t *Tenant) validatePolicy(p ConditionalAccessPolicy, clientAppTypes bool) *reply {
	bad := func(format string, args ...any) *reply {
		r := gerr(http.StatusBadRequest, "BadRequest", format, args...)
		return &r
	}
	switch {
	case strings.TrimSpace(p.DisplayName) == "":
		return bad("displayName is required.")
	case p.State != "enabled" && p.State != "disabled" && p.State != "enabledForReportingButNotEnforced":
		return bad("state %q is not valid.", p.State)
	case p.Conditions.Applications == nil:
		return bad("conditions.applications is required.")
	case !clientAppTypes:
		return bad("conditions.clientAppTypes is required.")
	case p.Conditions.ClientApplications == nil && len(p.Conditions.Users) == 0:
		return bad("conditions.users or conditions.clientApplications is required.")
	case p.GrantControls == nil && len(p.SessionControls) == 0:
		return bad("grantControls or sessionControls is required.")
	}
	if p.Conditions.ClientApplications != nil && !t.licensed {
		r := gerr(http.StatusForbidden, "Forbidden", "Your tenant is not licensed for this feature: Microsoft Entra Workload ID Premium is required to create Conditional Access policies for workload identities.")
		return &r
	}
	return nil
}

// patchPolicy is PATCH /identity/conditionalAccess/policies/{id}; the
// simulator takes the properties setup changes (state, displayName).
func (t *Tenant) patchPolicy(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	i := slices.IndexFunc(t.policies, func(p ConditionalAccessPolicy) bool { return strings.EqualFold(p.ID, c.params[0]) })
	if i < 0 {
		return notFound(c.params[0])
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &props); err != nil || props == nil {
		return badPayload()
	}
	p := t.policies[i]
	var fields []string
	for name, v := range props {
		switch name {
		case "@odata.type":
		case "state":
			if json.Unmarshal(v, &p.State) != nil || (p.State != "enabled" && p.State != "disabled" && p.State != "enabledForReportingButNotEnforced") {
				return schemaMismatch("state")
			}
			fields = append(fields, "state:"+p.State)
		case "displayName":
			if json.Unmarshal(v, &p.DisplayName) != nil || p.DisplayName == "" {
				return schemaMismatch("displayName")
			}
			fields = append(fields, "displayName")
		default:
			return gerr(http.StatusBadRequest, "BadRequest", "the simulated tenant does not change %s on a policy", name)
		}
	}
	if p.Conditions.ClientApplications != nil && !t.licensed {
		return gerr(http.StatusForbidden, "Forbidden", "Your tenant is not licensed for this feature: Microsoft Entra Workload ID Premium is required to create Conditional Access policies for workload identities.")
	}
	now := t.now().UTC()
	p.ModifiedDateTime = &now
	t.policies[i] = p
	slices.Sort(fields)
	t.wrote(c, Write{Target: p.ID, Fields: fields})
	return noContent()
}

// validateAppRoleAssignments checks the seed's assignments against its
// service principals: the principal and the resource exist and the
// resource offers the role.
func (s *Seed) validateAppRoleAssignments() []error {
	var errs []error
	sps := map[string]ServicePrincipal{}
	for _, sp := range s.ServicePrincipals {
		sps[strings.ToLower(sp.ID)] = sp
	}
	for i, a := range s.AppRoleAssignments {
		res, ok := sps[strings.ToLower(a.ResourceID)]
		switch {
		case !isGUID(a.ID):
			errs = append(errs, fmt.Errorf("appRoleAssignments[%d]: id %q is not a GUID", i, a.ID))
		case sps[strings.ToLower(a.PrincipalID)].ID == "":
			errs = append(errs, fmt.Errorf("appRoleAssignments[%d]: principalId %s is not a service principal in the seed", i, a.PrincipalID))
		case !ok:
			errs = append(errs, fmt.Errorf("appRoleAssignments[%d]: resourceId %s is not a service principal in the seed", i, a.ResourceID))
		case !slices.ContainsFunc(res.AppRoles, func(r AppRole) bool { return strings.EqualFold(r.ID, a.AppRoleID) }):
			errs = append(errs, fmt.Errorf("appRoleAssignments[%d]: appRoleId %s is not an app role of %s", i, a.AppRoleID, res.DisplayName))
		}
	}
	return errs
}
