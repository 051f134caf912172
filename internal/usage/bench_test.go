package usage_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/ehfaketest"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/usage"
)

// BenchmarkInvestigateDayFromHub: one complete read of the use of a
// leaked key over a day of retained sign-ins (daySignIns: 1,440 events,
// about 7,200 sign-ins over two partitions) from the hub fake through the
// real azeventhubs client, as `spresponder investigate --refresh` and the
// post-containment read do. It reports the time per investigation, the
// bytes and events read, and the peak Go heap during the read (sampled
// every 2 ms) besides the allocations.
func BenchmarkInvestigateDayFromHub(b *testing.B) {
	fx, size := daySignIns(1)
	conn := ehfaketest.Start(b, fx)
	hub := &usage.Hub{Hub: hubreplay.Config{ConnectionString: conn, Hub: "entra", ConsumerGroup: "spresponder-usage"}}
	g := usage.New(zap.NewNop(), time.Now, hub)
	q := query(leakAt.Add(23 * time.Hour))
	q.Since = leakAt.Add(-time.Hour) // the whole day the fixture holds
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				mu.Lock()
				peak = max(peak, ms.HeapInuse)
				mu.Unlock()
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		u := g.Gather(context.Background(), q)
		if u.Total() != 3 || len(u.Unknown) != 0 {
			b.Fatalf("use %+v", u)
		}
	}
	close(stop)
	<-done
	b.ReportMetric(float64(size)/1e6, "MB-read/op")
	b.ReportMetric(float64(24*60), "events/op")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
}
