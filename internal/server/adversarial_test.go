package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/invocation"
)

// startWith runs a server with proc and limits on a loopback port.
func startWith(t *testing.T, proc Processor, l Limits) string {
	t.Helper()
	srv := New(proc, nil, nil, zap.NewNop()).WithLimits(l)
	ln, err := Listen(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		cancel()
		<-done
	})
	return ln.Addr().String()
}

type nopProc struct{}

func (nopProc) Process(context.Context, []invocation.Event) (intake.Result, error) {
	return intake.Result{}, nil
}

// A body announced larger than the limit is refused before it is read: a
// 560 MB body used to be read whole (1.46 GB at peak) before the refusal.
func TestOversizedBodyRefusedUnread(t *testing.T) {
	addr := startWith(t, nopProc{}, Limits{MaxBodyBytes: 1 << 20, MaxBytesInFlight: 8 << 20})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "POST /EntraLogs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"Data\":", 560<<20)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "SPRESPONDER_MAX_INVOCATION_BYTES") {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
}

// A body of unknown length (chunked) is read only up to the limit.
func TestChunkedBodyOverLimit(t *testing.T) {
	addr := startWith(t, nopProc{}, Limits{MaxBodyBytes: 1 << 20, MaxBytesInFlight: 8 << 20})
	pr, pw := io.Pipe()
	sent := 0
	go func() {
		chunk := []byte(`{"Data":{"events":"` + strings.Repeat("x", 64<<10))
		for sent < 64<<20 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			sent += len(chunk)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/EntraLogs", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pr.CloseWithError(io.ErrClosedPipe)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
}

// blockingProc holds each invocation until released.
type blockingProc struct {
	entered chan struct{}
	release chan struct{}
}

func (p blockingProc) Process(ctx context.Context, _ []invocation.Event) (intake.Result, error) {
	p.entered <- struct{}{}
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return intake.Result{}, nil
}

// Concurrent invocations share a budget of bytes in flight: when it is
// spent, the next one waits instead of reading, and answers 503 with a
// clear message when the wait runs out.
func TestBytesInFlightBound(t *testing.T) {
	body := []byte(`{"Data":{"events":"[]"},"Metadata":{}}`)
	// Room for two such bodies at once, not three.
	budget := charge(int64(len(body)))*2 + 1
	p := blockingProc{entered: make(chan struct{}, 3), release: make(chan struct{})}
	addr := startWith(t, p, Limits{MaxBodyBytes: 1 << 20, MaxBytesInFlight: budget, AdmissionWait: 300 * time.Millisecond})
	send := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/EntraLogs", strings.NewReader(string(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i], _ = send() })
	}
	<-p.entered
	<-p.entered
	code, msg := send()
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "bytes in flight") || !strings.Contains(msg, "SPRESPONDER_MAX_BYTES_IN_FLIGHT") {
		t.Errorf("third invocation: %d %s", code, msg)
	}
	close(p.release)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Errorf("first two: %v", codes)
	}
	// Once they are done, the budget is free again.
	go func() { <-p.entered }()
	if code, msg := send(); code != 200 {
		t.Errorf("after release: %d %s", code, msg)
	}
}

func TestLimitsFromHostJSON(t *testing.T) {
	l, how, err := LimitsFor("../../host.json", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxBodyBytes != 100*(1<<20)*2+(1<<20) || l.MaxBytesInFlight < charge(l.MaxBodyBytes) || !strings.Contains(how, "100 events") {
		t.Errorf("limits %+v (%s)", l, how)
	}
	l, _, err = LimitsFor("", 5<<20, 64<<20)
	if err != nil || l.MaxBodyBytes != 5<<20 || l.MaxBytesInFlight != 64<<20 {
		t.Errorf("overrides: %+v %v", l, err)
	}
	// A budget too small for one largest body would stop every batch.
	l, _, _ = LimitsFor("", 100<<20, 1<<20)
	if l.MaxBytesInFlight != charge(100<<20) {
		t.Errorf("budget not raised: %+v", l)
	}
	dir := t.TempDir()
	if _, err := HostMaxEventBatchSize(writeTemp(t, dir, `{"extensions":{"eventHubs":{"maxEventBatchSize":0}}}`)); err == nil {
		t.Error("maxEventBatchSize 0 accepted")
	}
	if n, err := HostMaxEventBatchSize(writeTemp(t, dir, `{"extensions":{"eventHubs":{"maxEventBatchSize":10}}}`)); err != nil || n != 10 {
		t.Errorf("n=%d err=%v", n, err)
	}
}

func writeTemp(t *testing.T, dir, s string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "host-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
