package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spresponder/spresponder/internal/incident"
)

// CardVersion is the Adaptive Card schema version of the Teams card. Teams
// renders up to 1.5 on desktop and web; 1.4 is what every Teams client,
// mobile included, renders, and the card needs nothing newer.
const CardVersion = "1.4"

// MaxCardBytes bounds the whole Workflows payload. Teams refuses messages
// above about 28 KB ("Request Entity Too Large") and users report failures
// from about 21 KB, with the envelope the flow adds: the card stays well
// below, whatever the incident holds (the card is the compact form, and
// its text is cut further when it must be; see RenderCardWith).
const MaxCardBytes = 16 * 1024

// cardLevels are the text limits RenderCardWith tries, longest first,
// until the payload fits. The card holds a fixed set of lines, so only
// the length of incident-derived strings varies; they are cut with an
// ellipsis and the JSON is always built whole.
var cardLevels = []int{textMax, 160, 80, 40}

// RenderCard is RenderCardWith without action links: the card says how to
// read the full report with the CLI.
func RenderCard(in *incident.Incident) ([]byte, error) {
	return RenderCardWith(in, ActionLinks{})
}

// RenderCardWith returns the Workflows webhook payload for the incident:
// an Adaptive Card in the message envelope that "When a Teams webhook
// request is received" flows accept. The card is the compact form (Teams
// collapses long cards, and people read the first screen): the headline,
// the app, the credential, what was done, the Conditional Access verdict,
// the reach in a line when it was assessed, the first next step, then the
// links' buttons (Action.OpenUrl: a Workflows webhook cannot take
// Action.Execute without a bot) and the full report, which is
// links.Report or, when no report page is deployed, the on-call command.
// The email and the report page carry the long form.
//
// It fails when the links fail checkLinks (the Notifier checks them first
// and sends without buttons), or when even the shortest text does not fit
// MaxCardBytes, which the bounds on links make impossible.
func RenderCardWith(in *incident.Incident, links ActionLinks) ([]byte, error) {
	if err := checkLinks(links); err != nil {
		return nil, fmt.Errorf("render card for %s: action links: %w", in.ID, err)
	}
	var size int
	for _, tmax := range cardLevels {
		b, err := marshalCard(buildCard(buildReport(in, tmax), links))
		if err != nil {
			return nil, fmt.Errorf("render card for %s: %w", in.ID, err)
		}
		if len(b) <= MaxCardBytes {
			return b, nil
		}
		size = len(b)
	}
	return nil, fmt.Errorf("render card for %s: %d bytes at the shortest, over the %d-byte limit", in.ID, size, MaxCardBytes)
}

