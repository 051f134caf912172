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
)

// TestInvestigateAndShowPrintTheReach runs the demo batch for real against
// a tenant where the Terraform app holds Application.ReadWrite.All and
// Defender's Machine.Isolate, then reads the incident back: incidents show
// and investigate print the critical reach, and investigate says the use
// of the credential is not built yet.
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
	vars := map[string]string{"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
		"SPRESPONDER_GRAPH_URL": graphURL, "SPRESPONDER_STAGE_DEADLINE": "10s"}
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
	out.Reset()
	if code := Main(ctx, []string{"investigate", id}, env); code != 0 {
		t.Fatalf("investigate exit %d: %s", code, errb)
	}
	if s := out.String(); !strings.Contains(s, "recorded after containment") || !strings.Contains(s, "Application.ReadWrite.All on Microsoft Graph") ||
		!strings.Contains(s, "use of the credential: NOT BUILT YET") {
		t.Errorf("investigate:\n%s", s)
	}
	out.Reset()
	if code := Main(ctx, []string{"investigate", id, "--refresh", "--format", "json"}, env); code != 0 {
		t.Fatalf("investigate --refresh exit %d: %s", code, errb)
	}
	if s := out.String(); !strings.Contains(s, `"tier": "critical"`) || !strings.Contains(s, "read from Graph now") {
		t.Errorf("investigate --refresh:\n%s", s)
	}
	if code := Main(ctx, []string{"investigate"}, env); code != 2 {
		t.Errorf("investigate without an id: exit %d, want 2", code)
	}
}
