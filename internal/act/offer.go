package act

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/redact"
)

// Labels are the buttons' words.
var Labels = map[string]string{
	Approve:       "Approve removal",
	FalsePositive: "False positive",
	Rotated:       "Rotated, close it",
}

// Offered lists the decisions an incident's state allows, in button order.
//
//   - Approve: a verified incident whose credential removal a guard
//     withheld that a person may lift: the breaker (held), dry-run, the
//     kill switch. Not a protected app: protection is the rules file's,
//     the playbook obeys it on every run, and a button that can only be
//     refused would mislead. The approval re-runs the playbook, which
//     verifies again and obeys every guard as it stands then.
//   - FalsePositive: anything not resolved from which no credential has
//     been removed yet (after a removal, rotating is what closes it).
//   - Rotated: a verified incident naming a credential whose run finished
//     (done or held): the owner says the key is rotated; the page closes
//     the incident only when a fresh Graph read shows the key gone.
func Offered(in *incident.Incident) []string {
	if in == nil || in.State == incident.StateResolved {
		return nil
	}
	var out []string
	if in.Verification.Verified && withheldRemoval(in) {
		switch in.Mode {
		case incident.ModeHeld, incident.ModeDryRun, incident.ModeKillSwitch:
			out = append(out, Approve)
		}
	}
	if !removedAny(in) {
		out = append(out, FalsePositive)
	}
	if in.Verification.Verified && len(in.Credentials) > 0 && (in.State == incident.StateDone || in.State == incident.StateHeld) {
		out = append(out, Rotated)
	}
	return out
}

func isRemoval(a incident.Action) bool {
	return a.Kind == "removePassword" || a.Kind == "patchKeyCredentials"
}

func withheldRemoval(in *incident.Incident) bool {
	for _, a := range in.Actions {
		if isRemoval(a) && a.DryRun && a.State != incident.Done {
			return true
		}
	}
	return false
}

func removedAny(in *incident.Incident) bool {
	for _, a := range in.Actions {
		if isRemoval(a) && a.State == incident.Done && !a.DryRun {
			return true
		}
	}
	return false
}

// Issuer issues action links; it implements notify.Actions.
type Issuer struct {
	keys Keys
	base string
	ttl  time.Duration
	now  func() time.Time
	rand io.Reader
}

// NewIssuer checks the keys and the public base URL of the Function App
// (https://<app>.azurewebsites.net; links go to <base>/api/act).
func NewIssuer(keys Keys, baseURL string, ttl time.Duration, now func() time.Time) (*Issuer, error) {
	if err := keys.Check(); err != nil {
		return nil, err
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "127.0.0.1")) || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("action links: base URL %q: want https://<host> (http only on 127.0.0.1)", baseURL)
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: keys, base: strings.TrimRight(baseURL, "/"), ttl: ttl, now: now, rand: rand.Reader}, nil
}

// Origin is the scheme and host links point at: a POST must come from it.
func (i *Issuer) Origin() string {
	u, _ := url.Parse(i.base) // checked by NewIssuer
	return u.Scheme + "://" + u.Host
}

// PageURL is where the act page is served.
func (i *Issuer) PageURL() string { return i.base + "/api/act" }

// Bind says what a recipient string binds a token to: a mail address
// (anything with an @) or a Teams target id.
func (i *Issuer) bind(key []byte, recipient string) (channel, to string, err error) {
	if strings.Contains(recipient, "@") {
		return ChannelMail, recipientDigest(key, recipient), nil
	}
	if !isTargetID(recipient) {
		return "", "", fmt.Errorf("action links: recipient %q is neither a mail address nor a Teams target id", redact.Label(recipient))
	}
	return ChannelTeams, recipient, nil
}

// Issue signs one token for an action on an incident for a recipient.
func (i *Issuer) Issue(in *incident.Incident, action, recipient string) (string, error) {
	ch, to, err := i.bind(i.keys.Current, recipient)
	if err != nil {
		return "", err
	}
	var nb [16]byte
	if _, err := io.ReadFull(i.rand, nb[:]); err != nil {
		return "", fmt.Errorf("action links: random nonce: %w", err)
	}
	t := Token{Nonce: base64.RawURLEncoding.EncodeToString(nb[:]), Incident: in.ID, Action: action, Channel: ch, To: to,
		Expires: i.now().Add(i.ttl).Truncate(time.Second)}
	if _, err := parsePayload(t.payload()); err != nil {
		return "", fmt.Errorf("action links: incident %s: %w", redact.Label(in.ID), err)
	}
	return i.keys.Sign(t), nil
}

// Links implements notify.Actions: the report link and the buttons the
// incident's state allows, each bound to this recipient.
func (i *Issuer) Links(_ context.Context, in *incident.Incident, recipient string) (notify.ActionLinks, error) {
	var out notify.ActionLinks
	rep, err := i.Issue(in, Report, recipient)
	if err != nil {
		return out, err
	}
	out.Report = i.PageURL() + "?t=" + rep
	for _, a := range Offered(in) {
		tok, err := i.Issue(in, a, recipient)
		if err != nil {
			return notify.ActionLinks{}, err
		}
		out.Buttons = append(out.Buttons, notify.ActionLink{Kind: a, Label: Labels[a], URL: i.PageURL() + "?t=" + tok})
	}
	return out, nil
}
