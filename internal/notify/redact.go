package notify

import (
	"context"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"
)

// RedactURL returns a form of a webhook URL that is safe to log or store:
// scheme and host only. Everything else may be a credential: a Workflows URL
// signs itself in the query (sig=...), Slack-style webhooks carry the token
// in the path, and some services accept user:password@host. A URL that does
// not parse is replaced as a whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted url>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// Redactor removes configured secrets from error text. It is built once per
// notifier from its webhook URL(s) and header values.
type Redactor struct {
	// pairs of (secret, replacement), longest secret first so that a URL is
	// replaced whole before its query values are.
	pairs []string
}

// minSecretLen keeps short, common strings (such as "1.0" in api-version)
// out of the replacement list, where they would mangle unrelated text.
const minSecretLen = 6

// NewRedactor returns a Redactor for the given webhook URLs and opaque
// secrets (header values, tokens). For each URL it also redacts the
// URL-escaped form, every query value and every path segment long enough to
// be a credential, since HTTP libraries sometimes print parts of a URL.
func NewRedactor(urls []string, secrets []string) *Redactor {
	seen := map[string]string{}
	add := func(s, repl string) {
		if len(s) < minSecretLen {
			return
		}
		if _, ok := seen[s]; !ok {
			seen[s] = repl
		}
	}
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		red := RedactURL(raw)
		add(raw, red)
		add(url.QueryEscape(raw), red)
		if u, err := url.Parse(raw); err == nil {
			if u.RawQuery != "" {
				add(u.RawQuery, "<redacted>")
			}
			for _, vs := range u.Query() {
				for _, v := range vs {
					add(v, "<redacted>")
					add(url.QueryEscape(v), "<redacted>")
				}
			}
			// Path segments that look like tokens (long, with digits):
			// Slack-style webhooks and many pagers put the key in the path.
			// Plain words ("workflows", "invoke") are left alone so that
			// error text stays readable.
			for _, seg := range strings.Split(u.EscapedPath(), "/") {
				if len(seg) >= 12 && strings.ContainsAny(seg, "0123456789") {
					add(seg, "<redacted>")
				}
			}
			if u.User != nil {
				add(u.User.String(), "<redacted>")
			}
		}
	}
	for _, s := range secrets {
		add(s, "<redacted>")
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	r := &Redactor{}
	for _, k := range keys {
		r.pairs = append(r.pairs, k, seen[k])
	}
	return r
}

// String redacts s.
func (r *Redactor) String(s string) string {
	if r == nil || len(r.pairs) == 0 {
		return s
	}
	return strings.NewReplacer(r.pairs...).Replace(s)
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
	red := r.String(msg)
	if red == msg && !hasURLError(err) {
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

func hasURLError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
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
