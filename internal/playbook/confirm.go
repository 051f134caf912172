package playbook

import (
	"context"
	"fmt"
	"time"

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
	if x.policies == nil && x.polErr == nil || directory.Retryable(x.polErr) {
		// A resumed run, or a read that failed: from the cache again.
		x.loadPolicies(ctx)
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
		level := x.in.App.RiskLevel
		if level == "" || level == "none" {
			level = x.signal().RiskLevel
		}
		v = capolicy.Evaluate(x.policies, locs, capolicy.Subject{ServicePrincipalID: x.in.App.ServicePrincipalID, RiskLevel: level})
	}
	v.Proof = mergeProof(proof, v.Proof)
	x.in.Verdict = &v
	detail := v.Summary
	if !x.policiesRead.IsZero() {
		// The cache's age is part of the evidence: on-call sees which
		// reading of the policies the verdict rests on.
		detail += fmt.Sprintf(" (Conditional Access as read at %s)", x.policiesRead.UTC().Format(time.RFC3339))
	}
	x.record(incident.StepConfirm, "verdict "+v.Outcome, detail)
	return nil
}

// loadPolicies takes the Conditional Access policies and named locations
// from the cache, which reads them again when its copy is older than
// Config.PolicyMaxAge or a change was seen (capolicy.Networks). A failed
// read is polErr: transient parks the run, anything else makes the verdict
// cannotEvaluate; a verdict is never computed from an older copy.
func (x *pass) loadPolicies(ctx context.Context) {
	s, err := x.r.policies.Current(ctx, x.r.dir, x.r.cfg.PolicyMaxAge)
	x.policies, x.locations, x.polErr, x.policiesRead = s.Policies, s.Locations, err, s.Read
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
