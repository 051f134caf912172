package playbook_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
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

// benchWorld is a simulated tenant answering every call after latency,
// with n leaked apps, and a responder on a file ledger. quota: the tenant
// enforces its identity protection limit and the client has the production
// budget, with the Conditional Access cache warm as serve leaves it;
// otherwise both are off and unpaced (the benchmark says why).
// extra may add to the seed (before the tenant starts) and give options
// (after the client exists): it is called twice, once for each.
func benchWorld(b *testing.B, n int, latency time.Duration, limit int, quota bool, extra ...func(*graph.Client, *graphsim.Seed, []graphsim.LoadApp) []playbook.Option) (*graphsim.Tenant, []graphsim.LoadApp, *playbook.Responder) {
	b.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		b.Fatal(err)
	}
	apps, err := seed.AddLeakedApps(n)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range extra {
		f(nil, seed, apps)
	}
	opts := []graphsim.Option{graphsim.WithLatency(latency), graphsim.WithLogger(zap.NewNop())}
	if !quota {
		opts = append(opts, graphsim.WithoutThrottle("this benchmark measures the breaker under 100 incidents at once; BenchmarkStorm measures them under the tenant's limit"))
	}
	sim := graphsim.New(*seed, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	base, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gc := graph.Config{BaseURL: base, Credential: graph.StaticToken("t"), RequestTimeout: 10 * time.Second}
	if quota {
		gc.Budget = budget.New(budget.Config{}, nil, nil)
	}
	cli, err := graph.New(gc)
	if err != nil {
		b.Fatal(err)
	}
	nets := &capolicy.Networks{}
	if quota {
		if err := nets.Refresh(ctx, cli); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the budget's burst back, as after start-up
	}
	var led ledger.Ledger
	if ep := os.Getenv("SPRESPONDER_AZURITE_BLOB"); ep != "" {
		// The production ledger: Azure Blob Storage, here Azurite.
		led, err = ledger.NewBlobStore(ctx, ledger.BlobConfig{ConnectionString: ledger.AzuriteConnectionString(ep), Container: fmt.Sprintf("bench-%d", time.Now().UnixNano())})
	} else {
		led, err = ledger.NewFileStore(b.TempDir())
	}
	if err != nil {
		b.Fatal(err)
	}
	ts = &timingStore{Store: ledger.Store{L: led}}
	br := breaker.New(breaker.NewMemory(), limit, time.Hour, time.Now)
	var popts []playbook.Option
	for _, f := range extra {
		popts = append(popts, f(cli, nil, apps)...)
	}
	r := playbook.New(cli, ts, rules{}, br, nil, nil,
		playbook.Config{Enforce: true, Owner: "bench", StageDeadline: time.Minute}, zap.NewNop(), time.Now, append(popts, playbook.WithPolicyCache(nets))...)
	return sim, apps, r
}

// ts is the last bench world's store, for the ledger's share of the time.
var ts *timingStore

// timingStore measures the time spent in the ledger.
type timingStore struct {
	ledger.Store
	mu    sync.Mutex
	spent time.Duration
}

func (t *timingStore) add(start time.Time) {
	t.mu.Lock()
	t.spent += time.Since(start)
	t.mu.Unlock()
}

func (t *timingStore) Claim(ctx context.Context, in *incident.Incident) (*incident.Incident, bool, error) {
	defer t.add(time.Now())
	return t.Store.Claim(ctx, in)
}

func (t *timingStore) Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error) {
	defer t.add(time.Now())
	return t.Store.Mutate(ctx, id, fn)
}

func leakOf(a graphsim.LoadApp) detect.Signal {
	return leak(a.AppID, a.ServicePrincipalID, a.DetectionID, a.KeyID)
}

func pct(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i]) / float64(time.Millisecond)
}

