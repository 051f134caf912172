package capolicy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/spresponder/spresponder/internal/incident"
)

// Subject is the service principal whose protection is checked.
type Subject struct {
	// ServicePrincipalID is the service principal's object id. Conditional
	// Access never targets the appId, so an appId here matches nothing.
	ServicePrincipalID string
	// RiskLevel is the service principal's risk level as it will be when it
	// next asks for a token, that is after containment ("high" after
	// confirmCompromised). "" and "hidden" (a tenant without Workload
	// Identities Premium) mean unknown.
	RiskLevel string
}

// Policy kinds in incident.PolicyEval.Kind.
const (
	KindRisk     = "risk"     // blocks by service-principal risk level, from anywhere
	KindLocation = "location" // blocks only sign-ins from (or from outside) some locations
	KindOther    = "other"    // neither condition: blocks (or grants) regardless of risk and location
)

type stateClass int

const (
	stateOff stateClass = iota // disabled, or a state this code does not know
	stateReportOnly
	stateEnforced
)

type targetClass int

const (
	notIncluded targetClass = iota
	included
	excluded
	filtered // a servicePrincipalFilter decides, and it cannot be evaluated here
)

type riskClass int

const (
	riskAny        riskClass = iota // no risk condition
	riskCovered                     // the level is one the policy lists
	riskNotCovered                  // the level is known and not listed
	riskDepends                     // the level is unknown and the policy lists only some levels
)

// eval is one policy's evaluation before it is reduced to a PolicyEval.
type eval struct {
	p        Policy
	state    stateClass
	target   targetClass
	block    bool // grant is block
	allApps  bool // includeApplications All
	appExcl  int  // resources excluded from All
	risk     riskClass
	location string // "" when the policy has no location restriction, else how it restricts
	reasons  []string
}

// blocksAtLevel: the policy's conditions, apart from state, target and
// location, make it block this service principal at its risk level.
func (e *eval) blocksAtLevel() bool {
	return e.block && e.allApps && (e.risk == riskAny || e.risk == riskCovered)
}

// couldBlock: as blocksAtLevel, but also when the level is unknown and the
// answer depends on it. Used where the deciding fact is elsewhere (the
// policy excludes the service principal, or does not enforce).
func (e *eval) couldBlock() bool {
	return e.blocksAtLevel() || (e.block && e.allApps && e.risk == riskDepends)
}

func (e *eval) applies() bool {
	return e.state != stateOff && e.target == included && e.blocksAtLevel()
}

func (e *eval) kind() string {
	switch {
	case e.location != "":
		return KindLocation
	case len(e.p.Conditions.ServicePrincipalRiskLevels) > 0:
		return KindRisk
	}
	return KindOther
}

