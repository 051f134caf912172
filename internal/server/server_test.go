package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/quarantine"
)

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", ".."}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type recResponder struct {
	mu   sync.Mutex
	sigs []detect.Signal
	err  error
}

func (r *recResponder) Handle(_ context.Context, sigs []detect.Signal, _ *zap.Logger) (playbook.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return playbook.Outcome{}, r.err
	}
	r.sigs = append(r.sigs, sigs...)
	return playbook.Outcome{}, nil
}

// start runs the real server on a loopback port and returns its base URL.
func start(t *testing.T, keeper quarantine.Keeper, resp Responder, opts ...func(*Server)) (string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	in := intake.New(intake.Config{}, keeper, log, time.Now)
	srv := New(in, resp, nil, log)
	for _, o := range opts {
		o(srv)
	}
	ln, err := Listen(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		// Connections the client dialled but never used look "new" to the
		// server, which waits 5 s before treating them as idle.
		http.DefaultClient.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), logs
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func post(t *testing.T, url string, body []byte) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", "4f4d4b0a-0000-4000-8000-000000000001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if len(raw) == 0 {
		t.Fatal("empty body: the host would hang")
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %s", raw)
	}
	for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
		if _, ok := out[k]; !ok {
			t.Errorf("response lacks %s: %s", k, raw)
		}
	}
	return resp, out
}

func TestReadinessAndInvocation(t *testing.T) {
	dir := t.TempDir()
	resp := &recResponder{}
	base, logs := start(t, quarantine.Dir{Path: dir}, resp)

	r, err := http.Get(base + "/")
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("readiness: %v %v", r, err)
	}
	r.Body.Close()

	// The sample invocation carries user sign-ins and an audit record: no
	// signal, everything skipped.
	res, out := post(t, base+"/EntraLogs", readFile(t, "testdata", "functions", "eventhub-invocation-many.json"))
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %v", res.StatusCode, out)
	}
	if logsOut := out["Logs"].([]any); len(logsOut) != 1 || !strings.Contains(logsOut[0].(string), "records=3") {
		t.Errorf("Logs = %v", out["Logs"])
	}
	// A batch with a leaked-credential detection reaches the responder.
	inv := invocationOf(t, readFile(t, "testdata", "entra", "sample-ServicePrincipalRiskEvents.json"), []byte(`{"records":[`))
	res, _ = post(t, base+"/EntraLogs", inv)
	if res.StatusCode != 200 || len(resp.sigs) != 2 || resp.sigs[0].Kind != detect.LeakedCredential {
		t.Fatalf("status %d, signals %+v", res.StatusCode, resp.sigs)
	}
	if resp.sigs[0].Source.Partition != "7" || resp.sigs[0].Source.SequenceNumber != 500 {
		t.Errorf("source = %+v", resp.sigs[0].Source)
	}
	// The bad second event was quarantined, with its position logged.
	items, _ := quarantine.Dir{Path: dir}.List()
	if len(items) != 1 || items[0].Position.SequenceNumber != 501 {
		t.Fatalf("quarantine = %+v", items)
	}
	found := false
	for _, e := range logs.FilterMessage("batch").All() {
		m := e.ContextMap()
		if m["partition"] == "7" && m["sequence_first"] == int64(500) && m["sequence_last"] == int64(501) && m["invocation_id"] != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no batch log line with invocation id, partition and sequence range")
	}
}

