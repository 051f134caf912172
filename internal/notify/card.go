package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spresponder/spresponder/internal/incident"
)

// CardVersion is the Adaptive Card schema version of the Teams card. Teams
// renders up to 1.5 on desktop and web; 1.4 is what every Teams client,
// mobile included, renders, and the card needs nothing newer.
const CardVersion = "1.4"

// MaxCardBytes bounds the whole Workflows payload. Teams refuses messages
// above about 28 KB ("Request Entity Too Large"); the limit leaves room for
// the envelope the flow adds.
const MaxCardBytes = 27 * 1024

// cardLevels are the detail levels RenderCard tries, most detailed first,
// until the payload fits. Lists are shortened with an "N more" line and long
// strings cut with an ellipsis; the JSON is always built whole.
var cardLevels = []limits{
	{items: 10, text: textMax},
	{items: 6, text: 200},
	{items: 3, text: 160},
	{items: 1, text: 120},
	{items: 0, text: 80},
}

// RenderCard returns the Workflows webhook payload for the incident: an
// Adaptive Card in the message envelope that "When a Teams webhook request
// is received" flows accept. It fails only when even the least detailed
// card does not fit MaxCardBytes (which takes pathological input: every
// list is cut to at most a few lines and every string to 80 characters).
func RenderCard(in *incident.Incident) ([]byte, error) {
	var size int
	for _, lv := range cardLevels {
		r := buildReport(in, lv.text).limit(lv)
		b, err := marshalCard(r)
		if err != nil {
			return nil, fmt.Errorf("render card for %s: %w", in.ID, err)
		}
		if len(b) <= MaxCardBytes {
			return b, nil
		}
		size = len(b)
	}
	return nil, fmt.Errorf("render card for %s: %d bytes at the least detail, over the %d-byte Teams limit", in.ID, size, MaxCardBytes)
}

