package capolicy

import (
	"net/netip"
	"slices"
	"strings"
)

// AllowedNetworks returns the networks from which the location policies
// covering the service principal (by object id) let it sign in: the union of
// the IP ranges each such policy excludes from its block, intersected across
// policies (a sign-in must pass every one of them). nil means no policy
// states such networks.
//
// The result feeds detection (detect.Options.AllowedNetworks): a successful
// sign-in from anywhere else is suspicious, which still works in tenants
// without Identity Protection's risk detections. For that purpose a
// report-only policy counts as much as an enabled one: both state where the
// app is meant to run, and a report-only one is exactly where sign-ins from
// elsewhere still succeed.
//
// A policy counts when it includes the service principal and does not
// exclude it, grants block, covers all resources without exclusions, has no
// risk condition (a risk-and-location policy says nothing about normal
// operation), includes All locations and excludes only IP named locations
// (directly or through AllTrusted). A policy whose allowed locations include
// a country or an unknown location is left out entirely: networks that are
// only part of what it allows would flag legitimate sign-ins.
func AllowedNetworks(policies []Policy, locations []NamedLocation, spID string) []netip.Prefix {
	if strings.TrimSpace(spID) == "" {
		return nil
	}
	locs := indexLocations(locations)
	var result []netip.Prefix
	found := false
	for _, p := range policies {
		if p.State != StateEnabled && p.State != StateReportOnly {
			continue
		}
		if t, _ := targetOf(p.Conditions.ClientApplications, spID); t != included {
			continue
		}
		if g := p.GrantControls; g == nil || !containsFold(g.BuiltInControls, GrantBlock) {
			continue
		}
		if a := p.Conditions.Applications; !containsFold(a.IncludeApplications, All) || len(a.ExcludeApplications) > 0 {
			continue
		}
		if len(p.Conditions.ServicePrincipalRiskLevels) > 0 {
			continue
		}
		l := p.Conditions.Locations
		if l == nil || len(l.ExcludeLocations) == 0 || (len(l.IncludeLocations) > 0 && !containsFold(l.IncludeLocations, All)) {
			continue
		}
		nets, ok := expandIP(l.ExcludeLocations, locs)
		if !ok {
			continue
		}
		if !found {
			result, found = normalizePrefixes(nets), true
			continue
		}
		result = intersectPrefixes(result, nets)
	}
	if len(result) == 0 {
		return nil
	}
	return result
}

// expandIP turns location ids into the IP ranges they stand for; ok is false
// when one of them is not a set of IP ranges.
func expandIP(ids []string, locs map[string]NamedLocation) (nets []netip.Prefix, ok bool) {
	for _, id := range ids {
		switch {
		case strings.EqualFold(id, All):
			return nil, false // allowed everywhere: no network list expresses it
		case strings.EqualFold(id, AllTrusted):
			for _, l := range trusted(locs) {
				if l.Type != LocationIP {
					return nil, false
				}
				nets = append(nets, l.IPRanges...)
			}
		default:
			l, found := locs[strings.ToLower(id)]
			if !found || l.Type != LocationIP {
				return nil, false
			}
			nets = append(nets, l.IPRanges...)
		}
	}
	return nets, true
}

// normalizePrefixes masks, sorts and drops prefixes contained in another, so
// equal sets of networks give equal slices.
func normalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, comparePrefix)
	kept := out[:0]
	for _, p := range out {
		// Sorted by address then length, a prefix that contains p is the
		// last one kept, or none does.
		if n := len(kept); n > 0 && kept[n-1].Bits() <= p.Bits() && kept[n-1].Contains(p.Addr()) {
			continue
		}
		kept = append(kept, p)
	}
	return kept
}

// intersectPrefixes keeps the addresses in both sets. Two prefixes either
// nest or are disjoint, so the intersection of two that overlap is the
// longer one.
func intersectPrefixes(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				out = append(out, longer(x, y))
			}
		}
	}
	return normalizePrefixes(out)
}

func longer(x, y netip.Prefix) netip.Prefix {
	if x.Bits() >= y.Bits() {
		return x
	}
	return y
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