// invocationOf wraps bodies the way the host does for many+string.
func invocationOf(t *testing.T, bodies ...[]byte) []byte {
	var strs []string
	for _, b := range bodies {
		strs = append(strs, string(b))
	}
	inner, _ := json.Marshal(strs)
	seqs, offs, times := "[", "[", "["
	for i := range bodies {
		if i > 0 {
			seqs, offs, times = seqs+",", offs+",", times+","
		}
		seqs += itoa(500 + i)
		offs += `"` + itoa(4096*i) + `"`
		times += `"2025-03-04T10:00:0` + itoa(i) + `.123"`
	}
	inv := map[string]any{
		"Data": map[string]any{"events": string(inner)},
		"Metadata": map[string]any{
			"PartitionContext":     map[string]any{"FullyQualifiedNamespace": "ns.servicebus.windows.net", "EventHubName": "entra", "ConsumerGroup": "spresponder", "PartitionId": "7"},
			"SequenceNumberArray":  seqs + "]",
			"OffsetArray":          offs + "]",
			"EnqueuedTimeUtcArray": times + "]",
			"sys":                  map[string]any{"MethodName": "EntraLogs"},
		},
	}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLedgerFailureAsksForRetry(t *testing.T) {
	base, _ := start(t, quarantine.Dir{Path: t.TempDir()}, &recResponder{err: errors.New("ledger unreachable")})
	inv := invocationOf(t, readFile(t, "testdata", "entra", "sample-ServicePrincipalRiskEvents.json"))
	res, out := post(t, base+"/EntraLogs", inv)
	if res.StatusCode != 500 {
		t.Fatalf("status %d (%v): the host must retry a batch whose signals are not durable", res.StatusCode, out)
	}
}

func TestMalformedEnvelopeIsKept(t *testing.T) {
	dir := t.TempDir()
	base, _ := start(t, quarantine.Dir{Path: dir}, nil)
	res, _ := post(t, base+"/EntraLogs", []byte(`{"Data":{"events":"[\"{\\\"records\\\":[]}`))
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	items, _ := quarantine.Dir{Path: dir}.List()
	if len(items) != 1 || items[0].Reason != quarantine.MalformedEvent {
		t.Fatalf("quarantine = %+v", items)
	}
}

func TestConcurrentPartitions(t *testing.T) {
	resp := &recResponder{}
	base, _ := start(t, quarantine.Dir{Path: t.TempDir()}, resp)
	inv := invocationOf(t, readFile(t, "testdata", "entra", "sample-ServicePrincipalRiskEvents.json"))
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, _ := post(t, base+"/EntraLogs", inv); res.StatusCode != 200 {
				t.Errorf("status %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	if len(resp.sigs) != 32 {
		t.Errorf("got %d signals, want 32", len(resp.sigs))
	}
}

func TestHealth(t *testing.T) {
	base, _ := start(t, quarantine.Dir{Path: t.TempDir()}, nil)
	res, out := post(t, base+"/Health", []byte(`{"Data":{"req":{"Url":"http://localhost/api/health","Method":"GET"}},"Metadata":{}}`))
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	r := out["Outputs"].(map[string]any)["res"].(map[string]any)
	if r["statusCode"] != "200" || !strings.Contains(r["body"].(string), `"status":"ok"`) {
		t.Errorf("res = %v", r)
	}
}

func TestListenNeedsPort(t *testing.T) {
	_, err := Listen(0)
	if err == nil || !strings.Contains(err.Error(), "FUNCTIONS_CUSTOMHANDLER_PORT") {
		t.Fatalf("err = %v", err)
	}
}

type recArrivals struct {
	mu  sync.Mutex
	got []map[string]int
}

func (a *recArrivals) Arrived(_ context.Context, byCategory map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, maps.Clone(byCategory))
}

// The heartbeat hears of every batch that was read, with its categories,
// before the signals go on (a batch whose signals fail still arrived).
func TestArrivalsHearOfEachBatch(t *testing.T) {
	arr := &recArrivals{}
	resp := &recResponder{err: errors.New("ledger away")}
	base, _ := start(t, quarantine.Dir{Path: t.TempDir()}, resp, func(s *Server) { s.WithArrivals(arr) })
	inv := invocationOf(t, readFile(t, "testdata", "entra", "sample-ServicePrincipalRiskEvents.json"))
	if r, out := post(t, base+"/EntraLogs", inv); r.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d: %v", r.StatusCode, out)
	}
	arr.mu.Lock()
	defer arr.mu.Unlock()
	if len(arr.got) != 1 || arr.got[0]["ServicePrincipalRiskEvents"] != 2 {
		t.Fatalf("arrivals %v, want one batch with 2 ServicePrincipalRiskEvents records", arr.got)
	}
}
