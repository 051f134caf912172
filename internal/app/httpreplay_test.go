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

	"github.com/spresponder/spresponder/internal/server"
)

// TestReplayHTTPFunction posts the demo batch to the Replay function as
// the Functions host would: first a plan (nothing changes in the tenant),
// then execute=true with an operator (the secret is removed once and the
// operator is on record), and execute without an operator is refused.
func TestReplayHTTPFunction(t *testing.T) {
	sim, graphURL := startDemoTenant(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, _, _ := testEnv(t, map[string]string{
		"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090", "SPRESPONDER_GRAPH_URL": graphURL,
	})
	cfg, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	log := zap.NewNop()
	sys, err := build(ctx, cfg, log, time.Now, buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nets := &networks{rules: sys.rules}
	srv := server.New(newIntake(cfg, sys.ledger, nets, log, time.Now), sys.responder, nil, log).
		WithReplayer(httpReplayer{cfg: cfg, nets: nets, log: log, now: time.Now, keeper: sys.ledger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln, time.Second) }()
	batch, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	call := func(query map[string]string) (string, replayAnswer) {
		t.Helper()
		inv, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": map[string]any{
			"Url": "https://app.azurewebsites.net/api/replay", "Method": "POST", "Query": query, "Body": string(batch),
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

	status, plan := call(map[string]string{})
	if status != "200" || plan.Mode != "plan" || len(plan.Incidents) != 1 || !plan.Incidents[0].Actions[0].DryRun || len(sim.Writes()) != 0 {
		t.Fatalf("plan: %s %+v (writes %+v)", status, plan, sim.Writes())
	}
	if status, ans := call(map[string]string{"execute": "true"}); status != "400" || !strings.Contains(ans.Error, "operator") {
		t.Fatalf("execute without operator: %s %+v", status, ans)
	}
	status, done := call(map[string]string{"execute": "true", "operator": "alice"})
	if status != "200" || done.Mode != "execute" || len(done.Incidents) != 1 {
		t.Fatalf("execute: %s %+v", status, done)
	}
	in := done.Incidents[0]
	if in.Actions[0].State != "done" || !strings.Contains(in.Operator, "alice") || len(sim.Writes()) != 1 {
		t.Fatalf("incident %+v, writes %+v", in, sim.Writes())
	}
}
