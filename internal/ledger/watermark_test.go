package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/ledger"
)

// watermarkSuite runs the watermark and heartbeat records against one
// backend; reopen gives a second store over the same data (a restart).
func watermarkSuite(t *testing.T, open func(t *testing.T) (first ledger.Ledger, reopen func() ledger.Ledger)) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }

	t.Run("WatermarkAdvancesOnlyForwardAndSurvivesRestart", func(t *testing.T) {
		l, reopen := open(t)
		w := ledger.Watermarks{L: l, Now: clock}
		if m, err := w.Get(ctx, "detections"); err != nil || !m.At.IsZero() {
			t.Fatalf("fresh watermark: %+v %v", m, err)
		}
		if err := w.Advance(ctx, "detections", t0); err != nil {
			t.Fatal(err)
		}
		if err := w.Advance(ctx, "detections", t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		until, n, err := w.Throttled(ctx, "detections", func(n int) time.Duration { return time.Duration(n) * time.Minute }, "429 without Retry-After")
		if err != nil || n != 1 || !until.Equal(now.Add(time.Minute)) {
			t.Fatalf("throttled: %v %d %v", until, n, err)
		}
		w2 := ledger.Watermarks{L: reopen(), Now: clock}
		m, err := w2.Get(ctx, "detections")
		if err != nil || !m.At.Equal(t0) || m.Throttled != 1 || !m.BackoffUntil.Equal(until) {
			t.Fatalf("after restart: %+v %v", m, err)
		}
		if err := w2.Advance(ctx, "detections", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if m, _ := w2.Get(ctx, "detections"); m.Throttled != 0 || !m.BackoffUntil.IsZero() || !m.At.Equal(t0.Add(time.Minute)) {
			t.Fatalf("advance ends the backoff: %+v", m)
		}
		if other, _ := w2.Get(ctx, "riskyServicePrincipals"); !other.At.IsZero() {
			t.Fatalf("watermarks are per list: %+v", other)
		}
	})

	t.Run("HeartbeatPagesOnceAndResumes", func(t *testing.T) {
		l, _ := open(t)
		h := ledger.Heartbeats{L: l, Now: clock}
		hb, err := h.Watch(ctx, "ServicePrincipalSignInLogs")
		if err != nil || !hb.Last.Equal(now) {
			t.Fatalf("watch: %+v %v", hb, err)
		}
		if err := h.Seen(ctx, "ServicePrincipalSignInLogs", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ok, err := h.MarkPaged(ctx, "ServicePrincipalSignInLogs", true, "silent"); !ok || err != nil {
			t.Fatalf("first silence page: %v %v", ok, err)
		}
		if ok, _ := h.MarkPaged(ctx, "ServicePrincipalSignInLogs", true, "silent"); ok {
			t.Fatal("a second instance must not page the same silence")
		}
		if ok, _ := h.MarkPaged(ctx, "ServicePrincipalSignInLogs", false, "resumed"); !ok {
			t.Fatal("resumed not recorded")
		}
		hb, found, err := h.Get(ctx, "ServicePrincipalSignInLogs")
		if err != nil || !found || !hb.Paged.IsZero() || !hb.Last.Equal(t0.Add(time.Minute)) {
			t.Fatalf("heartbeat: %+v %v %v", hb, found, err)
		}
	})
}

func TestWatermarkHeartbeatFile(t *testing.T) {
	watermarkSuite(t, func(t *testing.T) (ledger.Ledger, func() ledger.Ledger) {
		dir := t.TempDir()
		open := func() ledger.Ledger {
			fs, err := ledger.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			return fs
		}
		return open(), open
	})
}

func TestWatermarkHeartbeatBlob(t *testing.T) {
	azurite.BlobEndpoint(t)
	watermarkSuite(t, func(t *testing.T) (ledger.Ledger, func() ledger.Ledger) {
		cs := ledger.AzuriteConnectionString(azurite.BlobEndpoint(t))
		name := containerName()
		open := func() ledger.Ledger {
			s, err := ledger.NewBlobStore(t.Context(), ledger.BlobConfig{ConnectionString: cs, Container: name, Timeout: 30 * time.Second})
			if err != nil {
				t.Fatalf("NewBlobStore: %v", err)
			}
			return s
		}
		first := open()
		t.Cleanup(func() { deleteContainer(t, cs, name) })
		return first, open
	})
}
