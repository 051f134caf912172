package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/server"
)

// TestReplayHTTPFunction posts the demo batch to the Replay function as
// the Functions host would: first a plan (nothing changes in the tenant),
// then execute=true (the secret is removed once, and the caller is on
// record as the platform names it, the operator text a label only).
func TestReplayHTTPFunction(t *testing.T) {
	sim, ln, call := replayServer(t, map[string]string{"SPRESPONDER_MODE": "enforce"})
	_ = ln
	status, plan := call(map[string]string{}, nil)
	if status != "200" || plan.Mode != "plan" || len(plan.Incidents) != 1 || !plan.Incidents[0].Actions[0].DryRun || len(sim.Writes()) != 0 {
		t.Fatalf("plan: %s %+v (writes %+v)", status, plan, sim.Writes())
	}
	// Without App Service Authentication, principal headers are anyone's
	// to send: the caller is the function key holder at its address.
	headers := map[string][]string{"X-Forwarded-For": {"198.51.100.7:51234, 10.0.0.4"}, "X-MS-CLIENT-PRINCIPAL-NAME": {"ceo@contoso.com"}}
	status, done := call(map[string]string{"execute": "true", "operator": "alice"}, headers)
	if status != "200" || done.Mode != "execute" || len(done.Incidents) != 1 {
		t.Fatalf("execute: %s %+v", status, done)
	}
	in := done.Incidents[0]
	if in.Actions[0].State != "done" || !strings.Contains(in.Operator, "function key holder from 198.51.100.7") || !strings.Contains(in.Operator, "label: alice") ||
		strings.Contains(in.Operator, "ceo@") || len(sim.Writes()) != 1 {
		t.Fatalf("incident operator %q actions %+v, writes %+v", in.Operator, in.Actions, sim.Writes())
	}
}

// Attack 5: the service runs in dry-run; a function-key holder asks the
// Replay function to execute. Nothing a caller sends turns dry-run into
// enforce.
func TestAttackReplayHTTPCannotBypassDryRun(t *testing.T) {
	sim, _, call := replayServer(t, map[string]string{"SPRESPONDER_MODE": "dry-run"})
	status, ans := call(map[string]string{"execute": "true", "operator": "alice"}, nil)
	if status != "403" || !strings.Contains(ans.Error, "dry-run") || len(sim.Writes()) != 0 {
		t.Fatalf("execute in dry-run: %s %+v writes %+v", status, ans, sim.Writes())
	}
}

// With App Service Authentication on, the platform's principal headers name
// the caller.
func TestReplayHTTPRecordsSignedInCaller(t *testing.T) {
	_, _, call := replayServer(t, map[string]string{"SPRESPONDER_MODE": "enforce", "WEBSITE_AUTH_ENABLED": "true"})
	headers := map[string][]string{"x-ms-client-principal-name": {"bob@contoso.com"}, "X-MS-CLIENT-PRINCIPAL-ID": {"0d1f-bob"}}
	status, done := call(map[string]string{"execute": "true"}, headers)
	if status != "200" || len(done.Incidents) != 1 || !strings.Contains(done.Incidents[0].Operator, "bob@contoso.com (principal 0d1f-bob, signed in)") {
		t.Fatalf("%s %+v", status, done)
	}
}

type replayCall func(query map[string]string, headers map[string][]string) (string, replayAnswer)

func replayServer(t *testing.T, settings map[string]string) (interface{ Writes() []graphsim.Write }, net.Listener, replayCall) {
	t.Helper()
	sim, graphURL := startDemoTenant(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	all := map[string]string{"SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090", "SPRESPONDER_GRAPH_URL": graphURL}
	for k, v := range settings {
		all[k] = v
	}
	env, _, _ := testEnv(t, all)
	cfg, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	log := zap.NewNop()
	sys, err := build(ctx, cfg, log, time.Now, buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nets := &capolicy.Networks{Configured: sys.rules.AllowedNetworksOf}
	srv := server.New(newIntake(cfg, sys.ledger, nets, log, time.Now), sys.responder, nil, log).
		WithReplayer(httpReplayer{cfg: cfg, nets: nets, log: log, now: time.Now, keeper: sys.ledger, sys: sys})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln, time.Second) }()
	batch, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	call := func(query map[string]string, headers map[string][]string) (string, replayAnswer) {
		t.Helper()
		inv, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": map[string]any{
			"Url": "https://app.azurewebsites.net/api/replay", "Method": "POST", "Query": query, "Headers": headers, "Body": string(batch),
		}}, "Metadata": map[string]any{}})
		resp, err := http.Post("http://"+ln.Addr().String()+"/Replay", "application/json", bytes.NewReader(inv))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out struct {
			Outputs struct {
				Res struct {
					StatusCode string `json:"statusCode"`
					Body       string `json:"body"`
				} `json:"res"`
			}
		}
		if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("answer %d %s", resp.StatusCode, raw)
		}
		var ans replayAnswer
		if err := json.Unmarshal([]byte(out.Outputs.Res.Body), &ans); err != nil {
			t.Fatalf("res body: %v: %s", err, out.Outputs.Res.Body)
		}
		return out.Outputs.Res.StatusCode, ans
	}

	return sim, ln, call
}
