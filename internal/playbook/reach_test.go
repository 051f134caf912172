package playbook_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/reach"
)

// tierRules is the tests' rule set with a reach: section.
type tierRules struct {
	rules
	byTier map[string]playbook.ReachPlan
}

func (r tierRules) Plan(s detect.Signal) (playbook.Plan, bool) {
	p, ok := r.rules.Plan(s)
	p.ByTier = r.byTier
	return p, ok
}

// withReachSeed gives the Terraform app Application.ReadWrite.All and
// Defender for Endpoint's Machine.Isolate: a critical reach.
func withReachSeed(s *graphsim.Seed) {
	g, m := graphsim.MicrosoftGraphServicePrincipal(), graphsim.WindowsDefenderATPServicePrincipal()
	s.ServicePrincipals = append(s.ServicePrincipals, g, m)
	s.AppRoleAssignments = append(s.AppRoleAssignments,
		graphsim.AppRoleAssignment{ID: "a0000000-0000-4000-8000-0000000000a1", AppRoleID: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", PrincipalID: tfSP, ResourceID: g.ID, ResourceDisplayName: g.DisplayName},
		graphsim.AppRoleAssignment{ID: "a0000000-0000-4000-8000-0000000000a2", AppRoleID: "7e4e1300-e1b9-4102-88ba-f0cb6e6d5974", PrincipalID: tfSP, ResourceID: m.ID, ResourceDisplayName: m.DisplayName})
}

// reachResponder rebuilds the harness's responder with the reach wired in.
func (h *harness) reachResponder(byTier map[string]playbook.ReachPlan, deadline time.Duration) {
	h.t.Helper()
	cli, err := graph.New(graph.Config{BaseURL: h.base, Credential: graph.StaticToken("test-token"), RequestTimeout: 3 * time.Second, Budget: h.budget})
	if err != nil {
		h.t.Fatal(err)
	}
	br := breaker.New(breaker.NewMemory(), h.limit, time.Hour, time.Now)
	h.r = playbook.New(cli, h.store, tierRules{h.rules, byTier}, br, h.notifier, h.pages, h.cfg, h.log, time.Now,
		playbook.WithGuards(h.store), playbook.WithReach(reach.New(cli, nil, zap.NewNop(), time.Now), deadline), playbook.WithPolicyCache(h.policies))
	h.cli = cli
}

func isReachRoute(route string) bool {
	return strings.Contains(route, "appRoleAssignments") || strings.Contains(route, "roleManagement") ||
		strings.Contains(route, "oauth2PermissionGrants")
}

// The reach is read after the removal, never before: containment makes the
// same requests as without the reach, and the reach's requests come after
// the write. Reports the extra Graph requests per incident.
func TestReachAssessedAfterContainment(t *testing.T) {
	plain := newHarness(t, func(h *harness) { h.seedMod = withReachSeed })
	plain.only(plain.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	base := len(plain.sim.Requests())

	h := newHarness(t, func(h *harness) { h.seedMod = withReachSeed })
	h.reachResponder(nil, 5*time.Second)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || in.Reach == nil {
		t.Fatalf("state %s reach %+v", in.State, in.Reach)
	}
	if in.Reach.Tier != incident.TierCritical || len(in.Reach.Items) != 2 || len(in.Reach.Unknown) != 0 {
		t.Fatalf("reach %+v", in.Reach)
	}
	reqs := h.sim.Requests()
	extra := len(reqs) - base
	// appRoleAssignments, roleAssignments, oauth2PermissionGrants, and one
	// read per resource (Microsoft Graph, WindowsDefenderATP).
	if extra != 5 || in.Reach.Requests != 5 {
		t.Errorf("extra Graph requests per incident: %d (reach counted %d), want 5", extra, in.Reach.Requests)
	}
	t.Logf("extra Graph requests per incident for the reach: %d (base %d)", extra, base)
	removal := slices.IndexFunc(reqs, func(r graphsim.Request) bool { return strings.Contains(r.Route, "removePassword") })
	first := slices.IndexFunc(reqs, func(r graphsim.Request) bool { return isReachRoute(r.Route) })
	if removal < 0 || first < removal {
		t.Errorf("reach read at request %d, removal at %d: the reach must come after containment", first, removal)
	}
	if len(h.pages.reasons) != 0 {
		t.Errorf("no reach section: no page, got %q", h.pages.reasons)
	}
}

// A reach that is slow does not hold the incident: past its deadline it
// says so, and containment and the notice are as without it.
func TestSlowReachDoesNotHoldTheIncident(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.seedMod = withReachSeed })
	if err := h.sim.AddFault(graphsim.Fault{Route: "GET /roleManagement/directory/roleAssignments", Kind: graphsim.FaultLatency, Delay: graphsim.Duration(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	h.reachResponder(nil, 300*time.Millisecond)
	// The Conditional Access cache warm and the request budget whole, as
	// serve leaves them after start-up: this test times the reach only.
	if err := h.policies.Refresh(context.Background(), h.cli); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	start := time.Now()
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || step(in, incident.StepContain).State != incident.Done {
		t.Fatalf("state %s contain %+v", in.State, step(in, incident.StepContain))
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("the run took %s: the reach deadline did not bound it", d)
	}
	if in.Reach == nil || !slices.Contains(in.Reach.Unknown, "reach unknown: directory roles not read in time") || in.Reach.Tier != incident.TierCritical {
		t.Errorf("reach %+v", in.Reach)
	}
}

// Missing permissions: the reach says which, the incident is done.
func TestReachForbiddenSaysPermissionMissing(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.seedMod = withReachSeed })
	for _, r := range []string{"GET /roleManagement/directory/roleAssignments", "GET /servicePrincipals/*/oauth2PermissionGrants"} {
		if err := h.sim.AddFault(graphsim.Fault{Route: r, Kind: graphsim.FaultStatus, Status: 403}); err != nil {
			t.Fatal(err)
		}
	}
	h.reachResponder(nil, 5*time.Second)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || in.Reach == nil || len(in.Reach.Unknown) != 2 ||
		in.Reach.Unknown[0] != "reach unknown: permission RoleManagement.Read.Directory missing (directory roles)" {
		t.Fatalf("state %s reach %+v", in.State, in.Reach)
	}
}

// The rule keyed on the tier: critical pages at once and confirms the
// service principal compromised, which the matching rule did not ask for.
func TestCriticalReachPagesAndConfirmsCompromised(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.seedMod = withReachSeed })
	h.reachResponder(map[string]playbook.ReachPlan{incident.TierCritical: {ConfirmCompromised: true, Page: true}}, 5*time.Second)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone {
		t.Fatalf("state %s", in.State)
	}
	i := slices.IndexFunc(in.Actions, func(a incident.Action) bool { return a.Kind == "confirmCompromised" })
	if i < 0 || in.Actions[i].State != incident.Done {
		t.Fatalf("actions %+v", in.Actions)
	}
	w := h.writes()
	if len(w) != 2 || !strings.Contains(w[0].Route, "removePassword") || !strings.Contains(w[1].Route, "confirmCompromised") {
		t.Errorf("writes %+v: the removal first, then the confirmation the reach asked for", w)
	}
	if len(h.pages.reasons) != 1 || !strings.Contains(h.pages.reasons[0], "reach critical") || !strings.Contains(h.pages.reasons[0], "This secret could") {
		t.Errorf("pages %q", h.pages.reasons)
	}

	// A normal reach asks for nothing more.
	n := newHarness(t)
	n.reachResponder(map[string]playbook.ReachPlan{incident.TierCritical: {ConfirmCompromised: true, Page: true}}, 5*time.Second)
	in = n.only(n.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.Reach == nil || in.Reach.Tier != incident.TierNormal || len(n.writes()) != 1 || len(n.pages.reasons) != 0 {
		t.Errorf("normal reach: tier %+v writes %+v pages %q", in.Reach, n.writes(), n.pages.reasons)
	}
}

// In dry-run the reach's extra containment is planned, not made.
func TestCriticalReachInDryRunWritesNothing(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.seedMod = withReachSeed; h.cfg.Enforce = false })
	h.reachResponder(map[string]playbook.ReachPlan{incident.TierCritical: {ConfirmCompromised: true}}, 5*time.Second)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if len(h.writes()) != 0 {
		t.Fatalf("writes in dry-run: %+v", h.writes())
	}
	i := slices.IndexFunc(in.Actions, func(a incident.Action) bool { return a.Kind == "confirmCompromised" })
	if i < 0 || !in.Actions[i].DryRun {
		t.Errorf("actions %+v", in.Actions)
	}
	_ = context.Background
}
