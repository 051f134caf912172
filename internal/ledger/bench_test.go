package ledger_test

import (
	"fmt"
	"sync/atomic"
	"testing"

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
