package setup_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
)

// msiAppID / msiID are the responder's managed identity in the simulated
// tenant: a service principal of type ManagedIdentity whose appId is the
// identity's client id.
const (
	msiAppID = "7d3c9a51-2f4e-4b8a-9c61-0e5f3a2b1c90"
	msiID    = "a41e6c2d-8b7f-4d3a-b5e9-2c1f0d9e8a76"
)

func seed(t *testing.T, mutate func(*graphsim.Seed)) graphsim.Seed {
	t.Helper()
	s, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.ServicePrincipals = append(s.ServicePrincipals, graphsim.MicrosoftGraphServicePrincipal(),
		graphsim.ServicePrincipal{ID: msiID, AppID: msiAppID, DisplayName: "spresponder-func-msi", ServicePrincipalType: "ManagedIdentity"})
	if mutate != nil {
		mutate(s)
	}
	return *s
}

// tenant serves the seed and returns the real SDK client pointed at it.
func tenant(t *testing.T, s graphsim.Seed, opts ...graphsim.Option) (*graphsim.Tenant, *graph.Client) {
	t.Helper()
	sim := graphsim.New(s, append([]graphsim.Option{graphsim.WithLogger(zap.NewNop())}, opts...)...)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := graph.New(graph.Config{BaseURL: srv.URL + "/v1.0", Credential: graph.StaticToken("simulated-tenant")})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// allActions is a rule set that asks for every action, so every permission
// is needed.
func allActions(t *testing.T) *rules.Set {
	t.Helper()
	rs, err := rules.Parse([]byte(`rules:
  - name: leaked
    when: {kinds: [leakedCredential]}
    do: [removeCredential, confirmCompromised, disableServicePrincipal, checkPolicy, notify]
  - name: signin
    when: {kinds: [riskySignIn]}
    do: [notify]
`), "test rules")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func names(needs []setup.Need) []string {
	var out []string
	for _, n := range needs {
		out = append(out, n.Permission)
	}
	return out
}

func TestNeedsFollowTheRules(t *testing.T) {
	def := names(setup.Needs(rules.Default(), setup.Features{}))
	want := []string{setup.RiskEventRead, setup.RiskyServicePrincipalR, setup.ApplicationRead, setup.OrganizationRead, setup.ApplicationReadWrite, setup.PolicyRead,
		setup.RoleManagementRead, setup.DirectoryRead}
	if !slices.Equal(def, want) {
		t.Errorf("default rules need %v, want %v", def, want)
	}
	all := setup.Needs(allActions(t), setup.Features{Mail: true})
	if got := names(all); !slices.Contains(got, setup.RiskyServicePrincipalW) || !slices.Contains(got, setup.MailSend) || !slices.Contains(got, setup.UserRead) {
		t.Errorf("all actions need %v", got)
	}
	// Application.Read.All and IdentityRiskyServicePrincipal.Read.All are
	// covered by their ReadWrite forms: not granted separately.
	grants := setup.Grants(all)
	if slices.Contains(grants, setup.ApplicationRead) || slices.Contains(grants, setup.RiskyServicePrincipalR) {
		t.Errorf("grants %v include a permission a broader grant covers", grants)
	}
	for _, n := range all {
		if n.Permission == setup.ApplicationReadWrite && !slices.Equal(n.Actions, []string{"removeCredential", "disableServicePrincipal"}) {
			t.Errorf("Application.ReadWrite.All actions %v", n.Actions)
		}
	}
	// A rule set that does nothing needs nothing.
	quiet, err := rules.Parse([]byte("rules:\n  - name: q\n    when: {kinds: [riskySignIn]}\n    do: []\n"), "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if n := setup.Needs(quiet, setup.Features{Mail: true}); len(n) != 0 {
		t.Errorf("silent rules need %v", n)
	}
	// Without email, no Mail.Send.
	if slices.Contains(names(setup.Needs(allActions(t), setup.Features{})), setup.MailSend) {
		t.Error("Mail.Send needed without email")
	}
}

// TestSetupPlanApplyIdempotent runs setup against the simulated tenant with
// the real SDK: the plan lists what is missing and changes nothing; apply
// grants exactly the needed permissions and creates the report-only block
// policy; a second plan finds nothing to do and a second apply changes
// nothing.
func TestSetupPlanApplyIdempotent(t *testing.T) {
	ctx := context.Background()
	sim, c := tenant(t, seed(t, func(s *graphsim.Seed) {
		// Application.Read.All was granted by hand earlier; setup keeps it
		// and does not grant it twice.
		s.AppRoleAssignments = []graphsim.AppRoleAssignment{{ID: "3c1d5e7f-9a2b-4c6d-8e0f-1a2b3c4d5e6f", AppRoleID: "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
			PrincipalID: msiID, ResourceID: graphsim.MicrosoftGraphServicePrincipal().ID, ResourceDisplayName: "Microsoft Graph"}}
		s.ConditionalAccessPolicies = nil
	}), graphsim.WithWorkloadIdentitiesPremium(true))
	needs := setup.Needs(allActions(t), setup.Features{Mail: true})
	opts := setup.Options{Identity: msiAppID, Needs: needs, Policy: true}

	plan, err := setup.MakePlan(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := setup.WritePlan(&out, plan); err != nil {
		t.Fatal(err)
	}
	t.Logf("plan:\n%s", out.String())
	for _, want := range []string{"Application.ReadWrite.All", "add", "removeCredential, disableServicePrincipal", "via Application.ReadWrite.All", "create policy"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	grants := setup.Grants(needs)
	if got := plan.Changes(); got != len(grants)+1 {
		t.Errorf("plan has %d changes, want %d grants + the policy", got, len(grants))
	}
	if w := sim.Writes(); len(w) != 0 {
		t.Fatalf("planning wrote: %+v", w)
	}

	done, err := plan.Apply(ctx, c, zap.NewNop())
	if err != nil || done != len(grants)+1 {
		t.Fatalf("apply: %d changes, %v", done, err)
	}
	graphSP := graphsim.MicrosoftGraphServicePrincipal()
	var granted []string
	for _, a := range sim.AppRoleAssignments() {
		if a.PrincipalID != msiID || a.ResourceID != graphSP.ID {
			t.Errorf("assignment %+v is not the identity's on Microsoft Graph", a)
		}
		for _, r := range graphSP.AppRoles {
			if r.ID == a.AppRoleID {
				granted = append(granted, r.Value)
			}
		}
	}
	slices.Sort(granted)
	want := append(slices.Clone(grants), setup.ApplicationRead) // the one granted by hand
	slices.Sort(want)
	if !slices.Equal(granted, want) {
		t.Errorf("granted %v, want exactly %v", granted, want)
	}
	ps := sim.ConditionalAccessPolicies()
	if len(ps) != 1 {
		t.Fatalf("policies: %+v", ps)
	}
	p := ps[0]
	if p.State != "enabledForReportingButNotEnforced" || p.DisplayName != setup.DefaultPolicyName ||
		!slices.Equal(p.Conditions.ClientApplications.IncludeServicePrincipals, []string{"ServicePrincipalsInMyTenant"}) ||
		!slices.Equal(p.Conditions.ServicePrincipalRiskLevels, []string{"high"}) || !slices.Equal(p.GrantControls.BuiltInControls, []string{"block"}) ||
		!slices.Equal(p.Conditions.Applications.IncludeApplications, []string{"All"}) || !slices.Equal(p.Conditions.ClientAppTypes, []string{"all"}) {
		t.Errorf("policy created: %+v %+v %+v", p, p.Conditions.ClientApplications, p.GrantControls)
	}

	// Again: nothing to do.
	writes := len(sim.Writes())
	again, err := setup.MakePlan(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changes() != 0 {
		var b bytes.Buffer
		_ = setup.WritePlan(&b, again)
		t.Fatalf("second plan has %d changes:\n%s", again.Changes(), b.String())
	}
	if n, err := again.Apply(ctx, c, zap.NewNop()); n != 0 || err != nil {
		t.Fatalf("second apply: %d, %v", n, err)
	}
	if len(sim.Writes()) != writes {
		t.Errorf("second run wrote: %+v", sim.Writes()[writes:])
	}

	// --enable switches the existing report-only policy on, once.
	opts.Enable = true
	on, err := setup.MakePlan(ctx, c, opts)
	if err != nil || on.Changes() != 1 || on.Policy.State != setup.Change {
		t.Fatalf("enable plan: %+v %v", on.Policy, err)
	}
	if _, err := on.Apply(ctx, c, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if st := sim.ConditionalAccessPolicies()[0].State; st != "enabled" {
		t.Errorf("state after --enable: %s", st)
	}
	if again, _ := setup.MakePlan(ctx, c, opts); again.Changes() != 0 {
		t.Errorf("after --enable, another run plans %d changes", again.Changes())
	}
	// Without --enable, setup does not weaken the enforced policy.
	opts.Enable = false
	if back, _ := setup.MakePlan(ctx, c, opts); back.Changes() != 0 {
		t.Errorf("a run without --enable plans %d changes to an enforced policy", back.Changes())
	}
	if u := sim.Unexpected(); len(u) != 0 {
		t.Errorf("unexpected requests: %+v", u)
	}
}

// An enabled policy of the tenant's own that already blocks high-risk
// service principals tenant-wide means no new policy; identity given by
// object id works too.
func TestSetupKeepsAnExistingBlockPolicy(t *testing.T) {
	ctx := context.Background()
	_, c := tenant(t, seed(t, func(s *graphsim.Seed) {
		s.ConditionalAccessPolicies = []graphsim.ConditionalAccessPolicy{{
			ID: "6b1f3e5d-7c9a-4b2e-8d0f-a1b2c3d4e5f6", DisplayName: "Block risky workloads", State: "enabled",
			Conditions: graphsim.CAConditions{ServicePrincipalRiskLevels: []string{"high", "medium"},
				Applications:       &graphsim.CAApplications{IncludeApplications: []string{"All"}},
				ClientApplications: &graphsim.CAClientApplications{IncludeServicePrincipals: []string{"ServicePrincipalsInMyTenant"}}},
			GrantControls: &graphsim.CAGrantControls{Operator: "OR", BuiltInControls: []string{"block"}},
		}}
	}), graphsim.WithWorkloadIdentitiesPremium(true))
	plan, err := setup.MakePlan(ctx, c, setup.Options{Identity: msiID, Needs: setup.Needs(rules.Default(), setup.Features{}), Policy: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Identity.AppID != msiAppID || plan.Policy.State != setup.Present || !strings.Contains(plan.Policy.What, "already blocks") {
		t.Errorf("identity %+v policy %+v", plan.Identity, plan.Policy)
	}
}

// Failures say what to do: an unknown identity; a tenant without Workload
// Identities Premium cannot get the workload-identity policy, but the
// grants still go through.
func TestSetupFailures(t *testing.T) {
	ctx := context.Background()
	sim, c := tenant(t, seed(t, func(s *graphsim.Seed) { s.ConditionalAccessPolicies = nil }), graphsim.WithWorkloadIdentitiesPremium(false))
	if _, err := setup.MakePlan(ctx, c, setup.Options{Identity: "11111111-2222-4333-8444-555555555555", Needs: setup.Needs(rules.Default(), setup.Features{})}); err == nil ||
		!strings.Contains(err.Error(), "no service principal has the client id or object id") {
		t.Errorf("unknown identity: %v", err)
	}
	if _, err := setup.MakePlan(ctx, c, setup.Options{Identity: "not-a-guid"}); err == nil {
		t.Error("a malformed identity was accepted")
	}
	plan, err := setup.MakePlan(ctx, c, setup.Options{Identity: msiAppID, Needs: setup.Needs(rules.Default(), setup.Features{}), Policy: true})
	if err != nil {
		t.Fatal(err)
	}
	changes := plan.Changes()
	n, err := plan.Apply(ctx, c, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "Workload Identities Premium") || n != changes-1 {
		t.Errorf("apply without licence: %d changes, %v", n, err)
	}
	if plan.Policy.State != setup.Failed || len(sim.ConditionalAccessPolicies()) != 0 {
		t.Errorf("policy step %+v", plan.Policy)
	}
}

// No rule can act on a self-test: the rules file refuses the kind, so
// setup never derives a permission for it and the playbook never plans it.
func TestRulesRefuseTheSelfTestKind(t *testing.T) {
	if _, err := rules.Parse([]byte("rules:\n  - name: st\n    when: {kinds: [selfTest]}\n    do: [removeCredential]\n"), "test"); err == nil {
		t.Fatal("a rule on selfTest signals was accepted")
	}
}
