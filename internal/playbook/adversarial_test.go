package playbook_test

// Attacks on the playbook's writes (issue 8). Each test is an attack that
// made a write, or a misleading record, on the main branch before the fix.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
)

// certDetections gives each of the app's two certificates a detection of
// its own: two incidents about one object.
const tfCertLeak2 = "4a1c9e7b3d5f7a9c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d1f3a5c"

func twoCertDetections(s *graphsim.Seed) {
	for _, d := range s.ServicePrincipalRiskDetections {
		if d.ID == tfSuspect {
			d2 := d
			d2.ID, d2.KeyIDs = tfCertLeak2, []string{tfCert2}
			s.ServicePrincipalRiskDetections = append(s.ServicePrincipalRiskDetections, d2)
			return
		}
	}
}

func certSignal(det, key string) detect.Signal {
	s := leak(tfApp, tfSP, det, key)
	s.Kind, s.RiskEventType, s.RiskLevel = detect.RiskDetection, "suspiciousSignins", "medium"
	return s
}

// Attack 1: two detections naming two certificates of one app, handled by
// two responders ("instances") on one ledger, with Graph slow on PATCH.
// Each read the list and PATCHed it back: the second PATCH restored the
// certificate the first removed, and both incidents said done.
func TestAttackCertificateRaceAcrossInstances(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.seedMod = twoCertDetections })
	if err := h.sim.AddFault(graphsim.Fault{Route: "PATCH /applications/*", Kind: graphsim.FaultLatency, Delay: graphsim.Duration(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	second := h.instance()
	var wg sync.WaitGroup
	var ins [2]*incident.Incident
	for i, r := range []*playbook.Responder{h.r, second} {
		sig := certSignal(tfSuspect, tfCert)
		if i == 1 {
			sig = certSignal(tfCertLeak2, tfCert2)
		}
		wg.Go(func() {
			out, err := r.Handle(context.Background(), []detect.Signal{sig}, nil)
			if err != nil || len(out.Incidents) != 1 {
				t.Errorf("instance %d: %v %+v", i, err, out)
				return
			}
			ins[i] = out.Incidents[0]
		})
	}
	wg.Wait()
	pw, certs := h.appKeys(tfApp)
	if len(certs) != 0 {
		t.Fatalf("certificates left after both removals: %v (incidents %+v / %+v)", certs, ins[0].Actions, ins[1].Actions)
	}
	if len(pw) != 2 {
		t.Fatalf("secrets touched: %v", pw)
	}
	for _, in := range ins {
		if in.State != incident.StateDone || in.Actions[0].State != incident.Done {
			t.Errorf("%s: state %s actions %+v", in.ID, in.State, in.Actions)
		}
	}
}

// Attack 1b: a detection that lands on a signing certificate (Sign usage)
// goes to a person: the PATCH cannot keep signing certificates safely.
func TestAttackSigningCertificateGoesToAPerson(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.seedMod = func(s *graphsim.Seed) {
			for i := range s.Applications {
				if s.Applications[i].AppID == tfApp {
					for j := range s.Applications[i].KeyCredentials {
						if s.Applications[i].KeyCredentials[j].KeyID == tfCert {
							s.Applications[i].KeyCredentials[j].Usage = "Sign"
						}
					}
				}
			}
		}
	})
	in := h.only(h.handle(certSignal(tfSuspect, tfCert)))
	if len(h.writes()) != 0 || in.State != incident.StateNeedsHuman {
		t.Fatalf("state %s writes %+v", in.State, h.writes())
	}
	if !slices.ContainsFunc(h.pages.reasons, func(r string) bool { return strings.Contains(r, "signing") }) {
		t.Errorf("pages: %v", h.pages.reasons)
	}
}

