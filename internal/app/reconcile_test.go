package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/reconcile"
)

const demoTenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

// movingClock is a test clock that the test moves by hand.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *movingClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// reconcileSystem starts the demo tenant and returns an Env for it
// (enforce, file ledger in a temporary state directory, no page pacing)
// with the test's clock.
func reconcileSystem(t *testing.T, extra map[string]string) (*graphsim.Tenant, Env, *movingClock) {
	t.Helper()
	sim, graphURL := startDemoTenant(t)
	vars := map[string]string{
		"SPRESPONDER_GRAPH_URL": graphURL, "SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": demoTenant,
		"SPRESPONDER_RECONCILE_PACE": "0s", "SPRESPONDER_RECONCILE_LOOKBACK": "7d", "SPRESPONDER_BREAKER_LIMIT": "50",
	}
	for k, v := range extra {
		vars[k] = v
	}
	env, _, _ := testEnv(t, vars)
	// The demo tenant's detections changed on 2025-03-04..08.
	clock := &movingClock{t: time.Date(2025, 3, 7, 10, 0, 0, 0, time.UTC)}
	env.Now = clock.Now
	return sim, env, clock
}

// sweepOnce builds the service's system from the settings (a fresh
// process: nothing in memory carries over) and runs one Sweep.
func sweepOnce(t *testing.T, env Env) (string, *system) {
	t.Helper()
	cfg, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	log := zap.NewNop()
	sys, err := build(context.Background(), cfg, log, env.Now, buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sw := sweeper{sys: sys, reconcile: newReconciler(sys, log, env.Now), heartbeat: newHeartbeat(sys, log, env.Now), log: log}
	sum, err := sw.Sweep(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v (%s)", err, sum)
	}
	return sum, sys
}

func incidentsOf(t *testing.T, l ledger.Ledger, detectionPrefix string) []*incident.Incident {
	t.Helper()
	all, err := l.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(in *incident.Incident) bool {
		return !strings.HasPrefix(in.Key.DetectionID, detectionPrefix)
	})
}

func removals(sim *graphsim.Tenant, keyID string) int {
	n := 0
	for _, w := range sim.Writes() {
		if slices.Contains(w.RemovedKeyIDs, keyID) {
			n++
		}
	}
	return n
}

// TestReconcileFindsWhatTheStreamMissed: the stream delivers the demo
// batch (one leaked credential, 2856...); 4m12s later a Sweep reconciles
// with the simulated tenant through the real Graph client and the file
// ledger. It contains the leaked credentials the stream never delivered
// (7b3e..., 1e3a...), handles 2856... once and records the lag, moves the
// watermark, and after a restart finds nothing new and writes nothing.
func TestReconcileFindsWhatTheStreamMissed(t *testing.T) {
	sim, env, clock := reconcileSystem(t, nil)
	batch := filepath.Join("..", "..", "testdata", "demo", "batch.ndjson")
	if code := Main(context.Background(), []string{"replay", "--file", batch, "--execute", "--operator", "stream-in-test"}, env); code != 0 {
		t.Fatalf("stream delivery (replay --execute) exit %d", code)
	}
	if n := removals(sim, "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"); n != 1 {
		t.Fatalf("the stream's leaked key removed %d times", n)
	}
	lag := 4*time.Minute + 12*time.Second
	clock.Add(lag)
	sum, sys := sweepOnce(t, env)
	t.Logf("sweep: %s", sum)

	// Missed by the stream: found, handled as the stream would have
	// (contained, or notify-only for a protected app), marked as
	// reconcile's.
	// 1e3a... is of a protected app (Payments-Core-API): notify only.
	for det, want := range map[string]struct {
		key      string
		removals int
	}{"7b3e9f1a": {"f0b0b335-1d71-4883-8f98-567911bfdca6", 1}, "1e3a5c7e": {"2f8a4c6e-0b1d-4e3f-a5c7-9e1b3d5f7a02", 0}} {
		ins := incidentsOf(t, sys.ledger, det)
		if len(ins) != 1 {
			t.Fatalf("detection %s: %d incidents", det, len(ins))
		}
		in := ins[0]
		if in.Found == nil || in.Found.First != "reconcile" || in.State != incident.StateDone || in.Signals[0].Source.Via != "reconcile" {
			t.Errorf("detection %s: found %+v, state %s", det, in.Found, in.State)
		}
		if n := removals(sim, want.key); n != want.removals {
			t.Errorf("detection %s: key %s removed %d times, want %d", det, want.key, n, want.removals)
		}
	}
	// Delivered by the stream: one incident, no second write, the lag recorded.
	ins := incidentsOf(t, sys.ledger, "2856d6e8")
	if len(ins) != 1 {
		t.Fatalf("stream's detection: %d incidents", len(ins))
	}
	in := ins[0]
	if in.Found == nil || in.Found.First != "stream" || in.Found.Later != "reconcile" || in.Found.Lag() != lag {
		t.Fatalf("stream's detection: found %+v", in.Found)
	}
	if !slices.ContainsFunc(in.History, func(e incident.Event) bool { return e.Detail == "also seen by the reconcile, 4m12s later" }) {
		t.Errorf("no history line with the lag: %+v", in.History)
	}
	if n := removals(sim, "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"); n != 1 {
		t.Errorf("the stream's leaked key removed %d times after reconcile", n)
	}
	t.Logf("lag recorded: stream first, reconcile %s later", in.Found.Lag())
	// The risky service principal the stream folded into 2856's incident
	// is not a second incident when reconcile lists it.
	risky := slices.DeleteFunc(incidentsOf(t, sys.ledger, ""), func(in *incident.Incident) bool { return in.Key.RiskState == "" })
	if n := len(risky); n == 0 || slices.ContainsFunc(risky, func(in *incident.Incident) bool {
		return in.Key.ServicePrincipalID == "b029d485-a308-4311-8720-fb3192e5284e"
	}) {
		t.Errorf("risky-service-principal incidents: %d, one of them for the stream's service principal", n)
	}

	// The watermark moved to the round's start, and survives a restart.
	wm, err := ledger.Watermarks{L: sys.ledger}.Get(context.Background(), reconcile.Detections)
	if err != nil || !wm.At.Equal(clock.Now()) {
		t.Fatalf("watermark %v (%v), want %v", wm.At, err, clock.Now())
	}
	writes := len(sim.Writes())
	clock.Add(5 * time.Minute)
	sum, sys = sweepOnce(t, env)
	if !strings.Contains(sum, "0 incident(s) new") || len(sim.Writes()) != writes {
		t.Fatalf("second round after a restart: %s; writes %d -> %d", sum, writes, len(sim.Writes()))
	}
	wm, _ = ledger.Watermarks{L: sys.ledger}.Get(context.Background(), reconcile.Detections)
	if !wm.At.Equal(clock.Now()) {
		t.Fatalf("watermark after the second round %v, want %v", wm.At, clock.Now())
	}
}

