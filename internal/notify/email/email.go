// Package email sends the incident email to each reachable recipient
// through a notify.Mailer (Graph sendMail from a configured mailbox). Each
// recipient gets their own message, so each delivery is recorded, retried
// and de-duplicated on its own, and the footer can say why that person got
// it. The message carries the HTML body and its plain-text alternative (see
// notify.Mailer for how the adapter sends them) and the incident id in an
// x-spresponder-incident header.
package email

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
)

// Config configures the email channel.
type Config struct {
	// From is the mailbox the responder sends from (its address or user
	// principal name), e.g. secops-noreply@contoso.com.
	From string
}

// Notifier is the email channel (implements notify.Channel).
type Notifier struct {
	cfg    Config
	mailer notify.Mailer
	log    *zap.Logger
}

// New validates the configuration and returns the channel.
func New(cfg Config, mailer notify.Mailer, logger *zap.Logger) (*Notifier, error) {
	if strings.TrimSpace(cfg.From) == "" {
		return nil, fmt.Errorf("email: from mailbox is empty: set the address the responder sends from")
	}
	if mailer == nil {
		return nil, fmt.Errorf("email: no mailer")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Notifier{cfg: cfg, mailer: mailer, log: logger.With(zap.String("channel", notify.ChannelEmail))}, nil
}

// Name implements notify.Channel.
func (n *Notifier) Name() string { return notify.ChannelEmail }

// Targets implements notify.Channel: every recipient with an address, by
// lower-case address (the dedup key). Of an incident only security may
// hear of (notify.SecurityOnly), only the security contacts: the channel
// holds that rule itself, so stale recipients on the incident cannot reach
// an owner.
func (n *Notifier) Targets(d *notify.Delivery) []notify.Target {
	var ts []notify.Target
	for _, rc := range d.Incident.Recipients {
		if allowed(d.Incident, rc) {
			ts = append(ts, notify.Target{ID: strings.ToLower(rc.Address)})
		}
	}
	return ts
}

func allowed(in *incident.Incident, rc incident.Recipient) bool {
	return rc.Address != "" && (rc.Source == notify.SourceFallback || !notify.SecurityOnly(in))
}

// ActionRecipient implements notify.LinkedChannel: each mail's links are
// bound to its one recipient, by lower-case address (the target id).
func (n *Notifier) ActionRecipient(t notify.Target) string { return t.ID }

// Send implements notify.Channel: one sendMail to one recipient, with that
// recipient's action links.
func (n *Notifier) Send(ctx context.Context, d *notify.Delivery, t notify.Target) error {
	rc, ok := recipient(d.Incident, t.ID)
	if !ok {
		return notify.ErrNoTarget(t.ID)
	}
	e, err := notify.RenderEmailWith(d.Incident, rc, t.Links)
	if err != nil {
		return notify.Permanent(err)
	}
	msg := notify.Message{
		To:         []string{rc.Address},
		Subject:    e.Subject,
		HTML:       e.HTML,
		Text:       e.Text,
		Headers:    []notify.Header{{Name: notify.IncidentHeader, Value: d.Incident.ID}},
		Importance: "high",
	}
	if err := n.mailer.SendMail(ctx, n.cfg.From, msg); err != nil {
		return fmt.Errorf("send mail from %s to %s: %w", n.cfg.From, t.ID, err)
	}
	return nil
}

func recipient(in *incident.Incident, id string) (incident.Recipient, bool) {
	for _, rc := range in.Recipients {
		if allowed(in, rc) && strings.EqualFold(rc.Address, id) {
			return rc, true
		}
	}
	return incident.Recipient{}, false
}