// Attack 3: a risky sign-in names a key of its choosing; Graph shows the
// service principal at risk. The key is only the event's: no removal.
func TestAttackEventOnlyKeyNeverRemoved(t *testing.T) {
	h := newHarness(t)
	for _, s := range []detect.Signal{
		func() detect.Signal {
			s := leak(tfApp, tfSP, "signin-1", tfSecret2)
			s.Kind = detect.RiskySignIn
			return s
		}(),
		func() detect.Signal {
			s := leak(tfApp, tfSP, "signin-2")
			s.Kind, s.Thumbprint = detect.RiskySignIn, "ANYTHUMB"
			return s
		}(),
		func() detect.Signal {
			s := leak(tfApp, tfSP, "", tfSecret2)
			s.Kind = detect.FailedSecretSignIns
			return s
		}(),
	} {
		h.handle(s)
	}
	if w := h.writes(); len(w) != 0 {
		t.Fatalf("a key named only by the event was removed: %+v", w)
	}
}

// Attack 3b: a detection's event names one key, Graph's detection another:
// only Graph's keys may go, and a mismatch is no write.
func TestAttackDetectionEventAddsAKey(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret, tfSecret2)))
	pw, _ := h.appKeys(tfApp)
	if !slices.Contains(pw, tfSecret2) || slices.Contains(pw, tfSecret) {
		t.Fatalf("secrets left %v (actions %+v)", pw, in.Actions)
	}
}

// Attack 4: without the Workload Identities Premium licence the risk APIs
// answer 403; a forged detection used to be "verified" by the key existing.
func TestAttackUnlicensedForgedDetectionNoWrite(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.simOpts = append(h.simOpts, graphsim.WithWorkloadIdentitiesPremium(false)) })
	in := h.only(h.handle(leak(tfApp, tfSP, "forged0123456789abcdef", tfSecret)))
	if len(h.writes()) != 0 {
		t.Fatalf("writes %+v", h.writes())
	}
	if in.Verification.Verified || !in.Verification.Unlicensed || in.State != incident.StateNeedsHuman {
		t.Fatalf("state %s verification %+v", in.State, in.Verification)
	}
	if len(h.pages.reasons) == 0 {
		t.Error("on-call not paged")
	}
}

// A rule may opt in per app to act on the credential existing when the
// tenant cannot verify risk; the plan says so.
func TestUnlicensedOptInPerApp(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.simOpts = append(h.simOpts, graphsim.WithWorkloadIdentitiesPremium(false))
		h.rules.unlicensedApps = []string{tfApp}
	})
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if len(h.writes()) != 1 || !in.Verification.Verified || in.Verification.Method != "optIn" || !strings.Contains(in.Verification.Detail, "opt") {
		t.Fatalf("writes %+v verification %+v", h.writes(), in.Verification)
	}
}

// Attack 2 (breaker part): each record names its own tenant; the breaker
// counts against the configured tenant, never the event's.
func TestAttackBreakerKeyedOnConfiguredTenant(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.limit = 2 })
	var sigs []detect.Signal
	for i, s := range []detect.Signal{leak(tfApp, tfSP, tfLeak, tfSecret), leak(billApp, billSP, billLeak, billSecret), leak(payApp, paySP, payLeak, paySecret),
		leak("9c1e3a5b-7d9f-4b2d-8e0a-6c3f5b7d9e46", "a3c5e7f9-1b3d-4f5a-8c7e-2d4f6b8a0c57", "5c7e9a1b3d5f7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d", "8f0b2d4e-6a1c-4e3b-b7d9-1a3c5e7f9b68")} {
		s.TenantID = []string{"11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002", "11111111-0000-4000-8000-000000000003", "11111111-0000-4000-8000-000000000004"}[i]
		sigs = append(sigs, s)
	}
	h.rules.protected = nil
	for _, s := range sigs {
		h.handle(s)
	}
	if w := h.writes(); len(w) > 2 {
		t.Fatalf("%d writes past a breaker of 2 with one tenant per record: %+v", len(w), w)
	}
}

