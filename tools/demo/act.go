package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/app"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
)

// The demo's act part: a leak whose removal the breaker held, approved by
// the app's owner from the card's button, end to end: `spresponder serve`
// (the custom handler) answers the Act function as the Functions host
// calls it, with the owner signed in by the platform's authentication.

const (
	demoActURL = "https://spresponder-demo.example.net"
	alexID     = "8105c513-d24b-4b8d-9035-f8d48854d703"
)

func actPart(ctx context.Context, out io.Writer, hookURL string, hooks *hook) error {
	seed, err := graphsim.Load("testdata/tenant/demo.json")
	if err != nil {
		return err
	}
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	graphURL, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	state, err := os.MkdirTemp("", "spresponder-demo-act-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	// A signing key made for this run; in Azure it comes from Key Vault.
	key := make([]byte, 32)
	if _, err := io.ReadFull(randReader, key); err != nil {
		return err
	}
	vars := map[string]string{
		"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
		"SPRESPONDER_STATE_DIR": state, "SPRESPONDER_GRAPH_URL": graphURL,
		"SPRESPONDER_TEAMS_WEBHOOK": hookURL + "/teams", "SPRESPONDER_SECURITY_CONTACT": "security@contoso.com",
		"SPRESPONDER_LOG_LEVEL": "error", "SPRESPONDER_STARTUP_CHECK_TIMEOUT": "0s", "SPRESPONDER_RECONCILE": "false",
		"SPRESPONDER_ACT_URL": demoActURL, "SPRESPONDER_ACT_KEY": base64.StdEncoding.EncodeToString(key),
		// A flood tripped the breaker: no write allowed this hour.
		"SPRESPONDER_BREAKER_LIMIT": "0",
		// The platform's Entra ID sign-in is on for the act page.
		"WEBSITE_AUTH_ENABLED": "true", "USER": "demo-oncall",
	}
	env := app.Env{
		Getenv:  func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Environ: func() []string { return nil },
		Stdout:  io.Discard, Stderr: os.Stderr, Now: time.Now,
	}
	fmt.Fprintln(out, "\n== 9. A day with a tripped breaker: the same leak, in a fresh tenant. The removal is held for a person.")
	fmt.Fprintln(out, "\n$ SPRESPONDER_BREAKER_LIMIT=0 spresponder replay --file testdata/demo/batch.ndjson --execute")
	if code := app.Main(ctx, []string{"replay", "--file", "testdata/demo/batch.ndjson", "--execute", "--operator", "demo-oncall"}, env); code != 0 {
		return fmt.Errorf("replay --execute: exit %d", code)
	}
	led, err := ledger.NewFileStore(filepath.Join(state, "ledger"))
	if err != nil {
		return err
	}
	all, err := led.List(ctx, ledger.Filter{AppID: demoApp})
	if err != nil {
		return err
	}
	var ins []*incident.Incident
	var seen []string
	for _, in := range all {
		seen = append(seen, string(in.State)+"/"+in.Mode)
		if in.State == incident.StateHeld {
			ins = append(ins, in)
		}
	}
	if len(ins) != 1 || len(sim.Writes()) != 0 {
		return fmt.Errorf("want one held incident and no write: %v, %d writes", seen, len(sim.Writes()))
	}
	held := ins[0]
	fmt.Fprintf(out, "  %s is %s: %s\n", held.ID, held.State, held.NotifyOnly)

	// The card the responder posted to the channel carries the buttons
	// (Action.OpenUrl), each a signed link bound to the channel.
	approve, labels, err := cardButton(hooks.snapshot(), held.ID, "Approve removal")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  the Teams card offers: %s\n", strings.Join(labels, " · "))

	fmt.Fprintln(out, "\n== 10. On-call reviews the flood and sets the breaker back (SPRESPONDER_BREAKER_LIMIT=5: an app setting, the app restarts).")
	vars["SPRESPONDER_BREAKER_LIMIT"] = "5"
	port, err := freePort()
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan int, 1)
	go func() { served <- app.Main(sctx, []string{"serve", "--port", fmt.Sprint(port)}, env) }()
	defer func() { stop(); <-served }()
	host := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ctx, host); err != nil {
		return err
	}

	u, _ := url.Parse(approve)
	tok := u.Query().Get("t")
	fmt.Fprintln(out, "\n== 11. Alex (the app's owner, signed in by the Function App's Entra ID sign-in) taps \"Approve removal\" on the card.")
	status, page, err := callAct(ctx, host, "GET", tok)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  GET %s -> %d: %s\n", "/api/act?t=…", status, pageText(page))
	if len(sim.Writes()) != 0 {
		return errors.New("the confirmation page wrote to the tenant")
	}
	fmt.Fprintln(out, "  (the page changed nothing: mail scanners and link previews follow links)")
	status, page, err = callAct(ctx, host, "POST", tok)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  POST /api/act (the page's button) -> %d: %s\n", status, pageText(page))
	if status != http.StatusOK {
		return fmt.Errorf("approval: HTTP %d", status)
	}
	a, _ := sim.Application(demoApp)
	var keys []string
	for _, p := range a.PasswordCredentials {
		keys = append(keys, "secret "+p.KeyID)
	}
	for _, k := range a.KeyCredentials {
		keys = append(keys, "certificate "+k.KeyID)
	}
	fmt.Fprintf(out, "  Terraform-Datadog-CLI now holds: %s\n", strings.Join(keys, ", "))
	for _, w := range sim.Writes() {
		fmt.Fprintf(out, "  %s on %s %s\n", w.Route, w.Target, strings.Join(w.RemovedKeyIDs, " "))
	}
	status, page, err = callAct(ctx, host, "POST", tok)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  the same link again -> %d: %s\n", status, pageText(page))
	in, err := led.Get(ctx, held.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %s is now %s; on record:\n", in.ID, in.State)
	for _, e := range in.History {
		if e.Step == "act" || e.Step == "redrive" {
			fmt.Fprintf(out, "    %s  %-22s %s  (%s)\n", e.At.UTC().Format("15:04:05Z"), e.What, e.Detail, e.Actor)
		}
	}
	if len(sim.Writes()) != 1 || sim.Writes()[0].RemovedKeyIDs[0] != demoKey {
		return fmt.Errorf("want exactly the leaked secret removed: %+v", sim.Writes())
	}
	return nil
}

// callAct calls the Act function as the Functions host does, with the
// platform's sign-in headers for Alex and the browser's Origin.
func callAct(ctx context.Context, host, method, tok string) (int, string, error) {
	headers := map[string][]string{"X-MS-CLIENT-PRINCIPAL-ID": {alexID}, "X-MS-CLIENT-PRINCIPAL-NAME": {"AlexW@contoso.com"}}
	req := map[string]any{"Url": demoActURL + "/api/act", "Method": method, "Headers": headers, "Query": map[string]string{"t": tok}}
	if method == "POST" {
		headers["Origin"] = []string{demoActURL}
		headers["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		req["Query"] = map[string]string{}
		req["Body"] = url.Values{"t": {tok}, "confirm": {"yes"}}.Encode()
	}
	body, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": req}, "Metadata": map[string]any{}})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, host+"/Act", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Outputs struct {
			Res struct {
				StatusCode string `json:"statusCode"`
				Body       string `json:"body"`
			} `json:"res"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, "", fmt.Errorf("act answer: %w", err)
	}
	status, err := strconv.Atoi(out.Outputs.Res.StatusCode)
	if err != nil {
		return 0, "", fmt.Errorf("act answer: status %q", out.Outputs.Res.StatusCode)
	}
	return status, out.Outputs.Res.Body, nil
}

var (
	h1Re   = regexp.MustCompile(`<h1>(.*?)</h1>`)
	leadRe = regexp.MustCompile(`<p class="(?:warn|good|bad)">(.*?)</p>`)
)

// pageText is a page's heading and first message, as a person reads it.
func pageText(page string) string {
	var parts []string
	for _, re := range []*regexp.Regexp{h1Re, leadRe} {
		if m := re.FindStringSubmatch(page); m != nil {
			parts = append(parts, html.UnescapeString(m[1]))
		}
	}
	return strings.Join(parts, " | ")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits for the handler's readiness answer, as the host does.
func waitReady(ctx context.Context, host string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(host + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("spresponder serve did not answer within 20s")
}

// cardButton finds, in the Teams cards posted so far, the newest card of
// incident id and the URL of its button labelled label; labels are all
// the card's buttons, in order.
func cardButton(posts []post, id, label string) (link string, labels []string, err error) {
	for i := len(posts) - 1; i >= 0; i-- {
		p := posts[i]
		if p.path != "/teams" {
			continue
		}
		b, _ := json.Marshal(p.body)
		if !strings.Contains(string(b), id) {
			continue
		}
		var card struct {
			Attachments []struct {
				Content struct {
					Body []json.RawMessage `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(b, &card); err != nil || len(card.Attachments) == 0 {
			return "", nil, fmt.Errorf("the card of %s does not decode: %v", id, err)
		}
		var walk func(json.RawMessage)
		walk = func(raw json.RawMessage) {
			var el struct {
				Type    string            `json:"type"`
				Title   string            `json:"title"`
				URL     string            `json:"url"`
				Actions []json.RawMessage `json:"actions"`
				Items   []json.RawMessage `json:"items"`
				Columns []json.RawMessage `json:"columns"`
			}
			if json.Unmarshal(raw, &el) != nil {
				return
			}
			if el.Type == "Action.OpenUrl" {
				labels = append(labels, el.Title)
				if el.Title == label && link == "" {
					link = el.URL
				}
			}
			for _, c := range append(append(el.Actions, el.Items...), el.Columns...) {
				walk(c)
			}
		}
		for _, el := range card.Attachments[0].Content.Body {
			walk(el)
		}
		if link == "" {
			return "", labels, fmt.Errorf("the card of %s has no %q button (it has %v)", id, label, labels)
		}
		return link, labels, nil
	}
	return "", nil, fmt.Errorf("no Teams card of %s was posted", id)
}
