package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
)

// Directory is what setup reads and writes in the tenant, as the
// administrator who runs it.
type Directory interface {
	grantsReader
	GrantAppRole(ctx context.Context, spID, resourceID, appRoleID string) (directory.AppRoleAssignment, error)
	CreateConditionalAccessPolicy(ctx context.Context, p capolicy.Policy) (capolicy.Policy, error)
	SetConditionalAccessPolicyState(ctx context.Context, id, state string) error
}

// DefaultPolicyName is the display name of the block policy setup
// creates; setup finds its own policy again by this name.
const DefaultPolicyName = "spresponder: block high-risk workload identities"

// Options say what setup prepares.
type Options struct {
	// Identity is the managed identity: its client id (appId) or the
	// object id of its service principal.
	Identity string
	// Needs are the permissions to grant (Needs of the rules).
	Needs []Need
	// Policy: create (or find) the Conditional Access block policy.
	Policy bool
	// Enable makes the policy enforce; otherwise it is report-only.
	Enable bool
	// PolicyName defaults to DefaultPolicyName.
	PolicyName string
}

// Step states in a plan.
const (
	Present = "present" // nothing to do
	Add     = "add"     // will be created
	Change  = "change"  // will be changed
	Done    = "done"    // applied
	Failed  = "failed"  // applying failed
)

// Grant is one permission in the plan.
type Grant struct {
	Need
	RoleID    string
	CoveredBy string // granted through this broader permission instead
	State     string
	Err       error
}

// PolicyStep is the Conditional Access part of the plan.
type PolicyStep struct {
	State string
	// What says what exists or will be done.
	What string
	// Existing is the policy setup found (its own, or another that
	// already blocks); empty when one will be created.
	Existing *capolicy.Policy
	target   string // state to create or switch to
	Err      error
}

// Plan is what setup will do, computed from reads only.
type Plan struct {
	Identity directory.Principal
	Graph    directory.Principal
	Grants   []Grant
	Policy   *PolicyStep // nil when the policy is not part of the run
	name     string
}

// Changes counts the steps that would change the tenant.
func (p *Plan) Changes() int {
	n := 0
	for _, g := range p.Grants {
		if g.State == Add {
			n++
		}
	}
	if p.Policy != nil && (p.Policy.State == Add || p.Policy.State == Change) {
		n++
	}
	return n
}

// MakePlan reads the identity, Microsoft Graph's service principal, the
// identity's current grants and the Conditional Access policies, and says
// what is missing. It writes nothing.
func MakePlan(ctx context.Context, dir Directory, o Options) (*Plan, error) {
	if o.Identity == "" {
		return nil, errors.New("the managed identity is required (its client id or object id)")
	}
	if !ids.IsGUID(o.Identity) {
		return nil, fmt.Errorf("managed identity %q is not a GUID (give its client id or the object id of its service principal)", o.Identity)
	}
	me, err := findPrincipal(ctx, dir, o.Identity)
	if err != nil {
		return nil, err
	}
	gr, err := dir.PrincipalByAppID(ctx, directory.MicrosoftGraphAppID)
	if err != nil {
		return nil, fmt.Errorf("read Microsoft Graph's service principal (appId %s): %w", directory.MicrosoftGraphAppID, err)
	}
	have, err := dir.AppRoleAssignments(ctx, me.ID)
	if err != nil {
		return nil, fmt.Errorf("read the app role assignments of %s: %w", me.ID, err)
	}
	p := &Plan{Identity: me, Graph: gr, name: o.PolicyName}
	if p.name == "" {
		p.name = DefaultPolicyName
	}
	for _, n := range o.Needs {
		g := Grant{Need: n, CoveredBy: coveredBy(o.Needs, n)}
		perm := n.Permission
		if g.CoveredBy != "" {
			perm = g.CoveredBy
		}
		id, ok := gr.RoleID(perm)
		if !ok {
			return nil, fmt.Errorf("the Microsoft Graph service principal offers no application permission %s", perm)
		}
		g.RoleID = id
		switch {
		case g.CoveredBy != "":
			g.State = Present // reported under the broader permission
		case hasRole(have, gr.ID, id):
			g.State = Present
		default:
			g.State = Add
		}
		p.Grants = append(p.Grants, g)
	}
	if o.Policy {
		ps, err := dir.ConditionalAccessPolicies(ctx)
		if err != nil {
			return nil, fmt.Errorf("read Conditional Access policies: %w", err)
		}
		p.Policy = planPolicy(ps, p.name, o.Enable)
	}
	return p, nil
}

