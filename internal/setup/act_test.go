package setup_test

import (
	"slices"
	"testing"

	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
)

// The act page reads the approver and, with a group, their membership; the
// reach's Directory.Read.All covers both, so setup grants nothing more.
func TestNeedsOfTheActPage(t *testing.T) {
	perms := func(f setup.Features) []string {
		var out []string
		for _, n := range setup.Needs(rules.Default(), f) {
			out = append(out, n.Permission)
		}
		return out
	}
	if p := perms(setup.Features{}); slices.Contains(p, setup.GroupMemberRead) {
		t.Fatalf("without action links: %v", p)
	}
	p := perms(setup.Features{Act: true, ActGroup: true})
	if !slices.Contains(p, setup.UserRead) || !slices.Contains(p, setup.GroupMemberRead) {
		t.Fatalf("with action links and a group: %v", p)
	}
	g := setup.Grants(setup.Needs(rules.Default(), setup.Features{Act: true, ActGroup: true}))
	if slices.Contains(g, setup.GroupMemberRead) || slices.Contains(g, setup.UserRead) || !slices.Contains(g, setup.DirectoryRead) {
		t.Fatalf("grants: %v", g)
	}
}
