package ledger_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spresponder/spresponder/internal/ledger"
)

func actionTokenSuite(t *testing.T, l ledger.Records) {
	ctx := context.Background()
	tok := ledger.ActionTokens{L: l}
	const nonce = "q8Zb0n3xS1aYv7u2Lk9mTw"
	if spent, err := tok.Spent(ctx, nonce); err != nil || spent {
		t.Fatalf("fresh token: spent %v, %v", spent, err)
	}
	// Eight concurrent spends of one token: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := tok.Spend(ctx, nonce, "inc-0123456789abcdef01234567", "approve", "alice@contoso.com")
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ledger.ErrTokenSpent):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d spends won, want 1", wins.Load())
	}
	err := tok.Spend(ctx, nonce, "inc-0123456789abcdef01234567", "approve", "mallory@contoso.com")
	if !errors.Is(err, ledger.ErrTokenSpent) || !strings.Contains(err.Error(), "alice@contoso.com") {
		t.Fatalf("reuse: %v", err)
	}
	if spent, err := tok.Spent(ctx, nonce); err != nil || !spent {
		t.Fatalf("spent token: %v, %v", spent, err)
	}
	if err := tok.Result(ctx, nonce, "removed key 1"); err != nil {
		t.Fatal(err)
	}
	// The record names no nonce, and no incident list shows it.
	all, err := l.List(ctx, ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Fatalf("a token record is listed among the incidents: %+v", all[0])
	}
}

func TestActionTokensFile(t *testing.T) {
	fs, err := ledger.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	actionTokenSuite(t, fs)
}

func TestActionTokensBlob(t *testing.T) {
	azurite.BlobEndpoint(t)
	actionTokenSuite(t, openBlob(t))
}