func findPrincipal(ctx context.Context, dir Directory, id string) (directory.Principal, error) {
	// A managed identity's client id is its service principal's appId;
	// try that first, then the object id.
	p, err := dir.PrincipalByAppID(ctx, id)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return p, fmt.Errorf("find the managed identity %s: %w", id, err)
	}
	p, err = dir.PrincipalByID(ctx, id)
	if err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return p, fmt.Errorf("no service principal has the client id or object id %s: is it the managed identity of the Function App?", id)
		}
		return p, fmt.Errorf("find the managed identity %s: %w", id, err)
	}
	return p, nil
}

func hasRole(have []directory.AppRoleAssignment, resourceID, roleID string) bool {
	for _, a := range have {
		if strings.EqualFold(a.ResourceID, resourceID) && strings.EqualFold(a.AppRoleID, roleID) {
			return true
		}
	}
	return false
}

// BlockPolicy is the policy setup creates: every service principal of the
// tenant, every resource, at high service-principal risk, grant block.
func BlockPolicy(name, state string) capolicy.Policy {
	return capolicy.Policy{
		DisplayName: name, State: state,
		Conditions: capolicy.Conditions{
			ServicePrincipalRiskLevels: []string{"high"},
			Applications:               capolicy.Applications{IncludeApplications: []string{capolicy.All}},
			ClientApplications:         &capolicy.ClientApplications{IncludeServicePrincipals: []string{capolicy.AllServicePrincipals}},
		},
		GrantControls: &capolicy.GrantControls{Operator: "OR", BuiltInControls: []string{capolicy.GrantBlock}},
	}
}

// probeSP stands for "any service principal of the tenant" when the
// policies are evaluated for tenant-wide coverage: no policy names it, so
// only policies that include ServicePrincipalsInMyTenant (or a filter)
// can match it.
const probeSP = "00000000-0000-0000-0000-00000000c4ec"

// Coverage evaluates the policies for an unnamed service principal of the
// tenant at high risk, with capolicy's rules: blocked, reportOnly,
// noPolicy, cannotEvaluate. It also lists the service principals the
// covering policies exclude.
func Coverage(ps []capolicy.Policy) (incident.Verdict, []string) {
	v := capolicy.Evaluate(ps, nil, capolicy.Subject{ServicePrincipalID: probeSP, RiskLevel: "high"})
	var excluded []string
	for _, e := range v.Policies {
		if !e.Applies {
			continue
		}
		for _, p := range ps {
			if p.ID == e.ID && p.Conditions.ClientApplications != nil {
				excluded = append(excluded, p.Conditions.ClientApplications.ExcludeServicePrincipals...)
			}
		}
	}
	return v, excluded
}

func planPolicy(ps []capolicy.Policy, name string, enable bool) *PolicyStep {
	want := capolicy.StateReportOnly
	if enable {
		want = capolicy.StateEnabled
	}
	for i := range ps {
		if ps[i].DisplayName != name {
			continue
		}
		own := ps[i]
		switch {
		case own.State == want || (own.State == capolicy.StateEnabled && !enable):
			// Setup never weakens an enforced policy back to report-only.
			return &PolicyStep{State: Present, What: fmt.Sprintf("policy %q (%s) exists, state %s", own.DisplayName, own.ID, own.State), Existing: &own}
		default:
			return &PolicyStep{State: Change, What: fmt.Sprintf("switch policy %q (%s) from %s to %s", own.DisplayName, own.ID, own.State, want), Existing: &own, target: want}
		}
	}
	if v, _ := Coverage(ps); v.Outcome == incident.VerdictBlocked {
		return &PolicyStep{State: Present, What: "an enabled policy already blocks high-risk service principals tenant-wide: " + v.Summary}
	}
	return &PolicyStep{State: Add, What: fmt.Sprintf("create policy %q: all service principals in the tenant, all resources, risk high, grant block, state %s", name, want), target: want}
}