func marshalCard(card acCard) ([]byte, error) {
	payload := cardPayload{
		Type: "message",
		Attachments: []cardAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
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
	acActionSet struct {
		Type    string     `json:"type"`
		Spacing string     `json:"spacing,omitempty"`
		Actions []acAction `json:"actions"`
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

func subtle(s string) acTextBlock {
	t := text(s)
	t.IsSubtle, t.Size, t.Spacing = true, "Small", "Small"
	return t
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

// maxCardActions bounds the card's buttons: the decisions, the full report
// and the portal link.
const maxCardActions = 6

func buildCard(r Report, links ActionLinks) acCard {
	var body []any
	status := text(r.Status)
	status.Weight, status.Color = "Bolder", toneColor(r.Tone)
	title := text(r.Title)
	title.Size, title.Weight, title.Spacing = "Large", "Bolder", "Small"
	header := []any{status, title, subtle(r.Subtitle)}
	if r.Notice != "" {
		// In the header: a reader who stops after one line must still
		// read it.
		n := text(r.Notice)
		n.Weight, n.Color, n.Spacing = "Bolder", "Attention", "Medium"
		if r.Tone == ToneGood {
			n.Color = "Good"
		}
		header = append(header, n)
	}
	body = append(body, acContainer{Type: "Container", Style: string(r.Tone), Bleed: true, Items: header})
	if r.Reach.Headline != "" {
		// Right under the header, in a line: how much the leak matters.
		h := text(r.Reach.Headline)
		h.Weight, h.Color = "Bolder", toneColor(r.Reach.Tone)
		body = append(body, h)
		if len(r.Reach.Lines) > 0 {
			l := r.Reach.Lines[0]
			if n := r.Reach.Others; n > 0 {
				l += " (" + strconv.Itoa(n) + " more in the full report)"
			}
			t := text(l)
			t.Spacing = "Small"
			body = append(body, t)
		}
	}
	// The use in a line or two, like the reach: the full report has it all.
	body = appendUse(body, r.Use, 1)
	body = append(body, acFactSet{Type: "FactSet", Spacing: "Medium", Facts: cardFacts(r)})
	if links.Report == "" {
		// No report page deployed: on-call reads the whole story with
		// the CLI (owners have it in their email).
		body = append(body, subtle("Full report: no report page is deployed; on-call runs"))
		cmd := text(ShowCommand(r.IncidentID))
		cmd.FontType, cmd.Spacing = "Monospace", "None"
		body = append(body, cmd)
	}

	// The buttons go in rows of two (ActionSets in the body) rather than
	// the card's one row of actions, which a phone-width card cuts off
	// past the second or third button: the decisions and the full report
	// first, then the portal.
	var acts []acAction
	for _, b := range links.Buttons {
		acts = append(acts, acAction{Type: "Action.OpenUrl", Title: cardLabel(b.Label), URL: b.URL})
	}
	if links.Report != "" {
		acts = append(acts, acAction{Type: "Action.OpenUrl", Title: "Full report", URL: links.Report})
	}
	body = appendActionRows(body, acts, "Medium")
	// Of the portal links only the first (the app's credentials, where
	// an owner makes the new one): the rest are in the full report.
	if len(r.Links) > 0 && len(acts) < maxCardActions {
		l := r.Links[0]
		body = appendActionRows(body, []acAction{{Type: "Action.OpenUrl", Title: l.Title, URL: l.URL}}, "Small")
	}

	return acCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: CardVersion,
		MSTeams: acMSTeams{Width: "Full"},
		Body:    body,
	}
}

// appendActionRows adds the actions in rows: two side by side when their
// words fit a phone-width card together, else one.
func appendActionRows(body []any, acts []acAction, spacing string) []any {
	for i := 0; i < len(acts); {
		n := 1
		if i+1 < len(acts) && labelWidth(acts[i].Title)+labelWidth(acts[i+1].Title) <= cardPairMax {
			n = 2
		}
		body = append(body, acActionSet{Type: "ActionSet", Spacing: spacing, Actions: acts[i : i+n]})
		spacing = "Small"
		i += n
	}
	return body
}

// cardFacts are the compact card's lines: the app, the credential, what
// was done, the Conditional Access verdict and the first step.
func cardFacts(r Report) []acFact {
	fact := func(title, value string) acFact { return acFact{Title: mdEscape(title), Value: mdEscape(value)} }
	fs := []acFact{fact("App", r.App+" · app ID "+r.AppID)}
	credTitle := "Credential"
	if !r.Verified {
		credTitle = "Credential named"
	}
	switch n := r.Credentials.Len(); {
	case n == 0:
		fs = append(fs, fact(credTitle, "none named"))
	default:
		// The key id first: when the text must be cut to fit, it is what
		// an owner needs to find the credential.
		cv := r.Credentials.Items[0]
		v := "key ID " + factValue(cv.Facts, "Key ID") + " · " + cv.Heading
		if hint := factValue(cv.Facts, "Starts with"); hint != "" {
			v += " · starts with " + strings.TrimSuffix(hint, " (the secret itself is never shown)")
		}
		if n > 1 {
			v += fmt.Sprintf(" (and %d more in the full report)", n-1)
		}
		fs = append(fs, fact(credTitle, v))
	}
	fs = append(fs, fact("Done", r.Summary))
	if l := factValue(r.Detection, "Licence"); l != "" {
		fs = append(fs, fact("Licence", l))
	}
	fs = append(fs, fact("Conditional Access", r.Verdict.Headline))
	if len(r.NextSteps) > 0 {
		v := firstSentence(r.NextSteps[0])
		if n := len(r.NextSteps); n > 1 {
			v += fmt.Sprintf(" (step 1 of %d; all of them in the full report)", n)
		}
		fs = append(fs, fact("Next", v))
	}
	return fs
}

func factValue(fs []Fact, title string) string {
	for _, f := range fs {
		if f.Title == title {
			return f.Value
		}
	}
	return ""
}

// firstSentence is s up to its first full stop followed by a space.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}
