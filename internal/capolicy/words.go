package capolicy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// locationNote is the summary's clause for location policies that still
// block the service principal from elsewhere.
func locationNote(es []*eval) string {
	switch len(es) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("; policy %q still blocks its sign-ins %s", es[0].p.DisplayName, es[0].location)
	}
	return fmt.Sprintf("; policies %s still block its sign-ins from outside the networks they allow", names(es))
}

func levelsOf(es []*eval) []string {
	var ls []string
	for _, e := range es {
		for _, l := range e.p.Conditions.ServicePrincipalRiskLevels {
			if !containsFold(ls, l) {
				ls = append(ls, l)
			}
		}
	}
	return ls
}

// names quotes up to three policy names: "A", "B" and "C", or "A", "B" and 2 more.
func names(es []*eval) string {
	var ns []string
	for i, e := range es {
		if i == 2 && len(es) > 3 {
			ns = append(ns, fmt.Sprintf("%d more", len(es)-2))
			break
		}
		ns = append(ns, fmt.Sprintf("%q", cmp.Or(e.p.DisplayName, e.p.ID)))
	}
	return joinAnd(ns)
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func listIDs(ids []string) string {
	if len(ids) > 3 {
		return strings.Join(ids[:3], ", ") + fmt.Sprintf(" and %d more", len(ids)-3)
	}
	return strings.Join(ids, ", ")
}

func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// containsFold compares ids and keywords case-insensitively: Graph returns
// GUIDs in lower case, but people paste them in any case. An empty s
// matches nothing.
func containsFold(list []string, s string) bool {
	if s == "" {
		return false
	}
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(strings.TrimSpace(x), s) })
}

// clip shortens s to n runes, so that a long filter rule does not swamp a
// reason.
func clip(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}