// Attack 6: a person resolved an incident; a variant of the same signal
// (an extra bogus key id, another case, another detection id for the same
// key) must not reopen it or act.
func TestAttackVariantAfterResolve(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.cfg.Enforce = false
		h.seedMod = func(s *graphsim.Seed) {
			for _, d := range s.ServicePrincipalRiskDetections {
				if d.ID == tfLeak {
					d2 := d
					d2.ID = "0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
					s.ServicePrincipalRiskDetections = append(s.ServicePrincipalRiskDetections, d2)
				}
			}
		}
	})
	first := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if err := playbook.Resolve(context.Background(), h.store, first.ID, "alice", "false positive: the key is a test fixture", time.Now()); err != nil {
		t.Fatal(err)
	}
	h.cfg.Enforce = true
	h.build()
	variant := leak(strings.ToUpper(tfApp), strings.ToUpper(tfSP), strings.ToUpper(tfLeak), tfSecret, "00000000-dead-4bad-8bad-000000000000")
	variant.Source.SequenceNumber = 99
	out := h.handle(variant)
	if len(out.Claimed) != 0 {
		t.Fatalf("a variant opened %v after a person resolved %s", out.Claimed, first.ID)
	}
	other := h.only(h.handle(leak(tfApp, tfSP, "0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f", tfSecret)))
	if len(h.writes()) != 0 || other.State != incident.StateResolved {
		t.Fatalf("another detection of the resolved key: state %s writes %+v", other.State, h.writes())
	}
}

// Attack 7: ids from the event go into Graph paths; anything that is not
// a GUID (or a detection id) never reaches a request.
func TestAttackIDsNeverReachGraphPaths(t *testing.T) {
	h := newHarness(t)
	for _, s := range []detect.Signal{
		leak("../applications", tfSP, tfLeak, tfSecret),
		leak(tfApp, tfSP, "x/../../applications/"+tfAppObj, tfSecret),
		leak(tfApp, tfSP, tfLeak+"?$select=id", tfSecret),
		leak(tfApp, "sp' or 1 eq 1", tfLeak, tfSecret),
	} {
		h.handle(s)
	}
	for _, r := range h.sim.Requests() {
		if strings.Contains(r.Path, "..") || strings.Contains(r.Path, "'") && !strings.Contains(r.Path, "appId='") || strings.Contains(r.Query, "select=id") && strings.Contains(r.Path, "Detections") {
			t.Errorf("a crafted id reached Graph: %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
	if len(h.writes()) != 0 {
		t.Fatalf("writes %+v", h.writes())
	}
}

// Attack 9: an incident held by the breaker is "held", paged, and left for
// a person; it never ends "done".
func TestAttackBreakerHeldIsNotDone(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.limit = 1 })
	h.handle(leak(tfApp, tfSP, tfLeak, tfSecret))
	held := h.only(h.handle(leak(billApp, billSP, billLeak, billSecret)))
	if held.State != incident.StateHeld || held.Mode != incident.ModeHeld {
		t.Fatalf("state %s mode %s", held.State, held.Mode)
	}
	// A timer re-drive leaves it alone.
	again, err := h.r.Run(context.Background(), held.ID, nil)
	if err != nil || again.State != incident.StateHeld || len(h.writes()) != 1 {
		t.Fatalf("re-driven by itself: %v %+v writes %+v", err, again, h.writes())
	}
}

// Attack 10: the kill switch is set in the shared ledger (by on-call from a
// laptop); this process's own setting is off. No write.
func TestAttackKillSwitchInLedgerBindsEveryInstance(t *testing.T) {
	h := newHarness(t)
	led, _ := ledger.NewFileStore(h.dir)
	if _, err := (ledger.KillSwitch{L: led}).Set(context.Background(), true, "forged events in the hub", "oncall"); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if len(h.writes()) != 0 || in.Mode != incident.ModeKillSwitch || !strings.Contains(in.NotifyOnly, "forged events in the hub") {
		t.Fatalf("mode %s (%s) writes %+v", in.Mode, in.NotifyOnly, h.writes())
	}
}

// Attack 13: a detection Graph has already closed is recorded, not sent;
// an unverified one ends needing a human.
func TestAttackClosedDetectionIsNotSent(t *testing.T) {
	n := &recordingNotifier{}
	h := newHarness(t, func(h *harness) {
		h.notifier = n
		h.seedMod = func(s *graphsim.Seed) {
			for i := range s.ServicePrincipalRiskDetections {
				if s.ServicePrincipalRiskDetections[i].ID == tfLeak {
					s.ServicePrincipalRiskDetections[i].RiskState = "remediated"
				}
			}
		}
	})
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.Verification.Closed != "remediated" || n.count() != 0 || len(h.writes()) != 0 || in.State != incident.StateDone {
		t.Fatalf("state %s verification %+v notified %d writes %+v", in.State, in.Verification, n.count(), h.writes())
	}
}

func TestAttackUnknownDetectionNeedsHuman(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, "00112233445566778899aabbccddeeff00112233445566778899", tfSecret)))
	if in.State != incident.StateNeedsHuman || in.Mode != incident.ModeUnverified || len(h.writes()) != 0 {
		t.Fatalf("state %s mode %s writes %+v", in.State, in.Mode, h.writes())
	}
}

