package graphsim

import (
	"net/http"
	"strings"
	"time"
)

// The identity protection and Conditional Access limit: about one request
// per second per tenant, shared by every app, and a 429 without
// Retry-After (reference/entra/graph-write-facts.md §5; the service-principal
// risk APIs are treated as under it). The simulator enforces it by default,
// with a small burst, so every test that reads these routes sees it; it
// counts the requests it refuses so tests and benchmarks can assert none
// were.
const (
	DefaultThrottleRate  = 1.0
	DefaultThrottleBurst = 4
)

// throttle is a token bucket (GCRA) on the wall clock: the tenant's own
// clock may be a test's fake one, and the limit is about real request
// spacing.
type throttle struct {
	interval, tau time.Duration
	tat           time.Time
	off           string // why it is off ("" when on)
	refused       int
}

func newThrottle(rate float64, burst int) throttle {
	iv := time.Duration(float64(time.Second) / rate)
	return throttle{interval: iv, tau: time.Duration(max(burst, 1)-1) * iv}
}

// admit takes a token at now, or says no. A refused request takes none.
func (th *throttle) admit(now time.Time) bool {
	if th.off != "" {
		return true
	}
	tat := th.tat
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > th.tau {
		th.refused++
		return false
	}
	th.tat = tat.Add(th.interval)
	return true
}

// limitedPath reports whether a route falls under the limit.
func limitedPath(path string) bool {
	p := strings.TrimPrefix(path, "/")
	return strings.HasPrefix(p, "identityProtection/") || strings.HasPrefix(p, "identity/conditionalAccess/")
}

// WithThrottle sets the identity protection and Conditional Access limit
// (requests per second, burst); the default is 1/s with a burst of 4.
func WithThrottle(rate float64, burst int) Option {
	return func(t *Tenant) {
		if rate > 0 {
			t.throttle = newThrottle(rate, burst)
		}
	}
}

// WithoutThrottle turns the limit off. why is required and logged: a test
// that needs the limit off says why.
func WithoutThrottle(why string) Option {
	if strings.TrimSpace(why) == "" {
		panic("graphsim: WithoutThrottle needs a reason")
	}
	return func(t *Tenant) { t.throttle.off = why }
}

// Throttled returns how many requests the limit refused with 429.
func (t *Tenant) Throttled() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.throttle.refused
}

// throttled is the reply to a request over the limit: Graph's 429 body,
// and no Retry-After, as these APIs send it.
func throttled() reply {
	return gerr(http.StatusTooManyRequests, statusCode(http.StatusTooManyRequests), "%s", statusMessage(http.StatusTooManyRequests))
}

// WithPageSize makes lists without $top answer in pages of n, as Graph
// does (its page size for the risk lists is not documented).
func WithPageSize(n int) Option { return func(t *Tenant) { t.pageSize = n } }

// WithChangesUpToNow hides, from the risk lists, the items whose last
// change lies after the tenant's clock: a seed can then hold an hour of
// changes that a simulated clock reveals round by round.
func WithChangesUpToNow() Option { return func(t *Tenant) { t.upToNow = true } }

// changedBy is items, minus those changed after now when WithChangesUpToNow.
func changedBy[T any](t *Tenant, items []T, changed func(T) *time.Time) []T {
	if !t.upToNow {
		return items
	}
	now := t.now()
	var out []T
	for _, it := range items {
		if c := changed(it); c == nil || !c.After(now) {
			out = append(out, it)
		}
	}
	return out
}
