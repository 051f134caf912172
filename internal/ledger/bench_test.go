package ledger_test

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/ledger/ledgertest"
)

// backends the benchmarks run against: the file store always, the blob
// store when Azurite is available (skipped with the reason otherwise).
var backends = []struct {
	name string
	open func(testing.TB) ledger.Ledger
}{
	{"file", func(tb testing.TB) ledger.Ledger { return openFile(tb) }},
	{"blob", func(tb testing.TB) ledger.Ledger { return openBlob(tb) }},
}

// Parallel benchmarks run this many goroutines per CPU: ledger calls wait on
// I/O, and several Functions instances claim at once.
const parallelism = 4

func forBackends(b *testing.B, fn func(b *testing.B, l ledger.Ledger)) {
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) { fn(b, bk.open(b)) })
	}
}

func perSecond(b *testing.B, n int64, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// newIncident returns incident i of a benchmark: distinct ids, same shape as
// the incidents the responder stores.
func newIncident(i int64) *incident.Incident {
	in := ledgertest.Incident(1)
	in.ID = fmt.Sprintf("inc-bench-%012d", i)
	return in
}

// BenchmarkClaim: claims of new incidents, one after another (one
// invocation's worth of signals), and claims of an incident that exists (the
// duplicate path: a redelivered batch).
func BenchmarkClaim(b *testing.B) {
	forBackends(b, func(b *testing.B, l ledger.Ledger) {
		b.Run("new", func(b *testing.B) {
			var n int64
			for b.Loop() {
				if _, created, err := l.Claim(b.Context(), newIncident(n)); err != nil || !created {
					b.Fatalf("claim %d: created=%v err=%v", n, created, err)
				}
				n++
			}
			perSecond(b, n, "claims/s")
		})
		b.Run("duplicate", func(b *testing.B) {
			dup := newIncident(-1)
			if _, _, err := l.Claim(b.Context(), dup); err != nil {
				b.Fatal(err)
			}
			var n int64
			for b.Loop() {
				if _, created, err := l.Claim(b.Context(), newIncident(-1)); err != nil || created {
					b.Fatalf("duplicate claim: created=%v err=%v", created, err)
				}
				n++
			}
			perSecond(b, n, "claims/s")
		})
	})
}

// BenchmarkClaimParallel: new incidents claimed from many goroutines at
// once, approximating several instances on one ledger.
func BenchmarkClaimParallel(b *testing.B) {
	forBackends(b, func(b *testing.B, l ledger.Ledger) {
		var seq, n atomic.Int64
		b.SetParallelism(parallelism)
		b.ResetTimer() // setup, including Azurite's start, is not measured
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := seq.Add(1)
				if _, created, err := l.Claim(b.Context(), newIncident(i)); err != nil || !created {
					b.Errorf("claim %d: created=%v err=%v", i, created, err)
					return
				}
				n.Add(1)
			}
		})
		perSecond(b, n.Load(), "claims/s")
	})
}

// BenchmarkUpdate: conditional updates of one incident by its only writer
// (the ETag of each write feeds the next).
func BenchmarkUpdate(b *testing.B) {
	forBackends(b, func(b *testing.B, l ledger.Ledger) {
		in, _, err := l.Claim(b.Context(), newIncident(0))
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for b.Loop() {
			in.Attempts++
			if err := l.Update(b.Context(), in); err != nil {
				b.Fatal(err)
			}
			n++
		}
		perSecond(b, n, "updates/s")
	})
}

// BenchmarkUpdateParallel: each goroutine updates its own incident (several
// instances working on different incidents).
func BenchmarkUpdateParallel(b *testing.B) {
	forBackends(b, func(b *testing.B, l ledger.Ledger) {
		var seq, n atomic.Int64
		b.SetParallelism(parallelism)
		b.ResetTimer() // setup, including Azurite's start, is not measured
		b.RunParallel(func(pb *testing.PB) {
			in, _, err := l.Claim(b.Context(), newIncident(seq.Add(1)))
			if err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				in.Attempts++
				if err := l.Update(b.Context(), in); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		})
		perSecond(b, n.Load(), "updates/s")
	})
}

// BenchmarkMutateContended: every goroutine appends to the same incident
// through Mutate, the worst case (a storm of signals for one incident).
func BenchmarkMutateContended(b *testing.B) {
	forBackends(b, func(b *testing.B, l ledger.Ledger) {
		in, _, err := l.Claim(b.Context(), newIncident(0))
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		b.SetParallelism(parallelism)
		b.ResetTimer() // setup, including Azurite's start, is not measured
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, err := ledger.Mutate(b.Context(), l, in.ID, func(x *incident.Incident) error {
					x.Attempts++
					return nil
				})
				if err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		})
		perSecond(b, n.Load(), "mutations/s")
	})
}

// BenchmarkByServicePrincipal: finding one service principal's incidents
// (done for every batch with a blocked sign-in) in a ledger of many:
// "scan" reads the whole ledger (before the index), "index" lists the
// principal's markers and reads its few incidents. BENCH_INCIDENTS sets the
// ledger's size (default 2000; BENCHMARKS.md reports 10000).
func BenchmarkByServicePrincipal(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("BENCH_INCIDENTS")); err == nil && v > 0 {
		n = v
	}
	forBackends(b, func(b *testing.B, l ledger.Ledger) {
		// Five incidents per service principal.
		g, ctx := errgroup.WithContext(b.Context())
		g.SetLimit(16)
		for i := range n {
			g.Go(func() error {
				in := newIncident(int64(i))
				in.Key.ServicePrincipalID = fmt.Sprintf("aaaaaaaa-bbbb-4ccc-8ddd-%012d", i/5)
				_, _, err := l.Claim(ctx, in)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		sp := fmt.Sprintf("aaaaaaaa-bbbb-4ccc-8ddd-%012d", n/10)
		for name, find := range map[string]func() (int, error){
			"scan": func() (int, error) {
				ins, err := ledger.ScanByServicePrincipal(b.Context(), l, sp)
				return len(ins), err
			},
			"index": func() (int, error) {
				ins, err := ledger.Store{L: l}.ByServicePrincipal(b.Context(), sp)
				return len(ins), err
			},
		} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				for b.Loop() {
					if got, err := find(); err != nil || got != 5 {
						b.Fatalf("found %d, %v", got, err)
					}
				}
			})
		}
	})
}
