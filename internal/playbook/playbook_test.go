package playbook_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
)

const (
	tenant      = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	tfApp       = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	tfAppObj    = "acc848e9-e8ec-4feb-a521-8d58b5482e09"
	tfSP        = "b029d485-a308-4311-8720-fb3192e5284e"
	tfSecret    = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	tfSecret2   = "5e1c7a3b-8d24-4f96-b0e1-3a7c9d2f6b84"
	tfCert      = "3f5518bb-4d4d-480f-bdd0-7b04a58e2800"
	tfCert2     = "c7d2a9e4-1b6f-4a83-9e05-6f8b3c1d2a97"
	tfLeak      = "2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"
	tfSuspect   = "9c1e0f5b7a3d42e6b8f1a2c3d4e5f60718293a4b5c6d7e8f9a0b"
	billApp     = "e2b7d4f1-8c3a-4b69-a0d5-7f1e9c2b6a38"
	billSP      = "91d3f6a2-4c8e-4b17-b5a0-6e2d9c1f7a83"
	billSecret  = "f0b0b335-1d71-4883-8f98-567911bfdca6"
	billLeak    = "7b3e9f1a2c4d6e8f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d1e3f"
	payApp      = "3b6d8f0a-1c4e-4a72-9e5b-7d2f0c8a6e19"
	paySP       = "0c4e6a8b-2d1f-4e3a-b5c7-1f3e5a7c9b24"
	paySecret   = "2f8a4c6e-0b1d-4e3f-a5c7-9e1b3d5f7a02"
	payLeak     = "1e3a5c7e9b2d4f6a8c0e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"
	blockPolicy = "5f2b8c1d-0a9e-4d3b-9c7a-1e2f3a4b5c6d"
)

// rules is a fixed rule set for the tests: every risk signal removes the
// named credentials, checks the policy and notifies.
type rules struct {
	dryRun, confirm, requireAtRisk bool
	protected                      []string
	unlicensedApps                 []string // apps whose rule opts in to act without the licence
}

func (r rules) Plan(s detect.Signal) (playbook.Plan, bool) {
	switch s.Kind {
	case detect.LeakedCredential, detect.RiskDetection, detect.RiskySignIn:
		return playbook.Plan{Rule: "test-" + string(s.Kind), RemoveCredential: true, CheckPolicy: true, Notify: true, DryRun: r.dryRun,
			ConfirmCompromised: r.confirm, RequireAtRisk: r.requireAtRisk && s.Kind == detect.RiskySignIn,
			UnlicensedFallback: slices.ContainsFunc(r.unlicensedApps, func(a string) bool { return strings.EqualFold(a, s.AppID) })}, true
	}
	return playbook.Plan{}, false
}

func (r rules) Protected(appID string, tags []string) (bool, string) {
	if slices.Contains(r.protected, appID) {
		return true, "listed in the rules"
	}
	if slices.Contains(tags, "spresponder:protected") {
		return true, "tag spresponder:protected"
	}
	return false, ""
}

type pages struct {
	mu      sync.Mutex
	reasons []string
}

func (p *pages) Page(_ context.Context, _ *incident.Incident, reason string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reasons = append(p.reasons, reason)
	return nil
}

type harness struct {
	t       *testing.T
	sim     *graphsim.Tenant
	base    string
	store   ledger.Store
	pages   *pages
	r       *playbook.Responder
	limit   int
	rules   rules
	cfg     playbook.Config
	simOpts []graphsim.Option
	seedMod func(*graphsim.Seed)
	// notifier is the owner notification (nil: none configured).
	notifier playbook.Notifier
	log      *zap.Logger
	dir      string
	// budget is the process's identity protection budget, kept across
	// restarts (build) like the tenant's limit it paces against.
	budget *budget.Budget
	// policies is a Conditional Access cache a test can warm first, as
	// serve does at start-up (reachResponder uses it); cli is the last
	// Graph client built.
	policies *capolicy.Networks
	cli      *graph.Client
}

