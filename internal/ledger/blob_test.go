package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/ledger/ledgertest"
	"github.com/spresponder/spresponder/internal/quarantine"
)

var containerSeq atomic.Int64

// containerName is unique per test, per process and per run, so tests can
// share one Azurite (also a developer's long-running one).
func containerName() string {
	return fmt.Sprintf("ledger-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, containerSeq.Add(1))
}

// openBlob returns a BlobStore on Azurite in a container of its own, deleted
// when tb ends; it skips tb (with the reason) when Azurite is not available.
func openBlob(tb testing.TB) *ledger.BlobStore {
	tb.Helper()
	cs := ledger.AzuriteConnectionString(azurite.BlobEndpoint(tb))
	name := containerName()
	s, err := ledger.NewBlobStore(tb.Context(), ledger.BlobConfig{
		ConnectionString: cs,
		Container:        name,
		Timeout:          30 * time.Second,
	})
	if err != nil {
		tb.Fatalf("NewBlobStore: %v", err)
	}
	tb.Cleanup(func() { deleteContainer(tb, cs, name) })
	return s
}

func deleteContainer(tb testing.TB, cs, name string) {
	c, err := container.NewClientFromConnectionString(cs, name, nil)
	if err != nil {
		tb.Errorf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Delete(ctx, nil); err != nil {
		tb.Logf("cleanup: delete container %s: %v", name, err)
	}
}

func TestBlobStoreConformance(t *testing.T) {
	azurite.BlobEndpoint(t) // skip the whole suite at once when there is no Azurite
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return openBlob(t) })
}

