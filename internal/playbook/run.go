package playbook

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// ErrInProgress means another run holds the incident's lease (in this
// process or another): the caller leaves it alone.
var ErrInProgress = errors.New("incident in progress elsewhere")

// errSettled stops Run for an incident that needs no run.
var errSettled = errors.New("incident settled")

// Run takes the incident's lease and runs its remaining stages. It returns
// the incident as stored at the end, or ErrInProgress when another run holds
// it. Incidents that are done, resolved or waiting for a person are
// returned as they are: only a person's redrive sends those back to work.
func (r *Responder) Run(ctx context.Context, id string, log *zap.Logger) (*incident.Incident, error) {
	if log == nil {
		log = r.log
	}
	// Each run has its own lease token: two runs in one process are as
	// exclusive as two runs in two processes.
	owner := fmt.Sprintf("%s/%08x", r.cfg.Owner, rand.Uint32())
	var settled *incident.Incident
	in, err := r.store.Mutate(ctx, id, func(cur *incident.Incident) error {
		now := r.now()
		switch cur.State {
		case incident.StateDone, incident.StateResolved, incident.StateNeedsHuman, incident.StateHeld:
			// Held and needsHuman incidents wait for a person: only a
			// redrive (PrepareRedrive) sends them back to work.
			settled = cur
			return errSettled
		}
		if cur.Owner != "" && now.Before(cur.LeaseUntil) {
			return ErrInProgress
		}
		cur.Owner, cur.LeaseUntil, cur.State = owner, now.Add(r.cfg.Lease), incident.StateOpen
		return nil
	})
	switch {
	case errors.Is(err, errSettled):
		return settled, nil
	case errors.Is(err, ErrInProgress):
		log.Info("incident in progress elsewhere", zap.String("incident", id))
		return nil, fmt.Errorf("%s: %w", id, ErrInProgress)
	case err != nil:
		return nil, fmt.Errorf("lease %s: %w", id, err)
	}
	log = log.With(zap.String("incident", in.ID), zap.String("app_id", in.Key.AppID), zap.String("sp_id", in.Key.ServicePrincipalID))
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StageDeadline)
	defer cancel()
	run := &pass{r: r, in: in, log: log, owner: owner, started: r.now()}
	stageErr := run.stages(sctx)
	return r.finish(ctx, run, stageErr)
}

// errLeaseLost: the run no longer holds the lease (it ran past it and
// another run took over, or a person resolved the incident). Nothing it
// decided is written.
var errLeaseLost = errors.New("lease lost")

// finish releases the lease and parks, escalates or closes the incident.
func (r *Responder) finish(ctx context.Context, run *pass, stageErr error) (*incident.Incident, error) {
	var page string
	in, err := r.store.Mutate(context.WithoutCancel(ctx), run.in.ID, func(cur *incident.Incident) error {
		if cur.Owner != run.owner || cur.State == incident.StateResolved {
			return errLeaseLost
		}
		run.copyTo(cur)
		now := r.now()
		cur.Owner, cur.LeaseUntil = "", time.Time{}
		switch {
		case stageErr == nil && run.final == incident.StateNeedsHuman:
			cur.State, cur.NextAttempt = incident.StateNeedsHuman, time.Time{}
			cur.Record(now, "run", "needs a human", run.finalWhy)
			page = run.finalWhy
			run.escalated = true
		case stageErr == nil && run.final == incident.StateHeld:
			cur.State, cur.NextAttempt = incident.StateHeld, time.Time{}
			cur.Record(now, "run", "held", run.finalWhy+"; a person decides (incidents redrive after review)")
		case stageErr == nil && run.final == incident.StateResolved:
			cur.State, cur.NextAttempt = incident.StateResolved, time.Time{}
			cur.Record(now, "run", "resolved", run.finalWhy)
		case stageErr == nil:
			cur.State = incident.StateDone
			cur.NextAttempt = time.Time{}
			cur.Record(now, "run", "done", summary(cur))
		case errors.Is(stageErr, errNeedsHuman):
			cur.State = incident.StateNeedsHuman
			cur.Record(now, "run", "needs a human", stageErr.Error())
			page = stageErr.Error()
			run.escalated = true
		case waitingForQuota(stageErr, cur.Created, now):
			// Throttled, or not sent because the tenant's request budget
			// was spoken for (a storm): the quota, not a failure of Graph,
			// so it spends no attempt. Parked until the wait Graph or the
			// budget named, and never for longer than quotaGrace in all.
			var th *directory.ThrottledError
			errors.As(stageErr, &th)
			cur.State = incident.StateParked
			cur.NextAttempt = now.Add(max(th.RetryAfter, r.cfg.Backoff))
			cur.Record(now, "run", "parked", fmt.Sprintf("waiting for the tenant's quota, not counted as an attempt: %v; next attempt at %s", stageErr, cur.NextAttempt.Format(time.RFC3339)))
		default:
			cur.Attempts++
			if cur.Attempts >= r.cfg.MaxAttempts {
				cur.State = incident.StateNeedsHuman
				cur.Record(now, "run", "needs a human", fmt.Sprintf("gave up after %d attempts: %v", cur.Attempts, stageErr))
				page = fmt.Sprintf("Graph kept failing past %d attempts: %v", cur.Attempts, stageErr)
				run.escalated = true
			} else {
				cur.State = incident.StateParked
				cur.NextAttempt = now.Add(r.cfg.Backoff << min(cur.Attempts-1, 10))
				cur.Record(now, "run", "parked", fmt.Sprintf("attempt %d failed: %v; next attempt at %s", cur.Attempts, stageErr, cur.NextAttempt.Format(time.RFC3339)))
			}
		}
		return nil
	})
	if errors.Is(err, errLeaseLost) {
		run.log.Warn("run lost its lease: its outcome is not recorded (the holder's is)", zap.NamedError("stage_error", stageErr))
		return nil, fmt.Errorf("%s: %w", run.in.ID, ErrInProgress)
	}
	if err != nil {
		return nil, fmt.Errorf("record outcome of %s: %w", run.in.ID, err)
	}
	logSummary(run.log, in, r.cfg.Enforce, run.started)
	reasons := slices.Clone(run.pages)
	if page != "" {
		reasons = append(reasons, page)
	}
	if len(reasons) > 0 {
		r.pageOnCall(ctx, in, strings.Join(slices.Compact(reasons), "; "), run.log)
	}
	if len(run.phones) > 0 {
		r.phoneSecurity(ctx, in, strings.Join(slices.Compact(run.phones), "; "), run.log)
	}
	return in, nil
}

