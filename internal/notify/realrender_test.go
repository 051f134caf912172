package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/rendercheck"
)

// realRenderer finds Chromium and Node and installs the harness's
// libraries, or skips the test with the reason.
func realRenderer(t *testing.T) (chromium, node, tool string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: real Adaptive Cards render check (Chromium, about 30s) skipped")
	}
	chromium, node, err := rendercheck.Tools()
	if err != nil {
		t.Skip(err.Error() + ": real render check skipped")
	}
	tool, err = filepath.Abs(filepath.Join(repoRoot, "tools", "render"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rendercheck.Install(t.Context(), tool); err != nil {
		t.Fatal(err)
	}
	return chromium, node, tool
}

// TestRealRenderer renders the cards with the real Adaptive Cards library
// and the emails and report pages in headless Chromium (tools/render),
// and fails on any parse warning, validation error, render error, or a
// card or page wider than its window (desktop and phone widths). It is
// skipped, with the reason, where Chromium or Node is not installed. The
// screenshots in docs/img come from `make screenshots`.
func TestRealRenderer(t *testing.T) {
	chromium, node, tool := realRenderer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	job := rendercheck.Job{Chromium: chromium}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	links := exampleLinks("webhook:default")
	// Each Chromium run takes seconds: every incident's card is checked
	// at the card's usual width, and the phone width (390) where layout
	// could break; emails and pages where they differ.
	for _, c := range []struct {
		name  string
		in    *incident.Incident
		links notify.ActionLinks
		cards []int // widths; 0 is the harness's default
		email bool
		pages []int
	}{
		{"example", notifytest.ExampleIncident(), notify.ActionLinks{}, []int{0}, false, nil},
		{"example-links", notifytest.ExampleIncident(), links, []int{0, 390}, true, []int{1280, 390}},
		{"withheld", withheldIncident(), links, []int{0}, false, nil},
		{"unverified", unverifiedIncident(), notify.ActionLinks{Buttons: links.Buttons[1:]}, []int{0}, true, []int{390}},
		{"reach", reachIncident(), links, []int{0}, false, nil},
		{"hostile", hostileIncident(), links, []int{390}, true, []int{390}},
		{"huge", notifytest.HugeIncident(500), links, nil, true, []int{390}},
		{"largest", largestIncident(), maxLinks(), []int{390}, false, nil},
	} {
		card, err := notify.RenderCardWith(c.in, c.links)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cardPath := write("card-"+c.name+".json", card)
		for _, w := range c.cards {
			job.Cards = append(job.Cards, rendercheck.Item{Name: c.name + at(w), Path: cardPath, Width: w})
		}
		if c.email {
			e, err := notify.RenderEmailWith(c.in, c.in.Recipients[0], c.links)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			job.Emails = append(job.Emails, rendercheck.Item{Name: c.name, Path: write("email-"+c.name+".html", []byte(e.HTML))})
		}
		if len(c.pages) > 0 {
			page, err := notify.RenderReportPage(c.in, c.links)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			pagePath := write("page-"+c.name+".html", page)
			for _, w := range c.pages {
				job.Pages = append(job.Pages, rendercheck.Item{Name: c.name + at(w), Path: pagePath, Width: w})
			}
		}
	}
	res, err := rendercheck.Run(ctx, node, tool, dir, job)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings() {
		t.Error(f)
	}
	if res.Failed && len(res.Findings()) == 0 {
		t.Error("the harness failed without saying why")
	}
	for _, c := range res.Cards {
		t.Logf("card %s: rendered %v, %d px high at %d px", c.Name, c.Elements, c.Height, c.Width)
	}
	for _, e := range res.Emails {
		t.Logf("email %s: %d px high", e.Name, e.Height)
	}
	for _, p := range res.Pages {
		t.Logf("page %s: %d px high at %d px", p.Name, p.Height, p.Width)
	}
}

func at(width int) string {
	if width == 0 {
		return ""
	}
	return "@" + strconv.Itoa(width)
}

// The real render check fails when rendering fails: a card with an element
// the library does not know, Markdown that becomes a link, a button a
// Workflows webhook cannot carry and buttons past a phone-width card's
// edge, and a page with a script, an outside image, no viewport and a
// table wider than a phone are each reported, and the harness exits with
// findings. Without this, a harness that checks nothing would pass.
func TestRealRendererFailsOnBrokenInput(t *testing.T) {
	chromium, node, tool := realRenderer(t)
	dir := t.TempDir()
	card := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{` +
		`"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"[click](https://evil.example)","wrap":true},` +
		`{"type":"Nonsense","text":"x"},{"type":"ActionSet","actions":[{"type":"Action.OpenUrl","title":"Approve the removal of this key","url":"https://a.example/1"},` +
		`{"type":"Action.OpenUrl","title":"Mark it a false positive","url":"https://a.example/2"}]}],` +
		`"actions":[{"type":"Action.Execute","title":"Approve","verb":"approve"}]}}]}`
	page := `<!DOCTYPE html><html><head><title>x</title></head><body><h1>Report</h1><script>1</script>` +
		`<img src="https://evil.example/x.png"><table style="width:1200px"><tr><td>wide</td></tr></table>` + strings.Repeat("<p>line</p>", 40) + `</body></html>`
	cp, pp := filepath.Join(dir, "card.json"), filepath.Join(dir, "page.html")
	if err := os.WriteFile(cp, []byte(card), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pp, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := rendercheck.Run(t.Context(), node, tool, dir, rendercheck.Job{Chromium: chromium,
		Cards: []rendercheck.Item{{Name: "broken", Path: cp, Width: 390}},
		Pages: []rendercheck.Item{{Name: "broken", Path: pp, Width: 390}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed {
		t.Error("the harness passed a broken card and page")
	}
	all := strings.Join(res.Findings(), "\n")
	for _, w := range []string{"card broken: render: card text produced a link", "Nonsense", "Action.Execute cannot work from a Workflows webhook", "does not fit", "page broken: page: contains 1 script",
		"page broken: page: loads an external resource", "page broken: page: no viewport", "readers would scroll sideways"} {
		if !strings.Contains(all, w) {
			t.Errorf("the harness did not report %q; it said:\n%s", w, all)
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
