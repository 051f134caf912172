package incident

import (
	"fmt"
	"time"
)

// Tiers of reach, most severe first. TierUnknown: nothing could be read.
const (
	TierCritical = "critical"
	TierHigh     = "high"
	TierNormal   = "normal"
	TierUnknown  = "unknown"
)

// Kinds of reach item.
const (
	ReachApplication   = "application"   // an application permission (app role assignment)
	ReachDirectoryRole = "directoryRole" // an active Entra directory role
	ReachDelegated     = "delegated"     // a delegated permission grant
)

// Reach is what the incident's service principal could do with the leaked
// credential: its application permissions, directory roles and delegated
// grants, each tiered. It is read after containment and never delays it.
type Reach struct {
	// Tier is the most severe tier among Items, or unknown when no read
	// succeeded. With Unknown not empty it is a lower bound.
	Tier  string      `json:"tier"`
	Items []ReachItem `json:"items,omitempty"`
	// Unknown says, per read that failed, why ("reach unknown: permission
	// RoleManagement.Read.Directory missing (directory roles)").
	Unknown []string  `json:"unknown,omitempty"`
	At      time.Time `json:"at,omitzero"`
	// Requests is how many Graph requests the assessment made.
	Requests int `json:"requests,omitempty"`
}

// ReachItem is one thing the credential reaches.
type ReachItem struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`               // Application.ReadWrite.All, Machine.Isolate, Global Administrator
	Resource string `json:"resource,omitempty"` // the resource's display name (Microsoft Graph, WindowsDefenderATP)
	Tier     string `json:"tier"`
	// Could completes "this secret could ..." in plain words.
	Could string `json:"could"`
	// Why is where the tier comes from (the table's source, a rules-file
	// override, unclassified, a scope that lowers it).
	Why string `json:"why"`
}

// TierRank orders tiers: critical 3, high 2, normal 1, anything else 0.
func TierRank(t string) int {
	switch t {
	case TierCritical:
		return 3
	case TierHigh:
		return 2
	case TierNormal:
		return 1
	}
	return 0
}

// Lead returns up to n sentences a person reads first: the most severe
// items in plain words, then what could not be read.
func (r *Reach) Lead(n int) []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, want := range []string{TierCritical, TierHigh, TierNormal} {
		for _, it := range r.Items {
			if it.Tier == want && len(out) < n {
				out = append(out, fmt.Sprintf("This secret could %s (%s%s, %s).", it.Could, it.Name, onResource(it), it.Tier))
			}
		}
	}
	if len(r.Items) == 0 && len(r.Unknown) == 0 {
		out = append(out, "This secret holds no application permission, directory role or delegated grant.")
	}
	if len(r.Items) > n {
		out = append(out, fmt.Sprintf("… and %d more.", len(r.Items)-n))
	}
	out = append(out, r.Unknown...)
	return out
}

func onResource(it ReachItem) string {
	if it.Resource == "" || it.Kind == ReachDirectoryRole {
		return ""
	}
	return " on " + it.Resource
}
