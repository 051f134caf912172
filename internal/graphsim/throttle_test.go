package graphsim

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The identity protection and Conditional Access routes share one limit
// per tenant: past the burst, 429 with Graph's error body and no
// Retry-After; other routes are not limited; the refusals are counted.
func TestIdentityProtectionAndCALimit(t *testing.T) {
	ten, base := sim(t, WithThrottle(1, 3))
	paths := []string{
		"/identityProtection/servicePrincipalRiskDetections/" + leakedDet,
		"/identityProtection/riskyServicePrincipals",
		"/identity/conditionalAccess/policies",
		"/identity/conditionalAccess/namedLocations",
	}
	var got []int
	for _, p := range paths {
		got = append(got, do(t, "GET", base+p, nil).status)
	}
	if got[0] != 200 || got[1] != 200 || got[2] != 200 || got[3] != 429 {
		t.Fatalf("statuses %v: want three within the burst, then 429", got)
	}
	r := do(t, "GET", base+"/identity/conditionalAccess/policies", nil)
	r.wantError(t, http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
	if ra := r.header.Get("Retry-After"); ra != "" {
		t.Fatalf("Retry-After %q: these APIs send none", ra)
	}
	// Other routes are not under this limit.
	do(t, "GET", base+"/applications/"+tfApp, nil).wantStatus(t, http.StatusOK)
	if n := ten.Throttled(); n != 2 {
		t.Fatalf("Throttled() = %d, want 2", n)
	}
	// A second later one more goes through.
	time.Sleep(1100 * time.Millisecond)
	do(t, "GET", base+"/identity/conditionalAccess/namedLocations", nil).wantStatus(t, http.StatusOK)
}

// On by default: a tenant built without options enforces it.
func TestLimitOnByDefault(t *testing.T) {
	seed, err := Load(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts []Option
		want bool
	}{{nil, true}, {[]Option{WithoutThrottle("this test checks the switch")}, false}} {
		ten := New(*seed, c.opts...)
		srv := httptest.NewServer(ten.Handler())
		for range DefaultThrottleBurst + 2 {
			do(t, "GET", srv.URL+"/v1.0/identityProtection/riskyServicePrincipals", nil)
		}
		srv.Close()
		if got := ten.Throttled() > 0; got != c.want {
			t.Fatalf("throttled %d with options %d: want throttling %v", ten.Throttled(), len(c.opts), c.want)
		}
	}
}
