package graph

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/spresponder/spresponder/internal/directory"
)

// The reads below serve internal/reach: what a leaked credential's service
// principal could do. They run after containment, so they reuse the
// client's retry and classification (call) but are never on the path to a
// credential's removal. App role assignments and resource service
// principals with their appRoles are read by AppRoleAssignments and
// PrincipalByID (setup.go).

// DirectoryRoleAssignments lists the active Entra directory role
// assignments of a principal, with each role definition expanded (its
// display name, for custom roles the table cannot name). Least privilege:
// RoleManagement.Read.Directory (Graph: rbacapplication-list-roleassignments).
// The list holds direct, active assignments only: PIM-eligible ones and
// roles reached through a role-assignable group are not in it.
func (c *Client) DirectoryRoleAssignments(ctx context.Context, principalID string) ([]directory.RoleAssignment, error) {
	// The id goes into an OData filter: only a GUID is let through, so no
	// value can change the query's meaning.
	if _, err := uuid.Parse(principalID); err != nil {
		return nil, fmt.Errorf("%w: principal id %q is not a GUID", directory.ErrRejected, principalID)
	}
	var out []directory.RoleAssignment
	filter := "principalId eq '" + principalID + "'"
	err := c.call(ctx, "list directory role assignments", func(ctx context.Context) error {
		b := rolemanagement.NewRoleManagementRequestBuilderInternal(c.params(), c.adapter).Directory().RoleAssignments()
		cfg := &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Filter: &filter, Expand: []string{"roleDefinition"}},
		}
		resp, err := b.Get(ctx, cfg)
		items, err := allPages(resp, err, func(next string) (models.UnifiedRoleAssignmentCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, nil)
		})
		out = out[:0]
		for _, a := range items {
			r := directory.RoleAssignment{ID: deref(a.GetId()), PrincipalID: deref(a.GetPrincipalId()),
				RoleDefinitionID: deref(a.GetRoleDefinitionId()), DirectoryScopeID: deref(a.GetDirectoryScopeId())}
			if d := a.GetRoleDefinition(); d != nil {
				r.RoleName = deref(d.GetDisplayName())
			}
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// DelegatedGrants lists the delegated permission grants of a client
// service principal. Least privilege: Directory.Read.All (Graph:
// serviceprincipal-list-oauth2permissiongrants); no narrower read exists.
func (c *Client) DelegatedGrants(ctx context.Context, spID string) ([]directory.DelegatedGrant, error) {
	var out []directory.DelegatedGrant
	err := c.call(ctx, "list delegated permission grants", func(ctx context.Context) error {
		b := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(spID).Oauth2PermissionGrants()
		resp, err := b.Get(ctx, nil)
		items, err := allPages(resp, err, func(next string) (models.OAuth2PermissionGrantCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, nil)
		})
		out = out[:0]
		for _, g := range items {
			out = append(out, directory.DelegatedGrant{ID: deref(g.GetId()), ClientID: deref(g.GetClientId()), ConsentType: deref(g.GetConsentType()),
				PrincipalID: deref(g.GetPrincipalId()), ResourceID: deref(g.GetResourceId()), Scope: deref(g.GetScope())})
		}
		return err
	})
	return out, err
}
