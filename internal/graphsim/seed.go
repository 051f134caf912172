package graphsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Seed is the initial state of a tenant, in Graph's JSON shapes. See
// testdata/tenant/README.md for the file format.
type Seed struct {
	Description string `json:"description,omitempty"`
	TenantID    string `json:"tenantId"`
	// WorkloadIdentitiesPremium is the licence the identityProtection routes
	// need; without it they answer 403.
	WorkloadIdentitiesPremium bool `json:"workloadIdentitiesPremium"`
	// Latency is added to every Graph request (for example "50ms" for benchmarks).
	Latency Duration `json:"latency,omitempty"`

	Users                          []User                          `json:"users"`
	Groups                         []Group                         `json:"groups,omitempty"`
	Applications                   []Application                   `json:"applications"`
	ServicePrincipals              []ServicePrincipal              `json:"servicePrincipals"`
	ServicePrincipalRiskDetections []ServicePrincipalRiskDetection `json:"servicePrincipalRiskDetections"`
	RiskyServicePrincipals         []RiskyServicePrincipal         `json:"riskyServicePrincipals"`
	ConditionalAccessPolicies      []ConditionalAccessPolicy       `json:"conditionalAccessPolicies"`
	NamedLocations                 []NamedLocation                 `json:"namedLocations"`
	Faults                         []Fault                         `json:"faults,omitempty"`

	// AppRoleAssignments are application permissions already granted (see setup.go).
	AppRoleAssignments []AppRoleAssignment `json:"appRoleAssignments,omitempty"`
	// RoleAssignments, RoleDefinitions (besides the built-in ones) and
	// OAuth2PermissionGrants are what a credential reaches (see reach.go).
	RoleAssignments        []RoleAssignment        `json:"roleAssignments,omitempty"`
	RoleDefinitions        []RoleDefinition        `json:"roleDefinitions,omitempty"`
	OAuth2PermissionGrants []OAuth2PermissionGrant `json:"oauth2PermissionGrants,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("50ms") in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"50ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Load reads and validates a seed file.
func Load(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("graphsim: read seed: %w", err)
	}
	s, err := DecodeSeed(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("graphsim: seed %s: %w", path, err)
	}
	return s, nil
}

// DecodeSeed reads a seed strictly: unknown keys (at any level Graph's shape
// is modelled) and trailing data are errors, so a typo cannot silently drop
// a credential or an owner.
func DecodeSeed(r io.Reader) (*Seed, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode: trailing data after the seed object")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidRE.MatchString(s) }

// Validate checks the cross-references a real tenant guarantees: unique
// ids, owners that exist, appIds shared by an application and its service
// principal, detections and risk entries that name existing service
// principals. All problems are reported together.
func (s *Seed) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !isGUID(s.TenantID) {
		bad("tenantId %q is not a GUID", s.TenantID)
	}
	ids := map[string]string{} // lower-case object id -> kind, across the directory
	unique := func(kind, id string) {
		switch {
		case !isGUID(id):
			bad("%s id %q is not a GUID", kind, id)
		case ids[strings.ToLower(id)] != "":
			bad("%s id %s is already used by a %s", kind, id, ids[strings.ToLower(id)])
		default:
			ids[strings.ToLower(id)] = kind
		}
	}
	upns := map[string]bool{}
	for _, u := range s.Users {
		unique("user", u.ID)
		if u.UserPrincipalName == "" || upns[strings.ToLower(u.UserPrincipalName)] {
			bad("user %s: userPrincipalName %q is empty or duplicated", u.ID, u.UserPrincipalName)
		}
		upns[strings.ToLower(u.UserPrincipalName)] = true
	}
	for _, g := range s.Groups {
		unique("group", g.ID)
	}
	appIDs := map[string]bool{}
	for _, a := range s.Applications {
		unique("application", a.ID)
		if !isGUID(a.AppID) || appIDs[strings.ToLower(a.AppID)] {
			bad("application %s: appId %q is not a GUID or is duplicated", a.ID, a.AppID)
		}
		appIDs[strings.ToLower(a.AppID)] = true
		errs = append(errs, checkCredentials("application "+a.ID, a.PasswordCredentials, a.KeyCredentials)...)
	}
	spAppIDs := map[string]string{}
	for _, sp := range s.ServicePrincipals {
		unique("servicePrincipal", sp.ID)
		if !isGUID(sp.AppID) || spAppIDs[strings.ToLower(sp.AppID)] != "" {
			bad("servicePrincipal %s: appId %q is not a GUID or is duplicated", sp.ID, sp.AppID)
		}
		spAppIDs[strings.ToLower(sp.AppID)] = sp.ID
		errs = append(errs, checkCredentials("servicePrincipal "+sp.ID, sp.PasswordCredentials, sp.KeyCredentials)...)
	}
	// Owners are checked once every object is known.
	owners := func(what string, refs []DirectoryObjectRef) {
		for _, o := range refs {
			want := map[string]string{odataUser: "user", odataSP: "servicePrincipal", odataGroup: "group"}[o.ODataType]
			if got := ids[strings.ToLower(o.ID)]; want == "" || got != want {
				bad("%s: owner %s (%s) is not a %s in the seed", what, o.ID, o.ODataType, cmp.Or(want, "known type"))
			}
		}
	}
	for _, a := range s.Applications {
		owners("application "+a.ID, a.Owners)
	}
	for _, sp := range s.ServicePrincipals {
		owners("servicePrincipal "+sp.ID, sp.Owners)
	}
	spByID := map[string]ServicePrincipal{}
	for _, sp := range s.ServicePrincipals {
		spByID[strings.ToLower(sp.ID)] = sp
	}
	detIDs := map[string]bool{}
	for _, d := range s.ServicePrincipalRiskDetections {
		if d.ID == "" || detIDs[d.ID] {
			bad("servicePrincipalRiskDetection id %q is empty or duplicated", d.ID)
		}
		detIDs[d.ID] = true
		if d.ODataType != "" && d.ODataType != odataDetection {
			bad("servicePrincipalRiskDetection %s: @odata.type %q, want %s", d.ID, d.ODataType, odataDetection)
		}
		sp, ok := spByID[strings.ToLower(d.ServicePrincipalID)]
		if !ok {
			bad("servicePrincipalRiskDetection %s: servicePrincipalId %s is not in servicePrincipals", d.ID, d.ServicePrincipalID)
		} else if !strings.EqualFold(sp.AppID, d.AppID) {
			bad("servicePrincipalRiskDetection %s: appId %s differs from its service principal's %s", d.ID, d.AppID, sp.AppID)
		}
	}
	riskyIDs := map[string]bool{}
	for _, r := range s.RiskyServicePrincipals {
		if _, ok := spByID[strings.ToLower(r.ID)]; !ok || riskyIDs[strings.ToLower(r.ID)] {
			bad("riskyServicePrincipal %s is not a service principal in the seed, or is duplicated", r.ID)
		}
		riskyIDs[strings.ToLower(r.ID)] = true
	}
	locIDs := map[string]bool{}
	for _, l := range s.NamedLocations {
		locIDs[strings.ToLower(l.ID)] = true
		switch l.ODataType {
		case odataIPLocation:
			for _, r := range l.IPRanges {
				if _, err := netip.ParsePrefix(r.CIDRAddress); err != nil || (r.ODataType != "#microsoft.graph.iPv4CidrRange" && r.ODataType != "#microsoft.graph.iPv6CidrRange") {
					bad("namedLocation %s: ipRange %q (%s) is not a valid iPv4CidrRange/iPv6CidrRange", l.ID, r.CIDRAddress, r.ODataType)
				}
			}
		case odataCountryLocation:
		default:
			bad("namedLocation %s: @odata.type %q is neither %s nor %s", l.ID, l.ODataType, odataIPLocation, odataCountryLocation)
		}
	}
	for _, p := range s.ConditionalAccessPolicies {
		if !isGUID(p.ID) {
			bad("conditionalAccessPolicy id %q is not a GUID", p.ID)
		}
		switch p.State {
		case "enabled", "disabled", "enabledForReportingButNotEnforced":
		default:
			bad("conditionalAccessPolicy %s: state %q is not enabled, disabled or enabledForReportingButNotEnforced", p.ID, p.State)
		}
		if l := p.Conditions.Locations; l != nil {
			for _, id := range slices.Concat(l.IncludeLocations, l.ExcludeLocations) {
				if id != "All" && id != "AllTrusted" && !locIDs[strings.ToLower(id)] {
					bad("conditionalAccessPolicy %s: location %s is not a named location in the seed", p.ID, id)
				}
			}
		}
	}
	errs = append(errs, s.validateAppRoleAssignments()...)
	for i, f := range s.Faults {
		if err := f.validate(); err != nil {
			bad("faults[%d]: %v", i, err)
		}
	}
	return errors.Join(errs...)
}

func checkCredentials(what string, pw []PasswordCredential, keys []KeyCredential) []error {
	var errs []error
	seen := map[string]bool{}
	check := func(keyID string) {
		if !isGUID(keyID) || seen[strings.ToLower(keyID)] {
			errs = append(errs, fmt.Errorf("%s: keyId %q is not a GUID or is duplicated", what, keyID))
		}
		seen[strings.ToLower(keyID)] = true
	}
	for _, p := range pw {
		check(p.KeyID)
		if p.SecretText != nil {
			errs = append(errs, fmt.Errorf("%s: passwordCredential %s has secretText; Graph never returns it, leave it null", what, p.KeyID))
		}
	}
	for _, k := range keys {
		check(k.KeyID)
		if k.Usage != "Sign" && k.Usage != "Verify" {
			errs = append(errs, fmt.Errorf("%s: keyCredential %s usage %q is not Sign or Verify", what, k.KeyID, k.Usage))
		}
	}
	return errs
}

// normalize fills what Graph always returns: empty collections rather than
// null, and accountEnabled true unless said otherwise.
func normalize(s *Seed) {
	empty := func(p *[]string) {
		if *p == nil {
			*p = []string{}
		}
	}
	for i := range s.Applications {
		a := &s.Applications[i]
		empty(&a.Tags)
		if a.PasswordCredentials == nil {
			a.PasswordCredentials = []PasswordCredential{}
		}
		if a.KeyCredentials == nil {
			a.KeyCredentials = []KeyCredential{}
		}
	}
	for i := range s.ServicePrincipals {
		sp := &s.ServicePrincipals[i]
		empty(&sp.Tags)
		if sp.PasswordCredentials == nil {
			sp.PasswordCredentials = []PasswordCredential{}
		}
		if sp.KeyCredentials == nil {
			sp.KeyCredentials = []KeyCredential{}
		}
		if sp.AccountEnabled == nil {
			sp.AccountEnabled = ptr(true)
		}
	}
	for i := range s.ServicePrincipalRiskDetections {
		d := &s.ServicePrincipalRiskDetections[i]
		d.ODataType = odataDetection
		empty(&d.KeyIDs)
	}
	for i := range s.ConditionalAccessPolicies {
		c := &s.ConditionalAccessPolicies[i].Conditions
		for _, p := range []*[]string{&c.UserRiskLevels, &c.SignInRiskLevels, &c.ServicePrincipalRiskLevels, &c.ClientAppTypes} {
			empty(p)
		}
		if a := c.Applications; a != nil {
			for _, p := range []*[]string{&a.IncludeApplications, &a.ExcludeApplications, &a.IncludeUserActions, &a.IncludeAuthenticationContextClassReferences} {
				empty(p)
			}
		}
		if ca := c.ClientApplications; ca != nil {
			empty(&ca.IncludeServicePrincipals)
			empty(&ca.ExcludeServicePrincipals)
		}
		if l := c.Locations; l != nil {
			empty(&l.IncludeLocations)
			empty(&l.ExcludeLocations)
		}
		if g := s.ConditionalAccessPolicies[i].GrantControls; g != nil {
			for _, p := range []*[]string{&g.BuiltInControls, &g.CustomAuthenticationFactors, &g.TermsOfUse} {
				empty(p)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

const (
	odataUser            = "#microsoft.graph.user"
	odataSP              = "#microsoft.graph.servicePrincipal"
	odataGroup           = "#microsoft.graph.group"
	odataDetection       = "#microsoft.graph.servicePrincipalRiskDetection"
	odataIPLocation      = "#microsoft.graph.ipNamedLocation"
	odataCountryLocation = "#microsoft.graph.countryNamedLocation"
)
