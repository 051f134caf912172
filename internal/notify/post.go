package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/retry"
)

// Webhook is one HTTPS endpoint a channel posts JSON to. Its URL and header
// values are secrets: they are used for the request and for nothing else.
type Webhook struct {
	// Name is how the webhook appears in logs and on the incident
	// ("webhook:default"); never derived from the URL.
	Name    string
	URL     string
	Headers map[string]string
}

// maxErrorBody bounds how much of a failed response ends up in an error.
const maxErrorBody = 256

// PostJSON posts body to the webhook with one attempt and classifies the
// outcome: nil for 2xx; a *directory.ThrottledError for 429 (and for 503 that carries
// Retry-After); a retryable error for 408, 5xx and transport failures; a
// Permanent error for any other status. now reads Retry-After dates. Every
// error it returns has been passed through red, so it never carries the URL.
func PostJSON(ctx context.Context, client *http.Client, wh Webhook, body []byte, now func() time.Time, red *Redactor) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		// The parse error quotes the URL; say only that it is unusable.
		return Permanent(fmt.Errorf("post to %s: webhook URL is not valid", wh.Name))
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range wh.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return red.Error(fmt.Errorf("post to %s: %w", wh.Name, err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// Drain a little more so the connection can be reused, without reading
	// an unbounded body from a misbehaving endpoint.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	base := red.Error(fmt.Errorf("post to %s: HTTP %d%s", wh.Name, resp.StatusCode, describeBody(snippet)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		after, _ := retry.ParseAfter(resp.Header.Get("Retry-After"), now())
		return &directory.ThrottledError{RetryAfter: after, Err: base}
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		after, _ := retry.ParseAfter(resp.Header.Get("Retry-After"), now())
		return &directory.ThrottledError{RetryAfter: after, Err: base}
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return base
	default:
		return Permanent(base)
	}
}

// describeBody renders a short, single-line excerpt of a response body.
func describeBody(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if !utf8.Valid(b) {
		return " (non-text body)"
	}
	return ": " + clean(string(b), 160)
}

// errNoTarget is returned by a channel asked to send to a target it does
// not know (the configuration changed between Targets and Send).
var errNoTarget = errors.New("target is not configured")

// ErrNoTarget reports a Send for a target the channel does not have.
func ErrNoTarget(id string) error { return Permanent(fmt.Errorf("%s: %w", id, errNoTarget)) }

// ValidateWebhookURL checks a configured webhook URL without ever quoting
// it: it must parse, be absolute and use https. Plain http is accepted only
// for loopback hosts, where the tests and local demos run their servers.
func ValidateWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("must use https (plain http is allowed only for loopback test servers)")
	}
	return errors.New("must use https")
}