// NewBlobStore creates the container, and opening it again is fine.
func TestBlobStoreContainerCreatedOnce(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	cfg := ledger.BlobConfig{ConnectionString: ledger.AzuriteConnectionString(ep), Container: containerName()}
	a, err := ledger.NewBlobStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := a.Claim(t.Context(), ledgertest.Incident(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.NewBlobStore(t.Context(), cfg)
	if err != nil {
		t.Fatalf("second NewBlobStore on an existing container: %v", err)
	}
	if got, err := b.Get(t.Context(), in.ID); err != nil || got.ETag != in.ETag {
		t.Fatalf("second store does not see the first's incident: %v", err)
	}
	deleteContainer(t, cfg.ConnectionString, cfg.Container)
}

// The ledger going away: a store that worked, behind a TCP proxy, then the
// proxy closes. Every call must fail with ErrUnavailable, promptly, and
// recover when the path comes back.
func TestBlobStoreGoesAway(t *testing.T) {
	ep := azurite.BlobEndpoint(t)
	upstream := strings.TrimPrefix(strings.TrimSuffix(ep, "/devstoreaccount1"), "http://")
	p := startProxy(t, upstream)
	s, err := ledger.NewBlobStore(t.Context(), ledger.BlobConfig{
		ConnectionString: ledger.AzuriteConnectionString("http://" + p.addr + "/devstoreaccount1"),
		Container:        containerName(),
		Timeout:          5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	in, _, err := s.Claim(ctx, ledgertest.Incident(1))
	if err != nil {
		t.Fatal(err)
	}

	p.setDown(true)
	start := time.Now()
	calls := map[string]func() error{
		"Claim": func() error { _, _, err := s.Claim(ctx, ledgertest.Incident(2)); return err },
		"Get":   func() error { _, err := s.Get(ctx, in.ID); return err },
		"Update": func() error {
			x := *in
			x.Attempts++
			return s.Update(ctx, &x)
		},
		"Mutate": func() error {
			_, err := ledger.Mutate(ctx, s, in.ID, func(*incident.Incident) error { return nil })
			return err
		},
		"List":            func() error { _, err := s.List(ctx, ledger.Filter{}); return err },
		"Keep":            func() error { return s.Keep(ctx, quarantine.Item{ID: "q-1", Body: []byte("x")}) },
		"Quarantined":     func() error { _, err := s.Quarantined(ctx); return err },
		"QuarantinedBody": func() error { _, err := s.QuarantinedBody(ctx, "q-1"); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("%s with the ledger gone: %v; want ErrUnavailable", name, err)
		}
		if errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrConflict) {
			t.Errorf("%s with the ledger gone: %v also claims to be an answer", name, err)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("8 calls against a gone ledger took %s", d)
	}
	t.Logf("8 calls failed with ErrUnavailable in %s; e.g. Get: %v", time.Since(start).Round(time.Millisecond), calls["Get"]())

	p.setDown(false)
	if _, err := s.Get(ctx, in.ID); err != nil {
		t.Fatalf("Get after the ledger came back: %v", err)
	}
}

// A ledger that was never there: a closed port. No Azurite needed.
func TestBlobStoreUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = ledger.NewBlobStore(t.Context(), ledger.BlobConfig{
		ConnectionString: ledger.AzuriteConnectionString("http://" + addr + "/devstoreaccount1"),
		Container:        "ledger",
		Timeout:          5 * time.Second,
	})
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("NewBlobStore on a closed port: %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s to give up", d)
	}
	assertNoSecret(t, err, "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq")
}

func TestBlobStoreConfig(t *testing.T) {
	cases := map[string]ledger.BlobConfig{
		"no container":     {ConnectionString: ledger.DevelopmentStorage},
		"nothing to reach": {Container: "c"},
		"both":             {Container: "c", ConnectionString: ledger.DevelopmentStorage, AccountURL: "https://a.blob.core.windows.net"},
		"bad string":       {Container: "c", ConnectionString: "AccountKey=TOPSECRETKEY;nonsense"},
	}
	for name, cfg := range cases {
		_, err := ledger.NewBlobStore(t.Context(), cfg)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		assertNoSecret(t, err, "TOPSECRETKEY")
	}
}

// Every way the service can answer, or not, against a fake blob endpoint
// reached with a SAS: the classification, the per-call timeout, and that no
// error carries the signature.
func TestBlobStoreErrorClassification(t *testing.T) {
	const sig = "c2VjcmV0LXNpZ25hdHVyZQTOPSECRET"
	type answer struct {
		status int
		code   string
		body   string
		hang   bool
		drop   bool
	}
	var (
		mu   sync.Mutex
		next answer
		gets *answer // when set, what GET requests get instead of next
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("restype") == "container" && r.Method == http.MethodGet {
			w.Header().Set("ETag", `"0x1"`)
			w.WriteHeader(http.StatusOK) // the container exists
			return
		}
		mu.Lock()
		a := next
		if gets != nil && r.Method == http.MethodGet {
			a = *gets
		}
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		switch {
		case a.hang:
			<-r.Context().Done()
			return
		case a.drop:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if a.code != "" {
			w.Header().Set("x-ms-error-code", a.code)
		}
		w.Header().Set("ETag", `"0x8DC0000000000001"`)
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)

	s, err := ledger.NewBlobStore(t.Context(), ledger.BlobConfig{
		ConnectionString: "BlobEndpoint=" + srv.URL + "/devstoreaccount1;SharedAccessSignature=sv=2024-08-04&ss=b&sp=rwdlc&sig=" + sig,
		Container:        "ledger",
		Timeout:          500 * time.Millisecond,
		MaxRetries:       1,
	})
	if err != nil {
		t.Fatal(err)
	}
	in := ledgertest.Incident(1)

	type check func(error) bool
	is := func(target error) check { return func(err error) bool { return errors.Is(err, target) } }
	isPlain := func(err error) bool {
		return err != nil && !errors.Is(err, ledger.ErrUnavailable) && !errors.Is(err, ledger.ErrNotFound) && !errors.Is(err, ledger.ErrConflict)
	}
	get := func() error { _, err := s.Get(t.Context(), in.ID); return err }
	claim := func() error { _, _, err := s.Claim(t.Context(), ledgertest.Incident(2)); return err }
	keep := func() error { return s.Keep(t.Context(), quarantine.Item{ID: "q-1", Body: []byte("x")}) }
	cases := []struct {
		name string
		a    answer
		call func() error
		ok   check
	}{
		{"503 ServerBusy", answer{status: 503, code: "ServerBusy"}, get, is(ledger.ErrUnavailable)},
		{"500", answer{status: 500, code: "InternalError"}, claim, is(ledger.ErrUnavailable)},
		{"429", answer{status: 429, code: "TooManyRequests"}, keep, is(ledger.ErrUnavailable)},
		{"403", answer{status: 403, code: "AuthorizationPermissionMismatch"}, get, is(ledger.ErrUnavailable)},
		{"401", answer{status: 401, code: "InvalidAuthenticationInfo"}, claim, is(ledger.ErrUnavailable)},
		{"404 blob", answer{status: 404, code: "BlobNotFound"}, get, is(ledger.ErrNotFound)},
		{"404 container", answer{status: 404, code: "ContainerNotFound"}, get, is(ledger.ErrUnavailable)},
		{"400", answer{status: 400, code: "InvalidHeaderValue"}, get, isPlain},
		{"malformed body", answer{status: 200, body: "<html>not json"}, get, isPlain},
		{"timeout", answer{hang: true}, get, func(err error) bool {
			return errors.Is(err, ledger.ErrUnavailable) && errors.Is(err, context.DeadlineExceeded)
		}},
		{"connection dropped", answer{drop: true}, claim, is(ledger.ErrUnavailable)},
	}
	for _, c := range cases {
		mu.Lock()
		next = c.a
		mu.Unlock()
		start := time.Now()
		err := c.call()
		if !c.ok(err) {
			t.Errorf("%s: got %v", c.name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s; the per-call timeout is 500ms", c.name, d)
		}
		assertNoSecret(t, err, sig)
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", c.name, err)
		}
	}

	// 412 on a conditional update is a conflict.
	mu.Lock()
	next = answer{status: 412, code: "ConditionNotMet"}
	mu.Unlock()
	x := ledgertest.Incident(3)
	x.ETag = `"0x8DC0000000000001";h=` // not issued by this ledger
	if err := s.Update(t.Context(), x); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("Update with a foreign ETag: %v; want ErrConflict", err)
	}
	mu.Lock()
	next = answer{status: 200, body: `{"id":"` + in.ID + `","history":[]}`}
	mu.Unlock()
	read, err := s.Get(t.Context(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	next = answer{status: 412, code: "ConditionNotMet"}
	mu.Unlock()
	if err := s.Update(t.Context(), read); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("Update answered 412: %v; want ErrConflict", err)
	}
	// A create-only write answered 409 means the incident exists: Claim
	// reads it and reports created=false.
	existing := ledgertest.Incident(4)
	existing.Operator = "first"
	mu.Lock()
	next = answer{status: 409, code: "BlobAlreadyExists"}
	gets = &answer{status: 200, body: `{"id":"` + existing.ID + `","operator":"first","history":[]}`}
	mu.Unlock()
	claimer := ledgertest.Incident(4)
	stored, created, err := s.Claim(t.Context(), claimer)
	if err != nil || created || stored.Operator != "first" || stored.ETag == "" {
		t.Errorf("Claim answered 409: created=%v err=%v stored=%+v; want the stored incident", created, err, stored)
	}
	// ... and when that read fails, the ledger is unavailable, not "created".
	mu.Lock()
	gets = &answer{status: 503, code: "ServerBusy"}
	mu.Unlock()
	if _, _, err := s.Claim(t.Context(), ledgertest.Incident(4)); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("Claim answered 409 then 503: %v; want ErrUnavailable", err)
	}
}

func assertNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks a secret: %v", err)
	}
}

