package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// actionTokenPrefix starts with the control prefix, so IsControl (and
// everything that hides control records) knows these without a change.
const actionTokenPrefix = controlPrefix + "acttoken-"

// ErrTokenSpent means the action token was used before.
var ErrTokenSpent = errors.New("ledger: action token already used")

// ActionTokens spends action tokens (internal/act) once: a conditional
// create keyed on the token's nonce, so two clicks, two instances or a
// replayed POST get one decision. The record keeps who spent it, when, on
// which incident and, once known, the result. Never the token itself.
type ActionTokens struct {
	L   Incidents
	Now func() time.Time
}

// Spend records the token (by nonce) as used for action on incidentID by
// who. A token spent before returns ErrTokenSpent with who spent it, when.
func (a ActionTokens) Spend(ctx context.Context, nonce, incidentID, action, by string) error {
	now := a.Now
	if now == nil {
		now = time.Now
	}
	t := now()
	doc := controlDoc(digestID(actionTokenPrefix, nonce), "spent", t)
	doc.Key.DetectionID = incidentID
	doc.History[0] = incident.Event{At: t, Step: "act", What: "spent", Detail: action + " on " + incidentID, Actor: by}
	stored, created, err := a.L.Claim(ctx, doc)
	if err != nil {
		return fmt.Errorf("spend action token: %w", err)
	}
	if !created {
		first := stored.History[0]
		return fmt.Errorf("%w: by %s at %s", ErrTokenSpent, first.Actor, first.At.UTC().Format(time.RFC3339))
	}
	return nil
}

// Result records what came of the spent token's action.
func (a ActionTokens) Result(ctx context.Context, nonce, result string) error {
	now := a.Now
	if now == nil {
		now = time.Now
	}
	_, err := Mutate(ctx, a.L, digestID(actionTokenPrefix, nonce), func(cur *incident.Incident) error {
		t := now()
		cur.History = append(cur.History, incident.Event{At: t, Step: "act", What: "result", Detail: result, Actor: "responder"})
		cur.Updated = t
		return nil
	})
	if err != nil {
		return fmt.Errorf("record action token result: %w", err)
	}
	return nil
}

// Spent reports whether the token was used (the GET page says so before a
// person confirms).
func (a ActionTokens) Spent(ctx context.Context, nonce string) (bool, error) {
	_, err := a.L.Get(ctx, digestID(actionTokenPrefix, nonce))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read action token: %w", err)
	}
	return true, nil
}
