// Package retry holds the two pieces every retry in the responder shares:
// reading a Retry-After header (seconds or an HTTP date) and waiting in a
// way that ends with the context.
//
// Who retries what, once each (a layer never retries what the layer below
// already retried):
//   - Graph calls: the SDK's retry handler (kiota-http-go), 3 retries on 429,
//     503 and 504 honouring Retry-After, bounded by the call's timeout. The
//     graph package adds no loop of its own; it classifies what is left
//     (internal/graph.Classify) and parses Retry-After with ParseAfter.
//   - Writes to the tenant: the playbook retries a write only after a
//     re-read shows it did not happen, within the run's deadline, waiting
//     the Retry-After the error carries (playbook.perform). An unknown
//     outcome is never retried blindly.
//   - Notifications: the notifier's loop per target, within its deadline;
//     what is not delivered is sent by the next Sweep (notify.Notifier).
//   - Incidents: a run that fails is parked with a doubling delay and
//     re-driven by the Sweep timer, up to the attempt limit, then a person.
//   - Ledger: conditional writes that conflict are re-applied a bounded
//     number of times with jitter (ledger.Mutate).
package retry

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// ParseAfter reads a Retry-After header value: delay-seconds or an
// HTTP-date, relative to now. It returns false for an empty or unreadable
// value, and zero for a date in the past.
func ParseAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	return 0, false
}

// Sleep waits d or until ctx ends, whichever is first, and returns ctx's
// error in the second case. Callers keep it in a field so tests can put
// their own in.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