// Evaluate decides whether the enabled Conditional Access policies block
// the subject's token requests, and says why. The outcome is, in order of
// precedence:
//
//   - blocked: an enabled policy without location condition includes the
//     service principal, covers its risk level, all resources and grants
//     block;
//   - cannotEvaluate: such a policy might apply but a servicePrincipalFilter
//     decides, or the risk level is unknown and the policy lists only some
//     levels;
//   - excluded: such a policy would block but excludes the service
//     principal;
//   - reportOnly: only report-only policies would block it;
//   - noPolicy: nothing blocks it at its risk level (location policies that
//     block it from outside their networks are named in the summary).
func Evaluate(policies []Policy, locations []NamedLocation, sp Subject) incident.Verdict {
	if strings.TrimSpace(sp.ServicePrincipalID) == "" {
		return CannotEvaluate("the service principal's object id is not known, so its inclusion in policies cannot be checked")
	}
	level := strings.ToLower(strings.TrimSpace(sp.RiskLevel))
	locs := indexLocations(locations)
	var evals []*eval
	for _, p := range policies {
		if !p.TargetsWorkloadIdentities() {
			continue // a user policy: not about service principals at all
		}
		evals = append(evals, evaluate(p, locs, sp.ServicePrincipalID, level))
	}
	slices.SortFunc(evals, func(a, b *eval) int {
		return cmp.Or(
			cmp.Compare(b.state, a.state), // enforced first, then report-only, then off
			cmp.Compare(a.p.DisplayName, b.p.DisplayName),
			cmp.Compare(a.p.ID, b.p.ID),
		)
	})

	v := incident.Verdict{RiskLevel: level}
	var blocking, filteredBy, depends, excludedBy, reportOnly, locationBlocks []*eval
	for _, e := range evals {
		v.Policies = append(v.Policies, incident.PolicyEval{
			ID:          e.p.ID,
			DisplayName: e.p.DisplayName,
			State:       e.p.State,
			Kind:        e.kind(),
			Applies:     e.applies(),
			Reasons:     e.reasons,
		})
		noLocation := e.location == ""
		switch {
		case e.state == stateEnforced && e.target == included && e.blocksAtLevel() && noLocation:
			blocking = append(blocking, e)
		case e.state == stateEnforced && e.target == included && e.blocksAtLevel():
			locationBlocks = append(locationBlocks, e)
		case e.state == stateEnforced && e.target == filtered && e.couldBlock() && noLocation:
			filteredBy = append(filteredBy, e)
		case e.state == stateEnforced && e.target == included && e.couldBlock() && noLocation:
			depends = append(depends, e) // couldBlock but not blocksAtLevel: the level decides
		case e.state == stateEnforced && e.target == excluded && e.couldBlock() && noLocation:
			excludedBy = append(excludedBy, e)
		case e.state == stateReportOnly && e.target == included && e.couldBlock() && noLocation:
			reportOnly = append(reportOnly, e)
		}
	}

	atLevel := ""
	if level != "" && level != "hidden" {
		atLevel = " at risk level " + level
	}
	locNote := locationNote(locationBlocks)
	switch {
	case len(blocking) > 0:
		v.Outcome = incident.VerdictBlocked
		whatever := atLevel
		if whatever == "" {
			whatever = " whatever its risk level"
		}
		narrowed := ""
		if !slices.ContainsFunc(blocking, func(e *eval) bool { return e.appExcl == 0 }) {
			narrowed = ", except for tokens to the resources " + pick(len(blocking), "it excludes", "they exclude")
		}
		v.Summary = fmt.Sprintf("Conditional Access blocks new sign-ins by this app%s: enabled %s %s %s it%s.",
			whatever, pick(len(blocking), "policy", "policies"), names(blocking), pick(len(blocking), "covers", "cover"), narrowed)
	case len(filteredBy) > 0:
		v.Outcome = incident.VerdictCannotEvaluate
		v.Summary = fmt.Sprintf("Cannot tell whether Conditional Access blocks this app: %s %s %s service principals by custom security attributes, which the responder does not read%s.",
			pick(len(filteredBy), "policy", "policies"), names(filteredBy), pick(len(filteredBy), "selects", "select"), locNote)
	case len(depends) > 0:
		v.Outcome = incident.VerdictCannotEvaluate
		ls := levelsOf(depends)
		v.Summary = fmt.Sprintf("Whether Conditional Access blocks this app depends on its risk level, which is unknown: %s %s %s only at %s %s%s.",
			pick(len(depends), "policy", "policies"), names(depends), pick(len(depends), "blocks", "block"),
			pick(len(ls), "risk level", "risk levels"), strings.Join(ls, ", "), locNote)
	case len(excludedBy) > 0:
		v.Outcome = incident.VerdictExcluded
		v.Summary = fmt.Sprintf("Conditional Access does not block this app: %s %s would block it%s but %s it%s.",
			pick(len(excludedBy), "policy", "policies"), names(excludedBy), atLevel, pick(len(excludedBy), "excludes", "exclude"), locNote)
	case len(reportOnly) > 0:
		v.Outcome = incident.VerdictReportOnly
		v.Summary = fmt.Sprintf("Conditional Access does not block this app yet: %s %s would block it%s but %s report-only, so %s only %s%s.",
			pick(len(reportOnly), "policy", "policies"), names(reportOnly), atLevel, pick(len(reportOnly), "is", "are"),
			pick(len(reportOnly), "it", "they"), pick(len(reportOnly), "logs", "log"), locNote)
	default:
		v.Outcome = incident.VerdictNoPolicy
		if len(evals) == 0 {
			v.Summary = "No Conditional Access policy for workload identities exists, so nothing blocks this app's sign-ins if its credentials are misused."
		} else {
			v.Summary = fmt.Sprintf("No enabled Conditional Access policy blocks this app%s%s.", atLevel, locNote)
		}
	}
	return v
}