func newHarness(t *testing.T, mod ...func(*harness)) *harness {
	t.Helper()
	h := &harness{t: t, limit: 5, cfg: playbook.Config{Enforce: true, Owner: "test", StageDeadline: 20 * time.Second, TenantID: tenant}, pages: &pages{}, log: zaptest.NewLogger(t), dir: t.TempDir(),
		// One less than the simulated tenant's burst: a budget exactly at
		// the tenant's limit meets a 429 whenever the network delays one
		// request more than the next.
		budget: budget.New(budget.Config{Burst: graphsim.DefaultThrottleBurst - 1}, nil, nil), policies: &capolicy.Networks{}}
	for _, m := range mod {
		m(h)
	}
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if h.seedMod != nil {
		h.seedMod(seed)
	}
	h.sim = graphsim.New(*seed, h.simOpts...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.base, err = h.sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.build()
	t.Cleanup(func() {
		// Every playbook test runs under the tenant's identity protection
		// limit; the budget must keep every one of them under it.
		if n := h.sim.Throttled(); n != 0 {
			t.Errorf("the simulated tenant throttled %d request(s): the request budget let them through", n)
		}
	})
	return h
}

// build makes a responder on the harness's ledger directory: building it
// again is what a restarted process does.
func (h *harness) build() {
	cli, err := graph.New(graph.Config{BaseURL: h.base, Credential: graph.StaticToken("test-token"), RequestTimeout: 3 * time.Second, Budget: h.budget})
	if err != nil {
		h.t.Fatal(err)
	}
	led, err := ledger.NewFileStore(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = ledger.Store{L: led}
	br := breaker.New(breaker.NewMemory(), h.limit, time.Hour, time.Now)
	h.r = playbook.New(cli, h.store, h.rules, br, h.notifier, h.pages, h.cfg, h.log, time.Now, playbook.WithGuards(h.store))
	h.cli = cli
}

func leak(app, sp, detection string, keys ...string) detect.Signal {
	return detect.Signal{Kind: detect.LeakedCredential, TenantID: tenant, AppID: app, ServicePrincipalID: sp, KeyIDs: keys,
		DetectionID: detection, RiskEventType: "leakedCredentials", RiskLevel: "high", RiskState: "atRisk",
		Time: time.Date(2025, 3, 4, 7, 12, 0, 0, time.UTC), Source: detect.Source{Partition: "0", SequenceNumber: 42}}
}

func (h *harness) handle(sigs ...detect.Signal) playbook.Outcome {
	h.t.Helper()
	out, err := h.r.Handle(context.Background(), sigs, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) only(out playbook.Outcome) *incident.Incident {
	h.t.Helper()
	if len(out.Incidents) != 1 {
		h.t.Fatalf("got %d incidents", len(out.Incidents))
	}
	return out.Incidents[0]
}

func (h *harness) writes() []graphsim.Write { return h.sim.Writes() }

func (h *harness) appKeys(appID string) (pw, certs []string) {
	a, ok := h.sim.Application(appID)
	if !ok {
		h.t.Fatalf("no app %s", appID)
	}
	for _, p := range a.PasswordCredentials {
		pw = append(pw, p.KeyID)
	}
	for _, k := range a.KeyCredentials {
		certs = append(certs, k.KeyID)
	}
	return pw, certs
}

func step(in *incident.Incident, n incident.StepName) incident.Step { return *in.Step(n) }

func TestLeakedSecretRemovedAndVerdict(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || !in.Verification.Verified || in.Verification.Method != "detection" {
		t.Fatalf("incident %s state %s verification %+v", in.ID, in.State, in.Verification)
	}
	pw, certs := h.appKeys(tfApp)
	if slices.Contains(pw, tfSecret) || !slices.Contains(pw, tfSecret2) || len(certs) != 2 {
		t.Fatalf("after: passwords %v certificates %v", pw, certs)
	}
	if w := h.writes(); len(w) != 1 || !strings.Contains(w[0].Route, "removePassword") {
		t.Fatalf("writes = %+v", w)
	}
	a := in.Actions[0]
	if a.Kind != "removePassword" || a.State != incident.Done || a.Before == "" || a.After == "" || a.KeyID != tfSecret {
		t.Errorf("action = %+v", a)
	}
	if in.Verdict == nil || in.Verdict.Outcome != incident.VerdictBlocked {
		t.Errorf("verdict = %+v", in.Verdict)
	}
	// Before and after: the history shows "started" ahead of "done".
	var seq []string
	for _, e := range in.History {
		if e.Step == "contain" {
			seq = append(seq, e.What)
		}
	}
	if i, j := slices.Index(seq, "started"), slices.Index(seq, "done"); i < 0 || j < i {
		t.Errorf("contain history = %v", seq)
	}
	if n := len(h.sim.Requests()); n > 8 {
		t.Errorf("%d Graph requests for one incident, budget 8: %v", n, h.sim.RouteCounts())
	}
	if len(h.sim.Unexpected()) != 0 {
		t.Errorf("unexpected requests: %+v", h.sim.Unexpected())
	}
}

func TestDuplicateSignalOneRemoval(t *testing.T) {
	h := newHarness(t)
	s := leak(tfApp, tfSP, tfLeak, tfSecret)
	h.handle(s)
	s2 := s
	s2.Source.SequenceNumber = 43
	out := h.handle(s2)
	if len(out.Duplicates) != 1 || len(h.writes()) != 1 {
		t.Fatalf("duplicates %v writes %+v", out.Duplicates, h.writes())
	}
	if got := h.only(out); len(got.Signals) != 2 {
		t.Errorf("duplicate not recorded: %d signals", len(got.Signals))
	}
}

func TestForgedDetectionNoWrite(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, "forged-detection-id", tfSecret)))
	if in.Verification.Verified || len(h.writes()) != 0 || step(in, incident.StepContain).State != incident.Skipped {
		t.Fatalf("verification %+v writes %+v", in.Verification, h.writes())
	}
	if len(h.pages.reasons) == 0 || !strings.Contains(h.pages.reasons[0], "unknown to Graph") {
		t.Errorf("pages = %v", h.pages.reasons)
	}
}

