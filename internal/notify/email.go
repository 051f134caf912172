package notify

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spresponder/spresponder/internal/incident"
)

//go:embed templates/email.html.tmpl
var templateFS embed.FS

// emailHTML is parsed once; html/template escapes every value it inserts
// (text, attributes, URLs), so incident-derived text cannot add markup.
var emailHTML = template.Must(template.New("email.html.tmpl").Funcs(template.FuncMap{
	"fg": func(t Tone) template.CSS { return template.CSS(toneHex(t).fg) },
	"bg": func(t Tone) template.CSS { return template.CSS(toneHex(t).bg) },
}).ParseFS(templateFS, "templates/email.html.tmpl"))

// emailLimits: mail has room for more than the card, but an owner should
// not scroll through 500 sign-ins; the rest is one command away.
var emailLimits = limits{items: 25, text: textMax}

// Email is one rendered email: the subject, an HTML body and its plain-text
// alternative, carrying the same content.
type Email struct {
	Subject string
	HTML    string
	Text    string
}

// RenderEmail is RenderEmailWith without action links.
func RenderEmail(in *incident.Incident, to incident.Recipient) (Email, error) {
	return RenderEmailWith(in, to, ActionLinks{})
}

// RenderEmailWith renders the email for one recipient (whose reason
// appears in the footer, so each person knows why they got it): the long
// form of the report, with that recipient's action links as buttons under
// the lead and as plain links in the text part. It is pure. It fails when
// the links fail checkLinks (the Notifier checks them first).
func RenderEmailWith(in *incident.Incident, to incident.Recipient, links ActionLinks) (Email, error) {
	if err := checkLinks(links); err != nil {
		return Email{}, fmt.Errorf("render email for %s: action links: %w", in.ID, err)
	}
	links = labelled(links)
	r := buildReport(in, emailLimits.text).limit(emailLimits)
	data := struct {
		R        Report
		Links    ActionLinks
		Why      string
		Contacts []string
	}{R: r, Links: links, Why: clean(to.Reason, 200), Contacts: securityContacts(in)}
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, data); err != nil {
		return Email{}, fmt.Errorf("render email for %s: %w", in.ID, err)
	}
	return Email{
		Subject: r.Subject,
		HTML:    html.String(),
		Text:    renderText(r, links, data.Why, data.Contacts),
	}, nil
}

func securityContacts(in *incident.Incident) []string {
	var out []string
	for _, rc := range in.Recipients {
		if rc.Source == SourceFallback && rc.Address != "" {
			out = append(out, clean(rc.Address, 120))
		}
	}
	return out
}

type hexes struct{ fg, bg string }

func toneHex(t Tone) hexes {
	switch t {
	case ToneGood:
		return hexes{"#107c10", "#dff6dd"}
	case ToneWarning:
		return hexes{"#8a5a00", "#fff4ce"}
	}
	return hexes{"#a4262c", "#fde7e9"}
}

// textWidth is the wrap column of the plain-text email.
const textWidth = 76

