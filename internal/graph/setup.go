package graph

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/directory"
)

// The calls below serve `spresponder setup` (run by an administrator with
// their own sign-in) and `spresponder check` (run by the responder's own
// identity): who a service principal is, which application permissions a
// resource offers, which ones a principal holds, granting one, and the
// Conditional Access block policy. They are kept out of client.go and
// directory.go: the response pipeline never calls them.

var principalSelect = []string{"id", "appId", "displayName", "servicePrincipalType", "appRoles"}

// PrincipalByAppID reads a service principal by appId (for a managed
// identity: its client id) with the app roles it offers.
func (c *Client) PrincipalByAppID(ctx context.Context, appID string) (directory.Principal, error) {
	var p directory.Principal
	err := c.call(ctx, "get service principal by appId", func(ctx context.Context) error {
		m, err := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(c.params(), c.adapter, &appID).Get(ctx,
			&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: principalSelect},
			})
		if err != nil {
			return err
		}
		p = principalOf(m)
		return nil
	})
	return p, err
}

// PrincipalByID reads a service principal by object id.
func (c *Client) PrincipalByID(ctx context.Context, id string) (directory.Principal, error) {
	var p directory.Principal
	err := c.call(ctx, "get service principal", func(ctx context.Context) error {
		m, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(id).Get(ctx,
			&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: principalSelect},
			})
		if err != nil {
			return err
		}
		p = principalOf(m)
		return nil
	})
	return p, err
}

func principalOf(m models.ServicePrincipalable) directory.Principal {
	p := directory.Principal{ID: deref(m.GetId()), AppID: deref(m.GetAppId()), DisplayName: deref(m.GetDisplayName()), Type: deref(m.GetServicePrincipalType())}
	for _, r := range m.GetAppRoles() {
		p.AppRoles = append(p.AppRoles, directory.AppRole{
			ID: uuidString(r.GetId()), Value: deref(r.GetValue()), AllowedMemberTypes: r.GetAllowedMemberTypes(), Enabled: deref(r.GetIsEnabled()),
		})
	}
	return p
}

// AppRoleAssignments lists the app roles granted to a service principal
// (its application permissions), following @odata.nextLink. A fresh grant
// may take a while to show (directory replication).
func (c *Client) AppRoleAssignments(ctx context.Context, spID string) ([]directory.AppRoleAssignment, error) {
	var out []directory.AppRoleAssignment
	err := c.call(ctx, "list app role assignments", func(ctx context.Context) error {
		b := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(spID).AppRoleAssignments()
		resp, err := b.Get(ctx, nil)
		items, err := allPages(resp, err, func(next string) (models.AppRoleAssignmentCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, nil)
		})
		out = out[:0]
		for _, a := range items {
			out = append(out, assignmentOf(a))
		}
		return err
	})
	return out, err
}

func assignmentOf(a models.AppRoleAssignmentable) directory.AppRoleAssignment {
	return directory.AppRoleAssignment{
		ID: deref(a.GetId()), PrincipalID: uuidString(a.GetPrincipalId()), ResourceID: uuidString(a.GetResourceId()),
		ResourceDisplayName: deref(a.GetResourceDisplayName()), AppRoleID: uuidString(a.GetAppRoleId()),
	}
}

// GrantAppRole assigns the app role appRoleID of the resource service
// principal resourceID to the service principal spID (granting it an
// application permission, with admin consent implied by the call).
func (c *Client) GrantAppRole(ctx context.Context, spID, resourceID, appRoleID string) (directory.AppRoleAssignment, error) {
	ids := make([]uuid.UUID, 3)
	for i, s := range []string{spID, resourceID, appRoleID} {
		u, err := uuid.Parse(s)
		if err != nil {
			return directory.AppRoleAssignment{}, fmt.Errorf("%w: %q is not a GUID", directory.ErrRejected, s)
		}
		ids[i] = u
	}
	var out directory.AppRoleAssignment
	err := c.call(ctx, "grant app role", func(ctx context.Context) error {
		body := models.NewAppRoleAssignment()
		body.SetPrincipalId(&ids[0])
		body.SetResourceId(&ids[1])
		body.SetAppRoleId(&ids[2])
		m, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(spID).AppRoleAssignments().Post(ctx, body, nil)
		if err != nil {
			return err
		}
		out = assignmentOf(m)
		return nil
	})
	return out, err
}

