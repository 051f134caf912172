package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/graphsim"
)

const (
	testMSIAppID = "7d3c9a51-2f4e-4b8a-9c61-0e5f3a2b1c90"
	testMSIID    = "a41e6c2d-8b7f-4d3a-b5e9-2c1f0d9e8a76"
	testTenant   = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
)

// startSetupTenant serves the demo tenant with Microsoft Graph's service
// principal and the responder's managed identity added, no Conditional
// Access policy and no permission granted: a tenant before setup.
func startSetupTenant(t *testing.T) (*graphsim.Tenant, string) {
	t.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed.ServicePrincipals = append(seed.ServicePrincipals, graphsim.MicrosoftGraphServicePrincipal(),
		graphsim.ServicePrincipal{ID: testMSIID, AppID: testMSIAppID, DisplayName: "spresponder-func-msi", ServicePrincipalType: "ManagedIdentity"})
	seed.ConditionalAccessPolicies = nil
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	u, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return sim, u
}

// fakeARM serves Entra's diagnostic settings (ARM's documented shape)
// streaming the categories the default rules need.
func fakeARM(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/providers/microsoft.aadiam/diagnosticSettings" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"value":[{"id":"/providers/microsoft.aadiam/diagnosticSettings/spresponder","name":"spresponder",
			"properties":{"eventHubAuthorizationRuleId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/authorizationRules/send",
			"eventHubName":"entra","logs":[{"category":"ServicePrincipalRiskEvents","enabled":true},{"category":"RiskyServicePrincipals","enabled":true},
			{"category":"ServicePrincipalSignInLogs","enabled":true},{"category":"AuditLogs","enabled":true}]}}]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSetupThenCheck runs the commands as an operator would, against the
// simulated tenant (real SDK), a local ARM server and the Azurite ledger:
// check fails on a fresh tenant and says how to fix it; setup prints a plan
// and changes nothing; setup --apply --enable grants and creates; a second
// setup --apply changes nothing; check then passes.
func TestSetupThenCheck(t *testing.T) {
	blob := azurite.BlobEndpoint(t)
	sim, graphURL := startSetupTenant(t)
	vars := map[string]string{
		"SPRESPONDER_GRAPH_URL": graphURL, "SPRESPONDER_ARM_URL": fakeARM(t),
		"SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID": testMSIAppID, "SPRESPONDER_TENANTS": testTenant,
		"SPRESPONDER_LEDGER": "blob", "SPRESPONDER_LEDGER_ACCOUNT_URL": blob, "SPRESPONDER_LEDGER_CONTAINER": "check-" + strings.ToLower(t.Name()[:8]),
	}
	ctx := context.Background()
	run := func(args ...string) (int, string, string) {
		env, out, errb := testEnv(t, vars)
		code := Main(ctx, args, env)
		return code, out.String(), errb.String()
	}
	// The ledger container must exist for the probe: the service creates
	// it on its first start; here the check's own ledger open does.
	if _, err := openLedger(ctx, mustConfig(t, vars), ""); err != nil {
		t.Fatal(err)
	}

	code, out, errb := run("check", "--format", "json")
	if code != 1 {
		t.Fatalf("check on a fresh tenant: exit %d\n%s\n%s", code, out, errb)
	}
	var rep struct {
		OK     bool
		Checks []struct{ Check, Status, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check --format json: %v\n%s", err, out)
	}
	status := map[string]string{}
	for _, c := range rep.Checks {
		status[c.Check] = c.Status
	}
	// (The simulated tenant does not enforce permissions on reads, so the
	// check can read the identity's grants and the policies here; in a
	// real tenant without Application.Read.All it says "cannot check".)
	if rep.OK || status["permission Application.ReadWrite.All"] != "missing" || status["conditional access"] != "missing" ||
		status["ledger"] != "ok" || status["diagnostic setting"] != "ok" || status["licence"] != "ok" {
		t.Errorf("fresh check: %+v", status)
	}

	code, out, errb = run("setup", "--identity", testMSIAppID)
	if code != 0 || !strings.Contains(out, "run again with --apply") || len(sim.Writes()) != 0 {
		t.Fatalf("setup plan: exit %d, writes %d\n%s\n%s", code, len(sim.Writes()), out, errb)
	}
	t.Logf("setup plan:\n%s", out)
	code, out, errb = run("setup", "--identity", testMSIAppID, "--apply", "--enable")
	if code != 0 || !strings.Contains(out, "applied 6 of 6 change(s)") {
		t.Fatalf("setup --apply: exit %d\n%s\n%s", code, out, errb)
	}
	writes := len(sim.Writes())
	code, out, _ = run("setup", "--identity", testMSIAppID, "--apply", "--enable")
	if code != 0 || !strings.Contains(out, "nothing to change") || len(sim.Writes()) != writes {
		t.Fatalf("second setup --apply: exit %d, %d new writes\n%s", code, len(sim.Writes())-writes, out)
	}

	code, out, errb = run("check")
	if code != 0 {
		t.Fatalf("check after setup: exit %d\n%s\n%s", code, out, errb)
	}
	t.Logf("check:\n%s", out)
	for _, want := range []string{"OK permission Application.ReadWrite.All", "OK conditional access", "OK ledger writable:"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			found = found || strings.HasPrefix(strings.Join(strings.Fields(line), " "), want)
		}
		if !found {
			t.Errorf("check output lacks a line %q", want)
		}
	}
	if u := sim.Unexpected(); len(u) != 0 {
		t.Errorf("unexpected Graph requests: %+v", u)
	}
}

func mustConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
