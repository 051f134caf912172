// Package teams posts the incident's Adaptive Card to Microsoft Teams
// through Workflows webhooks ("When a Teams webhook request is received"):
// the security team's channel, and optionally the owning team's channel per
// app. Office 365 connectors are retired; Graph cannot post to channels
// with application permissions outside migration, so a Workflows webhook is
// the way an app-only service posts a card.
//
// The card is notify.RenderCard's payload. Webhook URLs are secrets (the
// signature is in the query string): on the incident and in logs a webhook
// is "webhook:default" or "webhook:app", and errors are redacted.
package teams

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/notify"
)

// Target ids on the incident.
const (
	TargetDefault = "webhook:default"
	TargetApp     = "webhook:app"
)

// Config configures the Teams channel.
type Config struct {
	// WebhookURL is the security team's channel. Optional when every app
	// of interest has its own webhook.
	WebhookURL string
	// AppWebhookURLs maps an appId (compared case-insensitively) to the
	// owning team's channel webhook. The card goes there as well as to
	// WebhookURL.
	AppWebhookURLs map[string]string
	// Headers are added to every request, e.g. an Authorization bearer for
	// flows restricted to "any user in my tenant". Values are secrets.
	Headers map[string]string
}

// Notifier is the Teams channel (implements notify.Channel).
type Notifier struct {
	cfg    Config
	apps   map[string]string // lower-case appId -> URL
	client *http.Client
	now    func() time.Time
	red    *notify.Redactor
	log    *zap.Logger
}

// Option customises the channel.
type Option func(*Notifier)

// WithHTTPClient replaces the HTTP client (tests pass an httptest server's).
func WithHTTPClient(c *http.Client) Option { return func(n *Notifier) { n.client = c } }

// WithClock sets the clock used to read Retry-After dates.
func WithClock(now func() time.Time) Option { return func(n *Notifier) { n.now = now } }

// New validates the configuration and returns the channel. Errors name the
// setting, never the URL.
func New(cfg Config, logger *zap.Logger, opts ...Option) (*Notifier, error) {
	if cfg.WebhookURL == "" && len(cfg.AppWebhookURLs) == 0 {
		return nil, fmt.Errorf("teams: no webhook configured: set the default webhook URL or at least one per-app webhook")
	}
	urls := []string{}
	if cfg.WebhookURL != "" {
		if err := notify.ValidateWebhookURL(cfg.WebhookURL); err != nil {
			return nil, fmt.Errorf("teams: default webhook URL: %w", err)
		}
		urls = append(urls, cfg.WebhookURL)
	}
	apps := map[string]string{}
	for app, u := range cfg.AppWebhookURLs {
		if err := notify.ValidateWebhookURL(u); err != nil {
			return nil, fmt.Errorf("teams: webhook URL for app %s: %w", app, err)
		}
		apps[strings.ToLower(app)] = u
		urls = append(urls, u)
	}
	var secrets []string
	for _, v := range cfg.Headers {
		secrets = append(secrets, v)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	n := &Notifier{
		cfg:    cfg,
		apps:   apps,
		client: &http.Client{Timeout: 30 * time.Second},
		now:    time.Now,
		red:    notify.NewRedactor(urls, secrets),
		log:    logger.With(zap.String("channel", notify.ChannelTeams)),
	}
	for _, o := range opts {
		o(n)
	}
	return n, nil
}

// Name implements notify.Channel.
func (n *Notifier) Name() string { return notify.ChannelTeams }

// Targets implements notify.Channel: the default channel, and the app's own
// channel when one is configured (and is not the same webhook). The app's
// channel is its owners': an incident only security may hear of
// (notify.SecurityOnly) never goes there.
func (n *Notifier) Targets(d *notify.Delivery) []notify.Target {
	var ts []notify.Target
	if n.cfg.WebhookURL != "" {
		ts = append(ts, notify.Target{ID: TargetDefault})
	}
	if _, ok := n.appURL(d); ok {
		ts = append(ts, notify.Target{ID: TargetApp})
	}
	return ts
}

// appURL is the owners' channel for the incident's app, if it may be told.
func (n *Notifier) appURL(d *notify.Delivery) (string, bool) {
	u, ok := n.apps[strings.ToLower(d.Incident.App.AppID)]
	if !ok || u == n.cfg.WebhookURL || notify.SecurityOnly(d.Incident) {
		return "", false
	}
	return u, true
}

// ActionRecipient implements notify.LinkedChannel: a card's links are
// bound to the channel it is posted to, named by its target id.
func (n *Notifier) ActionRecipient(t notify.Target) string { return t.ID }

// Send implements notify.Channel: one POST of the card, with the target's
// action links as its buttons.
func (n *Notifier) Send(ctx context.Context, d *notify.Delivery, t notify.Target) error {
	wh := notify.Webhook{Name: t.ID, Headers: n.cfg.Headers}
	switch t.ID {
	case TargetDefault:
		wh.URL = n.cfg.WebhookURL
	case TargetApp:
		wh.URL, _ = n.appURL(d)
	}
	if wh.URL == "" {
		return notify.ErrNoTarget(t.ID)
	}
	card, err := notify.RenderCardWith(d.Incident, t.Links)
	if err != nil {
		return notify.Permanent(err)
	}
	n.log.Debug("posting card", zap.String("incident", d.Incident.ID), zap.String("target", t.ID), zap.Int("bytes", len(card)))
	return notify.PostJSON(ctx, n.client, wh, card, n.now, n.red)
}
