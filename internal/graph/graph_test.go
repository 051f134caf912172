package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
)

const (
	tfAppID  = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	oldCert  = "3f5518bb-4d4d-480f-bdd0-7b04a58e2800"
	keepCert = "c7d2a9e4-1b6f-4a83-9e05-6f8b3c1d2a97"
)

// capture serves the simulated tenant and keeps the bodies of the writes
// the real SDK sends, byte for byte.
type capture struct {
	mu     sync.Mutex
	bodies map[string][][]byte // "METHOD path" -> bodies
}

func (c *capture) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			c.mu.Lock()
			c.bodies[r.Method+" "+r.URL.Path] = append(c.bodies[r.Method+" "+r.URL.Path], b)
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func world(t *testing.T, opts ...graphsim.Option) (*graphsim.Tenant, *graph.Client, *capture) {
	t.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim := graphsim.New(*seed, append([]graphsim.Option{graphsim.WithLogger(zap.NewNop())}, opts...)...)
	cp := &capture{bodies: map[string][][]byte{}}
	srv := httptest.NewServer(cp.wrap(sim.Handler()))
	t.Cleanup(srv.Close)
	// The budget production gives the client: the tenant enforces the
	// identity protection and Conditional Access limit.
	c, err := graph.New(graph.Config{BaseURL: srv.URL + "/v1.0", Credential: graph.StaticToken("simulated-tenant"), Budget: budget.New(budget.Config{}, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c, cp
}

// The PATCH that removes a certificate sends every kept certificate exactly
// as read: its keyId (so Graph keeps it under the same id, and detections
// and audit records still match it), its key, type, usage, identifier,
// name and dates. msgraph-sdk-go's backing store would send objects reused
// from the GET nearly empty, so this is the test that catches it.
func TestReplaceKeyCredentialsSendsKeptCertificatesExactly(t *testing.T) {
	sim, c, cp := world(t)
	ctx := context.Background()
	app, err := c.Application(ctx, tfAppID)
	if err != nil {
		t.Fatal(err)
	}
	var keep []directory.KeyCredential
	var kept directory.KeyCredential
	for _, k := range app.Keys {
		if !strings.EqualFold(k.KeyID, oldCert) {
			keep = append(keep, k)
			kept = k
		}
	}
	if len(keep) != 1 || len(kept.Key) == 0 {
		t.Fatalf("the seed's kept certificate came back without its key: %+v", keep)
	}
	if err := c.ReplaceKeyCredentials(ctx, directory.Application, app.ID, keep); err != nil {
		t.Fatal(err)
	}
	bodies := cp.bodies["PATCH /v1.0/applications/"+app.ID]
	if len(bodies) != 1 {
		t.Fatalf("PATCH bodies: %d", len(bodies))
	}
	var sent struct {
		KeyCredentials []map[string]any `json:"keyCredentials"`
	}
	if err := json.Unmarshal(bodies[0], &sent); err != nil {
		t.Fatalf("PATCH body %s: %v", bodies[0], err)
	}
	if len(sent.KeyCredentials) != 1 {
		t.Fatalf("PATCH sends %d certificates, want 1: %s", len(sent.KeyCredentials), bodies[0])
	}
	got := sent.KeyCredentials[0]
	want := map[string]string{
		"keyId": keepCert, "key": base64.StdEncoding.EncodeToString(kept.Key), "type": kept.Type, "usage": kept.Usage,
		"customKeyIdentifier": base64.StdEncoding.EncodeToString(kept.CustomKeyIdentifierRaw), "displayName": kept.DisplayName,
	}
	for field, v := range want {
		if s, _ := got[field].(string); !strings.EqualFold(s, v) {
			t.Errorf("PATCH %s = %q, want %q (body %s)", field, s, v, bodies[0])
		}
	}
	for _, field := range []string{"startDateTime", "endDateTime"} {
		if s, _ := got[field].(string); s == "" {
			t.Errorf("PATCH sends no %s: %s", field, bodies[0])
		}
	}
	if strings.Contains(string(bodies[0]), oldCert) {
		t.Errorf("PATCH still names the removed certificate: %s", bodies[0])
	}
	// And the tenant agrees: the kept certificate is there under its own id.
	after, _ := sim.Application(tfAppID)
	if len(after.KeyCredentials) != 1 || !strings.EqualFold(after.KeyCredentials[0].KeyID, keepCert) {
		t.Fatalf("after the PATCH the app holds %+v", after.KeyCredentials)
	}
}

// The licence is read from the tenant's subscribed SKUs (the Workload
// Identities Premium service plans), never guessed from an error message.
func TestSubscribedSkusTellTheLicence(t *testing.T) {
	for _, licensed := range []bool{true, false} {
		_, c, _ := world(t, graphsim.WithWorkloadIdentitiesPremium(licensed))
		skus, err := c.SubscribedSkus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got, plan := directory.WorkloadIdentityLicensed(skus)
		if got != licensed {
			t.Errorf("licensed=%v: read %v (%s) from %+v", licensed, got, plan, skus)
		}
	}
}
