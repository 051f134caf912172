package app

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/lasim"
)

// TestInvestigateAndShowPrintTheReach runs the demo batch for real against
// a tenant where the Terraform app holds Application.ReadWrite.All and
// Defender's Machine.Isolate, and a Log Analytics workspace (lasim, read by
// the real azlogs client) holding a sign-in with the leaked key, then reads
// the incident back: incidents show and investigate print the critical
// reach and the use; investigate --refresh reads the use again and finds
// the sign-in that succeeded after the removal.
func TestInvestigateAndShowPrintTheReach(t *testing.T) {
	const tfSP = "b029d485-a308-4311-8720-fb3192e5284e"
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, m := graphsim.MicrosoftGraphServicePrincipal(), graphsim.WindowsDefenderATPServicePrincipal()
	seed.ServicePrincipals = append(seed.ServicePrincipals, g, m)
	seed.AppRoleAssignments = append(seed.AppRoleAssignments,
		graphsim.AppRoleAssignment{ID: "a0000000-0000-4000-8000-0000000000b1", AppRoleID: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", PrincipalID: tfSP, ResourceID: g.ID, ResourceDisplayName: g.DisplayName},
		graphsim.AppRoleAssignment{ID: "a0000000-0000-4000-8000-0000000000b2", AppRoleID: "7e4e1300-e1b9-4102-88ba-f0cb6e6d5974", PrincipalID: tfSP, ResourceID: m.ID, ResourceDisplayName: m.DisplayName})
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	graphURL, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const ws = "8a1c5e3b-2f4d-4b6a-9c8e-7d6f5e4a3b2c"
	signIn := func(id string, at time.Time, ip string) lasim.Row {
		return lasim.SignIn{ID: id, Tenant: "4bbb79f7-5724-4c9e-95f3-de075f6ec090", AppID: "6131d760-7fda-4db5-8bb1-b771898e9f15", ServicePrincipalID: tfSP,
			KeyID: "dbcd79c0-c3ea-46b9-9604-ff40d43b8618", Time: at, IP: ip, City: "Lagos", Country: "NG", Resource: "Microsoft Graph", CAStatus: "notApplied"}.Row(ws)
	}
	la := lasim.New(ws, []lasim.Row{signIn("5e1f0000-0000-4000-8000-000000000001", time.Date(2025, 3, 4, 7, 30, 0, 0, time.UTC), "203.0.113.9")})
	laURL, err := la.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	vars := map[string]string{"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
		"SPRESPONDER_GRAPH_URL": graphURL, "SPRESPONDER_STAGE_DEADLINE": "10s",
		"SPRESPONDER_USAGE_WORKSPACE": ws, "SPRESPONDER_USAGE_LOGANALYTICS_URL": laURL}
	env, out, errb := testEnv(t, vars)
	env.Now = time.Now
	if code := Main(ctx, []string{"replay", "--file", filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"), "--execute", "--operator", "test"}, env); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errb)
	}
	out.Reset()
	if code := Main(ctx, []string{"incidents", "list", "--app", "6131d760-7fda-4db5-8bb1-b771898e9f15", "--format", "json"}, env); code != 0 {
		t.Fatalf("list exit %d: %s", code, errb)
	}
	id := ""
	for dec := json.NewDecoder(strings.NewReader(out.String())); dec.More(); {
		var in struct {
			ID      string `json:"id"`
			Signals []struct {
				Kind string `json:"kind"`
			} `json:"signals"`
			Reach *struct {
				Tier string `json:"tier"`
			} `json:"reach"`
		}
		if err := dec.Decode(&in); err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		if in.Reach != nil && in.Reach.Tier == "critical" && in.Signals[0].Kind == "leakedCredential" {
			id = in.ID
		}
	}
	if id == "" {
		t.Fatalf("no incident of the Terraform app with a critical reach:\n%s", out)
	}
	out.Reset()
	if code := Main(ctx, []string{"incidents", "show", id}, env); code != 0 {
		t.Fatalf("show exit %d: %s", code, errb)
	}
	if s := out.String(); !strings.Contains(s, "reach    tier critical") || !strings.Contains(s, "Machine.Isolate on WindowsDefenderATP: could isolate any device") {
		t.Errorf("incidents show lacks the reach:\n%s", s)
	}
	if s := out.String(); !strings.Contains(s, "use      1 sign-in(s) with the key since 2025-03-04T07:12:00Z: 1 succeeded, 0 failed") ||
		!strings.Contains(s, "from 203.0.113.9 (Lagos, NG)  to Microsoft Graph") {
		t.Errorf("incidents show lacks the use:\n%s", s)
	}
	out.Reset()
	if code := Main(ctx, []string{"investigate", id}, env); code != 0 {
		t.Fatalf("investigate exit %d: %s", code, errb)
	}
	if s := out.String(); !strings.Contains(s, "recorded after containment") || !strings.Contains(s, "Application.ReadWrite.All on Microsoft Graph") ||
		!strings.Contains(s, "1 sign-in(s) with the key") || !strings.Contains(s, "read: Log Analytics workspace "+ws+": 1 row(s)") {
		t.Errorf("investigate:\n%s", s)
	}
	// The key keeps working somewhere after its removal.
	la.Add(signIn("5e1f0000-0000-4000-8000-000000000002", time.Now(), "198.51.100.7"))
	time.Sleep(1100 * time.Millisecond)
	out.Reset()
	if code := Main(ctx, []string{"investigate", id, "--refresh", "--format", "json"}, env); code != 0 {
		t.Fatalf("investigate --refresh exit %d: %s", code, errb)
	}
	if s := out.String(); !strings.Contains(s, `"tier": "critical"`) || !strings.Contains(s, "read from Graph now") ||
		!strings.Contains(s, `"ipAddress": "198.51.100.7"`) || !strings.Contains(s, `"afterRemoval": true`) || !strings.Contains(s, "read now from the hub and Log Analytics") {
		t.Errorf("investigate --refresh:\n%s", s)
	}
	if code := Main(ctx, []string{"investigate"}, env); code != 2 {
		t.Errorf("investigate without an id: exit %d, want 2", code)
	}
}
