package main

import (
	"time"

	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/lasim"
)

// The demo's leaked credential and its app (testdata/demo/batch.ndjson).
const (
	demoTenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	demoApp    = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	demoSP     = "b029d485-a308-4311-8720-fb3192e5284e"
	demoKey    = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	// demoWorkspace is the simulated Log Analytics workspace's id.
	demoWorkspace = "8a1c5e3b-2f4d-4b6a-9c8e-7d6f5e4a3b2c"
)

// withCriticalReach gives the demo's Terraform app what makes a leak
// critical: Microsoft Graph's Application.ReadWrite.All and Defender for
// Endpoint's Machine.Isolate (app role assignments, named through each
// resource's appRoles), so the card, the mail and investigate lead with it.
func withCriticalReach(s *graphsim.Seed) {
	g, m := graphsim.MicrosoftGraphServicePrincipal(), graphsim.WindowsDefenderATPServicePrincipal()
	s.ServicePrincipals = append(s.ServicePrincipals, g, m)
	s.AppRoleAssignments = append(s.AppRoleAssignments,
		graphsim.AppRoleAssignment{ID: "a0000000-0000-4000-8000-0000000000d1", AppRoleID: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", PrincipalID: demoSP, ResourceID: g.ID, ResourceDisplayName: g.DisplayName},
		graphsim.AppRoleAssignment{ID: "a0000000-0000-4000-8000-0000000000d2", AppRoleID: "7e4e1300-e1b9-4102-88ba-f0cb6e6d5974", PrincipalID: demoSP, ResourceID: m.ID, ResourceDisplayName: m.DisplayName})
}

// demoSignIn is a sign-in with the leaked key as the workspace holds it.
func demoSignIn(id string, at time.Time, code int, ip, city, country, resource string) lasim.Row {
	s := lasim.SignIn{ID: id, Tenant: demoTenant, AppID: demoApp, ServicePrincipalID: demoSP, Name: "Terraform-Datadog-CLI",
		KeyID: demoKey, Time: at, ErrorCode: code, IP: ip, City: city, Country: country, Resource: resource, CAStatus: "notApplied"}
	if code != 0 {
		s.FailureReason, s.CAStatus = "Access has been blocked by Conditional Access policies.", "failure"
	}
	return s.Row(demoWorkspace)
}

// leakUse is what the workspace holds of the leak before the responder
// acts: the job's own sign-in, then someone else's from abroad, once
// refused by Conditional Access and once let through.
func leakUse() []lasim.Row {
	t := time.Date(2025, 3, 4, 7, 12, 0, 0, time.UTC) // the detection's activity time
	return []lasim.Row{
		demoSignIn("7a6e0001-0000-4000-8000-000000000001", t.Add(4*time.Minute), 0, "20.31.12.4", "Amsterdam", "NL", "Datadog"),
		demoSignIn("7a6e0001-0000-4000-8000-000000000002", t.Add(41*time.Minute), 53003, "203.0.113.9", "Lagos", "NG", "Microsoft Graph"),
		demoSignIn("7a6e0001-0000-4000-8000-000000000003", t.Add(47*time.Minute), 0, "203.0.113.9", "Lagos", "NG", "Microsoft Graph"),
	}
}

// demoLateSignIn is the sign-in with the removed key after its removal.
func demoLateSignIn(at time.Time) lasim.SignIn {
	return lasim.SignIn{ID: "7a6e0001-0000-4000-8000-000000000004", Tenant: demoTenant, AppID: demoApp, ServicePrincipalID: demoSP,
		Name: "Terraform-Datadog-CLI", KeyID: demoKey, Time: at, IP: "203.0.113.9", City: "Lagos", Country: "NG",
		Resource: "Microsoft Graph", CAStatus: "notApplied"}
}
