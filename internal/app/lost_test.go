package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/server"
)

// Attack 8: a batch that is never durable. The host's retry count lives in
// one instance's memory (and restarts at 0 on another), so the ledger's
// own count decides too; at the last attempt on-call is paged with the
// partition and range to replay, never a silent 500.
func TestLastRetryPagesWithTheRangeToReplay(t *testing.T) {
	var mu sync.Mutex
	var pages []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pages = append(pages, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	pg, err := pager.New(pager.Config{URL: hook.URL}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := lostBatches{attempts: ledger.Attempts{L: led}, pager: pg, max: 3, log: zap.NewNop(), now: time.Now}
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	b := server.FailedBatch{Partition: "7", First: 1200, Last: 1299, FirstEnqueued: t0, LastEnqueued: t0.Add(time.Second), Err: errors.New("ledger unavailable")}
	// Each attempt lands on a new instance: the host's count never says last.
	for i := 1; i <= 3; i++ {
		last := l.Failed(context.Background(), b)
		if last != (i == 3) {
			t.Fatalf("attempt %d: last=%v", i, last)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pages) != 1 || !strings.Contains(pages[0], "batchLost") || !strings.Contains(pages[0], "partition 7 sequence numbers 1200 to 1299") || !strings.Contains(pages[0], "replay --hub") {
		t.Fatalf("pages: %v", pages)
	}
}

// With the ledger itself away (the usual reason a batch is not durable),
// the host's retry context decides.
func TestLastRetryWithTheLedgerAway(t *testing.T) {
	var n int
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mu.Lock(); n++; mu.Unlock() }))
	defer hook.Close()
	pg, _ := pager.New(pager.Config{URL: hook.URL}, zap.NewNop())
	l := lostBatches{attempts: ledger.Attempts{L: brokenLedger{}}, pager: pg, max: 6, log: zap.NewNop(), now: time.Now}
	b := server.FailedBatch{Partition: "0", First: 1, Last: 2, Err: errors.New("ledger unavailable")}
	if l.Failed(context.Background(), b) {
		t.Fatal("not the host's last attempt, and no count: must let the host retry")
	}
	b.HostLast = true
	if !l.Failed(context.Background(), b) {
		t.Fatal("the host's last attempt was not reported")
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("%d pages", n)
	}
}

// brokenLedger is a ledger that cannot be reached.
type brokenLedger struct{ ledger.Controls }

func (brokenLedger) GetControl(context.Context, ledger.ControlKind, string) ([]byte, string, error) {
	return nil, "", ledger.ErrUnavailable
}
