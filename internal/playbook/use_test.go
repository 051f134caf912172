package playbook_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/lasim"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/usage"
)

const useWorkspace = "8a1c5e3b-2f4d-4b6a-9c8e-7d6f5e4a3b2c"

// useResponder rebuilds the harness's responder with the use of the
// credential read from a simulated Log Analytics workspace through the
// real azlogs client.
func (h *harness) useResponder(sim *lasim.Server) {
	h.t.Helper()
	endpoint, err := sim.Start("127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = sim.Close() })
	la, err := usage.NewLogAnalyticsClient(endpoint, usage.StaticToken("t"))
	if err != nil {
		h.t.Fatal(err)
	}
	cli, err := graph.New(graph.Config{BaseURL: h.base, Credential: graph.StaticToken("test-token"), RequestTimeout: 3 * time.Second, Budget: h.budget})
	if err != nil {
		h.t.Fatal(err)
	}
	br := breaker.New(breaker.NewMemory(), h.limit, time.Hour, time.Now)
	g := usage.New(zap.NewNop(), time.Now, &usage.LogAnalytics{Client: la, Workspace: useWorkspace})
	h.r = playbook.New(cli, h.store, h.rules, br, h.notifier, h.pages, h.cfg, h.log, time.Now,
		playbook.WithGuards(h.store), playbook.WithUse(g, 5*time.Second), playbook.WithPolicyCache(h.policies))
	h.cli = cli
}

func keySignIn(id string, at time.Time, code int) detect.Signal {
	return detect.Signal{Kind: detect.KeySignIn, TenantID: tenant, AppID: tfApp, ServicePrincipalID: tfSP, KeyIDs: []string{tfSecret},
		DetectionID: id, ErrorCode: code, IPAddress: "203.0.113.9", Location: "Lagos, NG", Resource: "Microsoft Graph", Time: at,
		Source: detect.Source{Partition: "1", SequenceNumber: 7}}
}

// TestUseReadAfterContainment: the sign-ins with the leaked key since the
// detection are read after the removal (never before it, and not one Graph
// request more), recorded on the incident and said first in words.
func TestUseReadAfterContainment(t *testing.T) {
	before := lasim.SignIn{ID: "5e1f0000-0000-4000-8000-000000000001", Tenant: tenant, AppID: tfApp, ServicePrincipalID: tfSP,
		KeyID: tfSecret, Time: leak(tfApp, tfSP, tfLeak, tfSecret).Time.Add(5 * time.Minute), IP: "10.1.2.3", City: "Amsterdam", Country: "NL",
		Resource: "Microsoft Graph", CAStatus: "notApplied"}
	sim := lasim.New(useWorkspace, []lasim.Row{before.Row(useWorkspace)})

	plain := newHarness(t)
	plain.only(plain.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))

	h := newHarness(t)
	h.useResponder(sim)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if in.State != incident.StateDone || in.Use == nil || in.Use.Total() != 1 || in.Use.SignIns[0].IPAddress != "10.1.2.3" || in.Use.SignIns[0].AfterRemoval {
		t.Fatalf("state %s use %+v", in.State, in.Use)
	}
	if got, want := len(h.sim.Requests()), len(plain.sim.Requests()); got != want {
		t.Errorf("the use made %d Graph requests more (want 0: it reads the hub and Log Analytics only)", got-want)
	}
	if len(sim.Queries()) != 1 {
		t.Errorf("queries: %d", len(sim.Queries()))
	}
	if len(h.pages.reasons) != 0 {
		t.Errorf("a sign-in before the removal pages nobody: %q", h.pages.reasons)
	}
	if !slices.ContainsFunc(in.History, func(e incident.Event) bool { return e.Step == "use" && strings.Contains(e.Detail, "1 sign-in(s)") }) {
		t.Errorf("history does not record the use: %+v", in.History)
	}
}

// TestSuccessAfterRemovalPagesOnce: sign-ins with the removed key that
// keep arriving are attached to the incident as they come; the first that
// succeeds after the removal pages on-call ("the credential still works
// somewhere"), and nothing after it pages again: a redelivery, another
// success, a failure.
func TestSuccessAfterRemovalPagesOnce(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	if len(h.pages.reasons) != 0 {
		t.Fatalf("pages before: %q", h.pages.reasons)
	}
	removal := in.Actions[0].Finished
	if in.Actions[0].State != incident.Done || removal.IsZero() {
		t.Fatalf("the leaked secret was not removed: %+v", in.Actions)
	}

	// A failure with the removed key: attached, no page.
	out := h.handle(keySignIn("5e1f0000-0000-4000-8000-0000000000f1", removal.Add(time.Minute), 7000215))
	if out.Use != 1 || len(h.pages.reasons) != 0 {
		t.Fatalf("failure: attached %d, pages %q", out.Use, h.pages.reasons)
	}
	// A success after the removal: page.
	ok := keySignIn("5e1f0000-0000-4000-8000-0000000000f2", removal.Add(2*time.Minute), 0)
	h.handle(ok)
	if len(h.pages.reasons) != 1 || !strings.HasPrefix(h.pages.reasons[0], "the credential still works somewhere: ") ||
		!strings.Contains(h.pages.reasons[0], "203.0.113.9 (Lagos, NG)") {
		t.Fatalf("pages after a success: %q", h.pages.reasons)
	}
	// Again (a redelivery), and another success: no second page.
	h.handle(ok, keySignIn("5e1f0000-0000-4000-8000-0000000000f3", removal.Add(3*time.Minute), 0))
	if len(h.pages.reasons) != 1 {
		t.Fatalf("paged again: %q", h.pages.reasons)
	}
	got, err := h.store.L.Get(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := got.Use
	if u == nil || u.Total() != 3 || u.Successes != 2 || u.StillWorks == nil || u.StillWorks.ID != ok.DetectionID || !u.SignIns[1].AfterRemoval {
		t.Fatalf("use on the incident: %+v", u)
	}
}

// TestSuccessBeforeRemovalDoesNotPage: a sign-in with the key before its
// removal (or with a key never removed: a dry run) is use, not a page.
func TestSuccessBeforeRemovalDoesNotPage(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.cfg.Enforce = false })
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	h.handle(keySignIn("5e1f0000-0000-4000-8000-0000000000f4", time.Now().Add(time.Minute), 0))
	got, err := h.store.L.Get(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Use == nil || got.Use.Total() != 1 || got.Use.StillWorks != nil || len(h.pages.reasons) != 0 {
		t.Fatalf("dry run: use %+v pages %q", got.Use, h.pages.reasons)
	}
}

// TestAttachedSignInsDoNotGrowTheHistory: a job that keeps trying the
// removed key is counted in full, but writes a bounded number of history
// lines; the sign-ins kept are bounded too (incident.MaxUseSignIns).
func TestAttachedSignInsDoNotGrowTheHistory(t *testing.T) {
	h := newHarness(t)
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	removal := in.Actions[0].Finished
	var sigs []detect.Signal
	for i := range 30 {
		sigs = append(sigs, keySignIn(fmt.Sprintf("5e1f0000-0000-4000-8000-%012d", 100+i), removal.Add(time.Duration(i+1)*time.Minute), 7000215))
	}
	h.handle(sigs...)
	got, err := h.store.L.Get(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, e := range got.History {
		if e.What == "sign-in with the key seen" {
			lines++
		}
	}
	if got.Use.Total() != 30 || got.Use.Failures != 30 || lines != 20 || len(h.pages.reasons) != 0 {
		t.Fatalf("total %d, history lines %d, pages %q", got.Use.Total(), lines, h.pages.reasons)
	}
}
