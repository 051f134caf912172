package capolicy_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
)

const (
	policiesRoute  = "GET /identity/conditionalAccess/policies"
	locationsRoute = "GET /identity/conditionalAccess/namedLocations"
)

// cacheWorld is the demo tenant (limit on) and the real Graph client with
// its budget.
func cacheWorld(t *testing.T) (*graphsim.Tenant, *graph.Client) {
	t.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := graph.New(graph.Config{BaseURL: srv.URL + "/v1.0", Credential: graph.StaticToken("simulated-tenant"), Budget: budget.New(budget.Config{}, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time          { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) advance(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }

// A storm of incidents reading a cold cache costs one read of each list,
// not one per incident; a fresh copy costs none; an old or invalidated one
// is read again once.
func TestPolicyCacheReadsOncePerRefresh(t *testing.T) {
	sim, c := cacheWorld(t)
	clk := &fakeNow{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	n := &capolicy.Networks{Now: clk.now}
	const maxAge = 10 * time.Minute
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() {
			s, err := n.Current(ctx, c, maxAge)
			if err == nil && len(s.Policies) == 0 {
				err = context.Canceled // any error: the demo tenant has policies
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := func(reads int) {
		t.Helper()
		counts := sim.RouteCounts()
		if counts[policiesRoute] != reads || counts[locationsRoute] != reads {
			t.Fatalf("policies read %d times, named locations %d: want %d each", counts[policiesRoute], counts[locationsRoute], reads)
		}
	}
	want(1)
	clk.advance(maxAge)
	if _, err := n.Current(ctx, c, maxAge); err != nil {
		t.Fatal(err)
	}
	want(1) // exactly maxAge old is still fresh
	clk.advance(time.Second)
	if _, err := n.Current(ctx, c, maxAge); err != nil {
		t.Fatal(err)
	}
	want(2)
	n.Invalidate() // an audit record of a policy change
	if _, err := n.Current(ctx, c, maxAge); err != nil {
		t.Fatal(err)
	}
	want(2) // a copy younger than ChangeGrace serves: forged records cannot make every read a refresh
	clk.advance(capolicy.ChangeGrace)
	s, err := n.Current(ctx, c, maxAge)
	if err != nil {
		t.Fatal(err)
	}
	want(3)
	if !s.Read.Equal(clk.now()) {
		t.Fatalf("snapshot read at %v, want %v", s.Read, clk.now())
	}
	if sim.Throttled() != 0 {
		t.Fatalf("%d request(s) throttled", sim.Throttled())
	}
}

// When the copy is too old and Graph cannot be read, the reader gets the
// error, never the old copy.
func TestPolicyCacheNeverServesBeyondMaxAge(t *testing.T) {
	sim, c := cacheWorld(t)
	clk := &fakeNow{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	n := &capolicy.Networks{Now: clk.now}
	ctx := context.Background()
	if err := n.Refresh(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddFault(graphsim.Fault{Route: policiesRoute, Kind: graphsim.FaultStatus, Status: 403}); err != nil {
		t.Fatal(err)
	}
	clk.advance(11 * time.Minute)
	if s, err := n.Current(ctx, c, 10*time.Minute); err == nil {
		t.Fatalf("got a copy read at %v with no error after the refresh failed", s.Read)
	}
}
