package reconcile_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/reconcile"
)

// BenchmarkReconcileCost: the Graph requests reconcile and the Conditional
// Access cache send to the identity protection and Conditional Access APIs
// in one hour of Sweeps, for a quiet tenant (no risk changes) and a noisy
// one (1,000 risk detections and 1,000 risky-service-principal changes in
// the hour, evenly spread).
//
// How it is computed: a simulated clock, shared by the reconciler and the
// simulated tenant, steps through one hour in Sweep periods (2 minutes, 30
// Sweeps). Each Sweep refreshes the Conditional Access cache (policies and
// named locations) and runs a reconcile collection from the previous
// Sweep minus the 5-minute overlap (as the watermark moves when a round's
// signals are durable); the tenant shows only the changes made up to the
// clock and answers lists in pages of 100 (Graph does not document its
// page size for these lists). Requests are counted at the tenant, by route.
// The tenant's rate limit is off: the hour runs in well under a second,
// and this benchmark counts requests, it does not pace them. Verifying the
// incidents reconcile finds costs two more requests each (the detection and
// the risky service principal), counted with the incidents, not here.
func BenchmarkReconcileCost(b *testing.B) {
	for _, tc := range []struct {
		name    string
		changes int // per list, in the hour
	}{{"quiet", 0}, {"noisy", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				perHour, pages := reconcileHour(b, tc.changes)
				b.ReportMetric(float64(perHour), "requests/hour")
				b.ReportMetric(float64(perHour)/3600, "requests/s")
				b.ReportMetric(float64(pages), "list-pages/hour")
			}
		})
	}
}

func reconcileHour(b *testing.B, changes int) (requests, listPages int) {
	b.Helper()
	seed, err := graphsim.Load("../../testdata/tenant/demo.json")
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	// The demo seed's own risk items are from 2025: before the hour, so a
	// quiet hour lists none of them after the first lookback.
	if changes > 0 {
		if _, err := seed.AddLeakedApps(changes); err != nil {
			b.Fatal(err)
		}
		dets := seed.ServicePrincipalRiskDetections
		risky := seed.RiskyServicePrincipals
		for i := range changes {
			at := t0.Add(time.Duration(i) * time.Hour / time.Duration(changes))
			d := &dets[len(dets)-changes+i]
			d.LastUpdatedDateTime = &at
			r := &risky[len(risky)-changes+i]
			r.RiskLastUpdatedDateTime = &at
		}
	}
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()), graphsim.WithClock(clock), graphsim.WithPageSize(100), graphsim.WithChangesUpToNow(),
		graphsim.WithoutThrottle("an hour of Sweeps on a simulated clock runs in under a second: this counts requests, it does not pace them"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gc, err := graph.New(graph.Config{BaseURL: base, Credential: graph.StaticToken("simulated-tenant")})
	if err != nil {
		b.Fatal(err)
	}
	const sweep, overlap = 2 * time.Minute, 5 * time.Minute
	r := reconcile.New(reconcile.Config{TenantID: tenant, Pace: reconcile.NoPace, Overlap: overlap}, gc, nil, nil, zap.NewNop(), clock)
	nets := &capolicy.Networks{Now: clock}
	// The first Sweep before the hour sets the watermark (its lookback is
	// not part of the hour's cost).
	mark := t0.Add(-sweep)
	seen := map[string]bool{}
	for k := 1; k <= 30; k++ {
		mu.Lock()
		now = t0.Add(time.Duration(k) * sweep)
		mu.Unlock()
		if err := nets.Refresh(ctx, gc); err != nil {
			b.Fatal(err)
		}
		sigs, reps, err := r.Collect(ctx, mark.Add(-overlap))
		if err != nil {
			b.Fatal(err)
		}
		for _, rep := range reps {
			listPages += rep.Pages
		}
		for _, s := range sigs {
			seen[s.DetectionID+s.ServicePrincipalID] = true
		}
		mark = clock()
	}
	for _, q := range sim.Requests() {
		if strings.Contains(q.Route, "/identityProtection/") || strings.Contains(q.Route, "/identity/conditionalAccess/") {
			requests++
		}
	}
	if changes > 0 && len(seen) < 2*changes {
		b.Fatalf("the hour's reconcile saw %d of %d changes", len(seen), 2*changes)
	}
	return requests, listPages
}
