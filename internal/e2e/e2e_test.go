// Package e2e runs the real binary as the Functions host would: several
// `spresponder serve` processes (one per partition, as the Function App
// scales out) sharing one ledger on Azurite and one simulated tenant, fed
// with invocations exactly as the host POSTs them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/azuritetest"
	"github.com/spresponder/spresponder/internal/graphsim"
)

const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

var (
	azurite = &azuritetest.Harness{}
	binary  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spresponder-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "spresponder")
	build := exec.Command("go", "build", "-o", binary, "../..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build spresponder:", err)
		os.Exit(1)
	}
	code := m.Run()
	azurite.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tenantWith returns the demo tenant plus n apps, each with one secret
// named by a leakedCredentials detection.
func tenantWith(t testing.TB, n int) (*graphsim.Seed, []graphsim.LoadApp) {
	t.Helper()
	seed, err := graphsim.Load("../../testdata/tenant/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	apps, err := seed.AddLeakedApps(n)
	if err != nil {
		t.Fatal(err)
	}
	return seed, apps
}

// leakEvent is an event body with a leakedCredentials record for a.
func leakEvent(a graphsim.LoadApp) string {
	rec := map[string]any{
		"time": "3/4/2025 9:58:11 AM", "resourceId": "/tenants/" + tenant + "/providers/microsoft.aadiam",
		"operationName": "Service principal risk detection", "category": "ServicePrincipalRiskEvents", "tenantId": tenant,
		"Level": 4, "properties": map[string]any{
			"id": a.DetectionID, "riskEventType": "leakedCredentials", "riskState": "atRisk", "riskLevel": "high", "riskDetail": "none",
			"activity": "servicePrincipal", "activityDateTime": "2025-03-04T07:12:00Z", "servicePrincipalId": a.ServicePrincipalID, "appId": a.AppID,
			"keyIds": []string{a.KeyID}, "additionalInfo": "[]",
		},
	}
	b, _ := json.Marshal(map[string]any{"records": []any{rec}})
	return string(b)
}

// invocation wraps event bodies the way the host does (many, string).
func invocation(bodies []string, partition string, firstSeq int) []byte {
	inner, _ := json.Marshal(bodies)
	seqs := make([]int, len(bodies))
	for i := range seqs {
		seqs[i] = firstSeq + i
	}
	sj, _ := json.Marshal(seqs)
	inv := map[string]any{
		"Data": map[string]any{"events": string(inner)},
		"Metadata": map[string]any{
			"PartitionContext":    map[string]any{"EventHubName": "entra", "ConsumerGroup": "spresponder", "PartitionId": partition},
			"SequenceNumberArray": string(sj),
		},
	}
	b, _ := json.Marshal(inv)
	return b
}

// proc is one `spresponder serve` process.
type proc struct {
	cmd  *exec.Cmd
	base string
	out  *bytes.Buffer
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServe(t *testing.T, env map[string]string) *proc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary, "serve", "--port", fmt.Sprint(port))
	cmd.Env = []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), out: &out}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("process output:\n%s", tail(out.String(), 4000))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(p.base + "/"); err == nil {
			r.Body.Close()
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve did not answer GET /:\n%s", out.String())
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (p *proc) post(t *testing.T, fn string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/"+fn, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("inv-%d", rand.Int()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", fn, err)
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" || len(b) == 0 {
		t.Errorf("POST %s: answer %q %q", fn, resp.Header.Get("Content-Type"), b)
	}
	return resp.StatusCode
}

// world is a simulated tenant, a Teams stand-in and the environment the
// processes share.
type world struct {
	sim   *graphsim.Tenant
	apps  []graphsim.LoadApp
	env   map[string]string
	mu    sync.Mutex
	cards map[string]int // incident id -> cards received
}

func newWorld(t testing.TB, n int, ledgerURL string, mods ...func(*graphsim.Seed)) *world {
	t.Helper()
	return newWorldWith(t, n, ledgerURL, nil, mods...)
}

