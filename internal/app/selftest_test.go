package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/ledger"
)

// lockedBuffer is a log sink safe for the goroutines of serve.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEHFake starts tools/ehfake with an empty hub "entra" (one
// partition) and returns its emulator connection string.
func startEHFake(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not on PATH")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if _, err := os.Stat(filepath.Join(root, "tools", "ehfake", "node_modules", "rhea")); err != nil {
		skipOrFail(t, "tools/ehfake/node_modules is not installed (make test installs it)")
	}
	fx := filepath.Join(t.TempDir(), "hub.json")
	writeFile(t, fx, `{"hub":"entra","partitions":{"0":[]}}`)
	cmd := exec.Command(node, filepath.Join(root, "tools", "ehfake", "ehfake.js"), fx, "0")
	out, _ := cmd.StdoutPipe()
	errs := &lockedBuffer{}
	cmd.Stderr = errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ehfake stderr:\n%s", errs.String())
		}
	})
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(15*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			return "Endpoint=sb://127.0.0.1:" + p + ";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"
		}
	}
	t.Fatal("ehfake did not start")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// hostInvocation wraps hub events the way the Functions host posts an
// eventHubTrigger batch (cardinality many, dataType string) to the handler.
func hostInvocation(t *testing.T, events []invocation.Event) []byte {
	t.Helper()
	var bodies []string
	var seqs []int64
	var offs, times []string
	for _, e := range events {
		bodies = append(bodies, string(e.Body))
		seqs = append(seqs, e.Pos.SequenceNumber)
		offs = append(offs, e.Pos.Offset)
		times = append(times, e.Pos.EnqueuedTime.UTC().Format("2006-01-02T15:04:05.000"))
	}
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	b, err := json.Marshal(map[string]any{
		"Data": map[string]any{"events": enc(bodies)},
		"Metadata": map[string]any{
			"PartitionContext":     map[string]any{"FullyQualifiedNamespace": "127.0.0.1", "EventHubName": "entra", "ConsumerGroup": "$Default", "PartitionId": events[0].Pos.Partition},
			"SequenceNumberArray":  enc(seqs),
			"OffsetArray":          enc(offs),
			"EnqueuedTimeUtcArray": enc(times),
			"sys":                  map[string]any{"MethodName": "EntraLogs"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSelfTestEndToEnd: `spresponder selftest` sends its synthetic event
// with the real azeventhubs producer to tools/ehfake, and waits for its
// record in the Azurite ledger; a real `serve` (the handler, on loopback)
// records it.
//
// SIMULATED: the Azure Functions host, which cannot run here. Its part
// (the Event Hubs trigger reading the hub and POSTing the batch to
// /EntraLogs) is played by this test: it reads the event back from the
// fake hub with internal/hubreplay (the real azeventhubs consumer) and
// posts it in the host's invocation shape. Everything else is the real
// code: producer, intake, detection, the serve handler, the ledger.
func TestSelfTestEndToEnd(t *testing.T) {
	blob := azurite.BlobEndpoint(t)
	conn := startEHFake(t)
	sim, graphURL := startDemoTenant(t)
	port := freePort(t)
	vars := map[string]string{
		"SPRESPONDER_GRAPH_URL": graphURL, "SPRESPONDER_TENANTS": testTenant,
		"SPRESPONDER_LEDGER": "blob", "SPRESPONDER_LEDGER_ACCOUNT_URL": blob, "SPRESPONDER_LEDGER_CONTAINER": "selftest",
		"SPRESPONDER_HUB_CONNECTION_STRING": conn, "ENTRA_EVENTHUB_NAME": "entra",
		"SPRESPONDER_ARM_URL": fakeARM(t), "SPRESPONDER_STARTUP_CHECK_TIMEOUT": "3s",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The handler, as the Functions host starts it.
	serveEnv, _, _ := testEnv(t, vars)
	serveLog := &lockedBuffer{}
	serveEnv.Stdout = serveLog
	serveEnv.Now = time.Now
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan int, 1)
	go func() { served <- Main(serveCtx, []string{"serve", "--port", strconv.Itoa(port)}, serveEnv) }()
	defer func() { stopServe(); <-served }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/Health"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("serve did not start:\n%s", serveLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The self-test, as an operator runs it after the deployment.
	stEnv, stOut, stErr := testEnv(t, vars)
	stEnv.Now = time.Now
	result := make(chan int, 1)
	started := time.Now()
	go func() { result <- Main(ctx, []string{"selftest", "--timeout", "60s", "--poll", "200ms"}, stEnv) }()

	// SIMULATED Functions host: read the hub, post the batch to the handler.
	var events []invocation.Event
	for len(events) == 0 {
		select {
		case code := <-result:
			t.Fatalf("selftest ended (exit %d) before the event was in the hub:\n%s\n%s", code, stOut, stErr)
		default:
		}
		evs, err := hubreplay.Read(ctx, hubreplay.Config{ConnectionString: conn, Hub: "entra", From: started.Add(-time.Minute), To: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatalf("read the hub: %v", err)
		}
		events = evs
		if len(events) == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if len(events) != 1 || !bytes.Contains(events[0].Body, []byte(`"spresponderSelfTest":true`)) {
		t.Fatalf("hub holds %d event(s): %s", len(events), events[0].Body)
	}
	resp, err := http.Post(base+"/EntraLogs", "application/json", bytes.NewReader(hostInvocation(t, events)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handler answered %d:\n%s", resp.StatusCode, serveLog.String())
	}

	select {
	case code := <-result:
		if code != 0 || !strings.Contains(stOut.String(), "OK: the service recorded the self-test") {
			t.Fatalf("selftest exit %d:\n%s\n%s\nserve:\n%s", code, stOut, stErr, serveLog.String())
		}
	case <-ctx.Done():
		t.Fatal("selftest did not finish")
	}
	t.Logf("selftest:\n%s", stOut)

	// Recorded as a self-test marker, never acted on: no incident.
	led, err := openLedger(ctx, mustConfig(t, vars), "")
	if err != nil {
		t.Fatal(err)
	}
	all, err := led.List(ctx, ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	detID := regexp.MustCompile(`spresponder-selftest-[0-9a-f]+`).FindString(stOut.String())
	m, found, err := ledger.SelfTests{L: led}.Get(ctx, detID)
	if err != nil || !found || m.Deliveries != 1 || m.DetectionID != detID {
		t.Errorf("self-test marker of %q: %+v found=%v %v", detID, m, found, err)
	}
	if len(all) != 0 {
		t.Errorf("ledger: %d incident(s) after a self-test, want none", len(all))
	}
	if w := sim.Writes(); len(w) != 0 {
		t.Errorf("the self-test wrote to the tenant: %+v", w)
	}
	for _, r := range sim.Requests() {
		if strings.Contains(r.Path, "5e1f7e57") || strings.Contains(r.Path, "identityProtection") || strings.Contains(r.Path, "sendMail") {
			t.Errorf("the self-test reached Graph: %s %s", r.Method, r.Path)
		}
	}

	// serve logged its start-up check as one line, without blocking.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(serveLog.String(), `"msg":"startup check"`) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(serveLog.String(), `"msg":"startup check"`); n != 1 {
		t.Errorf("startup check logged %d times:\n%s", n, serveLog.String())
	}
	if !strings.Contains(serveLog.String(), `"msg":"self-test event received: recorded, never acted on"`) {
		t.Errorf("serve did not log the self-test:\n%s", serveLog.String())
	}
}