func marshalCard(r Report) ([]byte, error) {
	payload := cardPayload{
		Type: "message",
		Attachments: []cardAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     buildCard(r),
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Teams does not need <, > and & escaped; leaving them keeps the
	// payload smaller and the golden file readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// The Adaptive Card schema, as far as the card uses it.
type (
	cardPayload struct {
		Type        string           `json:"type"`
		Attachments []cardAttachment `json:"attachments"`
	}
	cardAttachment struct {
		ContentType string  `json:"contentType"`
		ContentURL  *string `json:"contentUrl"` // always null, as Workflows expects
		Content     acCard  `json:"content"`
	}
	acCard struct {
		Schema  string     `json:"$schema"`
		Type    string     `json:"type"`
		Version string     `json:"version"`
		MSTeams acMSTeams  `json:"msteams"`
		Body    []any      `json:"body"`
		Actions []acAction `json:"actions,omitempty"`
	}
	acMSTeams struct {
		Width string `json:"width"`
	}
	acTextBlock struct {
		Type      string `json:"type"`
		Text      string `json:"text"`
		Wrap      bool   `json:"wrap"`
		Size      string `json:"size,omitempty"`
		Weight    string `json:"weight,omitempty"`
		Color     string `json:"color,omitempty"`
		IsSubtle  bool   `json:"isSubtle,omitempty"`
		FontType  string `json:"fontType,omitempty"`
		Spacing   string `json:"spacing,omitempty"`
		Separator bool   `json:"separator,omitempty"`
	}
	acFactSet struct {
		Type    string   `json:"type"`
		Facts   []acFact `json:"facts"`
		Spacing string   `json:"spacing,omitempty"`
	}
	acFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
	acContainer struct {
		Type      string `json:"type"`
		Style     string `json:"style,omitempty"`
		Bleed     bool   `json:"bleed,omitempty"`
		Spacing   string `json:"spacing,omitempty"`
		Separator bool   `json:"separator,omitempty"`
		Items     []any  `json:"items"`
	}
	acColumnSet struct {
		Type    string     `json:"type"`
		Spacing string     `json:"spacing,omitempty"`
		Columns []acColumn `json:"columns"`
	}
	acColumn struct {
		Type  string `json:"type"`
		Width string `json:"width"`
		Items []any  `json:"items"`
	}
	acAction struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
)

func text(s string) acTextBlock {
	return acTextBlock{Type: "TextBlock", Text: mdEscape(s), Wrap: true}
}

func line(s string) acTextBlock {
	t := text("• " + s)
	t.Spacing = "Small"
	return t
}

func heading(s string) acTextBlock {
	return acTextBlock{Type: "TextBlock", Text: mdEscape(s), Wrap: true, Size: "Medium", Weight: "Bolder", Spacing: "Large", Separator: true}
}

func subtle(s string) acTextBlock {
	t := text(s)
	t.IsSubtle, t.Size, t.Spacing = true, "Small", "Small"
	return t
}

func facts(fs []Fact) acFactSet {
	out := acFactSet{Type: "FactSet"}
	for _, f := range fs {
		out.Facts = append(out.Facts, acFact{Title: mdEscape(f.Title), Value: mdEscape(f.Value)})
	}
	return out
}

func toneColor(t Tone) string {
	switch t {
	case ToneGood:
		return "Good"
	case ToneWarning:
		return "Warning"
	}
	return "Attention"
}

func moreLine[T any](body []any, l List[T], id string) []any {
	if m := l.MoreLine(id); m != "" {
		body = append(body, subtle(m))
	}
	return body
}

func buildCard(r Report) acCard {
	var body []any
	status := text(r.Status)
	status.Weight, status.Color = "Bolder", toneColor(r.Tone)
	title := text(r.Title)
	title.Size, title.Weight, title.Spacing = "Large", "Bolder", "Small"
	sub := subtle(r.Subtitle)
	header := []any{status, title, sub}
	if r.Notice != "" {
		// In the header, above the fold: a reader who stops after one line
		// must still read it.
		n := text(r.Notice)
		n.Weight, n.Color, n.Spacing = "Bolder", "Attention", "Medium"
		if r.Tone == ToneGood {
			n.Color = "Good"
		}
		header = append(header, n)
	}
	body = append(body, acContainer{Type: "Container", Style: string(r.Tone), Bleed: true, Items: header})
	if r.Reach.Headline != "" {
		// Right under the header: how much the leak matters.
		h := text(r.Reach.Headline)
		h.Weight, h.Color = "Bolder", toneColor(r.Reach.Tone)
		body = append(body, h)
		for _, l := range r.Reach.Lines {
			body = append(body, line(l))
		}
	}
	body = appendUse(body, r.Use)
	body = append(body, text(r.Lead))

	body = append(body, heading("What happened"), facts(r.Detection))

	body = append(body, heading(r.CredentialsHeading))
	if len(r.Credentials.Items) == 0 {
		body = append(body, text("The detection does not name a credential."))
	}
	for _, cv := range r.Credentials.Items {
		h := text(cv.Heading)
		h.Weight, h.Spacing = "Bolder", "Medium"
		body = append(body, h, facts(cv.Facts))
	}
	body = moreLine(body, r.Credentials, r.IncidentID)

	body = append(body, heading("Where it was used from"))
	if r.SignIns.Len() == 0 {
		body = append(body, text("The events the responder received carry no sign-in location. The app's sign-in logs have the full picture (see step "+strconv.Itoa(checkStep(r))+" below)."))
	}
	for _, s := range r.SignIns.Items {
		body = append(body, line(s))
	}
	body = moreLine(body, r.SignIns, r.IncidentID)

	body = append(body, heading("What the responder did"))
	if r.Done.Len() == 0 {
		body = append(body, text("Nothing yet."))
	}
	for _, s := range r.Done.Items {
		body = append(body, line(s))
	}
	body = moreLine(body, r.Done, r.IncidentID)

	body = append(body, heading("What it did not do, and why"))
	for _, s := range r.NotDone.Items {
		body = append(body, line(s))
	}
	body = moreLine(body, r.NotDone, r.IncidentID)

	body = append(body, heading("Conditional Access"))
	v := text(r.Verdict.Headline)
	v.Weight, v.Color = "Bolder", toneColor(r.Verdict.Tone)
	body = append(body, v)
	if r.Verdict.Summary != "" {
		body = append(body, text(r.Verdict.Summary))
	}
	for _, s := range r.Verdict.Policies.Items {
		body = append(body, line(s))
	}
	body = moreLine(body, r.Verdict.Policies, r.IncidentID)
	if r.Verdict.Proof.Len() > 0 {
		p := text("Seen working: later sign-ins refused by Conditional Access")
		p.Weight, p.Spacing = "Bolder", "Medium"
		body = append(body, p)
		for _, s := range r.Verdict.Proof.Items {
			body = append(body, line(s))
		}
		body = moreLine(body, r.Verdict.Proof, r.IncidentID)
	}

	body = append(body, heading(r.NextStepsHeading))
	for i, s := range r.NextSteps {
		// A column for the number rather than a Markdown ordered list:
		// hosts indent Markdown lists differently, and some let them
		// overflow the card.
		num := text(strconv.Itoa(i+1) + ".")
		num.Weight = "Bolder"
		body = append(body, acColumnSet{Type: "ColumnSet", Spacing: "Small", Columns: []acColumn{
			{Type: "Column", Width: "auto", Items: []any{num}},
			{Type: "Column", Width: "stretch", Items: []any{text(s)}},
		}})
	}

	body = append(body, heading("Who was told"))
	for _, s := range r.Told.Items {
		body = append(body, line(s))
	}
	body = moreLine(body, r.Told, r.IncidentID)
	if r.NotTold.Len() > 0 {
		t := text("Could not be told:")
		t.Weight, t.Spacing = "Bolder", "Medium"
		body = append(body, t)
		for _, s := range r.NotTold.Items {
			body = append(body, line(s))
		}
		body = moreLine(body, r.NotTold, r.IncidentID)
	}
	if r.Orphaned {
		t := text("This app has no owner who can receive mail: the security team was told instead.")
		t.Color, t.Weight = "Attention", "Bolder"
		body = append(body, t)
	}

	body = append(body, heading("For on-call"), facts(r.OnCall))
	for _, c := range r.Commands {
		label := subtle(c.Title + ":")
		cmd := text(c.Value)
		cmd.FontType, cmd.Spacing = "Monospace", "None"
		body = append(body, label, cmd)
	}
	if r.History.Len() > 0 {
		h := text("History")
		h.Weight, h.Spacing = "Bolder", "Medium"
		body = append(body, h)
		body = moreLine(body, r.History, r.IncidentID)
		for _, s := range r.History.Items {
			body = append(body, subtle(s))
		}
	}

	card := acCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: CardVersion,
		MSTeams: acMSTeams{Width: "Full"},
		Body:    body,
	}
	for _, l := range r.Links {
		card.Actions = append(card.Actions, acAction{Type: "Action.OpenUrl", Title: l.Title, URL: l.URL})
	}
	return card
}

// checkStep is the number of the "check the app's recent activity" step.
func checkStep(r Report) int {
	for i, s := range r.NextSteps {
		if len(s) > 5 && s[:5] == "Check" {
			return i + 1
		}
	}
	return len(r.NextSteps)
}
