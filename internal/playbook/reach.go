package playbook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
)

// Reacher assesses what a leaked credential's service principal could do
// (internal/reach.Assessor). It never fails: what it cannot read is in
// the result's Unknown.
type Reacher interface {
	Assess(ctx context.Context, spID string) incident.Reach
}

// ReachPlan is what a tier of reach adds to the matching rule (the rules
// file's reach: section).
type ReachPlan struct {
	ConfirmCompromised bool
	Disable            bool
	Page               bool
	// Phone copies the security contact by the phone webhook (WithPhone).
	Phone bool
	// OwnersOnly narrows the notice to the owners (incident.OwnersOnly).
	OwnersOnly bool
}

// WithPhone gives the responder the security contact's phone webhook, for
// the tiers whose reach section says phone: true.
func WithPhone(p Pager) Option {
	return func(r *Responder) { r.phone = p }
}

// WithReach makes the responder assess the reach of every verified
// incident after containment, right before the notice, within deadline
// (default 5s). Without it (tests of other stages) no reach is assessed.
func WithReach(a Reacher, deadline time.Duration) Option {
	return func(r *Responder) {
		if deadline <= 0 {
			deadline = 5 * time.Second
		}
		r.reach, r.reachDeadline = a, deadline
	}
}

// assessReach runs after contain and confirm, before notify. It is off the
// containment path by construction: the removal is done (or withheld)
// before the first read here, the reads have their own short deadline,
// and nothing here fails the run: a read that fails is said in the reach
// ("reach unknown: ..."), and the notice goes out either way.
//
// Only verified incidents are assessed: an unverified signal names a
// service principal only the event vouches for, and reading its
// permissions for every forged record would spend Graph calls an attacker
// chooses (Graph calls per tenant are bounded; THREATS.md invariant 10).
func (x *pass) assessReach(ctx context.Context) {
	sp := x.in.App.ServicePrincipalID
	if x.r.reach == nil || x.in.Reach != nil || !x.in.Verification.Verified || x.in.Verification.Closed != "" || sp == "" {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, x.r.reachDeadline)
	rr := x.r.reach.Assess(rctx, sp)
	cancel()
	x.in.Reach = &rr
	lead := rr.Lead(1)[:1] // the most severe item, or the first failed read
	x.record("reach", "assessed", fmt.Sprintf("tier %s, %d item(s), %d Graph request(s): %s", rr.Tier, len(rr.Items), rr.Requests, lead[0]))
	p, ok := x.plan.ByTier[rr.Tier]
	if !ok {
		return
	}
	if p.Page {
		x.pages = append(x.pages, "reach "+rr.Tier+": "+strings.Join(lead, " "))
	}
	if p.Phone {
		x.phones = append(x.phones, "reach "+rr.Tier+": "+strings.Join(lead, " "))
	}
	if p.OwnersOnly && !x.in.OwnersOnly {
		x.in.OwnersOnly = true
		x.record("reach", "owners only", "reach tier "+rr.Tier+": the owners are told, the security contact only if no owner can be (rules file reach: section)")
	}
	if p.ConfirmCompromised || p.Disable {
		x.escalate(ctx, p, rr.Tier)
	}
}

// escalate adds the containment a tier asks for and runs contain again:
// the same guards (protected, kill switch, dry-run, breaker) and the same
// before/after record as any write. Actions already done are not redone.
// A failure here does not fail the run (the credential is already out):
// it is recorded and on-call is paged with it, since an outcome may be
// unknown and only a person settles it now.
func (x *pass) escalate(ctx context.Context, p ReachPlan, tier string) {
	if (!p.ConfirmCompromised || x.plan.ConfirmCompromised) && (!p.Disable || x.plan.Disable) {
		return // the rule already asked for it: contain did it
	}
	x.plan.ConfirmCompromised = x.plan.ConfirmCompromised || p.ConfirmCompromised
	x.plan.Disable = x.plan.Disable || p.Disable
	st := x.in.Step(incident.StepContain)
	prev := *st
	x.record(incident.StepContain, "escalated", "reach tier "+tier+" asks for more containment (rules file reach: section)")
	if err := x.contain(ctx); err != nil {
		x.log.Error("containment asked for by the reach failed", zap.Error(err))
		x.record(incident.StepContain, "escalation failed", err.Error())
		x.pages = append(x.pages, fmt.Sprintf("containment asked for by reach tier %s failed: %v", tier, err))
	}
	// The step keeps its first outcome unless the escalation wrote.
	st = x.in.Step(incident.StepContain)
	wrote := false
	for _, a := range x.in.Actions {
		wrote = wrote || (a.State == incident.Done && !a.DryRun && (a.Kind == string(ConfirmCompromised) || a.Kind == string(DisableServicePrincipal)))
	}
	if wrote {
		st.State, st.Reason, st.Finished = incident.Done, "", x.r.now()
	} else {
		st.State, st.Reason = prev.State, prev.Reason
	}
}
