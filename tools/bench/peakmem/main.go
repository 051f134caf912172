// Command peakmem measures the memory one invocation costs the intake:
// it reads an invocation file (tools/benchgen), then decodes it and runs
// intake and detection once, as `serve` does for one request, sampling the
// Go heap every millisecond. It prints one JSON line: the body size, the
// peak heap in use above the level before the pass, and the process's
// peak resident set (VmHWM) before and after the pass (the file itself is
// in it, as a request body is in the server's).
//
//	go run ./tools/bench/peakmem -f /tmp/inv.json
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/quarantine"
)

type discard struct{}

func (discard) Keep(context.Context, quarantine.Item) error { return nil }

func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func main() {
	file := flag.String("f", "", "invocation file")
	flag.Parse()
	body, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	rssBefore := vmHWM()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	t0 := time.Now()
	req, err := invocation.Decode(body, "events")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in := intake.New(intake.Config{AllowedTenants: []string{"4bbb79f7-5724-4c9e-95f3-de075f6ec090"}}, discard{}, zap.NewNop(), time.Now)
	res, err := in.Process(context.Background(), req.Events)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	took := time.Since(t0)
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > peak.Load() {
		peak.Store(ms.HeapInuse)
	}
	close(done)
	out, _ := json.Marshal(map[string]any{
		"bytes": len(body), "events": len(req.Events), "records": res.Stats.Records, "signals": len(res.Signals),
		"seconds":              took.Seconds(),
		"peak_heap_above_base": peak.Load() - base, "peak_heap_over_body": float64(peak.Load()-base) / float64(len(body)),
		"vmhwm_before_pass": rssBefore, "vmhwm_after_pass": vmHWM(),
	})
	fmt.Println(string(out))
}
