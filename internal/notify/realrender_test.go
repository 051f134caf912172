package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// TestRealRenderer renders the cards with the real Adaptive Cards library
// and the emails in headless Chromium (tools/render), and fails on any parse
// warning, validation error or render error. With -update it rewrites the
// screenshots in docs/img. It is skipped, with the reason, where Chromium
// or Node is not installed.
func TestRealRenderer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: real Adaptive Cards render check (Chromium, about 30s) skipped")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/chromium"); serr != nil {
			t.Skip("chromium not installed (apt-get install -y chromium): real Adaptive Cards render check skipped")
		}
		chromium = "/usr/bin/chromium"
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: real Adaptive Cards render check skipped")
	}
	tool, err := filepath.Abs(filepath.Join(repoRoot, "tools", "render"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
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
	type item struct {
		Name string `json:"name"`
		Path string `json:"path"`
		PNG  string `json:"png,omitempty"`
	}
	job := struct {
		Chromium string `json:"chromium"`
		Cards    []item `json:"cards"`
		Emails   []item `json:"emails"`
	}{Chromium: chromium}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		in   *incident.Incident
		shot bool
	}{
		{"example", notifytest.ExampleIncident(), true},
		{"withheld", withheldIncident(), false},
		{"unverified", unverifiedIncident(), false},
		{"reach", reachIncident(), false},
		{"huge", notifytest.HugeIncident(500), false},
		{"hostile", hostileIncident(), false},
	} {
		card, err := notify.RenderCard(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		it := item{Name: c.name, Path: write("card-"+c.name+".json", card)}
		if c.shot {
			it.PNG = filepath.Join(dir, "teams-card.png")
		}
		job.Cards = append(job.Cards, it)
		e, err := notify.RenderEmail(c.in, c.in.Recipients[0])
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		it = item{Name: c.name, Path: write("email-"+c.name+".html", []byte(e.HTML))}
		if c.shot {
			it.PNG = filepath.Join(dir, "email.png")
		}
		job.Emails = append(job.Emails, it)
	}
	jb, _ := json.Marshal(job)
	jobPath := write("job.json", jb)

	cmd := exec.CommandContext(ctx, node, filepath.Join(tool, "render.mjs"), jobPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res struct {
		Cards []struct {
			Name     string         `json:"name"`
			Warnings []string       `json:"warnings"`
			Errors   []string       `json:"errors"`
			Height   int            `json:"height"`
			Elements map[string]int `json:"elements"`
		} `json:"cards"`
		Emails []struct {
			Name   string   `json:"name"`
			Errors []string `json:"errors"`
			Height int      `json:"height"`
		} `json:"emails"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("render harness: %v (exit: %v)\nstdout:\n%s\nstderr:\n%s", err, runErr, stdout.String(), stderr.String())
	}
	if len(res.Cards) != len(job.Cards) || len(res.Emails) != len(job.Emails) {
		t.Fatalf("render harness checked %d cards and %d emails, want %d and %d", len(res.Cards), len(res.Emails), len(job.Cards), len(job.Emails))
	}
	for _, c := range res.Cards {
		for _, w := range c.Warnings {
			t.Errorf("card %s: Adaptive Cards parse warning: %s", c.Name, w)
		}
		for _, e := range c.Errors {
			t.Errorf("card %s: %s", c.Name, e)
		}
		t.Logf("card %s: rendered %v, %d px high", c.Name, c.Elements, c.Height)
	}
	for _, e := range res.Emails {
		for _, x := range e.Errors {
			t.Errorf("email %s: %s", e.Name, x)
		}
		t.Logf("email %s: %d px high", e.Name, e.Height)
	}
	if runErr != nil && !t.Failed() {
		t.Fatalf("render harness exited with %v\n%s", runErr, stderr.String())
	}
	if t.Failed() || !*update {
		return
	}
	img := filepath.Join(repoRoot, "docs", "img")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"teams-card.png", "email.png"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(img, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hostileIncident carries text that tries to become markup: Markdown links
// and emphasis for the card, HTML for the email, CR/LF for mail headers, and
// bidirectional overrides.
func hostileIncident() *incident.Incident {
	in := notifytest.ExampleIncident()
	evil := "<script>alert(1)</script> [click here](https://evil.example/x) **URGENT** _now_ `code` \u202Egnp.exe\r\nBcc: victim@evil.example"
	in.App.DisplayName = evil
	in.Signals[0].DisplayName = evil
	in.Credentials[0].DisplayName = "# heading <img src=x onerror=alert(1)>"
	in.Signals[1].Location = "1. <b>bold</b> [x](javascript:alert(1))"
	in.Verdict.Policies[0].DisplayName = "> quote | table | ~~strike~~"
	in.Recipients[0].Name = "Mallory <mallory@evil.example>\r\nX-Injected: yes"
	in.History = append(in.History, incident.Event{At: in.Updated, Step: "contain", What: "<iframe src=https://evil.example>", Detail: "[a](https://evil.example)", Actor: "eve"})
	return in
}
