package playbook_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
)

// BenchmarkStorm: 100 leaked secrets in one batch, the breaker raised so
// every one may be removed, through the real playbook and the real
// msgraph-sdk-go client against a simulated tenant that enforces the
// identity protection and Conditional Access limit (1 request/s, burst 4,
// 429 without Retry-After) and answers every call after 50 ms. The
// responder runs with the production defaults: the budget at 1 request/s
// with a burst of 2, a 60 s stage deadline, a parked incident due again
// after 1 minute, and the Sweep timer every 2 minutes (here a ticker on
// the wall clock; SPRESPONDER_BENCH_SWEEP shortens it). The Conditional
// Access cache is warm, as serve leaves it at start-up.
//
// Reported: the time from the batch to the last removal, the throttled
// responses (must be 0: the benchmark fails otherwise), the requests the
// budget refused (an incident parked and re-driven), and Graph requests.
func BenchmarkStorm(b *testing.B) {
	const n = 100
	sweepEvery := 2 * time.Minute
	if v := os.Getenv("SPRESPONDER_BENCH_SWEEP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		sweepEvery = d
	}
	for b.Loop() {
		b.StopTimer()
		seed, err := graphsim.Load("../../testdata/tenant/demo.json")
		if err != nil {
			b.Fatal(err)
		}
		apps, err := seed.AddLeakedApps(n)
		if err != nil {
			b.Fatal(err)
		}
		sim := graphsim.New(*seed, graphsim.WithLatency(50*time.Millisecond), graphsim.WithLogger(zap.NewNop()))
		ctx, cancel := context.WithCancel(context.Background())
		base, err := sim.Start(ctx, "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		bud := budget.New(budget.Config{}, nil, nil)
		cli, err := graph.New(graph.Config{BaseURL: base, Credential: graph.StaticToken("t"), Budget: bud})
		if err != nil {
			b.Fatal(err)
		}
		led, err := ledger.NewFileStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		store := ledger.Store{L: led}
		nets := &capolicy.Networks{}
		if err := nets.Refresh(ctx, cli); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the budget's burst back, as after start-up
		br := breaker.New(breaker.NewMemory(), 1_000_000, time.Hour, time.Now)
		r := playbook.New(cli, store, rules{}, br, nil, nil, playbook.Config{Enforce: true, Owner: "storm"}, zap.NewNop(), time.Now,
			playbook.WithGuards(store), playbook.WithPolicyCache(nets))
		sigs := make([]detect.Signal, n)
		for i, a := range apps {
			sigs[i] = leakOf(a)
		}
		b.StartTimer()

		start := time.Now()
		if _, err := r.Handle(ctx, sigs, zap.NewNop()); err != nil {
			b.Fatal(err)
		}
		sweeps := 0
		tick := time.NewTicker(sweepEvery)
		for removedAll(b, sim, n) < n {
			<-tick.C
			if _, err := r.Sweep(ctx, store, zap.NewNop()); err != nil {
				b.Fatal(err)
			}
			sweeps++
			if time.Since(start) > 30*time.Minute {
				b.Fatalf("%d of %d removed after 30 minutes", removedAll(b, sim, n), n)
			}
		}
		tick.Stop()
		last := lastRemoval(sim).Sub(start)

		b.StopTimer()
		parked := 0
		all, err := led.List(ctx, ledger.Filter{})
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range all {
			for _, e := range in.History {
				if e.Step == "run" && e.What == string(incident.StateParked) {
					parked++
					break
				}
			}
		}
		if th := sim.Throttled(); th != 0 {
			b.Fatalf("the simulated tenant throttled %d request(s)", th)
		}
		st := bud.Stats()
		b.ReportMetric(last.Seconds(), "s-to-last-removal")
		b.ReportMetric(float64(sim.Throttled()), "throttled")
		b.ReportMetric(float64(st.Admitted), "budgeted-requests")
		b.ReportMetric(float64(st.Refused), "refused-by-budget")
		b.ReportMetric(float64(parked), "incidents-parked-once")
		b.ReportMetric(float64(sweeps), "sweeps")
		b.ReportMetric(float64(len(sim.Requests())), "graph-requests")
		cancel()
		b.StartTimer()
	}
}

// removedAll counts the apps whose secret is gone.
func removedAll(b *testing.B, sim *graphsim.Tenant, n int) int {
	b.Helper()
	c := 0
	for _, w := range sim.Writes() {
		if len(w.RemovedKeyIDs) > 0 {
			c++
		}
	}
	return min(c, n)
}

func lastRemoval(sim *graphsim.Tenant) time.Time {
	var t time.Time
	for _, w := range sim.Writes() {
		if len(w.RemovedKeyIDs) > 0 && w.Time.After(t) {
			t = w.Time
		}
	}
	return t
}