func TestDismissedDetectionNoWrite(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Post(h.base+"/identityProtection/riskyServicePrincipals/dismiss", "application/json", strings.NewReader(`{"servicePrincipalIds":["`+tfSP+`"]}`))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("dismiss: %v %v", resp, err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.Verification.Verified || len(h.writes()) != 1 { // the dismiss itself is the one write
		t.Fatalf("verification %+v writes %+v", in.Verification, h.writes())
	}
	if !strings.Contains(in.Verification.Detail, "dismissed") {
		t.Errorf("detail = %q", in.Verification.Detail)
	}
}

func TestAlreadyRemovedKeyIsSuccessWithoutWrite(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Post(h.base+"/applications/"+tfAppObj+"/removePassword", "application/json", strings.NewReader(`{"keyId":"`+tfSecret+`"}`))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("pre-remove: %v %v", resp, err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || len(h.writes()) != 1 || len(in.Actions) != 0 {
		t.Fatalf("state %s actions %+v writes %+v", in.State, in.Actions, h.writes())
	}
	if c := in.Credentials; len(c) != 1 || c[0].Found {
		t.Errorf("credentials = %+v", c)
	}
}

func TestSecretOnServicePrincipal(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(billApp, billSP, billLeak, billSecret)))
	w := h.writes()
	if len(w) != 1 || !strings.Contains(w[0].Route, "servicePrincipals") || in.Actions[0].Target != "service principal "+billSP {
		t.Fatalf("writes %+v actions %+v", w, in.Actions)
	}
	sp, _ := h.sim.ServicePrincipal(billApp)
	if len(sp.PasswordCredentials) != 0 {
		t.Errorf("secret still on the service principal: %+v", sp.PasswordCredentials)
	}
}

