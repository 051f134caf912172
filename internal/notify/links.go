package notify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
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
	// maxLabelRunes bounds a button's words.
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
		if strings.TrimSpace(b.Label) == "" {
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
