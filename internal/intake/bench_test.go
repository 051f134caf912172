//go:build unix

package intake

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/benchdata"
	"github.com/spresponder/spresponder/internal/invocation"
)

var (
	benchOnce sync.Once
	benchBody []byte
	benchSt   benchdata.Stats
	benchErr  error
)

// benchInvocation reads $SPRESPONDER_BENCH_FILE (written by tools/benchgen,
// so Node and Python read the same bytes) or generates the 64 MB batch.
func benchInvocation(b *testing.B) ([]byte, benchdata.Stats) {
	benchOnce.Do(func() {
		if f := os.Getenv("SPRESPONDER_BENCH_FILE"); f != "" {
			benchBody, benchErr = os.ReadFile(f)
			if benchErr == nil {
				req, err := invocation.Decode(benchBody, "events")
				if err != nil {
					benchErr = err
					return
				}
				benchSt = benchdata.Stats{Bytes: len(benchBody), Events: len(req.Events)}
			}
			return
		}
		benchBody, benchSt, benchErr = benchdata.Generate(filepath.Join("..", "..", "testdata", "entra"), 64<<20, 100, 1)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchBody, benchSt
}

// cpuTime is the CPU time (user and system, all threads) the process has
// used. The benchmark machine is shared, so besides wall-clock MB/s the
// benchmarks report MB/s per CPU second, which other load disturbs far less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIntake measures decode + intake + detect of one invocation as
// the host sends it; MB/s is over the invocation's bytes (the mean over the
// iterations, as always). It also reports records/s, the fastest iteration
// (best-MB/s, best-records/s: the peers in tools/bench report their fastest
// run too), the same per CPU second (cpu-MB/s, cpu-records/s) and
// allocations per record.
func BenchmarkIntake(b *testing.B) {
	body, _ := benchInvocation(b)
	in := New(Config{AllowedTenants: []string{tenant}}, &memKeeper{}, zap.NewNop(), time.Now)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var records, signals int
	best := time.Duration(1<<63 - 1)
	c0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		req, err := invocation.Decode(body, "events")
		if err != nil {
			b.Fatal(err)
		}
		res, err := in.Process(context.Background(), req.Events)
		if err != nil {
			b.Fatal(err)
		}
		if res.Stats.Quarantined != 0 {
			b.Fatalf("quarantined %d", res.Stats.Quarantined)
		}
		records, signals = res.Stats.Records, res.Stats.Signals
		best = min(best, time.Since(t0))
	}
	cpuPerOp := (cpuTime() - c0).Seconds() / float64(b.N)
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(records)/perOp, "records/s")
	b.ReportMetric(float64(len(body))/1e6/best.Seconds(), "best-MB/s")
	b.ReportMetric(float64(records)/best.Seconds(), "best-records/s")
	b.ReportMetric(float64(len(body))/1e6/cpuPerOp, "cpu-MB/s")
	b.ReportMetric(float64(records)/cpuPerOp, "cpu-records/s")
	b.ReportMetric(float64(records), "records/op")
	b.ReportMetric(float64(signals), "signals/op")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		req, _ := invocation.Decode(body, "events")
		_, _ = in.Process(context.Background(), req.Events)
	}))/float64(records), "allocs/record")
}

// BenchmarkRawScan is the ceiling: one pass over the same bytes counting
// quotes and braces, the least any JSON reader must do.
func BenchmarkRawScan(b *testing.B) {
	body, _ := benchInvocation(b)
	b.SetBytes(int64(len(body)))
	var n int
	best := time.Duration(1<<63 - 1)
	c0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		n = 0
		for _, c := range body {
			if c == '"' || c == '{' {
				n++
			}
		}
		best = min(best, time.Since(t0))
	}
	b.ReportMetric(float64(len(body))/1e6/((cpuTime()-c0).Seconds()/float64(b.N)), "cpu-MB/s")
	b.ReportMetric(float64(len(body))/1e6/best.Seconds(), "best-MB/s")
	if n == 0 {
		b.Fatal("nothing scanned")
	}
}

// BenchmarkDecode and BenchmarkProcess split BenchmarkIntake in its two
// stages: decoding the invocation, and walking and screening the records.
func BenchmarkDecode(b *testing.B) {
	body, _ := benchInvocation(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := invocation.Decode(body, "events"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProcess(b *testing.B) {
	body, _ := benchInvocation(b)
	in := New(Config{AllowedTenants: []string{tenant}}, &memKeeper{}, zap.NewNop(), time.Now)
	req, err := invocation.Decode(body, "events")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Process(context.Background(), req.Events); err != nil {
			b.Fatal(err)
		}
	}
}