func TestCertificateRemovalKeepsOthers(t *testing.T) {
	h := newHarness(t)
	s := leak(tfApp, tfSP, tfSuspect, tfCert)
	s.Kind, s.RiskEventType, s.RiskLevel = detect.RiskDetection, "suspiciousSignins", "medium"
	in := h.only(h.handle(s))
	if in.State != incident.StateDone || len(in.Actions) != 1 || in.Actions[0].Kind != "removeCertificate" {
		t.Fatalf("state %s actions %+v", in.State, in.Actions)
	}
	pw, certs := h.appKeys(tfApp)
	if !slices.Equal(certs, []string{tfCert2}) || len(pw) != 2 {
		t.Fatalf("after: certificates %v passwords %v", certs, pw)
	}
	a, _ := h.sim.Application(tfApp)
	if k := a.KeyCredentials[0].Key; k == nil || *k == "" {
		t.Error("the kept certificate lost its key")
	}
}

func TestThrottledRemovalRetriedOnce(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultStatus, Status: 429, RetryAfter: 1, Times: 2}); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || len(h.writes()) != 1 {
		t.Fatalf("state %s writes %+v actions %+v history %+v", in.State, h.writes(), in.Actions, in.History)
	}
	// The SDK's retry handler waited Retry-After twice; the third call
	// removed the secret.
	if n := h.sim.RouteCounts()["POST /applications/{id}/removePassword"]; n != 3 {
		t.Errorf("removePassword called %d times, want 3 (%v)", n, h.sim.RouteCounts())
	}
}

func TestServerErrorAfterWriteResolvedByReRead(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultStatus, Status: 500, Times: 1, Phase: graphsim.After}); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || len(h.writes()) != 1 || in.Actions[0].State != incident.Done {
		t.Fatalf("state %s writes %+v actions %+v", in.State, h.writes(), in.Actions)
	}
	if !strings.Contains(in.Actions[0].Reason, "re-read") {
		t.Errorf("reason = %q", in.Actions[0].Reason)
	}
}

func TestTimeoutDuringRemoval(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultTimeout, Times: 1, Phase: graphsim.After}); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || len(h.writes()) != 1 {
		t.Fatalf("state %s writes %+v actions %+v", in.State, h.writes(), in.Actions)
	}
}

func TestDroppedConnectionBeforeWrite(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || len(h.writes()) != 1 {
		t.Fatalf("state %s writes %+v actions %+v", in.State, h.writes(), in.Actions)
	}
}

func TestProtectedAppNotifyOnly(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(payApp, paySP, payLeak, paySecret)))
	if len(h.writes()) != 0 || !strings.Contains(in.NotifyOnly, "protected") || !in.Actions[0].DryRun {
		t.Fatalf("writes %+v notifyOnly %q actions %+v", h.writes(), in.NotifyOnly, in.Actions)
	}
}

func TestDryRun(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(*harness)
		mode string
	}{
		"global":      {func(h *harness) { h.cfg.Enforce = false }, incident.ModeDryRun},
		"rule":        {func(h *harness) { h.rules.dryRun = true }, incident.ModeDryRun},
		"kill switch": {func(h *harness) { h.cfg.KillSwitch = true }, incident.ModeKillSwitch},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.mod)
			in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
			if len(h.writes()) != 0 || in.Mode != tc.mode || len(in.Actions) != 1 || !in.Actions[0].DryRun || !strings.Contains(in.Actions[0].Reason, "would remove client secret "+tfSecret) {
				t.Fatalf("writes %+v mode %q actions %+v", h.writes(), in.Mode, in.Actions)
			}
			if in.Verdict == nil || in.Verdict.Outcome == "" {
				t.Error("dry-run must still evaluate Conditional Access")
			}
		})
	}
}

func TestBreakerTripsAtNPlusOne(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.limit = 1 })
	first := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	second := h.only(h.handle(leak(billApp, billSP, billLeak, billSecret)))
	if first.Mode != "enforce" || second.Mode != incident.ModeHeld || second.State != incident.StateHeld || !strings.Contains(second.NotifyOnly, "breaker open") || len(h.writes()) != 1 {
		t.Fatalf("first %q second %q (%q) writes %+v", first.Mode, second.Mode, second.NotifyOnly, h.writes())
	}
	if !slices.ContainsFunc(h.pages.reasons, func(r string) bool { return strings.Contains(r, "breaker") }) {
		t.Errorf("on-call not paged: %v", h.pages.reasons)
	}
}