// renderText lays the report out as plain text, section by section, in the
// same order as the HTML.
func renderText(r Report, links ActionLinks, why string, contacts []string) string {
	var b strings.Builder
	para := func(s, indent string) { b.WriteString(wrap(s, indent, indent, textWidth)) }
	bullet := func(s string) { b.WriteString(wrap(s, "  - ", "    ", textWidth)) }
	section := func(h string) {
		fmt.Fprintf(&b, "\n%s\n%s\n", strings.ToUpper(h), strings.Repeat("-", utf8.RuneCountInString(h)))
	}
	factList := func(fs []Fact) {
		w := 0
		for _, f := range fs {
			w = max(w, utf8.RuneCountInString(f.Title))
		}
		for _, f := range fs {
			pad := strings.Repeat(" ", w-utf8.RuneCountInString(f.Title))
			b.WriteString(wrap(f.Value, "  "+f.Title+": "+pad, strings.Repeat(" ", w+4), textWidth))
		}
	}
	more := func(m string) {
		if m != "" {
			para(m, "  ")
		}
	}

	b.WriteString(strings.ToUpper(r.Status) + "\n")
	para(r.Title, "")
	para(r.Subtitle, "")
	if r.Notice != "" {
		b.WriteString("\n")
		para("*** "+r.Notice+" ***", "")
	}
	if r.Reach.Headline != "" {
		b.WriteString("\n")
		para(r.Reach.Headline, "")
		for _, l := range r.Reach.Lines {
			bullet(l)
		}
	}
	if r.Use.Headline != "" {
		b.WriteString("\n")
		para(r.Use.Headline, "")
		for _, l := range r.Use.Lines {
			bullet(l)
		}
	}
	b.WriteString("\n")
	para(r.Lead, "")
	if len(links.Buttons) > 0 || links.Report != "" {
		// Plain links: a person follows one to a confirmation page, and
		// nothing is done until they confirm there.
		b.WriteString("\n")
		for _, l := range links.Buttons {
			b.WriteString(l.Label + ":\n  " + l.URL + "\n")
		}
		if links.Report != "" {
			b.WriteString("Full report:\n  " + links.Report + "\n")
		}
	}

	section("What happened")
	factList(r.Detection)

	section(r.CredentialsHeading)
	if len(r.Credentials.Items) == 0 {
		para("The detection does not name a credential.", "  ")
	}
	for i, cv := range r.Credentials.Items {
		if i > 0 {
			b.WriteString("\n")
		}
		para(cv.Heading, "  ")
		factList(cv.Facts)
	}
	more(r.Credentials.MoreLine(r.IncidentID))

	section("Where it was used from")
	if r.SignIns.Len() == 0 {
		para("The events the responder received carry no sign-in location. The app's sign-in logs have the full picture (see the steps below).", "  ")
	}
	for _, s := range r.SignIns.Items {
		bullet(s)
	}
	more(r.SignIns.MoreLine(r.IncidentID))

	section("What the responder did")
	if r.Done.Len() == 0 {
		para("Nothing yet.", "  ")
	}
	for _, s := range r.Done.Items {
		bullet(s)
	}
	more(r.Done.MoreLine(r.IncidentID))

	section("What it did not do, and why")
	for _, s := range r.NotDone.Items {
		bullet(s)
	}
	more(r.NotDone.MoreLine(r.IncidentID))

	section("Conditional Access")
	para(r.Verdict.Headline, "  ")
	if r.Verdict.Summary != "" {
		para(r.Verdict.Summary, "  ")
	}
	for _, s := range r.Verdict.Policies.Items {
		bullet(s)
	}
	more(r.Verdict.Policies.MoreLine(r.IncidentID))
	if r.Verdict.Proof.Len() > 0 {
		para("Seen working: later sign-ins refused by Conditional Access", "  ")
		for _, s := range r.Verdict.Proof.Items {
			bullet(s)
		}
		more(r.Verdict.Proof.MoreLine(r.IncidentID))
	}

	section(r.NextStepsHeading)
	for i, s := range r.NextSteps {
		n := strconv.Itoa(i+1) + ". "
		b.WriteString(wrap(s, "  "+n, strings.Repeat(" ", 2+len(n)), textWidth))
	}

	section("Who was told")
	for _, s := range r.Told.Items {
		bullet(s)
	}
	more(r.Told.MoreLine(r.IncidentID))
	if r.NotTold.Len() > 0 {
		para("Could not be told:", "  ")
		for _, s := range r.NotTold.Items {
			bullet(s)
		}
		more(r.NotTold.MoreLine(r.IncidentID))
	}
	if r.Orphaned {
		para("This app has no owner who can receive mail: the security team was told instead.", "  ")
	}

	section("For on-call")
	factList(r.OnCall)
	for _, c := range r.Commands {
		para(c.Title+":", "  ")
		b.WriteString("      " + c.Value + "\n")
	}
	if r.History.Len() > 0 {
		b.WriteString("\n")
		para("History:", "  ")
		more(r.History.MoreLine(r.IncidentID))
		for _, s := range r.History.Items {
			b.WriteString(wrap(s, "    ", "      ", textWidth))
		}
	}
	if len(r.Links) > 0 {
		b.WriteString("\n")
		for _, l := range r.Links {
			b.WriteString("  " + l.Title + ":\n    " + l.URL + "\n")
		}
	}

	b.WriteString("\n-- \n")
	var foot []string
	if why != "" {
		foot = append(foot, "You receive this as: "+why+".")
	}
	if len(contacts) > 0 {
		foot = append(foot, "Questions: the security team, "+strings.Join(contacts, ", ")+".")
	}
	foot = append(foot, "Sent by spresponder, the automatic responder for Microsoft Entra workload identities. Incident "+r.IncidentID+".")
	para(strings.Join(foot, " "), "")
	return b.String()
}

// wrap word-wraps s to width runes, starting the first line with first and
// later lines with rest. Words longer than a line (ids, URLs) are kept whole.
func wrap(s, first, rest string, width int) string {
	var b strings.Builder
	prefix := first
	lineLen := 0
	started := false
	for _, w := range strings.Fields(s) {
		wl := utf8.RuneCountInString(w)
		if started && lineLen+1+wl > width {
			b.WriteString("\n")
			started = false
			prefix = rest
		}
		if !started {
			b.WriteString(prefix)
			b.WriteString(w)
			lineLen = utf8.RuneCountInString(prefix) + wl
			started = true
			continue
		}
		b.WriteString(" ")
		b.WriteString(w)
		lineLen += 1 + wl
	}
	if !started {
		b.WriteString(strings.TrimRight(prefix, " "))
	}
	b.WriteString("\n")
	return b.String()
}
