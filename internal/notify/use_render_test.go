package notify_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// useIncident is the critical-reach incident whose removed key was then
// used again from elsewhere: the stream attached the sign-in and paged.
func useIncident() *incident.Incident {
	in := reachIncident()
	t0 := time.Date(2025, 3, 4, 7, 12, 0, 0, time.UTC)
	late := incident.KeySignIn{ID: "s3", Time: t0.Add(3 * time.Hour), KeyID: "dbcd79c0-c3ea-46b9-9604-ff40d43b8618", Success: true,
		IPAddress: "203.0.113.9", Location: "Lagos, NG", Resource: "Microsoft Graph", Source: "stream", AfterRemoval: true}
	in.Use = &incident.Use{Since: t0, Sources: []string{"Log Analytics workspace w: 2 row(s)"},
		Unknown: []string{"use unknown: event hub entra (consumer group spresponder-usage) not read in time"}}
	in.Use.Add(
		incident.KeySignIn{ID: "s1", Time: t0.Add(5 * time.Minute), KeyID: late.KeyID, Success: true, IPAddress: "10.1.2.3", Location: "Amsterdam, NL", Resource: "Microsoft Graph", Source: "logAnalytics"},
		incident.KeySignIn{ID: "s2", Time: t0.Add(10 * time.Minute), KeyID: late.KeyID, ErrorCode: 53003, FailureReason: "Blocked by Conditional Access", IPAddress: "10.1.2.3", Source: "logAnalytics"},
		late)
	in.Use.StillWorks = &late
	return in
}

// TestCardAndEmailSayTheUse: right under the reach, a short "Used since
// the leak" section counts the sign-ins, lists the latest and says first
// that the removed key still works somewhere. The compact card has the
// count and that first line; the email (and the report page) all of it.
func TestCardAndEmailSayTheUse(t *testing.T) {
	in := useIncident()
	card, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "card-use.json.golden", indentJSON(t, card))
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "email-use.html.golden", []byte(e.HTML))
	page, err := notify.RenderReportPage(in, notify.ActionLinks{})
	if err != nil {
		t.Fatal(err)
	}
	short := []string{"Used since the leak: 3 sign-ins since", "(2 succeeded, 1 failed)", "The removed key still works somewhere"}
	long := append(short, "from 203.0.113.9 (Lagos, NG) (after the removal)", "not read in time")
	for _, c := range []struct {
		text string
		want []string
	}{{string(card), short}, {e.Text, long}, {e.HTML, long}, {string(page), long}} {
		text := strings.Join(strings.Fields(c.text), " ") // the plain text wraps its lines
		for _, want := range c.want {
			if !strings.Contains(text, want) {
				t.Errorf("%q missing from:\n%.3000s", want, text)
			}
		}
	}
	reach, use, story := strings.Index(e.Text, "could add a secret"), strings.Index(e.Text, "Used since the leak"), strings.Index(e.Text, "WHAT HAPPENED")
	if reach < 0 || use < reach || story < use {
		t.Errorf("email order: reach %d, use %d, story %d", reach, use, story)
	}
}

// TestNoUseNoSection: an incident whose use was not read has no section,
// and one with nothing found says so plainly.
func TestNoUseNoSection(t *testing.T) {
	in := notifytest.ExampleIncident()
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Text, "Used since the leak") {
		t.Error("a section for a use never read")
	}
	in.Use = &incident.Use{Since: time.Date(2025, 3, 4, 7, 12, 0, 0, time.UTC)}
	if e, err = notify.RenderEmail(in, in.Recipients[0]); err != nil || !strings.Contains(e.Text, "Used since the leak: no sign-in with this key since") {
		t.Errorf("%v\n%s", err, e.Text)
	}
}

// TestHugeUseKeepsTheCardSmall: however often the key was used, the card
// stays within what Teams accepts.
func TestHugeUseKeepsTheCardSmall(t *testing.T) {
	in := notifytest.HugeIncident(500)
	in.Use = &incident.Use{Since: time.Date(2025, 3, 4, 7, 12, 0, 0, time.UTC)}
	for i := range 5000 {
		in.Use.Add(incident.KeySignIn{ID: fmt.Sprint(i), Time: in.Use.Since.Add(time.Duration(i) * time.Second), Success: true,
			IPAddress: strings.Repeat("1", 40), Location: strings.Repeat("L", 300), Resource: strings.Repeat("R", 300)})
		in.Use.Unknown = append(in.Use.Unknown, strings.Repeat("use unknown: x ", 10))
	}
	card, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(card) >= notify.MaxCardBytes {
		t.Errorf("card is %d bytes, limit %d", len(card), notify.MaxCardBytes)
	}
	if !strings.Contains(string(card), "Used since the leak: 5000 sign-ins") {
		t.Error("the card does not count the sign-ins")
	}
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.Text, "and 4997 more") {
		t.Error("the email does not say how many sign-ins it left out")
	}
}
