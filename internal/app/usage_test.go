package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/lasim"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
)

// TestPhoneWithoutWebhookIsRefused: a rules file whose reach section asks
// to phone the security contact, without the phone webhook, stops the
// command with the setting named, before anything runs.
func TestPhoneWithoutWebhookIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	y := string(rules.DefaultYAML()) + "\nreach:\n  critical: {do: [confirmCompromised], page: true, phone: true}\n  normal: {notify: owners}\n"
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _, errb := testEnv(t, map[string]string{"SPRESPONDER_RULES": file, "SPRESPONDER_GRAPH_URL": "http://127.0.0.1:9"})
	code := Main(context.Background(), []string{"incidents", "redrive", "inc-000000000000000000000000"}, env)
	if code == 0 || !strings.Contains(errb.String(), "SPRESPONDER_SECURITY_PHONE_WEBHOOK is not set") {
		t.Fatalf("exit %d: %s", code, errb)
	}
}

// TestCheckProbesTheWorkspace: check runs the use's own query against the
// workspace (lasim through the real azlogs client): readable with the
// role, "permission Log Analytics Reader missing" without it; a source
// that is not configured says so.
func TestCheckProbesTheWorkspace(t *testing.T) {
	const ws = "8a1c5e3b-2f4d-4b6a-9c8e-7d6f5e4a3b2c"
	la := lasim.New(ws, nil)
	u, err := la.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = la.Close() }()
	cfg := config.Config{UsageWorkspace: ws, UsageLogAnalyticsURL: u}
	ck := &setup.Checker{Use: useProbes(cfg, zap.NewNop(), time.Now)}
	results := ck.Run(context.Background()).Results
	text := fmt.Sprint(results)
	if !strings.Contains(text, "use: Log Analytics workspace "+ws+" ok readable") || !strings.Contains(text, "use: event hub ok not configured") {
		t.Fatalf("with the role: %+v", results)
	}
	la.Forbid(true)
	results = ck.Run(context.Background()).Results
	i := slices.IndexFunc(results, func(r setup.Result) bool { return r.Check == "use: Log Analytics workspace "+ws })
	if i < 0 || results[i].Status != setup.Missing || !strings.Contains(results[i].Fix, "Log Analytics Reader") || results[i].Required {
		t.Fatalf("without the role: %+v", results)
	}
}