// CreateConditionalAccessPolicy creates a policy for workload identities
// from p (display name, state, applications, client applications,
// service-principal risk levels, grant controls) and returns it as Graph
// stored it. clientAppTypes is set to "all": Graph requires it, and a
// workload-identity policy has no other meaningful value.
func (c *Client) CreateConditionalAccessPolicy(ctx context.Context, p capolicy.Policy) (capolicy.Policy, error) {
	body, err := policyModel(p)
	if err != nil {
		return capolicy.Policy{}, err
	}
	var out capolicy.Policy
	err = c.limited(ctx, "create conditional access policy", func(ctx context.Context) error {
		m, err := identity.NewIdentityRequestBuilderInternal(c.params(), c.adapter).ConditionalAccess().Policies().Post(ctx, body, nil)
		if err != nil {
			return err
		}
		out = policyOf(m)
		return nil
	})
	return out, err
}

// SetConditionalAccessPolicyState changes only a policy's state (for
// example report-only to enabled).
func (c *Client) SetConditionalAccessPolicyState(ctx context.Context, id, state string) error {
	st, err := models.ParseConditionalAccessPolicyState(state)
	if err != nil || st == nil {
		return fmt.Errorf("%w: policy state %q", directory.ErrRejected, state)
	}
	return c.limited(ctx, "update conditional access policy", func(ctx context.Context) error {
		body := models.NewConditionalAccessPolicy()
		body.SetState(st.(*models.ConditionalAccessPolicyState))
		_, err := identity.NewIdentityRequestBuilderInternal(c.params(), c.adapter).ConditionalAccess().Policies().ByConditionalAccessPolicyId(id).Patch(ctx, body, nil)
		return err
	})
}

func policyModel(p capolicy.Policy) (*models.ConditionalAccessPolicy, error) {
	m := models.NewConditionalAccessPolicy()
	m.SetDisplayName(&p.DisplayName)
	st, err := models.ParseConditionalAccessPolicyState(p.State)
	if err != nil || st == nil {
		return nil, fmt.Errorf("%w: policy state %q", directory.ErrRejected, p.State)
	}
	m.SetState(st.(*models.ConditionalAccessPolicyState))
	cond := models.NewConditionalAccessConditionSet()
	apps := models.NewConditionalAccessApplications()
	apps.SetIncludeApplications(nonNil(p.Conditions.Applications.IncludeApplications))
	apps.SetExcludeApplications(nonNil(p.Conditions.Applications.ExcludeApplications))
	cond.SetApplications(apps)
	cond.SetClientAppTypes([]models.ConditionalAccessClientApp{models.ALL_CONDITIONALACCESSCLIENTAPP})
	if ca := p.Conditions.ClientApplications; ca != nil {
		cl := models.NewConditionalAccessClientApplications()
		cl.SetIncludeServicePrincipals(nonNil(ca.IncludeServicePrincipals))
		cl.SetExcludeServicePrincipals(nonNil(ca.ExcludeServicePrincipals))
		cond.SetClientApplications(cl)
	}
	var levels []models.RiskLevel
	for _, l := range p.Conditions.ServicePrincipalRiskLevels {
		v, err := models.ParseRiskLevel(l)
		if err != nil || v == nil {
			return nil, fmt.Errorf("%w: risk level %q", directory.ErrRejected, l)
		}
		levels = append(levels, *v.(*models.RiskLevel))
	}
	cond.SetServicePrincipalRiskLevels(levels)
	m.SetConditions(cond)
	if g := p.GrantControls; g != nil {
		gc := models.NewConditionalAccessGrantControls()
		gc.SetOperator(&g.Operator)
		var ctl []models.ConditionalAccessGrantControl
		for _, b := range g.BuiltInControls {
			v, err := models.ParseConditionalAccessGrantControl(b)
			if err != nil || v == nil {
				return nil, fmt.Errorf("%w: grant control %q", directory.ErrRejected, b)
			}
			ctl = append(ctl, *v.(*models.ConditionalAccessGrantControl))
		}
		gc.SetBuiltInControls(ctl)
		m.SetGrantControls(gc)
	}
	return m, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
