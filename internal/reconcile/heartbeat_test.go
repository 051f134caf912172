package reconcile_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/reconcile"
)

// TestArrivalsWriteAtMostOnceAMinute: arrivals of a watched category
// reach the file ledger at most once a minute per instance; an unwatched
// category is not written at all.
func TestArrivalsWriteAtMostOnceAMinute(t *testing.T) {
	fs, err := ledger.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	beats := ledger.Heartbeats{L: fs, Now: clock}
	hb := reconcile.NewHeartbeat(beats, nil, []reconcile.Silence{{Category: "ServicePrincipalSignInLogs", After: 30 * time.Minute}, {Category: "AuditLogs"}}, zap.NewNop(), clock)
	ctx := context.Background()
	last := func(cat string) (time.Time, bool) {
		b, found, err := beats.Get(ctx, cat)
		if err != nil {
			t.Fatal(err)
		}
		return b.Last, found
	}
	hb.Arrived(ctx, map[string]int{"ServicePrincipalSignInLogs": 3, "AuditLogs": 1, "SignInLogs": 9})
	now = t0.Add(59 * time.Second)
	hb.Arrived(ctx, map[string]int{"ServicePrincipalSignInLogs": 1})
	if at, _ := last("ServicePrincipalSignInLogs"); !at.Equal(t0) {
		t.Fatalf("second arrival within a minute written: last %v", at)
	}
	now = t0.Add(61 * time.Second)
	hb.Arrived(ctx, map[string]int{"ServicePrincipalSignInLogs": 1})
	if at, _ := last("ServicePrincipalSignInLogs"); !at.Equal(now) {
		t.Fatalf("arrival after a minute not written: last %v", at)
	}
	for _, cat := range []string{"AuditLogs", "SignInLogs"} { // AuditLogs: heartbeat off
		if _, found := last(cat); found {
			t.Errorf("%s is not watched but was written", cat)
		}
	}
}
