package notify

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/redact"
)

// Redacted is what replaces anything secret (see package redact, the one
// rule).
const Redacted = redact.Redacted

// RedactURL is redact.URL: the one form of a webhook URL that may be
// logged, returned in an error or stored on the incident.
func RedactURL(raw string) string { return redact.URL(raw) }

// Redactor removes a channel's configured secrets from error text, and
// keeps the notifier's classification of the errors it rewrites.
type Redactor struct{ r *redact.Redactor }

// NewRedactor returns a Redactor for a channel's webhook URLs and opaque
// secrets (header values, tokens); see redact.New.
func NewRedactor(urls []string, secrets []string) *Redactor {
	return &Redactor{r: redact.New(urls, secrets)}
}

// String redacts s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return redact.URLsIn(s)
	}
	return r.r.String(s)
}

// Error returns err with every secret removed from its text. The result
// keeps the classification of the original (IsPermanent, RetryAfter, and
// errors.Is for context cancellation and deadline), but it does not unwrap to
// the original error, whose text (for example a *url.Error from net/http)
// carries the full URL.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	// net/http quotes the request URL in a *url.Error, not always as it
	// was configured (a password becomes "***"): whatever it printed goes
	// by the one rule first.
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		msg = strings.ReplaceAll(msg, ue.URL, RedactURL(ue.URL))
	}
	red := r.String(msg)
	if red == err.Error() && ue == nil {
		return err
	}
	out := &redactedError{msg: red, permanent: IsPermanent(err)}
	out.retryAfter, out.throttled = RetryAfter(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		out.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		out.cause = context.Canceled
	}
	return out
}

// redactedError carries the redacted text and the classification of the
// error it replaces.
type redactedError struct {
	msg        string
	permanent  bool
	throttled  bool
	retryAfter time.Duration
	cause      error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
