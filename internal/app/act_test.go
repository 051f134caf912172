package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/act"
	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/replay"
	"github.com/spresponder/spresponder/internal/server"
)

// The demo tenant's people: Alex owns the leaked app (Terraform-Datadog-CLI),
// Megan owns its service principal, Lee owns another app only, Isaiah is in
// the security group the test adds.
const (
	actKeyB64   = "c3ByZXNwb25kZXItYWN0LXRlc3Qta2V5LTAxMjM0NTY3ODk="
	actOrigin   = "https://spresponder.example.net"
	leakedAppID = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	leakedKey   = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	otherSecret = "5e1c7a3b-8d24-4f96-b0e1-3a7c9d2f6b84"
	alexID      = "8105c513-d24b-4b8d-9035-f8d48854d703"
	meganID     = "3c0f6e2a-9b1d-4e57-8a2c-5d7f1b9e4a60"
	leeID       = "9a4f2c71-3e8b-4d6a-a5c0-7b1e2d9f8c03"
	isaiahID    = "6b2e9d14-7c3a-4f85-b1e0-2a9c8d7f5e31"
	secGroupID  = "7d1e3f5a-9b2c-4d6e-8f0a-1b3c5d7e9f20"
)

type actClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *actClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *actClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type actHarness struct {
	t       *testing.T
	sim     *graphsim.Tenant
	sys     *system
	iss     *act.Issuer
	clock   *actClock
	addr    string
	logs    *bytes.Buffer
	teams   *teamsSink
	held    *incident.Incident
	tenant0 string
}

// teamsSink stands in for the Teams Workflows webhook.
type teamsSink struct {
	mu    sync.Mutex
	posts []string
}

func (s *teamsSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.posts, "\n")
}