// TestHeartbeatPagesOnceForASilentCategory: sign-ins arrive through the
// intake (the demo batch), then stop. Past the limit one Sweep pages
// on-call through the pager webhook; later Sweeps, in new processes, stay
// quiet; when sign-ins arrive again the next Sweep says they resumed.
func TestHeartbeatPagesOnceForASilentCategory(t *testing.T) {
	var mu sync.Mutex
	var pages []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pages = append(pages, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	_, env, clock := reconcileSystem(t, map[string]string{"SPRESPONDER_RECONCILE": "false", "SPRESPONDER_PAGER_WEBHOOK": hook.URL, "SPRESPONDER_HEARTBEAT_SIGNINS": "30m", "SPRESPONDER_SECURITY_CONTACT": "security@contoso.com"})
	deliver := func() {
		t.Helper()
		cfg, err := loadConfig(env)
		if err != nil {
			t.Fatal(err)
		}
		sys, err := build(context.Background(), cfg, zap.NewNop(), env.Now, buildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		var events []invocation.Event
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(l, "{") {
				events = append(events, invocation.Event{Body: []byte(l)})
			}
		}
		// As the server does with a batch: read it, then tell the heartbeat.
		res, err := newIntake(cfg, sys.ledger, nil, zap.NewNop(), env.Now).Process(context.Background(), events)
		if err != nil || res.Stats.ByCategory["ServicePrincipalSignInLogs"] == 0 {
			t.Fatalf("delivery: %v %+v", err, res.Stats)
		}
		newHeartbeat(sys, zap.NewNop(), env.Now).Arrived(context.Background(), res.Stats.ByCategory)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(pages) }

	deliver()
	sum, _ := sweepOnce(t, env)
	if count() != 0 || !strings.Contains(sum, "ServicePrincipalSignInLogs last 0s ago") {
		t.Fatalf("fresh sign-ins: %s, %d pages", sum, count())
	}
	clock.Add(31 * time.Minute)
	sum, _ = sweepOnce(t, env)
	if count() != 1 || !strings.Contains(sum, "on-call paged") {
		t.Fatalf("silent 31m: %s, %d pages", sum, count())
	}
	for range 3 {
		clock.Add(5 * time.Minute)
		if sum, _ = sweepOnce(t, env); !strings.Contains(sum, "paged at") {
			t.Fatalf("still silent: %s", sum)
		}
	}
	if count() != 1 {
		t.Fatalf("the silence paged %d times", count())
	}
	deliver()
	sum, _ = sweepOnce(t, env)
	if count() != 2 || !strings.Contains(sum, "resumed: on-call told") {
		t.Fatalf("resumed: %s, %d pages", sum, count())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(pages[0], "streamSilent") || !strings.Contains(pages[0], "No ServicePrincipalSignInLogs record has reached the responder for 31m") ||
		!strings.Contains(pages[1], "streamResumed") {
		t.Fatalf("pages:\n%s\n%s", pages[0], pages[1])
	}
}

// TestReconcileBacksOffWhenThrottled: identity protection answers 429
// without Retry-After (graph-write-facts §5). After the SDK's own retries
// the round stops early, keeps the watermark and records a backoff in the
// ledger; the next Sweep inside the backoff does not call Graph at all;
// the one after it finishes the round.
func TestReconcileBacksOffWhenThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the SDK's retry delays (about 20s)")
	}
	sim, env, clock := reconcileSystem(t, nil)
	const route = "GET /identityProtection/servicePrincipalRiskDetections"
	// The first request and the SDK's three retries.
	if err := sim.AddFault(graphsim.Fault{Route: route, Kind: graphsim.FaultStatus, Status: 429, Times: 4}); err != nil {
		t.Fatal(err)
	}
	sum, sys := sweepOnce(t, env)
	if !strings.Contains(sum, "throttled after 0 page(s), round stopped, watermark kept") || strings.Contains(sum, "riskyServicePrincipals") {
		t.Fatalf("throttled round: %s", sum)
	}
	wm, err := ledger.Watermarks{L: sys.ledger}.Get(context.Background(), reconcile.Detections)
	if err != nil || !wm.At.IsZero() || wm.Throttled != 1 || !wm.BackoffUntil.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("after a throttled round: %+v %v", wm, err)
	}
	const riskyRoute = "GET /identityProtection/riskyServicePrincipals"
	calls, riskyCalls := sim.RouteCounts()[route], sim.RouteCounts()[riskyRoute]
	clock.Add(30 * time.Second)
	if sum, _ = sweepOnce(t, env); !strings.Contains(sum, "backing off after 1 throttled round(s)") || strings.Contains(sum, "riskyServicePrincipals") ||
		sim.RouteCounts()[route] != calls || sim.RouteCounts()[riskyRoute] != riskyCalls {
		t.Fatalf("inside the backoff: %s; Graph calls %d -> %d, risky %d -> %d", sum, calls, sim.RouteCounts()[route], riskyCalls, sim.RouteCounts()[riskyRoute])
	}
	clock.Add(time.Minute)
	if sum, _ = sweepOnce(t, env); !strings.Contains(sum, "incident(s) new") || sim.RouteCounts()[riskyRoute] == riskyCalls {
		t.Fatalf("after the backoff: %s", sum)
	}
	if wm, _ = (ledger.Watermarks{L: sys.ledger}).Get(context.Background(), reconcile.Detections); !wm.At.Equal(clock.Now()) || wm.Throttled != 0 {
		t.Fatalf("watermark after the backoff: %+v", wm)
	}
}

