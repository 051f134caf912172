package graphsim

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
)

// FaultKind says what a Fault does to a matching request.
type FaultKind string

const (
	// FaultLatency delays the request by Delay and lets it proceed; several
	// latency faults add up. It is the only kind that does not end the request.
	FaultLatency FaultKind = "latency"
	// FaultStatus answers Status (429, 500, 503, ...) with a Graph error
	// body, and Retry-After when RetryAfter is set.
	FaultStatus FaultKind = "status"
	// FaultTimeout holds the request until the client gives up, the server
	// shuts down, or Delay passes (default 30s), then answers 504.
	FaultTimeout FaultKind = "timeout"
	// FaultDrop closes the connection without a response.
	FaultDrop FaultKind = "drop"
)

// Phase says when a fault strikes relative to the request's effect.
type Phase string

const (
	// Before: the request is not applied (the default).
	Before Phase = "before"
	// After: the request is applied (a write happened, mail was sent) and
	// then the client sees the fault, so the outcome is unknown to it.
	After Phase = "after"
)

// Fault injects a failure or a delay into the requests that match Route.
//
// Route is "METHOD /path" relative to /v1.0, where METHOD may be "*" and a
// path segment "*" or "{anything}" matches one segment. Paths are matched
// after decoding and after turning the alternate key form
// "applications(appId='X')" into the two segments "applications", "X", so
// "POST /applications/*/removePassword" matches both addressing forms and
// route names from the request log can be used as patterns.
type Fault struct {
	Route  string    `json:"route"`
	Kind   FaultKind `json:"kind"`
	Status int       `json:"status,omitempty"`
	// RetryAfter is the Retry-After header in seconds (0 leaves it out, to
	// exercise the client's own backoff).
	RetryAfter int      `json:"retryAfterSeconds,omitempty"`
	Delay      Duration `json:"delay,omitempty"`
	// Times is how many matching requests the fault hits; 0 means all of them.
	Times int   `json:"times,omitempty"`
	Phase Phase `json:"phase,omitempty"`
}

func (f Fault) validate() error {
	if _, _, err := parsePattern(f.Route); err != nil {
		return err
	}
	var errs []error
	switch f.Kind {
	case FaultLatency:
		if f.Delay <= 0 {
			errs = append(errs, errors.New("a latency fault needs a positive delay"))
		}
	case FaultStatus:
		if f.Status < 400 || f.Status > 599 {
			errs = append(errs, fmt.Errorf("status %d is not an HTTP error status (400-599)", f.Status))
		}
	case FaultTimeout, FaultDrop:
	default:
		errs = append(errs, fmt.Errorf("kind %q is not latency, status, timeout or drop", f.Kind))
	}
	if f.Phase != "" && f.Phase != Before && f.Phase != After {
		errs = append(errs, fmt.Errorf("phase %q is not before or after", f.Phase))
	}
	if f.Times < 0 || f.RetryAfter < 0 {
		errs = append(errs, errors.New("times and retryAfterSeconds cannot be negative"))
	}
	return errors.Join(errs...)
}

// String describes the fault as the request log shows it, such as
// "status 429 before" or "drop after".
func (f Fault) String() string {
	s := string(f.Kind)
	if f.Kind == FaultStatus {
		s = fmt.Sprintf("status %d", f.Status)
	}
	if f.Kind != FaultLatency {
		s += " " + string(cmp.Or(f.Phase, Before))
	}
	return s
}

// defaultHold is how long a timeout fault keeps a request when Delay is not set:
// longer than any sane client timeout, short enough not to wedge a test run.
const defaultHold = 30 * time.Second

// activeFault is a Fault with its parsed pattern and how often it struck.
type activeFault struct {
	Fault
	method string
	segs   []string
	hits   int
}

func parsePattern(route string) (method string, segs []string, err error) {
	method, path, ok := strings.Cut(strings.TrimSpace(route), " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return "", nil, fmt.Errorf("route %q is not \"METHOD /path\" (for example \"POST /applications/*/removePassword\")", route)
	}
	return strings.ToUpper(method), splitPath(strings.TrimPrefix(path, "/v1.0")), nil
}

func (f *activeFault) matches(method string, segs []string) bool {
	if f.method != "*" && f.method != method || len(f.segs) != len(segs) {
		return false
	}
	for i, p := range f.segs {
		wild := p == "*" || strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}")
		if !wild && !strings.EqualFold(p, segs[i]) {
			return false
		}
	}
	return true
}

// splitPath splits a decoded path into segments, turning the alternate key
// form "applications(appId='X')" into "applications", appIDPrefix+"X" so
// that handlers can tell an appId from an object id.
func splitPath(path string) []string {
	var segs []string
	for _, s := range strings.Split(strings.Trim(path, "/"), "/") {
		if s == "" {
			continue
		}
		// Only Graph's single-quoted form is accepted; anything else stays
		// one unknown segment and is answered as Graph would, with 400.
		if name, key, ok := strings.Cut(s, "(appId='"); ok && strings.HasSuffix(key, "')") && name != "" {
			segs = append(segs, name, appIDPrefix+strings.TrimSuffix(key, "')"))
			continue
		}
		segs = append(segs, s)
	}
	return segs
}

// appIDPrefix marks a segment that came from the (appId='...') form. Object
// ids never contain '=', so it cannot collide.
const appIDPrefix = "appId="