// proxy forwards TCP to upstream until it is set down; then it refuses
// (closes) every connection, existing and new.
type proxy struct {
	addr string
	mu   sync.Mutex
	down bool
	open map[net.Conn]struct{}
}

func startProxy(t *testing.T, upstream string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), open: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.setDown(true)
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c, upstream) })
		}
	})
	return p
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.open {
			c.Close()
		}
		clear(p.open)
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.open[c] = struct{}{}
	}
	return true
}

func (p *proxy) serve(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	if !p.track(c, u) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
}

// The production path: AccountURL plus a token credential (the managed
// identity). The store asks for a Storage token and sends it as a bearer
// token; the token never appears in errors.
func TestBlobStoreTokenCredential(t *testing.T) {
	const token = "eyJ0eXAiOiJKV1QiTOKENSECRET"
	var authorized, requests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") == "Bearer "+token {
			authorized.Add(1)
		}
		switch {
		case r.URL.Query().Get("restype") == "container" && r.Method == http.MethodGet:
			w.Header().Set("x-ms-error-code", "ContainerNotFound")
			w.WriteHeader(http.StatusNotFound)
		case r.URL.Query().Get("restype") == "container" && r.Method == http.MethodPut:
			w.Header().Set("ETag", `"0x1"`)
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("ETag", `"0x2"`)
			w.WriteHeader(http.StatusCreated)
		default:
			w.Header().Set("x-ms-error-code", "ServerBusy")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	cred := &fakeCredential{token: token}
	s, err := ledger.NewBlobStore(t.Context(), ledger.BlobConfig{
		AccountURL: srv.URL,
		Container:  "ledger",
		Credential: cred,
		Transport:  srv.Client(),
		MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Claim(t.Context(), ledgertest.Incident(1)); err != nil || !created {
		t.Fatalf("Claim: created=%v err=%v", created, err)
	}
	_, err = s.Get(t.Context(), ledgertest.Incident(1).ID)
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("Get answered 503: %v", err)
	}
	assertNoSecret(t, err, token)
	if authorized.Load() != requests.Load() || requests.Load() < 4 {
		t.Fatalf("%d of %d requests carried the token", authorized.Load(), requests.Load())
	}
	if got := cred.scopes(); len(got) != 1 || got[0] != "https://storage.azure.com/.default" {
		t.Fatalf("token requested for scopes %v", got)
	}
}

type fakeCredential struct {
	token string
	mu    sync.Mutex
	asked []string
}

func (c *fakeCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = opts.Scopes
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (c *fakeCredential) scopes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked
}
