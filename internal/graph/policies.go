package graph

import (
	"context"
	"net/netip"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/spresponder/spresponder/internal/capolicy"
)

// ConditionalAccessPolicies lists every Conditional Access policy,
// following @odata.nextLink.
func (c *Client) ConditionalAccessPolicies(ctx context.Context) ([]capolicy.Policy, error) {
	var out []capolicy.Policy
	err := c.limited(ctx, "list conditional access policies", func(ctx context.Context) error {
		b := identity.NewIdentityRequestBuilderInternal(c.params(), c.adapter).ConditionalAccess().Policies()
		cfg := &identity.ConditionalAccessPoliciesRequestBuilderGetRequestConfiguration{Headers: preferEnums()}
		resp, err := b.Get(ctx, cfg)
		items, err := allPages(resp, err, func(next string) (models.ConditionalAccessPolicyCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, cfg)
		})
		for _, p := range items {
			out = append(out, policyOf(p))
		}
		return err
	})
	return out, err
}

func policyOf(p models.ConditionalAccessPolicyable) capolicy.Policy {
	out := capolicy.Policy{ID: deref(p.GetId()), DisplayName: deref(p.GetDisplayName())}
	if s := p.GetState(); s != nil {
		out.State = s.String()
	}
	if c := p.GetConditions(); c != nil {
		for _, l := range c.GetServicePrincipalRiskLevels() {
			out.Conditions.ServicePrincipalRiskLevels = append(out.Conditions.ServicePrincipalRiskLevels, l.String())
		}
		if a := c.GetApplications(); a != nil {
			out.Conditions.Applications = capolicy.Applications{IncludeApplications: a.GetIncludeApplications(), ExcludeApplications: a.GetExcludeApplications()}
		}
		if ca := c.GetClientApplications(); ca != nil {
			cl := &capolicy.ClientApplications{IncludeServicePrincipals: ca.GetIncludeServicePrincipals(), ExcludeServicePrincipals: ca.GetExcludeServicePrincipals()}
			if f := ca.GetServicePrincipalFilter(); f != nil {
				cl.ServicePrincipalFilter = &capolicy.Filter{Rule: deref(f.GetRule())}
				if m := f.GetMode(); m != nil {
					cl.ServicePrincipalFilter.Mode = m.String()
				}
			}
			out.Conditions.ClientApplications = cl
		}
		if l := c.GetLocations(); l != nil {
			out.Conditions.Locations = &capolicy.Locations{IncludeLocations: l.GetIncludeLocations(), ExcludeLocations: l.GetExcludeLocations()}
		}
		if u := c.GetUsers(); u != nil {
			out.Conditions.Users = &capolicy.Users{
				IncludeUsers: u.GetIncludeUsers(), ExcludeUsers: u.GetExcludeUsers(), IncludeGroups: u.GetIncludeGroups(),
				ExcludeGroups: u.GetExcludeGroups(), IncludeRoles: u.GetIncludeRoles(), ExcludeRoles: u.GetExcludeRoles(),
			}
		}
	}
	if g := p.GetGrantControls(); g != nil {
		gc := &capolicy.GrantControls{Operator: deref(g.GetOperator())}
		for _, b := range g.GetBuiltInControls() {
			gc.BuiltInControls = append(gc.BuiltInControls, b.String())
		}
		out.GrantControls = gc
	}
	return out
}

// NamedLocations lists the named locations (IP ranges and countries).
func (c *Client) NamedLocations(ctx context.Context) ([]capolicy.NamedLocation, error) {
	var out []capolicy.NamedLocation
	err := c.limited(ctx, "list named locations", func(ctx context.Context) error {
		b := identity.NewIdentityRequestBuilderInternal(c.params(), c.adapter).ConditionalAccess().NamedLocations()
		resp, err := b.Get(ctx, nil)
		items, err := allPages(resp, err, func(next string) (models.NamedLocationCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, nil)
		})
		for _, l := range items {
			out = append(out, locationOf(l))
		}
		return err
	})
	return out, err
}

func locationOf(l models.NamedLocationable) capolicy.NamedLocation {
	out := capolicy.NamedLocation{ID: deref(l.GetId()), DisplayName: deref(l.GetDisplayName())}
	switch v := l.(type) {
	case models.IpNamedLocationable:
		out.Type = capolicy.LocationIP
		out.IsTrusted = deref(v.GetIsTrusted())
		for _, r := range v.GetIpRanges() {
			// IPv4 and IPv6 ranges have the same shape: a CIDR string.
			var cidr string
			if rr, ok := r.(interface{ GetCidrAddress() *string }); ok {
				cidr = deref(rr.GetCidrAddress())
			}
			if p, err := netip.ParsePrefix(strings.TrimSpace(cidr)); err == nil {
				out.IPRanges = append(out.IPRanges, p.Masked())
			}
		}
	case models.CountryNamedLocationable:
		out.Type = capolicy.LocationCountry
		out.Countries = v.GetCountriesAndRegions()
	}
	return out
}

// page is a Graph collection response.
type page[T any] interface {
	GetValue() []T
	GetOdataNextLink() *string
}

// allPages collects the items of a collection, following @odata.nextLink
// from the first response (and its error) with next.
func allPages[T any, P page[T]](first P, err error, next func(link string) (P, error)) ([]T, error) {
	var items []T
	resp := first
	for err == nil {
		items = append(items, resp.GetValue()...)
		link := resp.GetOdataNextLink()
		if link == nil || *link == "" {
			return items, nil
		}
		resp, err = next(*link)
	}
	return items, err
}
