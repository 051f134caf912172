package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// Mailer sends one message from a mailbox. The Graph adapter implements it
// with POST /users/{from}/sendMail (application permission Mail.Send,
// scoped to the sending mailbox with Exchange RBAC for Applications).
//
// Graph's JSON sendMail takes a single body, so Message carries both forms
// and the adapter chooses:
//
//   - JSON variant: body {contentType: "HTML", content: msg.HTML}; the plain
//     text is not sent (every Outlook client renders HTML).
//   - MIME variant: POST the base64 of msg.MIME(from, now, boundary) with
//     Content-Type text/plain; the message is multipart/alternative, so
//     clients that prefer text get msg.Text.
//
// Errors: wrap throttling (429) in directory.ThrottledError with Retry-After; mark
// 400, 401, 403 and 404 Permanent; anything else is retried. A 202 only
// means accepted: Exchange may still bounce the message later.
type Mailer interface {
	SendMail(ctx context.Context, from string, msg Message) error
}

// Message is one email to send.
type Message struct {
	To      []string
	Cc      []string
	Subject string
	HTML    string
	Text    string
	// Headers are extra internet message headers; Graph accepts only names
	// that start with "x-".
	Headers []Header
	// Importance is "high" for incidents that need action, else "normal".
	Importance string
}

// Header is one internet message header.
type Header struct{ Name, Value string }

// IncidentHeader names the incident in every message, so that mail rules
// and the security team's tooling can thread or route by it.
const IncidentHeader = "x-spresponder-incident"

// MIME renders the message as an RFC 5322 message with a
// multipart/alternative body (text first, then HTML, as RFC 2046 orders
// them from plainest to richest). boundary must not occur in either body;
// callers pass a random one (tests a fixed one).
func (m Message) MIME(from string, date time.Time, boundary string) ([]byte, error) {
	if boundary == "" || strings.Contains(m.Text, boundary) || strings.Contains(m.HTML, boundary) {
		return nil, errors.New("mime: boundary is empty or occurs in the body")
	}
	addr := func(list []string) (string, error) {
		var out []string
		for _, a := range list {
			p, err := parseAddress(a)
			if err != nil {
				return "", fmt.Errorf("mime: %w", err)
			}
			out = append(out, p)
		}
		return strings.Join(out, ", "), nil
	}
	var b bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	f, err := addr([]string{from})
	if err != nil {
		return nil, err
	}
	to, err := addr(m.To)
	if err != nil {
		return nil, err
	}
	cc, err := addr(m.Cc)
	if err != nil {
		return nil, err
	}
	h("From", f)
	if to != "" {
		h("To", to)
	}
	if cc != "" {
		h("Cc", cc)
	}
	h("Subject", mime.QEncoding.Encode("utf-8", clean(m.Subject, 200)))
	h("Date", date.UTC().Format(time.RFC1123Z))
	h("MIME-Version", "1.0")
	if m.Importance != "" {
		h("Importance", clean(m.Importance, 20))
	}
	for _, x := range m.Headers {
		if !strings.HasPrefix(strings.ToLower(x.Name), "x-") || strings.ContainsAny(x.Name, " :\r\n") {
			return nil, fmt.Errorf("mime: header %q: only x- names are allowed", x.Name)
		}
		h(x.Name, mime.QEncoding.Encode("utf-8", clean(x.Value, 200)))
	}
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	part := func(ctype, body string) error {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, ctype)
		w := quotedprintable.NewWriter(&b)
		if _, err := w.Write([]byte(body)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		b.WriteString("\r\n")
		return nil
	}
	if err := part("text/plain", m.Text); err != nil {
		return nil, fmt.Errorf("mime: text part: %w", err)
	}
	if err := part("text/html", m.HTML); err != nil {
		return nil, fmt.Errorf("mime: html part: %w", err)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}
