package intake

import (
	"context"
	"os"
	"path/filepath"
	"sync"
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

// BenchmarkIntake measures decode + intake + detect of one invocation as
// the host sends it; MB/s is over the invocation's bytes.
func BenchmarkIntake(b *testing.B) {
	body, _ := benchInvocation(b)
	in := New(Config{AllowedTenants: []string{tenant}}, &memKeeper{}, zap.NewNop(), time.Now)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var records, signals int
	for b.Loop() {
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
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(records)/perOp, "records/s")
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
	for b.Loop() {
		n = 0
		for _, c := range body {
			if c == '"' || c == '{' {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("nothing scanned")
	}
}