// CannotEvaluate is the verdict when the policies could not be read (a
// missing licence or permission, Graph unreachable): reason says what went
// wrong in words an app owner can pass on.
func CannotEvaluate(reason string) incident.Verdict {
	reason = strings.TrimRight(strings.TrimSpace(reason), ".")
	if reason == "" {
		reason = "no reason was given"
	}
	return incident.Verdict{
		Outcome: incident.VerdictCannotEvaluate,
		Summary: "Cannot tell whether Conditional Access blocks this app: " + reason + ".",
	}
}

func evaluate(p Policy, locs map[string]NamedLocation, spID, level string) *eval {
	e := &eval{p: p}
	add := func(format string, args ...any) { e.reasons = append(e.reasons, fmt.Sprintf(format, args...)) }

	switch p.State {
	case StateEnabled:
		e.state = stateEnforced
		add("enabled")
	case StateReportOnly:
		e.state = stateReportOnly
		add("report-only: evaluates but does not block")
	case StateDisabled:
		add("disabled: has no effect")
	default:
		add("state %q is not one the responder knows: treated as not enforced", p.State)
	}

	var why []string
	e.target, why = targetOf(p.Conditions.ClientApplications, spID)
	e.reasons = append(e.reasons, why...)

	a := p.Conditions.Applications
	switch {
	case containsFold(a.IncludeApplications, All) && len(a.ExcludeApplications) == 0:
		e.allApps = true
		add("applies to tokens for all resources")
	case containsFold(a.IncludeApplications, All):
		e.allApps, e.appExcl = true, len(a.ExcludeApplications)
		add("applies to tokens for all resources except %d excluded (%s)", e.appExcl, listIDs(a.ExcludeApplications))
	case len(a.IncludeApplications) == 0:
		add("applies to tokens for no resource")
	default:
		add("applies only to tokens for %d selected %s, not to all", len(a.IncludeApplications),
			pick(len(a.IncludeApplications), "resource", "resources"))
	}

	levels := p.Conditions.ServicePrincipalRiskLevels
	list := pick(len(levels), "risk level ", "risk levels ") + strings.Join(levels, ", ")
	switch {
	case len(levels) == 0:
		e.risk = riskAny
		add("no risk condition: applies at any risk level")
	case level == "" || level == "hidden":
		// A flagged service principal is at low, medium or high; a policy
		// that lists all three covers it whatever the hidden level is.
		if containsFold(levels, "low") && containsFold(levels, "medium") && containsFold(levels, "high") {
			e.risk = riskCovered
			add("%s cover every level, so the unknown level of this service principal does not matter", list)
		} else {
			e.risk = riskDepends
			add("%s: whether this service principal's level is among them is unknown", list)
		}
	case containsFold(levels, level):
		e.risk = riskCovered
		add("%s %s %s", list, pick(len(levels), "includes", "include"), level)
	default:
		e.risk = riskNotCovered
		add("%s %s %s", list, pick(len(levels), "does not include", "do not include"), level)
	}

	if l := p.Conditions.Locations; l != nil {
		inc, exc := l.IncludeLocations, l.ExcludeLocations
		all := len(inc) == 0 || containsFold(inc, All)
		switch {
		case len(inc) == 0 && len(exc) == 0, all && len(exc) == 0:
			// every location: no restriction
		case all:
			e.location = "outside " + describeLocations(exc, locs)
		default:
			e.location = "from " + describeLocations(inc, locs)
			if len(exc) > 0 {
				e.location += ", except from " + describeLocations(exc, locs)
			}
		}
		if e.location != "" {
			add("blocks only sign-ins %s", e.location)
		}
	}

	g := p.GrantControls
	switch {
	case g == nil || len(g.BuiltInControls) == 0:
		add("no grant control: does not block")
	case containsFold(g.BuiltInControls, GrantBlock):
		e.block = true
		add("grant: block")
	default:
		add("grant is %s, not block: does not block", strings.Join(g.BuiltInControls, ", "))
	}
	return e
}

