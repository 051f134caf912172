package reach_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/reach"
)

// The Terraform app of the demo tenant is the one whose secret leaks.
const spID = "b029d485-a308-4311-8720-fb3192e5284e"

var (
	graphSP = graphsim.MicrosoftGraphServicePrincipal()
	mdeSP   = graphsim.WindowsDefenderATPServicePrincipal()
)

func grant(id string, res graphsim.ServicePrincipal, value string) graphsim.AppRoleAssignment {
	i := slices.IndexFunc(res.AppRoles, func(r graphsim.AppRole) bool { return r.Value == value })
	return graphsim.AppRoleAssignment{ID: id, AppRoleID: res.AppRoles[i].ID, PrincipalID: spID, PrincipalType: "ServicePrincipal",
		ResourceID: res.ID, ResourceDisplayName: res.DisplayName}
}

// tenant serves the demo tenant with Microsoft Graph's and Defender for
// Endpoint's service principals, plus what edit adds, to the real SDK.
func tenant(t *testing.T, edit func(*graphsim.Seed)) (*graphsim.Tenant, *graph.Client) {
	t.Helper()
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed.ServicePrincipals = append(seed.ServicePrincipals, graphSP, mdeSP)
	edit(seed)
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := graph.New(graph.Config{BaseURL: srv.URL + "/v1.0", Credential: graph.StaticToken("simulated-tenant")})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func assess(t *testing.T, c *graph.Client, overrides map[string]string) incident.Reach {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return reach.New(c, overrides, zap.NewNop(), time.Now).Assess(ctx, spID)
}

func item(r incident.Reach, name string) incident.ReachItem {
	for _, it := range r.Items {
		if it.Name == name {
			return it
		}
	}
	return incident.ReachItem{}
}

func TestAssessCriticalApplicationPermissionsOnTwoResources(t *testing.T) {
	sim, c := tenant(t, func(s *graphsim.Seed) {
		s.AppRoleAssignments = append(s.AppRoleAssignments,
			grant("a0000000-0000-4000-8000-000000000001", graphSP, "Application.ReadWrite.All"),
			grant("a0000000-0000-4000-8000-000000000002", mdeSP, "Machine.Isolate"),
			grant("a0000000-0000-4000-8000-000000000003", mdeSP, "Machine.Read.All"))
	})
	r := assess(t, c, nil)
	if r.Tier != incident.TierCritical || len(r.Unknown) != 0 {
		t.Fatalf("tier %q unknown %q, want critical and nothing unknown", r.Tier, r.Unknown)
	}
	if it := item(r, "Machine.Isolate"); it.Tier != incident.TierCritical || it.Resource != "WindowsDefenderATP" || !strings.Contains(it.Could, "isolate any device") {
		t.Errorf("Machine.Isolate: %+v", it)
	}
	if it := item(r, "Application.ReadWrite.All"); it.Tier != incident.TierCritical || it.Resource != "Microsoft Graph" {
		t.Errorf("Application.ReadWrite.All: %+v", it)
	}
	if it := item(r, "Machine.Read.All"); it.Tier != incident.TierNormal {
		t.Errorf("Machine.Read.All: %+v", it)
	}
	lead := r.Lead(2)
	if !strings.Contains(lead[0], "This secret could") || !strings.Contains(strings.Join(lead, " "), "isolate any device in Defender for Endpoint") {
		t.Errorf("lead: %q", lead)
	}
	// Three lists read at once, then one read per distinct resource.
	if want := 3 + 2; r.Requests != want || len(sim.Requests()) != want {
		t.Errorf("Graph requests: counted %d, tenant saw %d, want %d", r.Requests, len(sim.Requests()), want)
	}
}

func TestAssessHighFromRoleAndMail(t *testing.T) {
	_, c := tenant(t, func(s *graphsim.Seed) {
		s.AppRoleAssignments = append(s.AppRoleAssignments, grant("a0000000-0000-4000-8000-000000000004", graphSP, "Mail.Send"))
		s.RoleAssignments = append(s.RoleAssignments,
			graphsim.RoleAssignment{ID: "r1", PrincipalID: spID, RoleDefinitionID: "f2ef992c-3afb-46b9-b7cf-a126ee74c451", DirectoryScopeID: "/"},
			// Application Administrator limited to an administrative unit:
			// one tier lower than critical.
			graphsim.RoleAssignment{ID: "r2", PrincipalID: spID, RoleDefinitionID: "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", DirectoryScopeID: "/administrativeUnits/5f1c"},
			graphsim.RoleAssignment{ID: "r3", PrincipalID: "someone-else", RoleDefinitionID: "62e90394-69f5-4237-9190-012177145e10", DirectoryScopeID: "/"})
	})
	r := assess(t, c, nil)
	if r.Tier != incident.TierHigh {
		t.Fatalf("tier %q, want high: %+v", r.Tier, r.Items)
	}
	if it := item(r, "Global Reader"); it.Kind != incident.ReachDirectoryRole || it.Tier != incident.TierHigh {
		t.Errorf("Global Reader: %+v", it)
	}
	if it := item(r, "Application Administrator"); it.Tier != incident.TierHigh || !strings.Contains(it.Why, "one tier lower") {
		t.Errorf("scoped Application Administrator: %+v", it)
	}
	if it := item(r, "Global Administrator"); it.Name != "" {
		t.Errorf("another principal's role counted: %+v", it)
	}
}

func TestAssessNormalWithDelegatedGrantsAndUnclassified(t *testing.T) {
	_, c := tenant(t, func(s *graphsim.Seed) {
		s.AppRoleAssignments = append(s.AppRoleAssignments, grant("a0000000-0000-4000-8000-000000000005", graphSP, "User.Read.All"),
			grant("a0000000-0000-4000-8000-000000000006", graphSP, "Organization.Read.All"))
		s.OAuth2PermissionGrants = append(s.OAuth2PermissionGrants, graphsim.OAuth2PermissionGrant{
			ID: "g1", ClientID: spID, ConsentType: "AllPrincipals", ResourceID: graphSP.ID, Scope: "User.Read Mail.Read"})
	})
	r := assess(t, c, nil)
	// Mail.Read delegated: one tier below the application permission (high).
	if r.Tier != incident.TierNormal {
		t.Fatalf("tier %q, want normal: %+v", r.Tier, r.Items)
	}
	if it := item(r, "Mail.Read"); it.Kind != incident.ReachDelegated || it.Tier != incident.TierNormal || !strings.Contains(it.Could, "any user who signs in") {
		t.Errorf("delegated Mail.Read: %+v", it)
	}
	if it := item(r, "Organization.Read.All"); it.Tier != incident.TierNormal || !strings.HasPrefix(it.Why, "unclassified") {
		t.Errorf("unclassified permission: %+v", it)
	}
}

func TestAssessOverridesFromTheRulesFile(t *testing.T) {
	_, c := tenant(t, func(s *graphsim.Seed) {
		s.AppRoleAssignments = append(s.AppRoleAssignments, grant("a0000000-0000-4000-8000-000000000007", graphSP, "User.Read.All"),
			grant("a0000000-0000-4000-8000-000000000008", mdeSP, "Machine.Scan"))
	})
	r := assess(t, c, map[string]string{"user.read.all": "high", reach.DefenderAppID + "/Machine.Scan": "critical"})
	if r.Tier != incident.TierCritical || !strings.HasPrefix(item(r, "Machine.Scan").Why, "rules file tiers") || item(r, "User.Read.All").Tier != incident.TierHigh {
		t.Fatalf("overrides not applied: %+v", r)
	}
}

// Without the permission a read needs, Graph answers 403: the reach says
// which permission is missing and keeps what it could read.
func TestAssessSaysWhichPermissionIsMissing(t *testing.T) {
	sim, c := tenant(t, func(s *graphsim.Seed) {
		s.AppRoleAssignments = append(s.AppRoleAssignments, grant("a0000000-0000-4000-8000-000000000009", graphSP, "Application.ReadWrite.All"))
	})
	for _, route := range []string{"GET /roleManagement/directory/roleAssignments", "GET /servicePrincipals/*/oauth2PermissionGrants"} {
		if err := sim.AddFault(graphsim.Fault{Route: route, Kind: graphsim.FaultStatus, Status: 403}); err != nil {
			t.Fatal(err)
		}
	}
	r := assess(t, c, nil)
	want := []string{"reach unknown: permission RoleManagement.Read.Directory missing (directory roles)",
		"reach unknown: permission Directory.Read.All missing (delegated grants)"}
	if !slices.Equal(r.Unknown, want) {
		t.Errorf("unknown %q, want %q", r.Unknown, want)
	}
	if r.Tier != incident.TierCritical {
		t.Errorf("tier %q: what was read still counts", r.Tier)
	}

	// Nothing readable at all: the tier is unknown, not normal.
	if err := sim.AddFault(graphsim.Fault{Route: "GET /servicePrincipals/*/appRoleAssignments", Kind: graphsim.FaultStatus, Status: 403}); err != nil {
		t.Fatal(err)
	}
	r = assess(t, c, nil)
	if r.Tier != incident.TierUnknown || len(r.Unknown) != 3 || !strings.Contains(r.Unknown[0], "permission Application.Read.All missing") {
		t.Errorf("all refused: tier %q unknown %q", r.Tier, r.Unknown)
	}
}

func TestTableKeysArePairsAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range reach.Table() {
		k := strings.ToLower(e.Resource + "/" + e.ID)
		if seen[k] {
			t.Errorf("duplicate entry %s (%s)", k, e.Name)
		}
		seen[k] = true
		if _, err := reach.ParseTier(e.Tier); err != nil || e.Could == "" || e.Src == "" || len(e.ID) != 36 {
			t.Errorf("incomplete entry %+v", e)
		}
	}
	// The same app role id on two resources is two permissions.
	if !seen["00000003-0000-0000-c000-000000000000/741f803b-c850-494e-b5df-cde7c675a1ca"] || !seen["00000003-0000-0ff1-ce00-000000000000/741f803b-c850-494e-b5df-cde7c675a1ca"] {
		t.Error("User.ReadWrite.All must be keyed by resource")
	}
}
