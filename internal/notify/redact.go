package notify

import (
	"context"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Redacted is what replaces anything secret: a whole URL keeps its scheme
// and host before it ("https://hooks.example/…redacted"), a fragment is
// replaced by it alone.
const Redacted = "…redacted"

// RedactURL returns the one form of a webhook URL that may be logged,
// returned in an error or stored on the incident: scheme and host, then
// "/…redacted". Nothing else survives, whatever it looks like: a Workflows
// URL signs itself in the query (sig=...), other services put their key in
// the path (in words as well as digits), and some accept
// user:password@host. A URL that does not parse is replaced as a whole.
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Redacted
	}
	return u.Scheme + "://" + u.Host + "/" + Redacted
}

// Redactor removes configured secrets from error text. It is built once per
// channel from its webhook URL(s) and header values.
type Redactor struct {
	// pairs of (secret, replacement), longest secret first so that a URL is
	// replaced whole (keeping its host) before its parts are.
	pairs []string
}

// minSecretLen keeps short, common strings (such as "1.0" in api-version)
// out of the replacement list, where they would mangle unrelated text.
const minSecretLen = 6

// NewRedactor returns a Redactor for the given webhook URLs and opaque
// secrets (header values, tokens). A URL is replaced by RedactURL wherever
// it appears whole (as configured, as net/http prints it, escaped); and
// since gateways echo the request path and libraries print parts of a URL,
// every part that could carry a credential is replaced too, whatever it
// looks like: the path and query, each path segment, each query value, the
// user and password. For a header value such as "Bearer <token>" the token
// alone is a secret as well.
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
		add(strings.ReplaceAll(raw, "&", `\u0026`), red) // as encoding/json writes it
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			continue
		}
		add(u.String(), red)
		add(u.RequestURI(), "/"+Redacted)
		add(u.EscapedPath(), "/"+Redacted)
		add(u.Path, "/"+Redacted)
		add(u.RawQuery, Redacted)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v, Redacted)
				add(url.QueryEscape(v), Redacted)
			}
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			add(seg, Redacted)
			if plain, err := url.PathUnescape(seg); err == nil {
				add(plain, Redacted)
			}
		}
		if u.User != nil {
			add(u.User.Username(), Redacted)
			if p, ok := u.User.Password(); ok {
				add(p, Redacted)
			}
		}
	}
	for _, s := range secrets {
		add(s, Redacted)
		// "Bearer <token>", "Basic <credentials>", "GenieKey <key>": the
		// far end may echo the credential without its scheme.
		if _, cred, ok := strings.Cut(strings.TrimSpace(s), " "); ok {
			add(strings.TrimSpace(cred), Redacted)
		}
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
