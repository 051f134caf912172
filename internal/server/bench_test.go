//go:build unix

package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/benchdata"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/quarantine"
)

type discardKeeper struct{}

func (discardKeeper) Keep(context.Context, quarantine.Item) error { return nil }

// vmHWM reads the process's peak resident set (kB) and resets it.
func vmHWM(reset bool) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	var kb int64
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if reset {
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	}
	return kb << 10
}

// BenchmarkConcurrentFullBatches posts 16 full batches at once (100 events
// of about 1 MB, as host.json allows) to the real server with the real
// intake, as 16 partitions would, with the default limits (the body limit
// from host.json, the budget from an instance of 2 GiB). It reports the
// peak Go heap above what it was before (sampled every 2 ms) and the peak
// resident set, against the body size and the bytes-in-flight budget.
// BENCH_CHUNKED=1 sends the bodies without a length, as the host may;
// BENCH_PARTITIONS sets how many are sent at once (16).
func BenchmarkConcurrentFullBatches(b *testing.B) {
	partitions := 16
	if n, err := strconv.Atoi(os.Getenv("BENCH_PARTITIONS")); err == nil && n > 0 {
		partitions = n
	}
	body, st, err := benchdata.Generate(filepath.Join("..", "..", "testdata", "entra"), 100<<20*135/100, 100, 1)
	if err != nil {
		b.Fatal(err)
	}
	lim, how, err := LimitsFor(filepath.Join("..", "..", "host.json"), 0, DefaultInstanceMemory/2)
	if err != nil {
		b.Fatal(err)
	}
	chunked := os.Getenv("BENCH_CHUNKED") == "1"
	in := intake.New(intake.Config{}, discardKeeper{}, zap.NewNop(), time.Now)
	srv := New(in, nil, nil, zap.NewNop()).WithLimits(lim)
	ln, err := Listen(freePort(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 30*time.Second) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String() + "/EntraLogs"
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: partitions, MaxIdleConnsPerHost: partitions}}

	var peakHeap, maxHeld atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapInuse)
	vmHWM(true)
	rssBase := vmHWM(false)
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&m)
			if h := int64(m.HeapInuse) - base; h > peakHeap.Load() {
				peakHeap.Store(h)
			}
			if h := srv.held.Load(); h > maxHeld.Load() {
				maxHeld.Store(h)
			}
		}
	}()
	b.SetBytes(int64(len(body)) * int64(partitions))
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, partitions)
		for range partitions {
			wg.Go(func() {
				var r io.Reader = bytes.NewReader(body)
				if chunked {
					r = io.MultiReader(r) // hides the length: sent chunked
				}
				resp, err := client.Post(url, "application/json", r)
				if err != nil {
					errs <- err
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d: %s", resp.StatusCode, msg)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-sampled
	rss := vmHWM(false)
	mb := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(mb(int64(len(body))), "body-MiB")
	b.ReportMetric(mb(lim.MaxBytesInFlight), "budget-MiB")
	b.ReportMetric(mb(maxHeld.Load()), "max-charged-MiB")
	b.ReportMetric(mb(peakHeap.Load()), "peak-heap-MiB")
	// The bodies admitted at the peak: what the budget let in at once.
	admitted := float64(maxHeld.Load()) * PeakPerBodyByteDen / PeakPerBodyByteNum
	b.ReportMetric(float64(peakHeap.Load())/admitted, "peak-heap/admitted-bodies")
	b.ReportMetric(mb(rss), "peak-rss-MiB")
	b.ReportMetric(mb(rss-rssBase), "rss-growth-MiB")
	b.Logf("%d events, %d records per batch; limits: %+v (%s); chunked=%v", st.Events, st.Records, lim, how, chunked)
}