// newWorldWith is newWorld with options for the simulated tenant (its
// identity protection limit, say).
func newWorldWith(t testing.TB, n int, ledgerURL string, simOpts []graphsim.Option, mods ...func(*graphsim.Seed)) *world {
	t.Helper()
	seed, apps := tenantWith(t, n)
	for _, m := range mods {
		m(seed)
	}
	w := &world{apps: apps, cards: map[string]int{}}
	w.sim = graphsim.New(*seed, append([]graphsim.Option{graphsim.WithLogger(zap.NewNop())}, simOpts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	graphURL, err := w.sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	teams := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		for _, f := range strings.Fields(string(b)) {
			if i := strings.Index(f, "inc-"); i >= 0 && len(f) >= i+28 {
				w.cards[f[i:i+28]]++
				break
			}
		}
		w.mu.Unlock()
		rw.WriteHeader(http.StatusAccepted)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = teams.Serve(ln) }()
	t.Cleanup(func() { teams.Close() })
	w.env = map[string]string{
		"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": tenant, "SPRESPONDER_GRAPH_URL": graphURL,
		"SPRESPONDER_LEDGER": "blob", "SPRESPONDER_LEDGER_ACCOUNT_URL": ledgerURL,
		"SPRESPONDER_LEDGER_CONTAINER": fmt.Sprintf("e2e-%d", rand.IntN(1<<30)),
		"SPRESPONDER_BREAKER_LIMIT":    "10000", "SPRESPONDER_TEAMS_WEBHOOK": "http://" + ln.Addr().String() + "/teams",
		"SPRESPONDER_SECURITY_CONTACT": "security@contoso.com", "SPRESPONDER_LOG_LEVEL": "warn",
		"SPRESPONDER_STATE_DIR": t.TempDir(),
	}
	return w
}

func (w *world) removals() map[string]int {
	got := map[string]int{}
	for _, wr := range w.sim.Writes() {
		if strings.HasSuffix(wr.Route, "/removePassword") {
			for _, k := range wr.RemovedKeyIDs {
				got[k]++
			}
		}
	}
	return got
}

// TestFourProcessesExactlyOnce: four serve processes receive the same 1,000
// events (50 leaked secrets, each delivered 20 times, shuffled into 40
// batches that every process gets) against one ledger on Azurite. Each
// secret is removed exactly once and each incident's card is posted once.
func TestFourProcessesExactlyOnce(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	const apps, copies, batch = 50, 20, 25
	w := newWorld(t, apps, ep)
	var events []string
	for c := range copies {
		_ = c
		for _, a := range w.apps {
			events = append(events, leakEvent(a))
		}
	}
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	var procs []*proc
	for range 4 {
		procs = append(procs, startServe(t, w.env))
	}
	var wg sync.WaitGroup
	for pi, p := range procs {
		wg.Go(func() {
			for b := 0; b < len(events); b += batch {
				if code := p.post(t, "EntraLogs", invocation(events[b:b+batch], fmt.Sprint(pi), b)); code != 200 {
					t.Errorf("process %d batch %d: status %d", pi, b/batch, code)
				}
			}
		})
	}
	wg.Wait()
	got := w.removals()
	for _, a := range w.apps {
		if got[a.KeyID] != 1 {
			t.Errorf("secret %s of %s removed %d times", a.KeyID, a.AppID, got[a.KeyID])
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cards) != apps {
		t.Errorf("cards for %d incidents, want %d", len(w.cards), apps)
	}
	for id, n := range w.cards {
		if n != 1 {
			t.Errorf("incident %s: %d cards", id, n)
		}
	}
	if u := w.sim.Unexpected(); len(u) != 0 {
		t.Errorf("unexpected Graph requests: %+v", u)
	}
}

// TestKilledMidWriteResumes: a process is killed while its removePassword
// is in flight (the tenant applied it; the answer never came back). The
// ledger shows the write as started; another process's timer re-reads the
// tenant and records it done without writing again.
func TestKilledMidWriteResumes(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	w := newWorld(t, 1, ep)
	w.env["SPRESPONDER_STAGE_DEADLINE"] = "2s" // leases run out after 4s
	if err := w.sim.AddFault(graphsim.Fault{Route: "POST /applications/*/removePassword", Kind: graphsim.FaultTimeout, Delay: graphsim.Duration(30 * time.Second), Times: 1, Phase: graphsim.After}); err != nil {
		t.Fatal(err)
	}
	victim := startServe(t, w.env)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The answer never comes: the process dies first.
		resp, err := http.Post(victim.base+"/EntraLogs", "application/json", bytes.NewReader(invocation([]string{leakEvent(w.apps[0])}, "0", 1)))
		if err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for len(w.removals()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(w.removals()) != 1 {
		t.Fatal("the write never reached the tenant")
	}
	_ = victim.cmd.Process.Kill()
	<-done
	survivor := startServe(t, w.env)
	time.Sleep(4500 * time.Millisecond) // let the dead process's lease expire
	if code := survivor.post(t, "Sweep", []byte(`{"Data":{"timer":{}},"Metadata":{}}`)); code != 200 {
		t.Fatalf("sweep: %d", code)
	}
	if got := w.removals(); got[w.apps[0].KeyID] != 1 || len(got) != 1 {
		t.Fatalf("removals = %v", got)
	}
	out := showIncidents(t, w.env)
	if !strings.Contains(out, "found done on re-read after an unknown outcome") {
		t.Fatalf("incident does not record the re-read resolution:\n%s", out)
	}
}

func showIncidents(t *testing.T, env map[string]string) string {
	t.Helper()
	list := exec.Command(binary, "incidents", "list", "--format", "json")
	for k, v := range env {
		list.Env = append(list.Env, k+"="+v)
	}
	b, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("incidents list: %v\n%s", err, b)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var in struct{ ID string }
		if json.Unmarshal([]byte(l), &in) == nil && in.ID != "" {
			ids = append(ids, in.ID)
		}
	}
	var all strings.Builder
	for _, id := range ids {
		show := exec.Command(binary, "incidents", "show", id)
		show.Env = list.Env
		b, err := show.CombinedOutput()
		if err != nil {
			t.Fatalf("incidents show: %v\n%s", err, b)
		}
		all.Write(b)
	}
	return all.String()
}

// TestLedgerAwayFailsInvocationThenRetryCompletes: with the ledger
// unreachable the invocation answers 500 (the host retries it); once the
// ledger is back the retry completes it, and the secret is removed once.
func TestLedgerAwayFailsInvocationThenRetryCompletes(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	px := newProxy(t, strings.TrimPrefix(strings.TrimSuffix(ep, "/devstoreaccount1"), "http://"))
	w := newWorld(t, 1, "http://"+px.addr+"/devstoreaccount1")
	p := startServe(t, w.env)
	body := invocation([]string{leakEvent(w.apps[0])}, "0", 7)
	px.setDown(true)
	if code := p.post(t, "EntraLogs", body); code != 500 {
		t.Fatalf("with the ledger away the invocation answered %d, want 500", code)
	}
	if len(w.removals()) != 0 {
		t.Fatal("a write happened without a ledger record")
	}
	px.setDown(false)
	for i := range 2 { // the host's retry, and a redelivery for good measure
		if code := p.post(t, "EntraLogs", body); code != 200 {
			t.Fatalf("retry %d answered %d", i, code)
		}
	}
	if got := w.removals(); got[w.apps[0].KeyID] != 1 {
		t.Fatalf("removals = %v", got)
	}
}

// proxy forwards TCP to a target and can refuse connections on demand.
type proxy struct {
	addr   string
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			if !down {
				p.conns = append(p.conns, c)
			}
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go func() {
				u, err := net.Dial("tcp", p.target)
				if err != nil {
					c.Close()
					return
				}
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				_, _ = io.Copy(c, u)
				c.Close()
			}()
		}
	}()
	return p
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestTwoProcessesRaceTwoCertificates: two serve processes each get a leak
// detection for another certificate of the same app, with Graph slow on
// PATCH. Each removal rewrites the app's whole certificate list, so without
// one writer per object the second PATCH put back the certificate the first
// removed while both incidents said done. Both certificates go, the secrets
// stay, and both incidents end done.
func TestTwoProcessesRaceTwoCertificates(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	const (
		app, sp      = "6131d760-7fda-4db5-8bb1-b771898e9f15", "b029d485-a308-4311-8720-fb3192e5284e"
		cert1, cert2 = "3f5518bb-4d4d-480f-bdd0-7b04a58e2800", "c7d2a9e4-1b6f-4a83-9e05-6f8b3c1d2a97"
		det1, det2   = "9c1e0f5b7a3d42e6b8f1a2c3d4e5f60718293a4b5c6d7e8f9a0b", "4a1c9e7b3d5f7a9c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d1f3a5c"
	)
	w := newWorld(t, 0, ep, func(s *graphsim.Seed) {
		for i := range s.ServicePrincipalRiskDetections {
			if d := &s.ServicePrincipalRiskDetections[i]; d.ID == det1 {
				d.RiskEventType, d.KeyIDs = "leakedCredentials", []string{cert1}
				d2 := *d
				d2.ID, d2.KeyIDs = det2, []string{cert2}
				s.ServicePrincipalRiskDetections = append(s.ServicePrincipalRiskDetections, d2)
				break
			}
		}
	})
	if err := w.sim.AddFault(graphsim.Fault{Route: "PATCH /applications/*", Kind: graphsim.FaultLatency, Delay: graphsim.Duration(400 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	procs := []*proc{startServe(t, w.env), startServe(t, w.env)}
	var wg sync.WaitGroup
	for i, p := range procs {
		a := graphsim.LoadApp{AppID: app, ServicePrincipalID: sp, DetectionID: []string{det1, det2}[i], KeyID: []string{cert1, cert2}[i]}
		wg.Go(func() {
			if code := p.post(t, "EntraLogs", invocation([]string{leakEvent(a)}, fmt.Sprint(i), 100*i)); code != 200 {
				t.Errorf("process %d: status %d", i, code)
			}
		})
	}
	wg.Wait()
	got, ok := w.sim.Application(app)
	if !ok {
		t.Fatal("app gone")
	}
	if len(got.KeyCredentials) != 0 || len(got.PasswordCredentials) != 2 {
		t.Fatalf("after both removals: certificates %+v, secrets %d", got.KeyCredentials, len(got.PasswordCredentials))
	}
	out := showIncidents(t, w.env)
	if strings.Count(out, "state done") != 2 {
		t.Fatalf("incidents:\n%s", out)
	}
}
