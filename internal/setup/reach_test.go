package setup_test

import (
	"slices"
	"testing"

	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
)

// The reach needs its two reads, and a reach: section's containment needs
// the permission of its action even when no rule names the action.
func TestNeedsOfTheReach(t *testing.T) {
	rs, err := rules.Parse([]byte(`rules:
  - name: leaked
    when: {kinds: [leakedCredential]}
    do: [removeCredential, notify]
reach:
  critical: {do: [confirmCompromised], page: true}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	needs := setup.Needs(rs, setup.Features{})
	got := names(needs)
	for _, want := range []string{setup.RoleManagementRead, setup.DirectoryRead, setup.RiskyServicePrincipalW} {
		if !slices.Contains(got, want) {
			t.Errorf("needs %v lack %s", got, want)
		}
	}
	// Directory.Read.All covers RoleManagement.Read.Directory: one grant.
	if g := setup.Grants(needs); slices.Contains(g, setup.RoleManagementRead) || !slices.Contains(g, setup.DirectoryRead) {
		t.Errorf("grants %v", g)
	}
}
