// Package pager pages on-call through a generic webhook when an incident
// needs a human: the blast-radius breaker tripped, a write's outcome is
// unknown, Graph kept failing past its deadline, or the incident waits for
// a decision (see notify.Pages for the exact rules). One page is sent per
// incident and trigger; a re-driven incident does not page again for the
// same trigger.
//
// # Payload
//
// The webhook receives one POST per page, Content-Type application/json:
//
//	{
//	  "version": 1,
//	  "incidentId": "inc-3f2a…",                 // the ledger key
//	  "dedupKey": "inc-3f2a…/breakerTripped",    // stable per incident and trigger
//	  "trigger": "breakerTripped",               // breakerTripped | unknownOutcome | graphFailing | needsHuman
//	  "severity": "critical",                    // critical: the credential may still work; warning: it is removed
//	  "reason": "blast-radius breaker tripped, containment withheld: breaker: 10 removals in 5m",
//	  "summary": "Client secret of Terraform-Datadog-CLI at risk: not removed",
//	  "state": "needsHuman",                     // incident state
//	  "mode": "enforce",                         // raw: enforce | dry-run | protected | held | killSwitch | unverified
//	  "modeLabel": "enforce",                    // the words a person reads: "protected (notify only)", ...
//	  "verified": true,                          // false: Graph did not confirm the signal; nothing was changed
//	  "notice": "UNVERIFIED: Graph did not …",   // only when set: show it before anything else
//	  "detection": {"type": "leakedCredentials", "riskLevel": "high", "detectionId": "2856…"},
//	  "app": {
//	    "displayName": "Terraform-Datadog-CLI",
//	    "appId": "6131d760-…",
//	    "servicePrincipalId": "b029d485-…",
//	    "tenantId": "4bbb79f7-…"
//	  },
//	  "keyIds": ["dbcd79c0-…"],                  // never secret material
//	  "links": {
//	    "show": "spresponder incidents show inc-3f2a…",
//	    "replay": "spresponder replay --incident inc-3f2a…",
//	    "portal": [{"title": "App credentials (Entra)", "url": "https://entra.microsoft.com/…"}]
//	  },
//	  "time": "2025-03-04T10:02:12Z"             // when the page was sent
//	}
//
// Fields are only added, never renamed: receivers (PagerDuty or Opsgenie
// through a small transform, a Logic App, an on-call bot) key on them.
package pager

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
)

// Config configures the pager channel.
type Config struct {
	// URL is the on-call webhook. A secret.
	URL string
	// Headers are added to every request (e.g. Authorization). Values are
	// secrets.
	Headers map[string]string
}

// Payload is the JSON body of one page (documented in the package doc).
type Payload struct {
	Version    int       `json:"version"`
	IncidentID string    `json:"incidentId"`
	DedupKey   string    `json:"dedupKey"`
	Trigger    string    `json:"trigger"`
	Severity   string    `json:"severity"`
	Reason     string    `json:"reason"`
	Summary    string    `json:"summary"`
	State      string    `json:"state"`
	Mode       string    `json:"mode,omitempty"`
	ModeLabel  string    `json:"modeLabel,omitempty"`
	Verified   bool      `json:"verified"`
	Notice     string    `json:"notice,omitempty"`
	Detection  Detection `json:"detection"`
	App        App       `json:"app"`
	KeyIDs     []string  `json:"keyIds"`
	Links      Links     `json:"links"`
	Time       time.Time `json:"time"`
}

// Detection names what opened the incident.
type Detection struct {
	Type        string `json:"type"`
	RiskLevel   string `json:"riskLevel,omitempty"`
	DetectionID string `json:"detectionId,omitempty"`
}

// App identifies the workload identity.
type App struct {
	DisplayName        string `json:"displayName,omitempty"`
	AppID              string `json:"appId"`
	ServicePrincipalID string `json:"servicePrincipalId"`
	TenantID           string `json:"tenantId"`
}

// Links tell on-call where to look.
type Links struct {
	Show   string        `json:"show"`
	Replay string        `json:"replay"`
	Portal []notify.Link `json:"portal,omitempty"`
}

