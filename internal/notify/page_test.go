package notify_test

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

func TestReportPageGolden(t *testing.T) {
	in := notifytest.ExampleIncident()
	page, err := notify.RenderReportPage(in, exampleLinks("alexw@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "page-example.html.golden", page)
	s := string(page)
	// The long form: every section the email has.
	for _, w := range []string{"What happened", "Which credential", "Where it was used from", "What the responder did",
		"What it did not do, and why", "Conditional Access", "What you need to do now", "Who was told", "For on-call", "History",
		notifytest.KeyID, notifytest.AttackerIP, notify.ShowCommand(in.ID)} {
		if !strings.Contains(s, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	// The buttons are plain links, in order.
	i := 0
	for _, l := range []string{"Approve removal", "False positive", "Rotated, close it"} {
		j := strings.Index(s[i:], `">`+l+`</a>`)
		if j < 0 {
			t.Fatalf("page lacks the %q link after byte %d", l, i)
		}
		i += j
	}
	if !strings.Contains(s, `<a class="button" href="https://func-spresponder.azurewebsites.net/api/act?r=alexw@contoso.com&amp;t=approve">Approve removal</a>`) {
		t.Error("the approve button is not a plain link to its URL")
	}
}

// The page is plain HTML: no script, nothing loaded from elsewhere, a
// viewport for phones, no Referer leaving it, and a policy that tells the
// browser the same.
func TestReportPageIsPlain(t *testing.T) {
	for name, in := range map[string]func() []byte{
		"example": func() []byte { return mustPage(t, notifytest.ExampleIncident()) },
		"huge":    func() []byte { return mustPage(t, notifytest.HugeIncident(500)) },
		"hostile": func() []byte { return mustPage(t, hostileIncident()) },
	} {
		s := string(in())
		// Markup only: escaped incident text may say anything.
		tags := strings.Join(regexp.MustCompile(`<[^>]*>`).FindAllString(s, -1), "\n")
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)<(img|iframe|link|object|embed|form|input)\b`),
			regexp.MustCompile(`(?i)\bsrc=`), regexp.MustCompile(`(?i)\bon[a-z]+=`), regexp.MustCompile(`(?i)url\(`), regexp.MustCompile(`(?i)@import`),
		} {
			if m := bad.FindString(tags); m != "" {
				t.Errorf("%s page contains %q", name, m)
			}
		}
		for _, w := range []string{`<meta name="viewport" content="width=device-width, initial-scale=1">`, `<meta name="referrer" content="no-referrer">`,
			`content="default-src 'none'; style-src 'unsafe-inline';`} {
			if !strings.Contains(s, w) {
				t.Errorf("%s page lacks %s", name, w)
			}
		}
	}
}

func mustPage(t *testing.T, in *incident.Incident) []byte {
	t.Helper()
	page, err := notify.RenderReportPage(in, exampleLinks("secops@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// Display names, locations, policy names, history and even the links'
// words and URLs try to become markup; the page shows them as text.
func TestAttackReportPageEscapesEverything(t *testing.T) {
	in := hostileIncident()
	links := notify.ActionLinks{
		Report:  "https://act.example/api/act?t='\"><script>alert(2)</script>",
		Buttons: []notify.ActionLink{{Kind: "approve", Label: "<b onmouseover=alert(3)>Approve</b>", URL: "https://act.example/api/act?x=\"onclick=alert(4)"}},
	}
	page, err := notify.RenderReportPage(in, links)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, bad := range []string{"<script>", "<img src=x", "<iframe", "<b>bold</b>", "<b onmouseover", `href="javascript`, "\u202E", `"onclick=`, "'\"><script"} {
		if strings.Contains(s, bad) {
			t.Errorf("page carries %q", bad)
		}
	}
	for _, w := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b onmouseover=alert(3)&gt;Approve&lt;/b&gt;", "[click here](https://evil.example/x)"} {
		if !strings.Contains(s, w) {
			t.Errorf("page does not show %q as text", w)
		}
	}
}

// A forged event's page says UNVERIFIED with the notice and asks nobody to
// act on a key; it shows the decisions it was given and no others.
func TestAttackUnverifiedReportPage(t *testing.T) {
	in := forged()
	links := exampleLinks("secops@contoso.com")
	links.Buttons = links.Buttons[1:] // the act side offers no approval here
	page, err := notify.RenderReportPage(in, links)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?s)<style>.*</style>|<[^>]+>`).ReplaceAllString(string(page), " ")
	assertUnverifiedText(t, "report page", html.UnescapeString(text))
	if strings.Contains(text, "Approve removal") || !strings.Contains(text, "False positive") {
		t.Error("the page does not show exactly the decisions it was given")
	}
}