func TestAmbiguousMappingRefused(t *testing.T) {
	h := newHarness(t)
	// The record names a service principal that is not the one Graph has
	// for this appId.
	in := h.only(h.handle(leak(tfApp, billSP, tfLeak, tfSecret)))
	if in.Verification.Verified || len(h.writes()) != 0 {
		t.Fatalf("verification %+v writes %+v", in.Verification, h.writes())
	}
}

// Without Workload Identities Premium nothing verifies a detection: the
// licence is read from the tenant's SKUs, nothing is written, and a person
// is asked (TestUnlicensedOptInPerApp has the explicit opt-in).
func TestLicenceMissingNoWrite(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.simOpts = append(h.simOpts, graphsim.WithWorkloadIdentitiesPremium(false)) })
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.Verification.Verified || !in.Verification.Unlicensed || !strings.Contains(in.Verification.Detail, "Workload Identities Premium") || in.State != incident.StateNeedsHuman {
		t.Fatalf("state %s verification %+v", in.State, in.Verification)
	}
	if len(h.writes()) != 0 {
		t.Fatalf("writes %+v", h.writes())
	}
}

func TestConfirmCompromised(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.rules.confirm = true })
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	r, _ := riskOf(h, tfSP)
	if in.State != incident.StateDone || r != "confirmedCompromised" || len(in.Actions) != 2 {
		t.Fatalf("state %s risk %s actions %+v", in.State, r, in.Actions)
	}
}

func riskOf(h *harness, sp string) (string, string) {
	for _, r := range h.sim.RiskyServicePrincipals() {
		if r.ID == sp {
			return r.RiskState, r.RiskLevel
		}
	}
	return "", ""
}

// TestCrashBetweenStartedAndDone: a process recorded "started", made the
// write, and died before recording "done". The next run re-reads and
// records done without writing again.
func TestCrashBetweenStartedAndDone(t *testing.T) {
	h := newHarness(t)
	s := leak(tfApp, tfSP, tfLeak, tfSecret)
	// Run once in dry-run to get the incident and its planned action
	// recorded, then turn it into a half-finished enforce run.
	h.cfg.Enforce = false
	h.build()
	in := h.only(h.handle(s))
	_, err := h.store.Mutate(context.Background(), in.ID, func(cur *incident.Incident) error {
		cur.State, cur.Mode, cur.NotifyOnly = incident.StateOpen, "enforce", ""
		cur.Step(incident.StepContain).State = incident.Started
		cur.Step(incident.StepConfirm).State = incident.Pending
		cur.Step(incident.StepNotify).State = incident.Pending
		cur.Actions[0].State, cur.Actions[0].DryRun, cur.Actions[0].Reason = incident.Started, false, ""
		cur.Owner, cur.LeaseUntil = "dead-process", time.Now().Add(-time.Minute)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(h.base+"/applications/"+tfAppObj+"/removePassword", "application/json", strings.NewReader(`{"keyId":"`+tfSecret+`"}`))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("the dead process's write: %v %v", resp, err)
	}
	h.cfg.Enforce = true
	h.build()
	got, err := h.r.Run(context.Background(), in.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != incident.StateDone || got.Actions[0].State != incident.Done || !strings.Contains(got.Actions[0].Reason, "re-read") {
		t.Fatalf("state %s action %+v", got.State, got.Actions[0])
	}
	if len(h.writes()) != 1 {
		t.Fatalf("wrote again: %+v", h.writes())
	}
}

func TestBlockedSignInAttachedAsProof(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	blocked := detect.Signal{Kind: detect.BlockedSignIn, TenantID: tenant, AppID: tfApp, ServicePrincipalID: tfSP, DetectionID: "signin-1",
		IPAddress: "203.0.113.45", ErrorCode: 53003, PolicyIDs: []string{blockPolicy}, Time: time.Now()}
	out := h.handle(blocked, blocked)
	if out.Proof != 2 {
		t.Fatalf("proof attached %d times", out.Proof)
	}
	led, _ := ledger.NewFileStore(h.dir)
	got, err := led.Get(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Verdict == nil || len(got.Verdict.Proof) != 1 || got.Verdict.Proof[0].IPAddress != "203.0.113.45" {
		t.Fatalf("proof = %+v", got.Verdict)
	}
}

func TestNoDetectionIDNoWrite(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, "", tfSecret)))
	if in.Verification.Verified || len(h.writes()) != 0 {
		t.Fatalf("verification %+v writes %+v", in.Verification, h.writes())
	}
}

