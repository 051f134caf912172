package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// Handled is a person's decision taken from an action link (internal/act),
// as the follow-up card tells the channel.
type Handled struct {
	Action string // approve, falsePositive, rotated
	By     string // the signed-in person, as the platform names them
	Via    string // the channel the link came from ("teams (webhook:default)", "mail")
	Result string
	At     time.Time
}

var handledWords = map[string]string{
	"approve":       "Removal approved",
	"falsePositive": "Marked a false positive",
	"rotated":       "Rotated and closed",
}

// RenderFollowUp renders the small card posted to the same Teams webhook
// after a decision, so the channel sees the incident was handled and by
// whom. It is a card of its own, kept far below Teams' size limit: a few
// facts, no report.
func RenderFollowUp(in *incident.Incident, h Handled) ([]byte, error) {
	what := handledWords[h.Action]
	if what == "" {
		what = "Decision taken"
	}
	app := in.App.DisplayName
	if app == "" {
		app = in.App.AppID
	}
	fact := func(title, value string) map[string]string {
		return map[string]string{"title": title, "value": mdEscape(clean(value, 300))}
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.5",
		"msteams": map[string]string{"width": "Full"},
		"body": []any{
			map[string]any{"type": "TextBlock", "wrap": true, "size": "Medium", "weight": "Bolder",
				"text": mdEscape(clean(fmt.Sprintf("%s: %s", what, app), 200))},
			map[string]any{"type": "FactSet", "facts": []any{
				fact("By", h.By),
				fact("From", h.Via),
				fact("When", fmtTime(h.At)),
				fact("Result", h.Result),
				fact("Incident", in.ID),
				fact("State now", string(in.State)+" ("+incident.ModeLabel(in.Mode)+")"),
			}},
		},
	}
	payload := map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return nil, fmt.Errorf("render follow-up for %s: %w", in.ID, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
