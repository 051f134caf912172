package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KindActionToken records action tokens (internal/act) once spent.
const KindActionToken ControlKind = "actiontoken"

// ErrTokenSpent means the action token was used before.
var ErrTokenSpent = errors.New("ledger: action token already used")

// ActionTokens spends action tokens once: a conditional write keyed on a
// digest of the token's nonce, so two clicks, two instances or a replayed
// POST get one decision. The record keeps who spent it, when, on which
// incident and, once known, the result. Never the token or its nonce.
type ActionTokens struct {
	L   Controls
	Now func() time.Time
}

// actionToken is the KindActionToken record.
type actionToken struct {
	Incident string    `json:"incident"`
	Action   string    `json:"action"`
	By       string    `json:"by"`
	Spent    time.Time `json:"spent"`
	Result   string    `json:"result,omitempty"`
	Updated  time.Time `json:"updated"`
}

// Spend records the token (by nonce) as used for action on incidentID by
// who. A token spent before returns ErrTokenSpent with who spent it, when.
func (a ActionTokens) Spend(ctx context.Context, nonce, incidentID, action, by string) error {
	var first actionToken
	errSpent := errors.New("spent")
	_, err := ChangeControl(ctx, a.L, KindActionToken, DigestID(nonce), func(cur *actionToken, found bool) error {
		if found {
			first = *cur
			return errSpent
		}
		t := nowOr(a.Now)
		*cur = actionToken{Incident: incidentID, Action: action, By: by, Spent: t, Updated: t}
		return nil
	})
	if errors.Is(err, errSpent) {
		return fmt.Errorf("%w: by %s at %s", ErrTokenSpent, first.By, first.Spent.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("spend action token: %w", err)
	}
	return nil
}

// Result records what came of the spent token's action.
func (a ActionTokens) Result(ctx context.Context, nonce, result string) error {
	errUnspent := errors.New("not spent")
	_, err := ChangeControl(ctx, a.L, KindActionToken, DigestID(nonce), func(cur *actionToken, found bool) error {
		if !found {
			return errUnspent
		}
		cur.Result, cur.Updated = result, nowOr(a.Now)
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
	_, found, err := ReadControl[actionToken](ctx, a.L, KindActionToken, DigestID(nonce))
	if err != nil {
		return false, fmt.Errorf("read action token: %w", err)
	}
	return found, nil
}