func TestTwoCertificatesOnOneObject(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.seedMod = func(s *graphsim.Seed) {
			for i := range s.ServicePrincipalRiskDetections {
				if s.ServicePrincipalRiskDetections[i].ID == tfSuspect {
					s.ServicePrincipalRiskDetections[i].KeyIDs = []string{tfCert, tfCert2}
				}
			}
		}
	})
	s := leak(tfApp, tfSP, tfSuspect, tfCert, tfCert2)
	s.Kind, s.RiskEventType, s.RiskLevel = detect.RiskDetection, "suspiciousSignins", "medium"
	in := h.only(h.handle(s))
	pw, certs := h.appKeys(tfApp)
	if in.State != incident.StateDone || len(certs) != 0 || len(pw) != 2 {
		t.Fatalf("state %s: certificates left %v, passwords %v, actions %+v", in.State, certs, pw, in.Actions)
	}
}

func TestConcurrentRunsInOneProcessWriteOnce(t *testing.T) {
	h := newHarness(t)
	s := leak(tfApp, tfSP, tfLeak, tfSecret)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s := s
			s.Source.SequenceNumber = int64(100 + i)
			if _, err := h.r.Handle(context.Background(), []detect.Signal{s}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if w := h.writes(); len(w) != 1 {
		t.Fatalf("writes = %+v", w)
	}
}

// TestParkedRemovalResumes: a removal fails transiently and is parked; the
// next run verifies again and removes the credential.
func TestParkedRemovalResumes(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.cfg.StageDeadline = 3 * time.Second })
	if err := h.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultStatus, Status: 500}); err != nil {
		t.Fatal(err)
	}
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateParked || len(h.writes()) != 0 {
		t.Fatalf("first run: state %s writes %+v", in.State, h.writes())
	}
	h.sim.ClearFaults()
	got, err := h.r.Run(context.Background(), in.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != incident.StateDone || len(h.writes()) != 1 {
		t.Fatalf("second run: state %s writes %+v actions %+v", got.State, h.writes(), got.Actions)
	}
}

func TestBreakerCountsEveryWrite(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.limit = 1; h.rules.confirm = true })
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if len(h.writes()) != 0 || !strings.Contains(in.NotifyOnly, "breaker") {
		t.Fatalf("a removal and a confirmCompromised passed a breaker of 1: writes %+v", h.writes())
	}
}

// One structured summary per incident run, in the shape infra/'s queries
// read (infra/README.md): outcome, guard, mode, stage times.
func TestIncidentSummaryEvent(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := newHarness(t, func(h *harness) { h.log = zap.New(core) })
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	got := logs.FilterMessage("incident summary").All()
	if len(got) != 1 {
		t.Fatalf("%d summaries", len(got))
	}
	f := got[0].ContextMap()
	if f["incident"] != in.ID || f["outcome"] != "contained" || f["guard"] != "none" || f["mode"] != "enforce" || f["state"] != "done" || f["tenant_id"] != tenant {
		t.Fatalf("summary %v", f)
	}
	for _, k := range []string{"verify_ms", "contain_ms", "confirm_ms", "notify_ms"} {
		if _, ok := f[k].(int64); !ok {
			t.Errorf("%s missing: %v", k, f)
		}
	}
}