// phoneSecurity copies the security contact by the phone webhook, as the
// reach section asked. The assessment runs once per incident, so this
// does too.
func (r *Responder) phoneSecurity(ctx context.Context, in *incident.Incident, reason string, log *zap.Logger) {
	if r.phone == nil {
		log.Warn("the reach asks to phone the security contact, but no phone webhook is configured", zap.String("reason", reason))
		return
	}
	log.Warn("phoning the security contact", zap.String("reason", reason))
	if err := r.phone.Page(context.WithoutCancel(ctx), in, reason); err != nil {
		log.Error("phone the security contact", zap.Error(err))
	}
}

func (r *Responder) pageOnCall(ctx context.Context, in *incident.Incident, reason string, log *zap.Logger) {
	if r.pager == nil {
		log.Warn("on-call would be paged, but no pager is configured", zap.String("reason", reason))
		return
	}
	log.Warn("paging on-call", zap.String("reason", reason))
	if err := r.pager.Page(context.WithoutCancel(ctx), in, reason); err != nil {
		log.Error("page on-call", zap.Error(err))
	}
}

func actionsSummary(in *incident.Incident) string {
	var parts []string
	for _, a := range in.Actions {
		parts = append(parts, fmt.Sprintf("%s %s: %s", a.Kind, a.KeyID, a.State))
	}
	return strings.Join(parts, "; ")
}

func summary(in *incident.Incident) string {
	var parts []string
	if s := actionsSummary(in); s != "" {
		parts = append(parts, s)
	}
	if in.Verdict != nil {
		parts = append(parts, "conditional access: "+in.Verdict.Outcome)
	}
	return strings.Join(parts, "; ")
}

// errNeedsHuman marks a failure no retry can fix.
var errNeedsHuman = errors.New("needs a human")

// logSummary emits the one structured event per incident run that
// Application Insights stores and infra/'s queries, workbook and alerts
// read (infra/README.md documents the fields): what the run achieved, the
// guard that held a write if any, and the time each stage took in this run.
func logSummary(log *zap.Logger, in *incident.Incident, enforce bool, runStart time.Time) {
	ms := func(name incident.StepName) int64 {
		s := in.Step(name)
		if s.Finished.IsZero() || s.Finished.Before(runStart) {
			return 0
		}
		from := s.Started
		if from.Before(runStart) {
			from = runStart
		}
		return s.Finished.Sub(from).Milliseconds()
	}
	mode := "dry-run"
	if enforce {
		mode = "enforce"
	}
	verdict := "none"
	if in.Verdict != nil {
		verdict = in.Verdict.Outcome
	}
	log.Info("incident summary",
		zap.String("incident", in.ID), zap.String("outcome", outcomeOf(in)), zap.String("state", string(in.State)), zap.String("mode", mode),
		zap.String("guard", guardOf(in)), zap.String("verdict", verdict),
		zap.Int64("verify_ms", ms(incident.StepVerify)), zap.Int64("contain_ms", ms(incident.StepContain)),
		zap.Int64("confirm_ms", ms(incident.StepConfirm)), zap.Int64("notify_ms", ms(incident.StepNotify)),
		zap.String("app_id", in.App.AppID), zap.String("tenant_id", in.Key.TenantID))
}

// outcomeOf says what a run achieved, in infra/'s words.
func outcomeOf(in *incident.Incident) string {
	switch {
	case in.State == incident.StateParked:
		return "parked"
	case in.State == incident.StateNeedsHuman:
		return "needsHuman"
	case guardOf(in) != "none":
		return "withheld"
	}
	for _, a := range in.Actions {
		if a.State == incident.Done && !a.DryRun {
			return "contained"
		}
	}
	return "noWrite"
}

// guardOf names the safety switch that held the incident's writes.
func guardOf(in *incident.Incident) string {
	switch in.Mode {
	case incident.ModeProtected:
		return "protected"
	case incident.ModeHeld:
		return "breaker"
	case incident.ModeKillSwitch:
		return "killSwitch"
	case incident.ModeDryRun:
		return "dryRun"
	case incident.ModeUnverified:
		return "unverified"
	}
	if !in.Verification.Verified && in.Verification.Closed == "" {
		return "unverified"
	}
	return "none"
}

// quotaGrace bounds how long an incident may wait for the tenant's quota
// without spending attempts: past it, a throttled run counts like any
// failure, so an incident Graph throttles for good still ends with a
// person (needsHuman and a page) instead of waiting unseen.
const quotaGrace = time.Hour

// waitingForQuota reports whether a run failed only for the tenant's quota
// (a 429, or reads the request budget did not send in time) while the
// incident is younger than quotaGrace.
func waitingForQuota(err error, created, now time.Time) bool {
	var th *directory.ThrottledError
	return errors.As(err, &th) && now.Sub(created) < quotaGrace
}
