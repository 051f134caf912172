package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/spresponder/spresponder/internal/incident"
)

// Bounds on what an Actions implementation may hand the renderers. They
// keep every card under MaxCardBytes whatever the incident holds: the card
// cuts incident text to fit, but a URL cannot be cut.
const (
	// MaxActionButtons is the most decisions one message offers. With the
	// "Full report" link and the two portal links it stays within the six
	// actions Teams shows on a card.
	MaxActionButtons = 3
	// MaxActionURLBytes bounds each link (a signed token is a few hundred
	// bytes).
	MaxActionURLBytes = 1024
	// maxLabelRunes bounds a button's words in a message.
	maxLabelRunes = 40
)

// LinkedChannel is a Channel whose messages carry action links (Teams,
// email). The Notifier asks its Actions for each target's links, bound to
// the reader ActionRecipient names (the Teams target id, the mail
// address), and hands them to Send in Target.Links.
type LinkedChannel interface {
	Channel
	ActionRecipient(t Target) string
}

// checkLinks refuses links a message must not carry: too many buttons, a
// URL that is not an absolute https URL (http only to a loopback host, for
// local runs), too long, or a button without words. The Notifier sends the
// message without buttons when its links fail this check.
func checkLinks(l ActionLinks) error {
	if len(l.Buttons) > MaxActionButtons {
		return fmt.Errorf("%d buttons, at most %d", len(l.Buttons), MaxActionButtons)
	}
	if l.Report != "" {
		if err := checkLinkURL(l.Report); err != nil {
			return fmt.Errorf("report link: %w", err)
		}
	}
	for i, b := range l.Buttons {
		if linkLabel(b.Label) == "" {
			return fmt.Errorf("button %d has no label", i+1)
		}
		if err := checkLinkURL(b.URL); err != nil {
			return fmt.Errorf("button %d (%s): %w", i+1, clean(b.Label, maxLabelRunes), err)
		}
	}
	return nil
}

var errLinkURL = errors.New("not an absolute https URL (http only to a loopback host)")

func checkLinkURL(raw string) error {
	if len(raw) > MaxActionURLBytes {
		return fmt.Errorf("URL is %d bytes, at most %d", len(raw), MaxActionURLBytes)
	}
	if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errLinkURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return errLinkURL
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
	}
	return errLinkURL
}

// linkLabel is a button's words as a message shows them.
func linkLabel(s string) string { return clean(s, maxLabelRunes) }

// Button widths on a phone-width card (about 326 px inside the card):
// a button holds about 28 units of labelWidth, two side by side about 30
// together (the real renderer test checks both at 390 px).
const (
	cardLabelMax = 28
	cardPairMax  = 30
)

// labelWidth estimates how wide a label renders, in units of a lower-case
// Latin letter: capitals, and letters of other alphabets, are wider, and
// East Asian wide characters about twice as wide.
func labelWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		switch {
		case r >= 0x1100 && (r <= 0x115f || (r >= 0x2e80 && r <= 0xa4cf) || (r >= 0xac00 && r <= 0xd7a3) || (r >= 0xf900 && r <= 0xfaff) ||
			(r >= 0xfe30 && r <= 0xfe4f) || (r >= 0xff00 && r <= 0xff60) || (r >= 0xffe0 && r <= 0xffe6) || r >= 0x1f000):
			w += 2
		case r >= 'a' && r <= 'z', r == ' ', r == ',', r == '.', r == '\'', r == '-', r == '(', r == ')':
			w++
		default:
			w += 1.4
		}
	}
	return w
}

// cardLabel is a button's words cut to what one button on a phone-width
// card shows.
func cardLabel(s string) string {
	s = linkLabel(s)
	if labelWidth(s) <= cardLabelMax {
		return s
	}
	rs := []rune(s)
	for len(rs) > 1 && labelWidth(string(rs))+1 > cardLabelMax {
		rs = rs[:len(rs)-1]
	}
	return strings.TrimRight(string(rs), " ") + "…"
}

// labelled returns the links with each button's words cleaned for a
// message (checked links only).
func labelled(l ActionLinks) ActionLinks {
	out := ActionLinks{Report: l.Report}
	for _, b := range l.Buttons {
		b.Label = linkLabel(b.Label)
		out.Buttons = append(out.Buttons, b)
	}
	return out
}

// WithActions makes every message of a LinkedChannel (the Teams card, each
// email) carry its reader's action links: the Notifier asks a for them per
// target, bound to the reader the channel names. When a cannot give them,
// the message still goes, without buttons, and the failure is logged,
// counted (LinkFailures) and recorded on the incident. A nil a, or no
// option, sends messages without buttons.
func WithActions(a Actions) Option { return func(n *Notifier) { n.actions = a } }

// LinkFailures is the number of messages sent without their action links
// because the Actions failed or gave links checkLinks refused.
func (n *Notifier) LinkFailures() int64 { return n.linkFailures.Load() }

// linksFor asks the Actions for one reader's links within one attempt's
// time, and checks them: links that fail, or that a message must not
// carry, give none.
func (n *Notifier) linksFor(ctx context.Context, in *incident.Incident, reader string) (links ActionLinks, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AttemptTimeout)
	defer cancel()
	defer func() {
		// Whatever the Actions do, the message still goes.
		if p := recover(); p != nil {
			links, err = ActionLinks{}, fmt.Errorf("action links: panic: %v", p)
		}
	}()
	links, err = n.actions.Links(ctx, in, reader)
	if err != nil {
		return ActionLinks{}, fmt.Errorf("action links: %w", err)
	}
	if err := checkLinks(links); err != nil {
		return ActionLinks{}, fmt.Errorf("action links refused: %w", err)
	}
	return links, nil
}
