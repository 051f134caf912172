package notify_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// exampleLinks are what an Actions implementation could offer one reader.
func exampleLinks(reader string) notify.ActionLinks {
	base := "https://func-spresponder.azurewebsites.net/api/act?r=" + reader + "&t="
	return notify.ActionLinks{
		Report: "https://func-spresponder.azurewebsites.net/api/act?view=report&r=" + reader + "&t=rpt",
		Buttons: []notify.ActionLink{
			{Kind: "approve", Label: "Approve removal", URL: base + "approve"},
			{Kind: "falsePositive", Label: "False positive", URL: base + "fp"},
			{Kind: "rotated", Label: "Rotated, close it", URL: base + "rot"},
		},
	}
}

// maxLinks are the largest links a message accepts: every button, each
// URL as long as allowed.
func maxLinks() notify.ActionLinks {
	long := func(tag string) string {
		u := "https://act.example/api/act?a=" + tag + "&t="
		return u + strings.Repeat("x", notify.MaxActionURLBytes-len(u))
	}
	l := notify.ActionLinks{Report: long("report")}
	for i := range notify.MaxActionButtons {
		l.Buttons = append(l.Buttons, notify.ActionLink{Kind: fmt.Sprint("k", i), Label: strings.Repeat("Ω", 200), URL: long(fmt.Sprint("b", i))})
	}
	return l
}

// largestIncident holds as much as an incident can: a thousand sign-ins
// and history lines, a hundred policies, two hundred credentials, a reach
// of five hundred items and as many failed reads, and every name long,
// multi-byte (4-byte runes) and full of the characters the card's
// Markdown escaping doubles and JSON escapes again.
func largestIncident() *incident.Incident {
	in := notifytest.HugeIncident(1000)
	worst := strings.Repeat(`\𝔘`, 800)
	in.App.DisplayName = worst
	for i := range in.Signals {
		in.Signals[i].DisplayName = worst
		in.Signals[i].RiskEventType = worst
		in.Signals[i].RiskLevel = worst
		in.Signals[i].Location = worst
	}
	for i := range 200 {
		in.Credentials = append(in.Credentials, incident.Credential{
			KeyID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Type: "password", Location: "application",
			DisplayName: worst, Hint: worst, Found: true,
		})
	}
	in.Credentials[0].DisplayName = worst
	in.Verdict.Summary = worst
	in.Verdict.Outcome = worst
	in.Verification.Unlicensed = true
	in.Verification.Limited = worst
	in.NotifyOnly = worst
	in.Reach = &incident.Reach{Tier: incident.TierCritical}
	for i := range 500 {
		in.Reach.Items = append(in.Reach.Items, incident.ReachItem{Kind: incident.ReachApplication, Name: worst, Resource: worst, Tier: incident.TierCritical, Could: worst + fmt.Sprint(i)})
		in.Reach.Unknown = append(in.Reach.Unknown, worst)
	}
	for i := range in.History {
		in.History[i].Detail = worst
	}
	return in
}

