package setup_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
)

// armServer serves Entra's diagnostic settings in ARM's documented shape
// (GET /providers/microsoft.aadiam/diagnosticSettings), or a status.
func armServer(t *testing.T, status int, categories ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/providers/microsoft.aadiam/diagnosticSettings" || r.URL.Query().Get("api-version") != "2017-04-01-preview" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer simulated-tenant" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":"AuthorizationFailed","message":"does not have authorization to perform action 'microsoft.aadiam/diagnosticSettings/read'"}}`))
			return
		}
		var logs []map[string]any
		for _, c := range categories {
			logs = append(logs, map[string]any{"category": c, "enabled": true})
		}
		logs = append(logs, map[string]any{"category": "AuditLogs", "enabled": false})
		_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{map[string]any{
			"id":   "/providers/microsoft.aadiam/diagnosticSettings/to-spresponder",
			"name": "to-spresponder", "type": "microsoft.aadiam/diagnosticSettings",
			"properties": map[string]any{
				"eventHubAuthorizationRuleId": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/authorizationRules/RootManageSharedAccessKey",
				"eventHubName":                "entra", "logs": logs,
			},
		}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// ready is a tenant with everything the default rules need: setup applied
// (permissions, block policy) and then enabled, and the licence.
func ready(t *testing.T, licensed bool) (*graphsim.Tenant, *graph.Client) {
	t.Helper()
	sim, c := tenant(t, seed(t, func(s *graphsim.Seed) { s.ConditionalAccessPolicies = nil }), graphsim.WithWorkloadIdentitiesPremium(true))
	plan, err := setup.MakePlan(context.Background(), c, setup.Options{Identity: msiAppID, Needs: setup.Needs(rules.Default(), setup.Features{}), Policy: true, Enable: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Apply(context.Background(), c, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	sim.SetWorkloadIdentitiesPremium(licensed)
	return sim, c
}

func checker(c *graph.Client, arm string, hooks ...setup.Webhook) *setup.Checker {
	rs := rules.Default()
	return &setup.Checker{
		Needs: setup.Needs(rs, setup.Features{}), Containment: true, CheckPolicy: true, ClientID: msiAppID,
		GraphToken:         func(context.Context) (string, error) { return "simulated-tenant", nil },
		Directory:          c,
		DiagnosticSettings: setup.DiagnosticSettingsReader(arm, graph.StaticToken("simulated-tenant"), nil),
		Categories:         setup.Categories(rs),
		Webhooks:           hooks,
		Dial:               (&net.Dialer{Timeout: time.Second}).DialContext,
	}
}

func result(t *testing.T, r setup.Report, check string) setup.Result {
	t.Helper()
	for _, x := range r.Results {
		if x.Check == check {
			return x
		}
	}
	t.Fatalf("no %q in %+v", check, r.Results)
	return setup.Result{}
}

func text(r setup.Report) string {
	var b bytes.Buffer
	_ = r.WriteText(&b)
	return b.String()
}

func TestCheckAllGood(t *testing.T) {
	_, c := ready(t, true)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the check sent a request to the webhook: %s %s", r.Method, r.URL)
	}))
	defer hook.Close()
	secretURL := hook.URL + "/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG"
	rep := checker(c, armServer(t, 200, "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "ServicePrincipalSignInLogs"),
		setup.Webhook{Name: "Teams", Setting: "SPRESPONDER_TEAMS_WEBHOOK", URL: secretURL}).Run(context.Background())
	t.Logf("\n%s", text(rep))
	if rep.Failed() {
		t.Fatalf("failed:\n%s", text(rep))
	}
	for _, x := range rep.Results {
		if x.Status != setup.OK && x.Check != "mail sender" && x.Check != "ledger" {
			t.Errorf("%s: %s %s", x.Check, x.Status, x.Detail)
		}
	}
	if s := text(rep); strings.Contains(s, "SECRETSIG") || strings.Contains(s, "/workflows/") {
		t.Errorf("the webhook URL leaked:\n%s", s)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"ok":true`) || strings.Contains(js.String(), "SECRETSIG") {
		t.Errorf("json: %s %v", js.String(), err)
	}
}

func TestCheckFindsWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	t.Run("missing permission", func(t *testing.T) {
		_, c := tenant(t, seed(t, func(s *graphsim.Seed) {
			// Only the read permissions: the credential removal the default
			// rules ask for has no Application.ReadWrite.All.
			for i, id := range []string{"6e472fd1-ad78-48da-a0f0-97ab2c6b769e", "607c7344-0eed-41e5-823a-9695ebe1b7b0", "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "498476ce-e0fe-48b0-b801-37ba7e2685c6", "246dd0d5-5bd0-4def-940b-0421030a5b68"} {
				s.AppRoleAssignments = append(s.AppRoleAssignments, graphsim.AppRoleAssignment{ID: "3c1d5e7f-9a2b-4c6d-8e0f-1a2b3c4d5e6" + string(rune('0'+i)), AppRoleID: id,
					PrincipalID: msiID, ResourceID: graphsim.MicrosoftGraphServicePrincipal().ID, ResourceDisplayName: "Microsoft Graph"})
			}
		}), graphsim.WithWorkloadIdentitiesPremium(true))
		rep := checker(c, armServer(t, 200, "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "ServicePrincipalSignInLogs")).Run(ctx)
		r := result(t, rep, "permission Application.ReadWrite.All")
		if r.Status != setup.Missing || !strings.Contains(r.Fix, "spresponder setup --identity "+msiAppID+" --apply") || !rep.Failed() {
			t.Errorf("%+v\n%s", r, text(rep))
		}
		if r := result(t, rep, "permission Application.Read.All"); r.Status != setup.OK {
			t.Errorf("granted read permission: %+v", r)
		}
	})
	t.Run("no licence", func(t *testing.T) {
		_, c := ready(t, false)
		rep := checker(c, armServer(t, 200, "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "ServicePrincipalSignInLogs")).Run(ctx)
		r := result(t, rep, "licence")
		if r.Status != setup.Missing || !r.Required || !strings.Contains(r.Detail, "no credential is removed") || !rep.Failed() {
			t.Errorf("%+v", r)
		}
	})
	t.Run("no policy", func(t *testing.T) {
		_, c := tenant(t, seed(t, func(s *graphsim.Seed) { s.ConditionalAccessPolicies = nil }), graphsim.WithWorkloadIdentitiesPremium(true))
		rep := checker(c, armServer(t, 200)).Run(ctx)
		r := result(t, rep, "conditional access")
		if r.Status != setup.Missing || !strings.Contains(r.Detail, "no enabled policy") || !strings.Contains(r.Fix, "setup --apply") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("report-only policy", func(t *testing.T) {
		sim, c := tenant(t, seed(t, func(s *graphsim.Seed) { s.ConditionalAccessPolicies = nil }), graphsim.WithWorkloadIdentitiesPremium(true))
		plan, err := setup.MakePlan(ctx, c, setup.Options{Identity: msiAppID, Policy: true}) // report-only
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plan.Apply(ctx, c, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		if len(sim.ConditionalAccessPolicies()) != 1 {
			t.Fatal("no policy created")
		}
		rep := checker(c, armServer(t, 200)).Run(ctx)
		r := result(t, rep, "conditional access")
		if r.Status != setup.Missing || !strings.Contains(r.Detail, "report-only") || !strings.Contains(r.Fix, "--enable") || !rep.Failed() {
			t.Errorf("%+v", r)
		}
	})
	t.Run("policy that excludes some", func(t *testing.T) {
		_, c := tenant(t, seed(t, func(s *graphsim.Seed) {
			s.ConditionalAccessPolicies = []graphsim.ConditionalAccessPolicy{{
				ID: "6b1f3e5d-7c9a-4b2e-8d0f-a1b2c3d4e5f6", DisplayName: "Block risky workloads", State: "enabled",
				Conditions: graphsim.CAConditions{ServicePrincipalRiskLevels: []string{"high"},
					Applications: &graphsim.CAApplications{IncludeApplications: []string{"All"}},
					ClientApplications: &graphsim.CAClientApplications{IncludeServicePrincipals: []string{"ServicePrincipalsInMyTenant"},
						ExcludeServicePrincipals: []string{"b029d485-a308-4311-8720-fb3192e5284e"}}},
				GrantControls: &graphsim.CAGrantControls{Operator: "OR", BuiltInControls: []string{"block"}},
			}}
		}), graphsim.WithWorkloadIdentitiesPremium(true))
		r := result(t, checker(c, armServer(t, 200)).Run(ctx), "conditional access")
		if r.Status != setup.OK || !strings.Contains(r.Detail, "excludes 1 service principal(s): b029d485-a308-4311-8720-fb3192e5284e") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("diagnostic setting", func(t *testing.T) {
		_, c := ready(t, true)
		r := result(t, checker(c, armServer(t, 200, "ServicePrincipalRiskEvents")).Run(ctx), "diagnostic setting")
		if r.Status != setup.Missing || !strings.Contains(r.Detail, "RiskyServicePrincipals") || !strings.Contains(r.Detail, "ServicePrincipalSignInLogs") {
			t.Errorf("%+v", r)
		}
		rep := checker(c, armServer(t, http.StatusForbidden)).Run(ctx)
		r = result(t, rep, "diagnostic setting")
		if r.Status != setup.Cannot || !strings.Contains(r.Detail, "cannot check: needs") || !strings.Contains(r.Detail, "/providers/Microsoft.aadiam") || rep.Failed() {
			t.Errorf("403: %+v failed=%v", r, rep.Failed())
		}
	})
	t.Run("unreachable webhook", func(t *testing.T) {
		_, c := ready(t, true)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := "http://" + ln.Addr().String() + "/workflows/x?sig=SECRETSIG"
		_ = ln.Close()
		rep := checker(c, armServer(t, 200, "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "ServicePrincipalSignInLogs"),
			setup.Webhook{Name: "pager", Setting: "SPRESPONDER_PAGER_WEBHOOK", URL: dead},
			setup.Webhook{Name: "Teams", Setting: "SPRESPONDER_TEAMS_WEBHOOK", URL: "ftp://x/y?sig=SECRETSIG"}).Run(ctx)
		if r := result(t, rep, "pager"); r.Status != setup.Missing || !strings.Contains(r.Detail, "not reachable") {
			t.Errorf("%+v", r)
		}
		if r := result(t, rep, "Teams"); r.Status != setup.Missing || !strings.Contains(r.Detail, "https") {
			t.Errorf("%+v", r)
		}
		if s := text(rep); strings.Contains(s, "SECRETSIG") || strings.Contains(s, "/workflows/") {
			t.Errorf("a URL leaked:\n%s", s)
		}
	})
	t.Run("identity from the token", func(t *testing.T) {
		_, c := ready(t, true)
		ck := checker(c, armServer(t, 200))
		ck.ClientID = ""
		claims, _ := json.Marshal(map[string]string{"oid": msiID, "aud": "https://graph.microsoft.com"})
		jwt := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(claims) + ".sig"
		ck.GraphToken = func(context.Context) (string, error) { return jwt, nil }
		if r := result(t, ck.Run(ctx), "permission Application.ReadWrite.All"); r.Status != setup.OK {
			t.Errorf("%+v", r)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		_, c := tenant(t, seed(t, nil), graphsim.WithLatency(10*time.Second))
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		rep := checker(c, armServer(t, 200)).Run(ctx)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("check took %s past its deadline", d)
		}
		if !strings.Contains(rep.Summary(), "could not be checked") {
			t.Errorf("summary %q", rep.Summary())
		}
	})
}
