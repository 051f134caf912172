package graph_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
)

const (
	budgetDet = "2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"
	budgetSP  = "b029d485-a308-4311-8720-fb3192e5284e"
)

func limitedWorld(t *testing.T, b *budget.Budget, opts ...graphsim.Option) (*graphsim.Tenant, *graph.Client) {
	t.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim := graphsim.New(*seed, append([]graphsim.Option{graphsim.WithLogger(zap.NewNop())}, opts...)...)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := graph.New(graph.Config{BaseURL: srv.URL + "/v1.0", Credential: graph.StaticToken("simulated-tenant"), Budget: b})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// readAll sends the four reads verify used to send per incident, n times,
// all at once.
func readAll(ctx context.Context, c *graph.Client, n int) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range n {
		for _, f := range []func() error{
			func() error { _, err := c.Detection(ctx, budgetDet); return err },
			func() error { _, err := c.RiskyServicePrincipal(ctx, budgetSP); return err },
			func() error { _, err := c.ConditionalAccessPolicies(ctx); return err },
			func() error { _, err := c.NamedLocations(ctx); return err },
		} {
			wg.Go(func() {
				if err := f(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errs
}

// Without a budget, one burst of incidents' reads trips the tenant's limit
// (this is what the limit in the simulated tenant is for); with the
// budget, the same reads all succeed and the tenant throttles none.
func TestBudgetKeepsTheTenantUnderItsLimit(t *testing.T) {
	bare, c := limitedWorld(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = readAll(ctx, c, 2)
	if bare.Throttled() == 0 {
		t.Fatal("eight reads at once without a budget were not throttled: the simulated limit is not on")
	}

	b := budget.New(budget.Config{Rate: 1, Burst: 2}, nil, nil)
	sim, c := limitedWorld(t, b)
	start := time.Now()
	if errs := readAll(context.Background(), c, 2); len(errs) > 0 {
		t.Fatalf("reads failed: %v", errs)
	}
	if n := sim.Throttled(); n != 0 {
		t.Fatalf("the tenant throttled %d request(s) sent through the budget", n)
	}
	// 8 requests, 2 at once, then one a second: at least 6s.
	if el := time.Since(start); el < 5*time.Second {
		t.Fatalf("8 reads took %v: the budget did not pace them", el)
	}
	if s := b.Stats(); s.Admitted != 8 || s.Throttled != 0 {
		t.Fatalf("budget stats %+v", s)
	}
}

// A budget whose share is too large (several instances, another app in
// the tenant) meets the tenant's 429 without Retry-After: it pauses every
// caller, the SDK's retry goes through it again, and the reads succeed.
func TestBudgetBacksOffAfter429WithoutRetryAfter(t *testing.T) {
	b := budget.New(budget.Config{Rate: 10, Burst: 3}, nil, nil)
	sim, c := limitedWorld(t, b, graphsim.WithThrottle(1, 1))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.RiskyServicePrincipal(context.Background(), budgetSP) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("reads failed after backing off: %v", err)
	}
	st := b.Stats()
	if st.Throttled == 0 || st.Throttled != sim.Throttled() {
		t.Fatalf("budget saw %d 429s, the tenant sent %d: want the same, more than none", st.Throttled, sim.Throttled())
	}
}

// A caller whose turn is past its deadline is not sent: the error is a
// transient one that says how long to wait, so an incident parks until then.
func TestBudgetRefusalIsRetryableWithTheWait(t *testing.T) {
	b := budget.New(budget.Config{Rate: 0.1, Burst: 1}, nil, nil)
	sim, c := limitedWorld(t, b)
	if _, err := c.RiskyServicePrincipal(context.Background(), budgetSP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Detection(ctx, budgetDet)
	var th *directory.ThrottledError
	if !directory.Retryable(err) || !errors.As(err, &th) || th.RetryAfter < 5*time.Second {
		t.Fatalf("want a retryable error with a wait of about 10s, got %v", err)
	}
	if n := len(sim.Requests()); n != 1 {
		t.Fatalf("%d requests reached the tenant, want 1 (the refused one is never sent)", n)
	}
}

// Work marked Background (the cache's refresh) waits while an incident's
// read is queued: the incident's read reaches the tenant first, though it
// asked later.
func TestBackgroundYieldsToIncidents(t *testing.T) {
	b := budget.New(budget.Config{Rate: 2, Burst: 1}, nil, nil)
	sim, c := limitedWorld(t, b)
	ctx := context.Background()
	if _, err := c.RiskyServicePrincipal(ctx, budgetSP); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var bgErr, fgErr error
	wg.Go(func() { _, bgErr = c.ConditionalAccessPolicies(graph.Background(ctx)) })
	time.Sleep(50 * time.Millisecond)
	wg.Go(func() { _, fgErr = c.Detection(ctx, budgetDet) })
	wg.Wait()
	if err := errors.Join(bgErr, fgErr); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, q := range sim.Requests() {
		order = append(order, q.Route)
	}
	if len(order) != 3 || order[1] != "GET /identityProtection/servicePrincipalRiskDetections/{id}" {
		t.Fatalf("requests in order %v: the incident's detection read must go before the background policies read", order)
	}
}