// newActHarness runs the demo batch against the simulated tenant with the
// breaker's quota already used, so the leaked secret's removal is held for
// a person, then serves the Act function as the host would call it.
func newActHarness(t *testing.T, settings map[string]string) *actHarness {
	t.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed.Groups = append(seed.Groups, graphsim.Group{ID: secGroupID, DisplayName: "Security responders", Members: []string{"0f0e0d0c-0b0a-4909-8807-060504030201"}},
		graphsim.Group{ID: "0f0e0d0c-0b0a-4909-8807-060504030201", DisplayName: "SOC tier 2", Members: []string{isaiahID}})
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	graphURL, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &teamsSink{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sink.mu.Lock()
		sink.posts = append(sink.posts, string(b))
		sink.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hook.Close)
	all := map[string]string{
		"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090", "SPRESPONDER_GRAPH_URL": graphURL,
		"SPRESPONDER_ACT_URL": actOrigin, "SPRESPONDER_ACT_KEY": actKeyB64, "SPRESPONDER_ACT_GROUP": secGroupID,
		"SPRESPONDER_BREAKER_LIMIT": "1", "SPRESPONDER_BREAKER_WINDOW": "1h", "WEBSITE_AUTH_ENABLED": "true",
		"SPRESPONDER_TEAMS_WEBHOOK": hook.URL + "/workflows/secret-sig", "SPRESPONDER_SECURITY_CONTACT": "secops-noreply@contoso.com",
	}
	for k, v := range settings {
		all[k] = v
	}
	env, _, _ := testEnv(t, all)
	cfg, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	clock := &actClock{t: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
	logs := &bytes.Buffer{}
	log := NewLogger(&lockedWriter{w: logs}, "debug")
	sys, err := build(ctx, cfg, log, clock.now, buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Another incident used the breaker's one write of the hour.
	br := breaker.New(ledger.BreakerStore{L: sys.ledger}, 1, time.Hour, clock.now)
	if d, err := br.Allow(ctx, "4bbb79f7-5724-4c9e-95f3-de075f6ec090", 1); err != nil || !d.Allowed {
		t.Fatalf("use the breaker's quota: %+v %v", d, err)
	}
	batch, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := replay.Events(batch, server.EventsBinding)
	if err != nil {
		t.Fatal(err)
	}
	nets := &capolicy.Networks{Configured: sys.rules.AllowedNetworksOf}
	res, err := newIntake(cfg, sys.ledger, nets, log, clock.now).Process(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sys.responder.Handle(ctx, res.Signals, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &actHarness{t: t, sim: sim, sys: sys, clock: clock, logs: logs, teams: sink}
	for _, in := range out.Incidents {
		if in.Key.AppID == leakedAppID && in.State == incident.StateHeld {
			h.held = in
		}
	}
	if h.held == nil || len(sim.Writes()) != 0 {
		t.Fatalf("want the leaked secret's removal held by the breaker, no write: incidents %d, writes %+v", len(out.Incidents), sim.Writes())
	}
	// The card's Teams post is recorded as done (the follow-up goes there).
	if h.held.Notification("teams", "webhook:default") == nil {
		t.Fatalf("the card was not posted to Teams: %+v", h.held.Notified)
	}
	if h.iss, err = newIssuer(cfg, clock.now); err != nil {
		t.Fatal(err)
	}
	actor, err := newActFunction(cfg, sys, log, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(nil, nil, nil, log).WithActor(actor)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln, time.Second) }()
	h.addr = "http://" + ln.Addr().String()
	h.tenant0 = h.keysOnApp()
	return h
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// link issues the button of an action for a recipient, as the card would.
func (h *actHarness) link(action, recipient string) string {
	h.t.Helper()
	links, err := h.iss.Links(context.Background(), h.current(), recipient)
	if err != nil {
		h.t.Fatal(err)
	}
	if action == act.Report {
		return links.Report
	}
	for _, b := range links.Buttons {
		if b.Kind == action {
			return b.URL
		}
	}
	h.t.Fatalf("no %s button for %s: %+v", action, recipient, links.Buttons)
	return ""
}

func tokenIn(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("t") == "" {
		t.Fatalf("link %q", link)
	}
	return u.Query().Get("t")
}

type who struct{ id, name string }

var (
	alex   = &who{alexID, "AlexW@contoso.com"}
	megan  = &who{meganID, "MeganB@contoso.com"}
	lee    = &who{leeID, "LeeG@contoso.com"}
	isaiah = &who{isaiahID, "IsaiahL@contoso.com"}
)

// call invokes the Act function as the Functions host does.
func (h *actHarness) call(method, token string, as *who, extra map[string][]string) (int, string) {
	h.t.Helper()
	headers := map[string][]string{"X-Forwarded-For": {"198.51.100.7:5000"}}
	if as != nil {
		headers["X-MS-CLIENT-PRINCIPAL-ID"] = []string{as.id}
		headers["X-MS-CLIENT-PRINCIPAL-NAME"] = []string{as.name}
	}
	req := map[string]any{"Url": actOrigin + "/api/act", "Method": method, "Query": map[string]string{}, "Headers": headers}
	if method == "GET" {
		req["Query"] = map[string]string{"t": token}
	} else {
		headers["Origin"] = []string{actOrigin}
		headers["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		req["Body"] = url.Values{"t": {token}, "confirm": {"yes"}}.Encode()
	}
	for k, v := range extra {
		headers[k] = v
	}
	inv, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": req}, "Metadata": map[string]any{}})
	resp, err := http.Post(h.addr+"/Act", "application/json", bytes.NewReader(inv))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Outputs struct {
			Res struct {
				StatusCode string            `json:"statusCode"`
				Body       string            `json:"body"`
				Headers    map[string]string `json:"headers"`
			} `json:"res"`
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("answer %d %s", resp.StatusCode, raw)
	}
	if out.Outputs.Res.Headers["Content-Security-Policy"] == "" {
		h.t.Fatalf("page without its security headers: %+v", out.Outputs.Res.Headers)
	}
	status, err := strconv.Atoi(out.Outputs.Res.StatusCode)
	if err != nil {
		h.t.Fatalf("status %q", out.Outputs.Res.StatusCode)
	}
	return status, out.Outputs.Res.Body
}

func (h *actHarness) current() *incident.Incident {
	h.t.Helper()
	in, err := h.sys.ledger.Get(context.Background(), h.held.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return in
}

// keysOnApp lists the leaked app's secrets and certificates as Graph has them.
func (h *actHarness) keysOnApp() string {
	a, ok := h.sim.Application(leakedAppID)
	if !ok {
		h.t.Fatal("leaked app missing")
	}
	var ids []string
	for _, p := range a.PasswordCredentials {
		ids = append(ids, p.KeyID)
	}
	for _, k := range a.KeyCredentials {
		ids = append(ids, k.KeyID)
	}
	return strings.Join(ids, ",")
}

func (h *actHarness) spent(token string) bool {
	h.t.Helper()
	tok, _, err := act.Keys{Current: mustB64(h.t, actKeyB64)}.Verify(token, h.clock.now())
	if err != nil {
		h.t.Fatal(err)
	}
	spent, err := ledger.ActionTokens{L: h.sys.ledger}.Spent(context.Background(), tok.Nonce)
	if err != nil {
		h.t.Fatal(err)
	}
	return spent
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *actHarness) historyHas(what, detail string) bool {
	for _, e := range h.current().History {
		if e.Step == "act" && e.What == what && strings.Contains(e.Detail+" "+e.Actor, detail) {
			return true
		}
	}
	return false
}

// noSecretsLogged: neither the signing key nor any full token reaches a
// log line.
func (h *actHarness) noSecretsLogged(tokens ...string) {
	h.t.Helper()
	logs := h.logs.String()
	for _, s := range append(tokens, actKeyB64, "secret-sig") {
		if s != "" && strings.Contains(logs, s) {
			h.t.Fatalf("a secret (%.12s...) is in the logs", s)
		}
	}
}

func killSwitchFor(h *actHarness) ledger.KillSwitch {
	return ledger.KillSwitch{L: h.sys.ledger, Now: h.clock.now}
}
