package playbook_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/reach"
)

// issueTiers is the rules file the issue asks for: critical -> also
// confirmCompromised, page at once, phone the security contact; high ->
// page; normal -> owners only.
var issueTiers = map[string]playbook.ReachPlan{
	incident.TierCritical: {ConfirmCompromised: true, Page: true, Phone: true},
	incident.TierHigh:     {Page: true},
	incident.TierNormal:   {OwnersOnly: true},
}

// tierResponder rebuilds the harness's responder with the reach, tier
// overrides, the issue's reach sections and a phone webhook.
func (h *harness) tierResponder(overrides map[string]string, phone *pages) {
	h.t.Helper()
	// The harness's budget and policy cache, as serve has them: the
	// tenant's limit holds here too.
	cli, err := graph.New(graph.Config{BaseURL: h.base, Credential: graph.StaticToken("test-token"), RequestTimeout: 3 * time.Second, Budget: h.budget})
	if err != nil {
		h.t.Fatal(err)
	}
	br := breaker.New(breaker.NewMemory(), h.limit, time.Hour, time.Now)
	h.r = playbook.New(cli, h.store, tierRules{h.rules, issueTiers}, br, h.notifier, h.pages, h.cfg, h.log, time.Now,
		playbook.WithGuards(h.store), playbook.WithReach(reach.New(cli, overrides, zap.NewNop(), time.Now), 5*time.Second), playbook.WithPhone(phone),
		playbook.WithPolicyCache(h.policies))
	h.cli = cli
}

// TestEachTierGetsItsResponse runs the same leak against the same rules
// for an app of each tier; each gets what its section says and nothing
// of the others'.
func TestEachTierGetsItsResponse(t *testing.T) {
	for _, tc := range []struct {
		tier      string
		seed      bool
		overrides map[string]string
		confirm   bool
		page      bool
		phone     bool
		owners    bool
	}{
		{tier: incident.TierCritical, seed: true, confirm: true, page: true, phone: true},
		{tier: incident.TierHigh, seed: true, overrides: map[string]string{"Application.ReadWrite.All": "high", "fc780465-2017-40d4-a0c5-307022471b92/Machine.Isolate": "high"}, page: true},
		{tier: incident.TierNormal, owners: true},
	} {
		t.Run(tc.tier, func(t *testing.T) {
			h := newHarness(t, func(h *harness) {
				if tc.seed {
					h.seedMod = withReachSeed
				}
			})
			phone := &pages{}
			h.tierResponder(tc.overrides, phone)
			in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
			if in.State != incident.StateDone || in.Reach == nil || in.Reach.Tier != tc.tier {
				t.Fatalf("state %s reach %+v", in.State, in.Reach)
			}
			confirmed := slices.ContainsFunc(in.Actions, func(a incident.Action) bool { return a.Kind == "confirmCompromised" && a.State == incident.Done })
			paged := slices.ContainsFunc(h.pages.reasons, func(r string) bool { return strings.HasPrefix(r, "reach "+tc.tier+": ") })
			phoned := len(phone.reasons) == 1 && strings.HasPrefix(phone.reasons[0], "reach "+tc.tier+": This secret could")
			if confirmed != tc.confirm || paged != tc.page || phoned != tc.phone || in.OwnersOnly != tc.owners {
				t.Errorf("confirmCompromised %t (want %t), paged %t (%t), phoned %t (%t) %q, owners only %t (%t)",
					confirmed, tc.confirm, paged, tc.page, phoned, tc.phone, phone.reasons, in.OwnersOnly, tc.owners)
			}
			if w := h.writes(); !strings.Contains(w[0].Route, "removePassword") {
				t.Errorf("the removal must come first: %+v", w)
			}
		})
	}
}
