package teams

import (
	"context"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
)

// PostFollowUp posts a follow-up card (notify.RenderFollowUp) to the
// target the incident's card went to, by its recorded id: the same
// webhook, so the channel sees who handled the incident.
func (n *Notifier) PostFollowUp(ctx context.Context, in *incident.Incident, target string, card []byte) error {
	wh := notify.Webhook{Name: target, Headers: n.cfg.Headers}
	switch target {
	case TargetDefault:
		wh.URL = n.cfg.WebhookURL
	case TargetApp:
		wh.URL, _ = n.appURL(&notify.Delivery{Incident: in})
	}
	if wh.URL == "" {
		return notify.ErrNoTarget(target)
	}
	return notify.PostJSON(ctx, n.client, wh, card, n.now, n.red)
}