// Teams refuses messages over about 28 KB, and users report failures from
// about 21 KB: the card stays under 16 KiB whatever the incident holds and
// whatever links it carries, and it keeps what an owner needs.
func TestLargestCardFitsTeams(t *testing.T) {
	in := largestIncident()
	for name, links := range map[string]notify.ActionLinks{"no links": {}, "largest links": maxLinks()} {
		t.Run(name, func(t *testing.T) {
			payload, err := notify.RenderCardWith(in, links)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("largest card, %s: %d bytes (limit %d)", name, len(payload), notify.MaxCardBytes)
			if notify.MaxCardBytes != 16*1024 || len(payload) > notify.MaxCardBytes {
				t.Fatalf("card is %d bytes, limit %d (want 16 KiB)", len(payload), notify.MaxCardBytes)
			}
			c := cardContent(t, payload)
			s := string(payload)
			for _, w := range []string{notifytest.KeyID, "Conditional Access", "Next", "no Workload Identities Premium licence"} {
				if !strings.Contains(s, w) {
					t.Errorf("card lost %q", w)
				}
			}
			var acts []any
			for _, b := range c["body"].([]any) {
				if m := b.(map[string]any); m["type"] == "ActionSet" {
					acts = append(acts, m["actions"].([]any)...)
				}
			}
			if len(acts) == 0 || len(acts) > 6 {
				t.Fatalf("%d actions", len(acts))
			}
			for _, b := range links.Buttons {
				if !strings.Contains(s, `"url":"`+b.URL+`"`) {
					t.Errorf("button %s lost its URL", b.Kind)
				}
			}
		})
	}
	// The input is large enough that the card had to cut its text: the
	// test would not notice a card that ignores the limit otherwise.
	full, err := json.Marshal(notify.BuildReport(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(full) < 4*notify.MaxCardBytes {
		t.Fatalf("the largest incident's report is only %d bytes", len(full))
	}
}

// The card leads with the headline, the app, the credential, what was
// done and the verdict; its actions are the reader's buttons in order,
// then the full report, then the portal; it is short.
func TestCompactCardWithLinks(t *testing.T) {
	in := notifytest.ExampleIncident()
	links := exampleLinks("webhook:default")
	payload, err := notify.RenderCardWith(in, links)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "card-example-links.json.golden", indentJSON(t, payload))
	type action struct{ Type, Title, URL string }
	var card struct {
		Body []struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			Facts   []struct{ Title, Value string }
			Actions []action `json:"actions"`
		} `json:"body"`
		Actions []action `json:"actions"`
	}
	raw, _ := json.Marshal(cardContent(t, payload))
	if err := json.Unmarshal(raw, &card); err != nil {
		t.Fatal(err)
	}
	if len(card.Actions) != 0 {
		t.Errorf("the card's own action row (one line, cut off at phone width) has %d actions", len(card.Actions))
	}
	var titles []string
	rows := 0
	for _, b := range card.Body {
		if b.Type == "ActionSet" {
			rows++
			if len(b.Actions) > 2 {
				t.Errorf("a row of %d buttons", len(b.Actions))
			}
			card.Actions = append(card.Actions, b.Actions...)
		}
	}
	for _, a := range card.Actions {
		if a.Type != "Action.OpenUrl" {
			t.Errorf("action %q is %s, want Action.OpenUrl", a.Title, a.Type)
		}
		titles = append(titles, a.Title)
	}
	want := "Approve removal|False positive|Rotated, close it|Full report|App credentials (Entra)"
	if got := strings.Join(titles, "|"); got != want {
		t.Errorf("actions = %s\nwant      %s", got, want)
	}
	for i, b := range links.Buttons {
		if card.Actions[i].URL != b.URL {
			t.Errorf("button %d URL = %s, want %s", i, card.Actions[i].URL, b.URL)
		}
	}
	if card.Actions[3].URL != links.Report {
		t.Errorf("Full report goes to %s", card.Actions[3].URL)
	}
	var facts []string
	for _, b := range card.Body {
		for _, f := range b.Facts {
			facts = append(facts, f.Title)
		}
	}
	if got := strings.Join(facts, "|"); got != "App|Credential|Done|Conditional Access|Next" {
		t.Errorf("facts = %s", got)
	}
	if strings.Contains(string(payload), notify.ShowCommand(in.ID)) {
		t.Error("a card with a report page still points to the CLI")
	}
	if len(payload) > 4096 {
		t.Errorf("the example card is %d bytes: not compact", len(payload))
	}

	// Without a report page, the card names the command on-call runs.
	plain, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), notify.ShowCommand(in.ID)) || strings.Contains(string(plain), "Full report\"") {
		t.Error("a card without a report page does not point to incidents show")
	}
}

// Links that are not plain https links (or http to this machine, for local
// runs) never reach a card or a mail: a javascript: or data: URL, a
// credential in the URL, a URL over the limit, a button without words, too
// many buttons.
func TestRenderRefusesBadLinks(t *testing.T) {
	in := notifytest.ExampleIncident()
	ok := "https://act.example/api/act?t=1"
	for name, l := range map[string]notify.ActionLinks{
		"javascript":    {Buttons: []notify.ActionLink{{Label: "Approve removal", URL: "javascript:alert(1)"}}},
		"data":          {Report: "data:text/html,<script>alert(1)</script>"},
		"http":          {Buttons: []notify.ActionLink{{Label: "Approve removal", URL: "http://act.example/api/act?t=1"}}},
		"user info":     {Buttons: []notify.ActionLink{{Label: "Approve removal", URL: "https://user:pw@act.example/api/act"}}},
		"relative":      {Report: "/api/act?t=1"},
		"newline":       {Report: ok + "\r\nX: y"},
		"too long":      {Report: ok + strings.Repeat("x", notify.MaxActionURLBytes)},
		"no label":      {Buttons: []notify.ActionLink{{Label: "  ", URL: ok}}},
		"control label": {Buttons: []notify.ActionLink{{Label: "\x00\u202e\r\n", URL: ok}}},
		"too many":      {Buttons: []notify.ActionLink{{Label: "a", URL: ok}, {Label: "b", URL: ok}, {Label: "c", URL: ok}, {Label: "d", URL: ok}}},
	} {
		if _, err := notify.RenderCardWith(in, l); err == nil {
			t.Errorf("%s: card rendered", name)
		}
		if _, err := notify.RenderEmailWith(in, in.Recipients[0], l); err == nil {
			t.Errorf("%s: email rendered", name)
		}
		if _, err := notify.RenderReportPage(in, l); err == nil {
			t.Errorf("%s: page rendered", name)
		}
	}
	local := notify.ActionLinks{Report: "http://127.0.0.1:7071/api/act?t=1", Buttons: []notify.ActionLink{{Label: "Approve removal", URL: "http://localhost:7071/api/act?t=2"}}}
	if _, err := notify.RenderCardWith(in, local); err != nil {
		t.Errorf("loopback http links refused: %v", err)
	}
}