// TestReplayGraph: replay --graph lists what reconcile would, shows the
// plan without a write, then executes it on --execute; neither moves the
// Sweep's watermark. --held refuses --execute (a person redrives held
// incidents), and --parked with nothing parked says so.
func TestReplayGraph(t *testing.T) {
	sim, env, _ := reconcileSystem(t, nil)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		env.Stdout, env.Stderr = &out, &errb
		code := Main(context.Background(), append([]string{"replay"}, args...), env)
		return code, out.String() + errb.String()
	}
	code, out := run("--graph", "--since", "168h")
	if code != 0 || !strings.Contains(out, "servicePrincipalRiskDetections changed since") || !regexp.MustCompile(`writes [1-9]\d* planned / 0 done`).MatchString(out) || len(sim.Writes()) != 0 {
		t.Fatalf("plan: exit %d, %d writes\n%s", code, len(sim.Writes()), out)
	}
	code, out = run("--graph", "--since", "168h", "--execute", "--operator", "alice")
	if code != 0 || !regexp.MustCompile(`incidents [1-9]\d* new / \d+ already handled; writes \d+ planned / [1-9]\d* done`).MatchString(out) || len(sim.Writes()) == 0 {
		t.Fatalf("execute: exit %d, %d writes\n%s", code, len(sim.Writes()), out)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	led, err := openLedger(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if wm, _ := (ledger.Watermarks{L: led}).Get(context.Background(), reconcile.Detections); !wm.At.IsZero() {
		t.Fatalf("replay --graph moved the watermark to %v", wm.At)
	}
	if code, out = run("--held", "--execute"); code != 2 || !strings.Contains(out, "incidents redrive") {
		t.Fatalf("--held --execute: exit %d\n%s", code, out)
	}
	if code, out = run("--parked"); code != 0 || !strings.Contains(out, "0 parked incident(s)") || !strings.Contains(out, "summary: 0 signal(s); nothing to run") {
		t.Fatalf("--parked: exit %d\n%s", code, out)
	}
}

// TestHeartbeatPageNotDeliveredIsTriedAgain: a silence page the pager
// webhook refuses is taken back in the ledger, so the next Sweep pages
// again instead of believing on-call knows (invariant 8).
func TestHeartbeatPageNotDeliveredIsTriedAgain(t *testing.T) {
	var mu sync.Mutex
	fail, delivered := true, 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusBadRequest) // permanent: no retry inside the send
			return
		}
		delivered++
	}))
	defer hook.Close()
	_, env, clock := reconcileSystem(t, map[string]string{"SPRESPONDER_RECONCILE": "false", "SPRESPONDER_PAGER_WEBHOOK": hook.URL, "SPRESPONDER_SECURITY_CONTACT": "security@contoso.com"})
	sweepOnce(t, env) // starts watching: nothing has arrived yet
	clock.Add(31 * time.Minute)
	cfg, _ := loadConfig(env)
	sys, err := build(context.Background(), cfg, zap.NewNop(), env.Now, buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := sweeper{sys: sys, heartbeat: newHeartbeat(sys, zap.NewNop(), env.Now), log: zap.NewNop()}.Sweep(context.Background())
	if err != nil || !strings.Contains(sum, "page not delivered") {
		t.Fatalf("refused page: %s (%v)", sum, err)
	}
	hb, _, _ := ledger.Heartbeats{L: sys.ledger}.Get(context.Background(), "ServicePrincipalSignInLogs")
	if !hb.Paged.IsZero() {
		t.Fatalf("a page not delivered is recorded as paged: %+v", hb)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	clock.Add(2 * time.Minute)
	if sum, _ = sweepOnce(t, env); !strings.Contains(sum, "on-call paged") {
		t.Fatalf("next Sweep: %s", sum)
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered != 1 {
		t.Fatalf("delivered %d pages", delivered)
	}
}

// TestStreamAfterReconcileRecordsTheLag: the other order. Reconcile finds
// the leaked credential first and contains it; the stream delivers it
// 9m30s later (Entra's risk events are offline and can be late): one
// incident, one removal, "also seen by the stream, 9m30s later".
func TestStreamAfterReconcileRecordsTheLag(t *testing.T) {
	sim, env, clock := reconcileSystem(t, nil)
	_, sys := sweepOnce(t, env)
	clock.Add(9*time.Minute + 30*time.Second)
	batch := filepath.Join("..", "..", "testdata", "demo", "batch.ndjson")
	var out bytes.Buffer
	env.Stdout, env.Stderr = &out, &out
	if code := Main(context.Background(), []string{"replay", "--file", batch, "--execute", "--operator", "stream-in-test"}, env); code != 0 {
		t.Fatalf("stream delivery exit %d:\n%s", code, out.String())
	}
	ins := incidentsOf(t, sys.ledger, "2856d6e8")
	if len(ins) != 1 {
		t.Fatalf("%d incidents", len(ins))
	}
	in, err := sys.ledger.Get(context.Background(), ins[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if in.Found == nil || in.Found.First != "reconcile" || in.Found.Later != "stream" || in.Found.Lag() != 9*time.Minute+30*time.Second {
		t.Fatalf("found %+v", in.Found)
	}
	if !slices.ContainsFunc(in.History, func(e incident.Event) bool { return e.Detail == "also seen by the stream, 9m30s later" }) {
		t.Errorf("no history line with the lag")
	}
	if n := removals(sim, "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"); n != 1 {
		t.Errorf("key removed %d times", n)
	}
	out.Reset()
	if code := Main(context.Background(), []string{"incidents", "show", in.ID}, env); code != 0 || !strings.Contains(out.String(), "found    first by the reconcile; the stream 9m30s later") {
		t.Errorf("incidents show: exit %d\n%s", code, out.String())
	}
}

// TestReplayGraphNeedsTheTenant: Graph's items carry no tenant, so
// without the configured one replay --graph refuses with what to set.
func TestReplayGraphNeedsTheTenant(t *testing.T) {
	env, _, errb := testEnv(t, map[string]string{"SPRESPONDER_GRAPH_URL": "http://127.0.0.1:1/v1.0"})
	if code := Main(context.Background(), []string{"replay", "--graph"}, env); code != 1 || !strings.Contains(errb.String(), "replay --graph needs SPRESPONDER_TENANTS") {
		t.Fatalf("exit %d: %s", code, errb)
	}
}