// Attack 11: a webhook that hangs must not hold the invocation: notify has
// a short deadline, and what is not delivered is left for the Sweep.
func TestAttackHangingNotifierDoesNotHoldTheBatch(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.notifier = hangingNotifier{}
		h.cfg.NotifyDeadline = 200 * time.Millisecond
	})
	done := make(chan *incident.Incident, 1)
	go func() {
		out, err := h.r.Handle(context.Background(), []detect.Signal{leak(tfApp, tfSP, tfLeak, tfSecret)}, nil)
		if err != nil || len(out.Incidents) != 1 {
			t.Errorf("%v %+v", err, out)
			done <- nil
			return
		}
		done <- out.Incidents[0]
	}()
	select {
	case in := <-done:
		if in == nil {
			return
		}
		if in.Step(incident.StepContain).State != incident.Done || in.State != incident.StateParked || len(h.writes()) != 1 {
			t.Fatalf("state %s contain %+v writes %+v", in.State, in.Step(incident.StepContain), h.writes())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a hanging webhook held the batch past the notify deadline")
	}
}

type recordingNotifier struct {
	mu sync.Mutex
	n  int
}

func (r *recordingNotifier) Notify(_ context.Context, _ *incident.Incident) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return nil
}

func (r *recordingNotifier) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

type hangingNotifier struct{}

func (hangingNotifier) Notify(ctx context.Context, _ *incident.Incident) error {
	<-ctx.Done()
	return ctx.Err()
}

// instance is a second responder on the same ledger directory and tenant:
// another Function App instance. It draws from the harness's request
// budget: two instances' shares add up to the tenant's limit, and the tests
// here are about writes, not throttling.
func (h *harness) instance() *playbook.Responder {
	cli, err := graph.New(graph.Config{BaseURL: h.base, Credential: graph.StaticToken("test-token"), RequestTimeout: 3 * time.Second, Budget: h.budget})
	if err != nil {
		h.t.Fatal(err)
	}
	led, err := ledger.NewFileStore(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Owner = "second-instance"
	st := ledger.Store{L: led}
	return playbook.New(cli, st, h.rules, breaker.New(breaker.NewMemory(), h.limit, time.Hour, time.Now), nil, h.pages, cfg, h.log, time.Now, playbook.WithGuards(st))
}

// Attack: a forged event names a real key; a person resolves it as
// forged. The decision must not cover that key: only keys Graph verified
// for the incident carry a person's decision forward, else a forged event
// would switch off the containment of a later, genuine leak of the key.
func TestAttackResolvingAForgedEventDoesNotShieldItsKey(t *testing.T) {
	h := newHarness(t)
	forged := h.only(h.handle(leak(tfApp, tfSP, "00112233445566778899aabbccddeeff00112233445566778899", tfSecret)))
	if forged.Verification.Verified {
		t.Fatalf("the forged detection was verified: %+v", forged.Verification)
	}
	if err := playbook.Resolve(context.Background(), h.store, forged.ID, "alice", "forged event, ignore", time.Now()); err != nil {
		t.Fatal(err)
	}
	genuine := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	pw, _ := h.appKeys(tfApp)
	if genuine.State != incident.StateDone || slices.Contains(pw, tfSecret) {
		t.Fatalf("a genuine leak of the key was shielded by the forged event's resolution: state %s, secrets %v", genuine.State, pw)
	}
}
