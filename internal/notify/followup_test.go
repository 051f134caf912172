package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// TestFollowUpCard renders the "handled by" card with the real Adaptive
// Cards library in headless Chromium (tools/render) and fails on any parse
// warning or error; hostile names stay text; it stays small.
func TestFollowUpCard(t *testing.T) {
	in := notifytest.ExampleIncident()
	at := time.Date(2026, 11, 29, 9, 30, 0, 0, time.UTC)
	card, err := notify.RenderFollowUp(in, notify.Handled{Action: "approve", By: "AlexW@contoso.com [click](https://evil.example) **now**",
		Via: "teams (webhook:default)", Result: "removed dbcd79c0 from the application", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if len(card) > 4<<10 || !strings.Contains(string(card), "Removal approved") || strings.Contains(string(card), "[click](https://evil") {
		t.Fatalf("card (%d bytes): %s", len(card), card)
	}
	var payload struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(card, &payload); err != nil || payload.Type != "message" || len(payload.Attachments) != 1 ||
		payload.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("not a Workflows message: %v %s", err, card)
	}
	if testing.Short() {
		t.Skip("-short: real Adaptive Cards render check skipped")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium): real render check skipped")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: real render check skipped")
	}
	tool, _ := filepath.Abs(filepath.Join(repoRoot, "tools", "render"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(tool, "node_modules", "adaptivecards", "dist", "adaptivecards.min.js")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatalf("tools/render/node_modules is missing and npm is not installed")
		}
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = tool
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in tools/render: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "followup.json")
	if err := os.WriteFile(p, card, 0o644); err != nil {
		t.Fatal(err)
	}
	job, _ := json.Marshal(map[string]any{"chromium": chromium, "cards": []map[string]string{{"name": "followup", "path": p}}, "emails": []any{}})
	jp := filepath.Join(dir, "job.json")
	if err := os.WriteFile(jp, job, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(tool, "render.mjs"), jp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res struct {
		Cards []struct {
			Warnings []string       `json:"warnings"`
			Errors   []string       `json:"errors"`
			Height   int            `json:"height"`
			Elements map[string]int `json:"elements"`
		} `json:"cards"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res.Cards) != 1 {
		t.Fatalf("render harness: %v (exit %v)\n%s\n%s", err, runErr, stdout.String(), stderr.String())
	}
	c := res.Cards[0]
	if len(c.Warnings)+len(c.Errors) > 0 || runErr != nil {
		t.Fatalf("follow-up card: warnings %v errors %v (exit %v)", c.Warnings, c.Errors, runErr)
	}
	t.Logf("follow-up card: %d bytes, rendered %v, %d px high", len(card), c.Elements, c.Height)
}
