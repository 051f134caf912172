// Command demo tells the responder's whole story with no cloud: it starts
// the simulated tenant (testdata/tenant/demo.json) and a local webhook
// standing in for Teams and the on-call pager, feeds the demo batch
// (testdata/demo/batch.ndjson: a leaked-credential detection among noise)
// through `spresponder replay`, first as a plan and then with --execute,
// and prints the incident timeline, what changed in the tenant, and who
// was notified on which channel and why. Then (act.go) a removal the
// breaker held is approved by the app's owner from the mail's button,
// through the act page that `spresponder serve` answers.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/app"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/lasim"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := demo(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}

type hook struct {
	mu    sync.Mutex
	posts []post
}

type post struct {
	path string
	body map[string]any
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	h.mu.Lock()
	h.posts = append(h.posts, post{path: r.URL.Path, body: m})
	h.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func demo(ctx context.Context, out io.Writer) error {
	seed, err := graphsim.Load("testdata/tenant/demo.json")
	if err != nil {
		return err
	}
	withCriticalReach(seed)
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	graphURL, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	// A Log Analytics workspace that receives the tenant's sign-in logs,
	// read after containment through the real azlogs client.
	la := lasim.New(demoWorkspace, leakUse())
	laURL, err := la.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer func() { _ = la.Close() }()
	hooks := &hook{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: hooks, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hookURL := "http://" + ln.Addr().String()

	state, err := os.MkdirTemp("", "spresponder-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	vars := map[string]string{
		"SPRESPONDER_MODE":                   "enforce",
		"SPRESPONDER_TENANTS":                "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
		"SPRESPONDER_STATE_DIR":              state,
		"SPRESPONDER_GRAPH_URL":              graphURL,
		"SPRESPONDER_TEAMS_WEBHOOK":          hookURL + "/teams",
		"SPRESPONDER_PAGER_WEBHOOK":          hookURL + "/oncall",
		"SPRESPONDER_MAIL_FROM":              "secops-noreply@contoso.com",
		"SPRESPONDER_SECURITY_CONTACT":       "security@contoso.com",
		"SPRESPONDER_LOG_LEVEL":              "error",
		"SPRESPONDER_USAGE_WORKSPACE":        demoWorkspace,
		"SPRESPONDER_USAGE_LOGANALYTICS_URL": laURL,
		"USER":                               "demo-oncall",
	}
	env := app.Env{
		Getenv:  func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Environ: func() []string { return nil },
		Stdout:  out, Stderr: os.Stderr, Now: time.Now,
	}
	spresponder := func(args ...string) error {
		fmt.Fprintf(out, "\n$ spresponder %s\n", strings.Join(args, " "))
		if code := app.Main(ctx, args, env); code != 0 {
			return fmt.Errorf("spresponder %s: exit %d", args[0], code)
		}
		return nil
	}
	// quietly runs a command and prints only the lines that match.
	quietly := func(match string, args ...string) error {
		fmt.Fprintf(out, "\n$ spresponder %s | grep %q\n", strings.Join(args, " "), match)
		var buf strings.Builder
		e := env
		e.Stdout = &buf
		if code := app.Main(ctx, args, e); code != 0 {
			return fmt.Errorf("spresponder %s: exit %d", args[0], code)
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, match) {
				fmt.Fprintln(out, l)
			}
		}
		return nil
	}
	fmt.Fprintf(out, "Simulated tenant at %s (Terraform-Datadog-CLI has 2 client secrets and 2 certificates).\n", graphURL)
	fmt.Fprintln(out, "\n== 1. On-call looks at the plan first: nothing is changed.")
	if err := spresponder("replay", "--file", "testdata/demo/batch.ndjson"); err != nil {
		return err
	}
	if n := len(sim.Writes()); n != 0 {
		return fmt.Errorf("the plan wrote %d times to the tenant", n)
	}
	fmt.Fprintln(out, "\n== 2. The responder acts (as it does on its own for events from the hub).")
	if err := spresponder("replay", "--file", "testdata/demo/batch.ndjson", "--execute", "--operator", "demo-oncall"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== 3. The same events again (Entra republishes; the trigger delivers at least once): nothing is done twice.")
	if err := quietly("executed by", "replay", "--file", "testdata/demo/batch.ndjson", "--execute"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== 4. What changed in the tenant")
	for _, w := range sim.Writes() {
		fmt.Fprintf(out, "  %s on %s %s\n", w.Route, w.Target, strings.Join(append(w.RemovedKeyIDs, w.Fields...), " "))
	}
	a, _ := sim.Application("6131d760-7fda-4db5-8bb1-b771898e9f15")
	var keys []string
	for _, p := range a.PasswordCredentials {
		keys = append(keys, "secret "+p.KeyID)
	}
	for _, k := range a.KeyCredentials {
		keys = append(keys, "certificate "+k.KeyID)
	}
	fmt.Fprintf(out, "  Terraform-Datadog-CLI now holds: %s\n", strings.Join(keys, ", "))
	fmt.Fprintf(out, "  Graph requests made: %d (%d unexpected)\n", len(sim.Requests()), len(sim.Unexpected()))

	fmt.Fprintln(out, "\n== 5. Who was told, on which channel")
	for _, m := range sim.SentMail() {
		fmt.Fprintf(out, "  email from %s to %s: %q\n", m.From, strings.Join(slices.Concat(m.To, m.Cc), ", "), m.Subject)
	}
	hooks.mu.Lock()
	for _, p := range hooks.posts {
		switch p.path {
		case "/teams":
			fmt.Fprintf(out, "  Teams card to the security channel webhook (%d attachment)\n", len(asSlice(p.body["attachments"])))
		case "/oncall":
			fmt.Fprintf(out, "  on-call page: %v (%v): %v\n", p.body["trigger"], p.body["severity"], p.body["reason"])
		}
	}
	hooks.mu.Unlock()
	fmt.Fprintln(out, "\n== 6. On-call inspects the ledger")
	if err := spresponder("incidents", "list"); err != nil {
		return err
	}
	var listed strings.Builder
	e := env
	e.Stdout = &listed
	if code := app.Main(ctx, []string{"incidents", "list", "--format", "json"}, e); code != 0 {
		return fmt.Errorf("incidents list: exit %d", code)
	}
	var leakID string
	for _, l := range strings.Split(strings.TrimSpace(listed.String()), "\n") {
		var in struct {
			ID      string
			Signals []struct{ Kind, AppID string }
		}
		if json.Unmarshal([]byte(l), &in) == nil && len(in.Signals) > 0 && in.Signals[0].Kind == "leakedCredential" && in.Signals[0].AppID == demoApp {
			leakID = in.ID
		}
	}
	if leakID == "" {
		return fmt.Errorf("incidents list --format json: no leaked-credential incident of the Terraform app")
	}
	if err := spresponder("incidents", "show", leakID); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== 7. What the leaked secret could do, and what it did: after the removal the workspace shows one more")
	fmt.Fprintln(out, "   sign-in with the removed key, from the same address; on-call reads the use again.")
	late := demoLateSignIn(time.Now())
	la.Add(late.Row(demoWorkspace))
	time.Sleep(1100 * time.Millisecond) // the query's time range has whole seconds
	if err := spresponder("investigate", leakID, "--refresh"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== 8. The same sign-in reaches the responder through the stream: it is attached to the incident, and since")
	fmt.Fprintln(out, "   it succeeded after the removal, on-call is paged once: the credential still works somewhere.")
	batch, err := os.CreateTemp(state, "late-*.json")
	if err != nil {
		return err
	}
	if _, err := batch.WriteString(lasim.Event(late.Record()) + "\n"); err != nil {
		return err
	}
	if err := batch.Close(); err != nil {
		return err
	}
	before := len(hooks.snapshot())
	if err := quietly("signal", "replay", "--file", batch.Name(), "--execute", "--operator", "demo-oncall"); err != nil {
		return err
	}
	for _, p := range hooks.snapshot()[before:] {
		if p.path == "/oncall" {
			fmt.Fprintf(out, "  on-call page: %v (%v): %v\n", p.body["trigger"], p.body["severity"], p.body["reason"])
		}
	}
	return actPart(ctx, out, hookURL, hooks)
}

// snapshot copies the posts received so far.
func (h *hook) snapshot() []post {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.posts)
}

// randReader is where the act part's signing key comes from.
var randReader = rand.Reader

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
