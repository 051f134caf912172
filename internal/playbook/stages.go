package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// pass is one pass over an incident's stages. It works on its own copy of
// the incident and saves the fields it owns after each step (copyTo), so
// what other instances append meanwhile (duplicate signals, proof of a
// block) is kept.
type pass struct {
	r         *Responder
	in        *incident.Incident
	log       *zap.Logger
	owner     string // this run's lease token
	escalated bool   // the run ends needing a human: page even if pages were sent before
	flushed   int    // history events of in already in the store
	started   time.Time

	plan      Plan
	app, sp   *directory.Object
	risky     *directory.RiskyServicePrincipal
	policies  []capolicy.Policy
	polErr    error
	locations []capolicy.NamedLocation
	// policiesRead is when the cache read the policies and locations.
	policiesRead time.Time
	pages        []string
	phones       []string // for the security contact's phone webhook (reach: phone)

	// final, when set, is the state the run ends in instead of done: a
	// signal Graph did not verify waits for a person (needsHuman), a write
	// the breaker withheld is held, a detection Graph closed is done, and
	// a pair a person resolved before stays resolved. finalWhy says why.
	final    incident.State
	finalWhy string

	mu sync.Mutex // guards in, app, sp and pages while removals run in parallel
}

func (x *pass) record(step incident.StepName, what, detail string) {
	x.in.History = append(x.in.History, incident.Event{At: x.r.now(), Step: string(step), What: what, Detail: detail, Actor: x.actor()})
}

func (x *pass) actor() string {
	if x.r.cfg.Operator != "" {
		return x.r.cfg.Operator
	}
	return "responder"
}

// copyTo moves what this run decided onto the stored incident.
func (x *pass) copyTo(cur *incident.Incident) {
	cur.Mode, cur.App, cur.Credentials, cur.Verification = x.in.Mode, x.in.App, x.in.Credentials, x.in.Verification
	cur.Steps, cur.Actions, cur.NotifyOnly = x.in.Steps, x.in.Actions, x.in.NotifyOnly
	cur.Recipients, cur.Orphaned, cur.Notified = x.in.Recipients, x.in.Orphaned, x.in.Notified
	cur.OwnersOnly = cur.OwnersOnly || x.in.OwnersOnly
	if x.in.Reach != nil {
		cur.Reach = x.in.Reach
	}
	if x.in.Use != nil {
		cur.Use = mergeUse(x.in.Use, cur.Use)
	}
	if x.in.Verdict != nil {
		v := *x.in.Verdict
		if cur.Verdict != nil {
			v.Proof = mergeProof(cur.Verdict.Proof, v.Proof)
		}
		cur.Verdict = &v
	}
	cur.History = append(cur.History, x.in.History[x.flushed:]...)
	cur.Updated = x.r.now()
}

func mergeProof(a, b []incident.SignInRef) []incident.SignInRef {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.ContainsFunc(out, func(q incident.SignInRef) bool { return q.ID == p.ID }) {
			out = append(out, p)
		}
	}
	return out
}

// save makes the run's progress durable.
func (x *pass) save(ctx context.Context) error {
	stored, err := x.r.store.Mutate(context.WithoutCancel(ctx), x.in.ID, func(cur *incident.Incident) error {
		if cur.Owner != x.owner || cur.State == incident.StateResolved {
			return fmt.Errorf("%w: %s is now held by %q in state %s", errLeaseLost, cur.ID, cur.Owner, cur.State)
		}
		x.copyTo(cur)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", x.in.ID, err)
	}
	x.flushed = len(x.in.History)
	if stored.Verdict != nil && x.in.Verdict != nil {
		x.in.Verdict.Proof = stored.Verdict.Proof
	}
	x.in.Signals = stored.Signals
	return nil
}

func (x *pass) signal() detect.Signal { return x.in.Signals[0] }

func (x *pass) stages(ctx context.Context) error {
	x.flushed = len(x.in.History)
	plan, ok := x.r.rules.Plan(x.signal())
	if !ok {
		return fmt.Errorf("%w: no rule matches this incident's signal any more", errNeedsHuman)
	}
	x.plan = plan
	for _, st := range []struct {
		name incident.StepName
		fn   func(context.Context) error
	}{
		{incident.StepVerify, x.verify},
		{incident.StepContain, x.contain},
		{incident.StepConfirm, x.confirm},
		{incident.StepNotify, x.notifyOwners},
	} {
		step := x.in.Step(st.name)
		finished := step.State == incident.Done || step.State == incident.Skipped
		if st.name == incident.StepVerify && finished {
			// Verification is only reads: while containment is not
			// finished, every run verifies again, so a write never rests on
			// an old verdict (a detection dismissed since, an app tagged
			// protected since) and the run has fresh objects to work on.
			if c := x.in.Step(incident.StepContain).State; c != incident.Done && c != incident.Skipped {
				finished = false
			}
		}
		if finished {
			continue
		}
		if st.name == incident.StepNotify {
			// Off the containment path: contain is behind us, and the
			// notice leads with what the credential could do and what
			// it was used for.
			x.assessReach(ctx)
			x.gatherUse(ctx)
		}
		step.Attempts++
		if step.Started.IsZero() {
			step.Started = x.r.now()
		}
		err := st.fn(ctx)
		step = x.in.Step(st.name)
		if err != nil {
			step.State, step.Reason = incident.Failed, err.Error()
			x.record(st.name, "failed", err.Error())
			if serr := x.save(ctx); serr != nil {
				return errors.Join(err, serr)
			}
			return err
		}
		step.Finished = x.r.now()
		if step.State != incident.Skipped {
			step.State = incident.Done
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	x.inferFinal()
	return nil
}

// inferFinal restores the end state a resumed run did not decide itself
// (verification and containment ran in an earlier run).
func (x *pass) inferFinal() {
	if x.final != "" {
		return
	}
	v := x.in.Verification
	switch {
	case v.Closed != "":
		x.final = incident.StateDone
	case !v.Verified:
		x.final, x.finalWhy = incident.StateNeedsHuman, "not verified: "+v.Detail
	case x.in.Mode == incident.ModeHeld:
		x.final, x.finalWhy = incident.StateHeld, x.in.NotifyOnly
	}
}

func (x *pass) skip(name incident.StepName, reason string) {
	s := x.in.Step(name)
	s.State, s.Reason = incident.Skipped, reason
	x.record(name, "skipped", reason)
}
