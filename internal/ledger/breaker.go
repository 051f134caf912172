package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// BreakerStore keeps the blast-radius breaker's reservations in the ledger,
// so every instance of the Function App counts against one limit per
// tenant. The count lives in a ledger document of its own (id
// "breaker-<tenant>", state resolved so re-drives never pick it up) whose
// append-only history holds one line per reservation; the ledger's
// conditional writes make reserving atomic across instances. The document
// grows by one line per credential removal, a few per hour at most.
type BreakerStore struct{ L Incidents }

// BreakerIDPrefix marks breaker documents, which the incident commands hide.
const BreakerIDPrefix = "breaker-"

// Reserve implements breaker.Store.
func (b BreakerStore) Reserve(ctx context.Context, tenant string, n, limit int, window time.Duration, now time.Time) (bool, int, error) {
	id := BreakerIDPrefix + tenant
	doc := &incident.Incident{ID: id, State: incident.StateResolved, Key: incident.Key{TenantID: tenant},
		History: []incident.Event{{At: now, Step: "breaker", What: "created", Actor: "responder"}}, Created: now, Updated: now}
	if _, _, err := b.L.Claim(ctx, doc); err != nil {
		return false, 0, fmt.Errorf("breaker record for %s: %w", tenant, err)
	}
	count := 0
	ok := false
	errFull := errors.New("limit reached")
	_, err := Mutate(ctx, b.L, id, func(cur *incident.Incident) error {
		count = 0
		for _, e := range cur.History {
			if e.What == "reserve" && now.Sub(e.At) < window {
				count++
			}
		}
		if count+n > limit {
			return errFull
		}
		for range n {
			cur.History = append(cur.History, incident.Event{At: now, Step: "breaker", What: "reserve", Actor: "responder"})
		}
		cur.Updated = now
		count += n
		ok = true
		return nil
	})
	if errors.Is(err, errFull) {
		return false, count, nil
	}
	if err != nil {
		return false, count, fmt.Errorf("breaker reserve for %s: %w", tenant, err)
	}
	return ok, count, nil
}