// Apply makes the plan's changes, one step at a time; a failed step is
// recorded on the plan and the others still run. It returns the number of
// changes made and an error naming the steps that failed.
func (p *Plan) Apply(ctx context.Context, dir Directory, log *zap.Logger) (int, error) {
	var errs []error
	done := 0
	for i := range p.Grants {
		g := &p.Grants[i]
		if g.State != Add {
			continue
		}
		_, err := dir.GrantAppRole(ctx, p.Identity.ID, p.Graph.ID, g.RoleID)
		if err != nil {
			g.State, g.Err = Failed, err
			errs = append(errs, fmt.Errorf("grant %s: %w%s", g.Permission, err, hint(err, "granting application permissions needs Privileged Role Administrator (or Global Administrator) and a sign-in with AppRoleAssignment.ReadWrite.All")))
			continue
		}
		g.State = Done
		done++
		log.Info("granted application permission", zap.String("permission", g.Permission), zap.String("sp_id", p.Identity.ID))
	}
	if ps := p.Policy; ps != nil && (ps.State == Add || ps.State == Change) {
		var err error
		if ps.State == Add {
			var created capolicy.Policy
			created, err = dir.CreateConditionalAccessPolicy(ctx, BlockPolicy(p.name, ps.target))
			if err == nil {
				ps.Existing = &created
				ps.What = fmt.Sprintf("created policy %q (%s), state %s", created.DisplayName, created.ID, created.State)
			}
		} else {
			err = dir.SetConditionalAccessPolicyState(ctx, ps.Existing.ID, ps.target)
			if err == nil {
				ps.What = fmt.Sprintf("policy %q (%s) is now %s", ps.Existing.DisplayName, ps.Existing.ID, ps.target)
			}
		}
		if err != nil {
			ps.State, ps.Err = Failed, err
			errs = append(errs, fmt.Errorf("conditional access policy: %w%s", err, hint(err, "creating Conditional Access policies needs Conditional Access Administrator and a sign-in with Policy.ReadWrite.ConditionalAccess; policies for workload identities need Workload Identities Premium")))
		} else {
			ps.State = Done
			done++
			log.Info("conditional access policy", zap.String("what", ps.What))
		}
	}
	return done, errors.Join(errs...)
}

func hint(err error, h string) string {
	if errors.Is(err, directory.ErrForbidden) || errors.Is(err, directory.ErrLicence) {
		return " (" + h + ")"
	}
	return ""
}

// WritePlan prints the plan as a table: permission, why, which action
// needs it, and its state.
func WritePlan(w io.Writer, p *Plan) error {
	fmt.Fprintf(w, "managed identity: %s (%s, appId %s)\n", p.Identity.DisplayName, p.Identity.ID, p.Identity.AppID)
	fmt.Fprintf(w, "resource: %s (%s)\n\n", p.Graph.DisplayName, p.Graph.ID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PERMISSION\tSTATE\tNEEDED BY\tWHY")
	for _, g := range p.Grants {
		state := g.State
		if g.CoveredBy != "" {
			state = "via " + g.CoveredBy
		}
		if g.Err != nil {
			state = Failed + ": " + g.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Permission, state, strings.Join(g.Actions, ", "), g.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Policy != nil {
		state := p.Policy.State
		if p.Policy.Err != nil {
			state = Failed + ": " + p.Policy.Err.Error()
		}
		fmt.Fprintf(w, "\nconditional access: %s: %s\n", state, p.Policy.What)
	}
	return nil
}
