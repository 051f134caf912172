package playbook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
	rulesfile "github.com/spresponder/spresponder/internal/rules"
)

// A person's decision recorded by the version before control records had
// their own kinds (an incident-shaped document "decision-<digest>" among
// the incidents) still holds: another detection of the resolved key
// writes nothing.
func TestDecisionOfThePreviousVersionHolds(t *testing.T) {
	const other = "0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
	h := newHarness(t, func(h *harness) {
		h.seedMod = func(s *graphsim.Seed) {
			for _, d := range s.ServicePrincipalRiskDetections {
				if d.ID == tfLeak {
					d.ID = other
					s.ServicePrincipalRiskDetections = append(s.ServicePrincipalRiskDetections, d)
					break
				}
			}
		}
	})
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	old := &incident.Incident{ID: "decision-" + ledger.DigestID(tfSP, tfSecret), State: incident.StateResolved, Created: at, Updated: at,
		Key: incident.Key{ServicePrincipalID: tfSP, KeyIDs: []string{tfSecret}},
		History: []incident.Event{{At: at, Step: "control", What: "created", Actor: "responder"},
			{At: at, Step: "decision", What: "resolved", Detail: "inc-0123\x00false positive: a test fixture", Actor: "alice"}}}
	if _, _, err := h.store.L.Claim(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, other, tfSecret)))
	if len(h.writes()) != 0 || in.State != incident.StateResolved {
		t.Fatalf("a key resolved under the previous version: state %s, writes %+v", in.State, h.writes())
	}
}

// A self-test event is marked in the ledger and nothing else: no
// incident, no Graph call.
func TestSelfTestIsMarkedNeverActedOn(t *testing.T) {
	h := newHarness(t)
	sig := detect.Signal{Kind: detect.SelfTest, TenantID: tenant, AppID: "5e1f7e57-0000-0000-0000-000000000000",
		ServicePrincipalID: "5e1f7e57-0000-0000-0000-000000000000", DetectionID: detect.SelfTestDetectionPrefix + "00ff"}
	before := len(h.sim.Requests())
	for range 2 { // a redelivery is a duplicate
		if out := h.handle(sig); len(out.Claimed)+len(out.Duplicates)+len(out.Incidents) != 0 {
			t.Fatalf("a self-test became an incident: %+v", out)
		}
	}
	m, found, err := ledger.SelfTests{L: h.store.L}.Get(context.Background(), strings.ToUpper(sig.DetectionID))
	if err != nil || !found || m.Deliveries != 2 {
		t.Fatalf("marker %+v found=%v %v", m, found, err)
	}
	if n := len(h.sim.Requests()) - before; n != 0 {
		t.Fatalf("a self-test made %d Graph requests", n)
	}
	all, err := h.store.L.List(context.Background(), ledger.Filter{})
	if err != nil || len(all) != 0 {
		t.Fatalf("ledger lists %d incidents after a self-test (%v)", len(all), err)
	}
}

// The shipped rules file, as the playbook reads it: a leaked credential is
// contained, checked and told; a risky sign-in never removes a key; a
// self-test matches no rule.
func TestFromRulesShippedFile(t *testing.T) {
	r := playbook.FromRules(rulesfile.Default())
	p, ok := r.Plan(leak(tfApp, tfSP, tfLeak, tfSecret))
	if !ok || !p.RemoveCredential || !p.CheckPolicy || !p.Notify || p.Rule == "" {
		t.Fatalf("leaked credential: %+v %v", p, ok)
	}
	sig := leak(tfApp, tfSP, "", tfSecret)
	sig.Kind, sig.RiskEventType = detect.RiskySignIn, ""
	if p, ok := r.Plan(sig); ok && p.RemoveCredential {
		t.Fatalf("risky sign-in removes a key: %+v", p)
	}
	if _, ok := r.Plan(detect.Signal{Kind: detect.SelfTest, TenantID: tenant}); ok {
		t.Fatal("a self-test matches a rule")
	}
}