// BenchmarkRespondLatency: incidents one after another against a tenant
// that answers every Graph call after 50 ms: time from the signal to the
// credential removed and to the Conditional Access verdict, and Graph
// requests per incident. The tenant enforces its identity protection
// limit and the client has the production budget; each incident arrives
// on a quiet tenant (2 s after the last, untimed: the budget's burst is
// back), which is what one incident's latency means. Under a storm the
// budget queues (BenchmarkStorm).
func BenchmarkRespondLatency(b *testing.B) {
	const n = 60
	sim, apps, r := benchWorld(b, n, 50*time.Millisecond, 1_000_000, true)
	var removed, verdict []time.Duration
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatalf("more iterations than prepared apps: run with -benchtime %dx or less", n)
		}
		if i > 0 {
			b.StopTimer()
			time.Sleep(2 * time.Second)
			b.StartTimer()
		}
		start := time.Now()
		out, err := r.Handle(context.Background(), []detect.Signal{leakOf(apps[i])}, nil)
		if err != nil {
			b.Fatal(err)
		}
		in := out.Incidents[0]
		if in.State != incident.StateDone || len(in.Actions) != 1 || in.Actions[0].State != incident.Done {
			b.Fatalf("incident %s: %s %+v", in.ID, in.State, in.Actions)
		}
		removed = append(removed, in.Actions[0].Finished.Sub(start))
		verdict = append(verdict, in.Step(incident.StepConfirm).Finished.Sub(start))
		i++
	}
	if th := sim.Throttled(); th != 0 {
		b.Fatalf("the simulated tenant throttled %d request(s)", th)
	}
	reqs := len(sim.Requests()) - 2 // less the cache's warm-up, which serve does at start-up
	var total time.Duration
	for _, d := range verdict {
		total += d
	}
	b.ReportMetric(float64(ts.spent)/float64(total)*100, "ledger-%-of-time")
	b.ReportMetric(pct(removed, 0.50), "p50-removed-ms")
	b.ReportMetric(pct(removed, 0.99), "p99-removed-ms")
	b.ReportMetric(pct(verdict, 0.50), "p50-verdict-ms")
	b.ReportMetric(pct(verdict, 0.99), "p99-verdict-ms")
	b.ReportMetric(float64(reqs)/float64(i), "graph-requests/incident")
	// Sequential Graph round trips on the path to the verdict, at 50 ms each.
	b.ReportMetric(pct(verdict, 0.50)/50, "round-trips-to-verdict")
}

// BenchmarkConcurrentIncidents: 100 leaked-credential incidents at once,
// with the default breaker (5 removals per hour). It reports the removals
// the breaker let through, the incidents held back (notify-only), and the
// Graph requests and their peak rate per second.
func BenchmarkConcurrentIncidents(b *testing.B) {
	const n = 100
	for b.Loop() {
		b.StopTimer()
		sim, apps, r := benchWorld(b, n, 50*time.Millisecond, 5, false)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		results := make([]*incident.Incident, n)
		for i, a := range apps {
			wg.Go(func() {
				out, err := r.Handle(context.Background(), []detect.Signal{leakOf(a)}, nil)
				if err != nil {
					b.Error(err)
					return
				}
				results[i] = out.Incidents[0]
			})
		}
		wg.Wait()
		took := time.Since(start)
		b.StopTimer()
		removals, held := 0, 0
		for _, in := range results {
			for _, a := range in.Actions {
				if a.State == incident.Done {
					removals++
				}
			}
			if in.NotifyOnly != "" {
				held++
			}
		}
		if removals > 5 {
			b.Fatalf("%d removals passed a breaker of 5", removals)
		}
		perSecond := map[int64]int{}
		for _, q := range sim.Requests() {
			perSecond[q.Time.Unix()]++
		}
		peak := 0
		for _, c := range perSecond {
			peak = max(peak, c)
		}
		b.ReportMetric(float64(removals), "removals")
		b.ReportMetric(float64(held), "held-by-breaker")
		b.ReportMetric(float64(len(sim.Requests())), "graph-requests")
		b.ReportMetric(float64(peak), "peak-requests/s")
		b.ReportMetric(float64(took.Milliseconds()), "ms-for-100")
		b.StartTimer()
	}
}