// Notifier is the pager channel (implements notify.Channel).
type Notifier struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	red    *notify.Redactor
	log    *zap.Logger
}

// Option customises the channel.
type Option func(*Notifier)

// WithHTTPClient replaces the HTTP client (tests pass an httptest server's).
func WithHTTPClient(c *http.Client) Option { return func(n *Notifier) { n.client = c } }

// WithClock sets the clock for the payload's time and Retry-After dates.
func WithClock(now func() time.Time) Option { return func(n *Notifier) { n.now = now } }

// New validates the configuration and returns the channel.
func New(cfg Config, logger *zap.Logger, opts ...Option) (*Notifier, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("pager: webhook URL is empty: set the on-call webhook")
	}
	if err := notify.ValidateWebhookURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("pager: webhook URL: %w", err)
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
		client: &http.Client{Timeout: 30 * time.Second},
		now:    time.Now,
		red:    notify.NewRedactor([]string{cfg.URL}, secrets),
		log:    logger.With(zap.String("channel", notify.ChannelPage)),
	}
	for _, o := range opts {
		o(n)
	}
	return n, nil
}

// Name implements notify.Channel.
func (n *Notifier) Name() string { return notify.ChannelPage }

// Targets implements notify.Channel: one target per page trigger.
func (n *Notifier) Targets(d *notify.Delivery) []notify.Target {
	var ts []notify.Target
	for _, p := range d.Pages {
		ts = append(ts, notify.Target{ID: notify.PageTarget(p.Trigger)})
	}
	return ts
}

// Send implements notify.Channel: one POST of one page.
func (n *Notifier) Send(ctx context.Context, d *notify.Delivery, t notify.Target) error {
	i := slices.IndexFunc(d.Pages, func(p notify.Page) bool { return notify.PageTarget(p.Trigger) == t.ID })
	if i < 0 {
		return notify.ErrNoTarget(t.ID)
	}
	body, err := json.Marshal(BuildPayload(d.Incident, d.Pages[i], n.now()))
	if err != nil {
		return notify.Permanent(fmt.Errorf("page %s: encode: %w", t.ID, err))
	}
	n.log.Debug("paging", zap.String("incident", d.Incident.ID), zap.String("target", t.ID))
	return notify.PostJSON(ctx, n.client, notify.Webhook{Name: t.ID, URL: n.cfg.URL, Headers: n.cfg.Headers}, body, n.now, n.red)
}

// BuildPayload builds the page for one trigger. It is pure.
func BuildPayload(in *incident.Incident, p notify.Page, now time.Time) Payload {
	r := notify.BuildReport(in)
	var sig struct{ typ, level, id string }
	if len(in.Signals) > 0 {
		s := in.Signals[0]
		sig.typ, sig.level, sig.id = cmp.Or(s.RiskEventType, string(s.Kind)), s.RiskLevel, s.DetectionID
	}
	keys := slices.Clone(in.Key.KeyIDs)
	if keys == nil {
		keys = []string{}
	}
	return Payload{
		Version:    1,
		IncidentID: in.ID,
		DedupKey:   in.ID + "/" + string(p.Trigger),
		Trigger:    string(p.Trigger),
		Severity:   p.Severity,
		Reason:     p.Reason,
		Summary:    r.Title,
		State:      string(in.State),
		Mode:       in.Mode,
		ModeLabel:  r.ModeLabel,
		Verified:   r.Verified,
		Notice:     r.Notice,
		Detection:  Detection{Type: sig.typ, RiskLevel: sig.level, DetectionID: sig.id},
		App: App{
			DisplayName:        in.App.DisplayName,
			AppID:              in.App.AppID,
			ServicePrincipalID: in.App.ServicePrincipalID,
			TenantID:           in.Key.TenantID,
		},
		KeyIDs: keys,
		Links: Links{
			Show:   notify.ShowCommand(in.ID),
			Replay: notify.ReplayCommand(in.ID),
			Portal: r.Links,
		},
		Time: now.UTC(),
	}
}
