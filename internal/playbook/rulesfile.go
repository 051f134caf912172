package playbook

import (
	"slices"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/rules"
)

// FromRules makes the rules file the playbook's Rules: the first rule that
// matches a signal decides its plan, the app's entry its unlicensed
// fallback, and the reach: section what each tier of reach adds.
func FromRules(rs *rules.Set) Rules { return rulesFile{rs} }

type rulesFile struct{ *rules.Set }

func (r rulesFile) Plan(s detect.Signal) (Plan, bool) {
	rule, ok := r.Match(s)
	if !ok {
		return Plan{}, false
	}
	return Plan{
		Rule: rule.Name, RemoveCredential: rule.Has(rules.RemoveCredential), RequireAtRisk: rule.RequireAtRisk,
		ConfirmCompromised: rule.Has(rules.ConfirmCompromised), Disable: rule.Has(rules.DisableServicePrincipal),
		CheckPolicy: rule.Has(rules.CheckPolicy), Notify: rule.Has(rules.Notify), DryRun: rule.DryRun,
		UnlicensedFallback: r.App(s.AppID).UnlicensedFallback,
		ByTier:             reachPlans(r.Set),
	}, true
}

// reachPlans turns the rules file's reach: section into the playbook's.
func reachPlans(rs *rules.Set) map[string]ReachPlan {
	out := map[string]ReachPlan{}
	for _, t := range []string{incident.TierCritical, incident.TierHigh, incident.TierNormal} {
		if rr, ok := rs.Reach(t); ok {
			out[t] = ReachPlan{Page: rr.Page, ConfirmCompromised: slices.Contains(rr.Do, rules.ConfirmCompromised),
				Disable: slices.Contains(rr.Do, rules.DisableServicePrincipal)}
		}
	}
	return out
}
