// Package capolicy decides, with reasons, whether Microsoft Entra
// Conditional Access blocks a given service principal.
//
// The model. Conditional Access for workload identities evaluates a policy
// when a service principal asks Entra for a token. A policy blocks that
// request when all of these hold:
//
//   - it is enabled (state "enabled"; "enabledForReportingButNotEnforced" is
//     report-only: it logs what it would do and blocks nothing);
//   - it includes the service principal, by its object id or through
//     "ServicePrincipalsInMyTenant", in clientApplications, and does not
//     exclude it there; a servicePrincipalFilter over custom security
//     attributes may include or exclude it too, and the responder does not
//     read those attributes, so such a policy cannot be evaluated here;
//   - its servicePrincipalRiskLevels include the service principal's risk
//     level, or it has no risk condition at all;
//   - it covers every resource (includeApplications "All");
//   - its grant is "block" (the only grant workload identities support);
//   - the sign-in comes from a location the policy covers.
//
// The last condition splits policies in two kinds. A risk policy blocks the
// service principal wherever it signs in from, as soon as it is risky enough:
// that is the block the responder wants to confirm after containment
// (confirmCompromised raises the risk to high). A location policy blocks it
// only from outside some networks, whatever its risk: an attacker inside
// those networks is not stopped, so a location policy alone never makes the
// verdict "blocked"; it is listed, applying, with the networks it allows, and
// the summary mentions it.
//
// Conditional Access targets the service principal's object id (the
// Enterprise application), never the application's appId: Evaluate compares
// object ids only, so an appId passed by mistake matches nothing.
//
// Evaluate is a pure function of the policies, the named locations and the
// subject. Its result lists every policy that mentions workload identities,
// with reasons in plain words, in a deterministic order; policies that
// target only users are left out.
package capolicy

import (
	"net/netip"
	"strings"
)

// Policy is a conditionalAccessPolicy in Graph's shape, reduced to what the
// check reads. The JSON tags are Graph's v1.0 names, so a Graph response
// decodes straight into it (DecodePolicies).
type Policy struct {
	ID            string         `json:"id"`
	DisplayName   string         `json:"displayName"`
	State         string         `json:"state"`
	Conditions    Conditions     `json:"conditions"`
	GrantControls *GrantControls `json:"grantControls"`
}

// Policy states, as Graph spells them.
const (
	StateEnabled    = "enabled"
	StateReportOnly = "enabledForReportingButNotEnforced"
	StateDisabled   = "disabled"
)

// Special values in the include and exclude lists.
const (
	// AllServicePrincipals in includeServicePrincipals selects every
	// service principal registered in the tenant.
	AllServicePrincipals = "ServicePrincipalsInMyTenant"
	// All in includeApplications means every resource ("All cloud apps");
	// in includeLocations, every location.
	All = "All"
	// AllTrusted in a location list means every named location marked
	// trusted.
	AllTrusted = "AllTrusted"
	// GrantBlock is the built-in control that refuses the token.
	GrantBlock = "block"
)

// Conditions is conditionalAccessConditionSet.
type Conditions struct {
	ServicePrincipalRiskLevels []string            `json:"servicePrincipalRiskLevels"`
	Applications               Applications        `json:"applications"`
	ClientApplications         *ClientApplications `json:"clientApplications"`
	Locations                  *Locations          `json:"locations"`
	// Users is not evaluated: a policy is for users or for workload
	// identities, never both. It is kept so that a user policy can be told
	// apart and shown for what it is.
	Users *Users `json:"users"`
}

// Applications is conditionalAccessApplications: the resources a token is
// requested for.
type Applications struct {
	IncludeApplications []string `json:"includeApplications"`
	ExcludeApplications []string `json:"excludeApplications"`
}

// ClientApplications is conditionalAccessClientApplications: the workload
// identities a policy is about.
type ClientApplications struct {
	IncludeServicePrincipals []string `json:"includeServicePrincipals"`
	ExcludeServicePrincipals []string `json:"excludeServicePrincipals"`
	ServicePrincipalFilter   *Filter  `json:"servicePrincipalFilter"`
}

// Filter is conditionalAccessFilter: Mode "include" or "exclude" and a rule
// over custom security attributes.
type Filter struct {
	Mode string `json:"mode"`
	Rule string `json:"rule"`
}

// Locations is conditionalAccessLocations: named location ids, All or
// AllTrusted.
type Locations struct {
	IncludeLocations []string `json:"includeLocations"`
	ExcludeLocations []string `json:"excludeLocations"`
}

// Users is conditionalAccessUsers, as far as it tells who a policy targets.
type Users struct {
	IncludeUsers  []string `json:"includeUsers"`
	ExcludeUsers  []string `json:"excludeUsers"`
	IncludeGroups []string `json:"includeGroups"`
	ExcludeGroups []string `json:"excludeGroups"`
	IncludeRoles  []string `json:"includeRoles"`
	ExcludeRoles  []string `json:"excludeRoles"`
}

// GrantControls is conditionalAccessGrantControls.
type GrantControls struct {
	Operator        string   `json:"operator"`
	BuiltInControls []string `json:"builtInControls"`
}

// TargetsWorkloadIdentities reports whether the policy mentions workload
// identities: it selects service principals (by id, by filter or by
// exclusion) or sets service-principal risk levels. Every other policy is a
// user policy as far as the responder is concerned.
func (p Policy) TargetsWorkloadIdentities() bool {
	if len(p.Conditions.ServicePrincipalRiskLevels) > 0 {
		return true
	}
	ca := p.Conditions.ClientApplications
	return ca != nil && (len(ca.IncludeServicePrincipals) > 0 || len(ca.ExcludeServicePrincipals) > 0 ||
		(ca.ServicePrincipalFilter != nil && strings.TrimSpace(ca.ServicePrincipalFilter.Rule) != ""))
}

// NamedLocation is a named location: an ipNamedLocation (IPRanges) or a
// countryNamedLocation (Countries).
type NamedLocation struct {
	ID          string
	DisplayName string
	// Type is LocationIP, LocationCountry, or Graph's @odata.type for a kind
	// the responder cannot expand into networks.
	Type      string
	IsTrusted bool
	IPRanges  []netip.Prefix
	Countries []string
}

// Named location types.
const (
	LocationIP      = "ip"
	LocationCountry = "country"
)
