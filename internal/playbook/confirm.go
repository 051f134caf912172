package playbook

import (
	"context"
	"fmt"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// confirm evaluates Conditional Access for the service principal.
func (x *pass) confirm(ctx context.Context) error {
	if !x.plan.CheckPolicy {
		x.skip(incident.StepConfirm, "rule "+x.plan.Rule+" does not check Conditional Access")
		return nil
	}
	if x.in.App.ServicePrincipalID == "" {
		x.skip(incident.StepConfirm, "no service principal to evaluate")
		return nil
	}
	if x.policies == nil && x.polErr == nil {
		x.policies, x.polErr = x.r.dir.ConditionalAccessPolicies(ctx)
	}
	var proof []incident.SignInRef
	if x.in.Verdict != nil {
		proof = x.in.Verdict.Proof
	}
	var v incident.Verdict
	switch {
	case directory.Retryable(x.polErr):
		return fmt.Errorf("read Conditional Access policies: %w", x.polErr)
	case x.polErr != nil:
		v = capolicy.CannotEvaluate("could not read the Conditional Access policies: " + x.polErr.Error())
	default:
		locs := x.locations
		if needsLocations(x.policies) && (locs == nil && x.locErr == nil || directory.Retryable(x.locErr)) {
			// A resumed run, or a failed read: read them now.
			locs, x.locErr = x.r.dir.NamedLocations(ctx)
			if directory.Retryable(x.locErr) {
				return fmt.Errorf("read named locations: %w", x.locErr)
			}
		}
		if x.locErr != nil && needsLocations(x.policies) {
			x.record(incident.StepConfirm, "named locations unreadable", x.locErr.Error())
		}
		level := x.in.App.RiskLevel
		if level == "" || level == "none" {
			level = x.signal().RiskLevel
		}
		v = capolicy.Evaluate(x.policies, locs, capolicy.Subject{ServicePrincipalID: x.in.App.ServicePrincipalID, RiskLevel: level})
	}
	v.Proof = mergeProof(proof, v.Proof)
	x.in.Verdict = &v
	x.record(incident.StepConfirm, "verdict "+v.Outcome, v.Summary)
	return nil
}

// notifyOwners hands the incident to the notifier, within a short deadline
// of its own: a webhook that is down must not hold the batch (and the next
// batch's containment). What is not delivered by then fails the step; the
// incident is parked and the Sweep timer sends the rest (sent deliveries
// are not sent again).
func (x *pass) notifyOwners(ctx context.Context) error {
	switch {
	case !x.plan.Notify:
		x.skip(incident.StepNotify, "rule "+x.plan.Rule+" does not notify")
		return nil
	case x.in.Verification.Closed != "":
		x.skip(incident.StepNotify, "Graph shows it "+x.in.Verification.Closed+": recorded, nobody is told")
		return nil
	case x.final == incident.StateResolved:
		x.skip(incident.StepNotify, "a person resolved it before: nobody is told again")
		return nil
	case x.r.notify == nil:
		x.skip(incident.StepNotify, x.r.noNotifier())
		return nil
	}
	nctx, cancel := context.WithTimeout(ctx, x.r.cfg.NotifyDeadline)
	defer cancel()
	if err := x.r.notify.Notify(nctx, x.in); err != nil {
		// Delivery outcomes are on the incident; a channel that failed is
		// retried on the next run (sent ones are not sent again).
		if nctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("notify: not delivered within %s (the Sweep timer retries): %w", x.r.cfg.NotifyDeadline, err)
		}
		return fmt.Errorf("notify: %w", err)
	}
	audience := "owners and security"
	if !x.in.Verification.Verified {
		audience = "security and on-call only (unverified)"
	}
	x.record(incident.StepNotify, "notified", fmt.Sprintf("%s: %d recipient(s), %d deliveries", audience, len(x.in.Recipients), len(x.in.Notified)))
	return nil
}

// needsLocations says whether any policy has a location condition, so the
// named locations are read only when a verdict depends on them.
func needsLocations(ps []capolicy.Policy) bool {
	for _, p := range ps {
		if l := p.Conditions.Locations; l != nil && (len(l.IncludeLocations) > 0 || len(l.ExcludeLocations) > 0) {
			return true
		}
	}
	return false
}
