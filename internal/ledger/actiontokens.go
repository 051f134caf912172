package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// KindActionToken is the control record of a spent action token
// (internal/act): one per token, keyed by a digest of its nonce.
const KindActionToken ControlKind = "actiontoken"

// ErrTokenSpent means the action token was used before.
var ErrTokenSpent = errors.New("ledger: action token already used")

// ActionTokens spends action tokens once: a conditional write of the
// token's record, so two clicks, two instances or a replayed POST get one
// decision. The record keeps who spent it, when, on which incident and,
// once known, the result. Never the token, nor its nonce.
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
}

// tokenID digests the nonce as it is: base64url is case-sensitive, so
// not DigestID, which compares parts in lower case.
func tokenID(nonce string) string {
	h := sha256.Sum256([]byte("spresponder action token\x00" + nonce))
	return hex.EncodeToString(h[:16])
}

// Spend records the token (by nonce) as used for action on incidentID by
// who. A token spent before returns ErrTokenSpent with who spent it, when.
func (a ActionTokens) Spend(ctx context.Context, nonce, incidentID, action, by string) error {
	var before actionToken
	errSpent := errors.New("spent")
	_, err := ChangeControl(ctx, a.L, KindActionToken, tokenID(nonce), func(t *actionToken, found bool) error {
		if found {
			before = *t
			return errSpent
		}
		*t = actionToken{Incident: incidentID, Action: action, By: by, Spent: nowOr(a.Now)}
		return nil
	})
	if errors.Is(err, errSpent) {
		return fmt.Errorf("%w: by %s at %s", ErrTokenSpent, before.By, before.Spent.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("spend action token: %w", err)
	}
	return nil
}

// Result records what came of the spent token's action.
func (a ActionTokens) Result(ctx context.Context, nonce, result string) error {
	errUnspent := errors.New("not spent")
	_, err := ChangeControl(ctx, a.L, KindActionToken, tokenID(nonce), func(t *actionToken, found bool) error {
		if !found {
			return errUnspent
		}
		t.Result = result
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
	_, found, err := ReadControl[actionToken](ctx, a.L, KindActionToken, tokenID(nonce))
	if err != nil {
		return false, fmt.Errorf("read action token: %w", err)
	}
	return found, nil
}