// targetOf says whether clientApplications selects the service principal.
// An exclusion wins over an inclusion, as in Entra. A filter is decisive
// only when it could change the answer: an include filter for a service
// principal not otherwise included, an exclude filter for one that is.
func targetOf(ca *ClientApplications, spID string) (targetClass, []string) {
	if ca == nil {
		return notIncluded, []string{"selects no service principal"}
	}
	var why []string
	t := notIncluded
	switch {
	case containsFold(ca.IncludeServicePrincipals, spID):
		t = included
		why = append(why, "includes this service principal by its object id")
	case containsFold(ca.IncludeServicePrincipals, AllServicePrincipals):
		t = included
		why = append(why, "includes all service principals in the tenant")
	default:
		why = append(why, "does not include this service principal")
	}
	switch {
	case containsFold(ca.ExcludeServicePrincipals, spID):
		return excluded, append(why, "excludes this service principal")
	case containsFold(ca.ExcludeServicePrincipals, AllServicePrincipals):
		return excluded, append(why, "excludes all service principals in the tenant")
	}
	f := ca.ServicePrincipalFilter
	if f == nil || strings.TrimSpace(f.Rule) == "" {
		return t, why
	}
	rule := clip(f.Rule, 200)
	switch strings.ToLower(f.Mode) {
	case "include":
		if t == notIncluded {
			return filtered, append(why, fmt.Sprintf("may include it through a filter on custom security attributes (%s), which the responder does not read", rule))
		}
	case "exclude":
		if t == included {
			return filtered, append(why, fmt.Sprintf("may exclude it through a filter on custom security attributes (%s), which the responder does not read", rule))
		}
	default:
		return filtered, append(why, fmt.Sprintf("has a service principal filter in mode %q (%s), which the responder cannot evaluate", f.Mode, rule))
	}
	return t, why
}

func indexLocations(locations []NamedLocation) map[string]NamedLocation {
	m := make(map[string]NamedLocation, len(locations))
	for _, l := range locations {
		m[strings.ToLower(l.ID)] = l
	}
	return m
}

// trusted lists the trusted named locations, in a stable order.
func trusted(locs map[string]NamedLocation) []NamedLocation {
	var ts []NamedLocation
	for _, l := range locs {
		if l.IsTrusted {
			ts = append(ts, l)
		}
	}
	slices.SortFunc(ts, func(a, b NamedLocation) int {
		return cmp.Or(cmp.Compare(a.DisplayName, b.DisplayName), cmp.Compare(a.ID, b.ID))
	})
	return ts
}

// describeLocations names locations with what they contain, so that an app
// owner can see which networks are allowed: "Corporate egress" (198.51.100.0/24).
func describeLocations(ids []string, locs map[string]NamedLocation) string {
	var parts []string
	for _, id := range ids {
		switch {
		case strings.EqualFold(id, All):
			parts = append(parts, "any location")
		case strings.EqualFold(id, AllTrusted):
			ts := trusted(locs)
			if len(ts) == 0 {
				parts = append(parts, "the trusted locations (none is defined)")
				continue
			}
			var ds []string
			for _, l := range ts {
				ds = append(ds, describeLocation(l))
			}
			parts = append(parts, "the trusted locations "+joinAnd(ds))
		default:
			l, ok := locs[strings.ToLower(id)]
			if !ok {
				parts = append(parts, "unknown named location "+id)
				continue
			}
			parts = append(parts, describeLocation(l))
		}
	}
	return joinAnd(parts)
}

func describeLocation(l NamedLocation) string {
	name := fmt.Sprintf("%q", cmp.Or(l.DisplayName, l.ID))
	switch l.Type {
	case LocationIP:
		if len(l.IPRanges) == 0 {
			return name + " (no address ranges)"
		}
		rs := make([]string, len(l.IPRanges))
		for i, r := range l.IPRanges {
			rs[i] = r.String()
		}
		return name + " (" + strings.Join(rs, ", ") + ")"
	case LocationCountry:
		return name + " (countries " + strings.Join(l.Countries, ", ") + ")"
	}
	return name + " (a " + cmp.Or(l.Type, "location of unknown type") + ")"
}
