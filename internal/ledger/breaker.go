package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spresponder/spresponder/internal/breaker"
)

// BreakerStore keeps the blast-radius breaker's reservations in the ledger,
// so every instance of the Function App counts against one limit per
// tenant: a KindBreaker record per tenant holds the times of the
// reservations still inside the window (older ones are dropped on each
// write, so it stays as small as the limit), and the conditional write
// makes reserving atomic across instances.
type BreakerStore struct{ L Controls }

// breakerCount is a KindBreaker record.
type breakerCount struct {
	Tenant   string      `json:"tenant"`
	Reserved []time.Time `json:"reserved"`
}

// Reserve implements breaker.Store.
func (b BreakerStore) Reserve(ctx context.Context, tenant string, n, limit int, window time.Duration, now time.Time) (bool, int, error) {
	count := 0
	errFull := errors.New("limit reached")
	_, err := ChangeControl(ctx, b.L, KindBreaker, readableID(tenant), func(cur *breakerCount, _ bool) error {
		kept, ok := breaker.Admit(cur.Reserved, n, limit, window, now)
		count = len(kept)
		if !ok {
			return errFull // nothing written: the expired ones go with the next write
		}
		cur.Tenant, cur.Reserved = tenant, kept
		return nil
	})
	if errors.Is(err, errFull) {
		return false, count, nil
	}
	if err != nil {
		return false, count, fmt.Errorf("breaker reserve for %s: %w", tenant, err)
	}
	return true, count, nil
}
