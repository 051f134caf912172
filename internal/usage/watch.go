package usage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// Watch is the set of (service principal, key) pairs whose sign-ins the
// stream attaches to their incidents as they come (detect's WatchedKey):
// the keys of verified incidents opened in the last Span. It is refreshed
// from the ledger on the Sweep timer (every instance sees another's
// incidents within one period) and added to as this instance handles
// incidents.
type Watch struct {
	Span time.Duration
	mu   sync.RWMutex
	keys map[string]struct{} // lower-case "sp/key"
}

// NewWatch watches the keys of incidents opened within span.
func NewWatch(span time.Duration) *Watch {
	return &Watch{Span: span, keys: map[string]struct{}{}}
}

// Lister lists the incidents opened since a time (the ledger).
type Lister func(ctx context.Context, since time.Time) ([]*incident.Incident, error)

// Key reports whether a sign-in's key is watched. It is called on the
// intake's hot path with the record's bytes and does not allocate.
func (w *Watch) Key(spID, keyID []byte) bool {
	if w == nil || len(spID) != 36 || len(keyID) != 36 {
		return false
	}
	var buf [73]byte
	n := copy(buf[:], spID)
	buf[n] = '/'
	copy(buf[n+1:], keyID)
	for i, c := range buf {
		if 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	w.mu.RLock()
	_, ok := w.keys[string(buf[:])]
	w.mu.RUnlock()
	return ok
}

// Len is the number of watched pairs.
func (w *Watch) Len() int { w.mu.RLock(); defer w.mu.RUnlock(); return len(w.keys) }

// Add watches the keys of an incident, if it is one whose use is read:
// verified, not closed, not resolved, with a service principal.
func (w *Watch) Add(ins ...*incident.Incident) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, in := range ins {
		for _, k := range keysOf(in) {
			w.keys[k] = struct{}{}
		}
	}
}

func keysOf(in *incident.Incident) []string {
	if in == nil || !in.Verification.Verified || in.Verification.Closed != "" || in.State == incident.StateResolved || in.App.ServicePrincipalID == "" {
		return nil
	}
	q := QueryOf(in, in.Created)
	out := make([]string, 0, len(q.KeyIDs))
	for _, k := range q.KeyIDs {
		out = append(out, q.ServicePrincipalID+"/"+k)
	}
	return out
}

// Refresh replaces the set with the keys of the incidents opened within
// Span of now.
func (w *Watch) Refresh(ctx context.Context, list Lister, now time.Time) error {
	ins, err := list(ctx, now.Add(-w.Span))
	if err != nil {
		return fmt.Errorf("watched keys: %w", err)
	}
	keys := map[string]struct{}{}
	for _, in := range ins {
		for _, k := range keysOf(in) {
			keys[k] = struct{}{}
		}
	}
	w.mu.Lock()
	w.keys = keys
	w.mu.Unlock()
	return nil
}
