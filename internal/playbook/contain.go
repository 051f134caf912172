package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// contain removes the verified credentials and applies the rule's extra
// containment, within the safety switches.
func (x *pass) contain(ctx context.Context) error {
	// A write an earlier run started and never saw finish is settled first,
	// by re-reading the tenant, whatever this run's verification says.
	for _, a := range slices.Clone(x.in.Actions) {
		if a.State != incident.Started {
			continue
		}
		done, err := x.applied(ctx, a)
		if err != nil {
			x.pages = append(x.pages, fmt.Sprintf("outcome of %s unknown: %v", a.ID, err))
			return fmt.Errorf("re-read after an unknown outcome of %s: %w", a.ID, err)
		}
		if done {
			if err := x.finishAction(ctx, a.ID, incident.Done, "found done on re-read after an unknown outcome"); err != nil {
				return err
			}
		}
	}
	if !x.in.Verification.Verified || x.final != "" {
		if x.in.Mode == "" && x.final == incident.StateNeedsHuman {
			x.in.Mode = incident.ModeUnverified
		}
		x.skip(incident.StepContain, "nothing is written: "+cmpOr(x.finalWhy, "the signal was not verified against Graph"))
		return nil
	}
	planned := x.plannedActions()
	plannedIDs := map[string]bool{}
	for _, a := range planned {
		plannedIDs[a.ID] = true
	}
	// An earlier action the fresh plan no longer needs (its credential is
	// gone) is closed, not retried.
	for i := range x.in.Actions {
		a := &x.in.Actions[i]
		if (a.State == incident.Pending || a.State == incident.Failed) && !plannedIDs[a.ID] {
			a.State, a.Reason, a.Finished = incident.Skipped, "no longer needed: Graph no longer shows the credential", x.r.now()
		}
	}
	if len(planned) == 0 {
		if x.in.Mode == "" {
			x.in.Mode = incident.ModeNoWrite
		}
		x.skip(incident.StepContain, "nothing to contain: "+x.nothingReason())
		return nil
	}
	mode, withhold, err := x.guard(ctx, planned)
	if err != nil {
		return fmt.Errorf("contain: %w", err)
	}
	x.in.Mode, x.in.NotifyOnly = mode, withhold
	for _, a := range planned {
		if x.in.Action(a.ID) == nil {
			if withhold != "" {
				a.State, a.DryRun, a.Reason = incident.Skipped, true, withhold+": would "+describe(a)
			}
			x.in.Actions = append(x.in.Actions, a)
		}
	}
	if withhold != "" {
		if mode == incident.ModeHeld {
			x.final, x.finalWhy = incident.StateHeld, withhold
		}
		x.skip(incident.StepContain, withhold)
		return x.save(ctx)
	}
	// Secret removals on different objects go out together; every write to
	// one object holds that object's lease, so two removals on one object
	// (in this incident or another, on this instance or another) take
	// turns. The service-principal actions come last.
	byObject := map[string][]string{}
	var objects, others []string
	for _, a := range x.in.Actions {
		if a.State == incident.Done || a.State == incident.Skipped {
			continue
		}
		if !kindOf(a).credential {
			others = append(others, a.ID)
			continue
		}
		obj := x.objectID(x.credential(a.KeyID).Location)
		if _, ok := byObject[obj]; !ok {
			objects = append(objects, obj)
		}
		byObject[obj] = append(byObject[obj], a.ID)
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, obj := range objects {
		wg.Go(func() {
			for _, id := range byObject[obj] {
				if err := x.perform(ctx, id); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, id := range others {
		if err := x.perform(ctx, id); err != nil {
			return err
		}
	}
	x.record(incident.StepContain, "contained", actionsSummary(x.in))
	return nil
}

// guard applies the safety switches, most absolute first: protected app,
// kill switch (the process's setting or the shared one in the ledger),
// dry-run, then the blast-radius breaker, which counts every new write
// against the configured tenant, never a tenant an event names.
func (x *pass) guard(ctx context.Context, planned []incident.Action) (mode, withhold string, err error) {
	if prot, why := x.r.rules.Protected(x.in.App.AppID, x.in.App.Tags); prot {
		return incident.ModeProtected, "protected app (" + why + "): notify only", nil
	}
	if x.r.cfg.KillSwitch {
		return incident.ModeKillSwitch, "kill switch is on (SPRESPONDER_KILL_SWITCH): no write to the tenant", nil
	}
	if x.r.guards != nil {
		on, reason, err := x.r.guards.KillSwitch(ctx)
		if err != nil {
			return "", "", err
		}
		if on {
			return incident.ModeKillSwitch, "kill switch is on in the ledger (" + reason + "): no write to the tenant", nil
		}
	}
	if !x.r.cfg.Enforce {
		return incident.ModeDryRun, "dry-run", nil
	}
	if x.plan.DryRun {
		return incident.ModeDryRun, "dry-run (rule " + x.plan.Rule + ")", nil
	}
	newWrites := 0
	for _, a := range planned {
		if x.in.Action(a.ID) == nil {
			newWrites++
		}
	}
	if newWrites > 0 && x.r.breaker != nil {
		tenant := cmpOr(x.r.cfg.TenantID, "configured-tenant")
		d, err := x.r.breaker.Allow(ctx, tenant, newWrites)
		if err != nil {
			return "", "", err
		}
		if !d.Allowed {
			x.pages = append(x.pages, "blast-radius breaker tripped: "+d.String())
			return incident.ModeHeld, d.String() + ": held for a person (incidents redrive after review)", nil
		}
	}
	return incident.ModeEnforce, "", nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (x *pass) nothingReason() string {
	if !x.plan.RemoveCredential && !x.plan.ConfirmCompromised && !x.plan.Disable {
		return "rule " + x.plan.Rule + " only notifies"
	}
	if x.plan.RemoveCredential && x.plan.RequireAtRisk && (x.risky == nil || !atRisk(x.risky.RiskState)) {
		return "rule " + x.plan.Rule + " removes the credential only when Graph shows the service principal at risk, and it does not"
	}
	if x.plan.RemoveCredential && !isDetection(x.signal()) {
		return "a " + string(x.signal().Kind) + " signal names no key that Graph confirms, so no credential is removed"
	}
	return "the named credentials no longer exist (already removed or expired)"
}

// plannedActions lists the writes the rule asks for, by stable id. Only
// keys Graph named are ever in x.in.Credentials (verify sees to that).
func (x *pass) plannedActions() []incident.Action {
	var out []incident.Action
	removeOK := x.plan.RemoveCredential && (!x.plan.RequireAtRisk || (x.risky != nil && atRisk(x.risky.RiskState)))
	if removeOK {
		for _, c := range x.in.Credentials {
			if !c.Found {
				continue
			}
			obj := x.in.App.ApplicationID
			target := "application " + obj
			if c.Location == string(directory.ServicePrincipal) {
				obj = x.in.App.ServicePrincipalID
				target = "service principal " + obj
			}
			kind := RemovePassword
			if c.Type == "certificate" {
				kind = RemoveCertificate
			}
			out = append(out, incident.Action{
				ID: string(kind) + ":" + c.Location + ":" + c.KeyID, Kind: string(kind), Target: target, KeyID: c.KeyID, State: incident.Pending,
				Before: fmt.Sprintf("%s %s present on %s %s (%s)", c.Type, c.KeyID, c.Location, obj, credLabel(c)),
			})
		}
	}
	sp := x.in.App.ServicePrincipalID
	if x.plan.ConfirmCompromised && sp != "" {
		out = append(out, incident.Action{ID: string(ConfirmCompromised) + ":" + sp, Kind: string(ConfirmCompromised), Target: sp, State: incident.Pending,
			Before: "service principal risk: " + orUnknown(x.in.App.RiskState) + " " + orUnknown(x.in.App.RiskLevel)})
	}
	if x.plan.Disable && sp != "" {
		out = append(out, incident.Action{ID: string(DisableServicePrincipal) + ":" + sp, Kind: string(DisableServicePrincipal), Target: sp, State: incident.Pending, Before: "enabled"})
	}
	return out
}

func credLabel(c incident.Credential) string {
	var p []string
	if c.DisplayName != "" {
		p = append(p, "name "+c.DisplayName)
	}
	if c.Hint != "" {
		p = append(p, "hint "+c.Hint+"...")
	}
	if !c.End.IsZero() {
		p = append(p, "expires "+c.End.Format("2006-01-02"))
	}
	return strings.Join(p, ", ")
}

// perform makes one write with the before/after record around it. A
// credential write holds the object's lease for the whole of it (fresh
// read, write, read-back), so no other writer can put back what it removes
// or have its own removal undone. An unknown outcome is resolved by
// re-reading the tenant.
func (x *pass) perform(ctx context.Context, id string) error {
	x.mu.Lock()
	a := *x.in.Action(id)
	x.mu.Unlock()
	log := x.log.With(zap.String("step", "contain"), zap.String("action", a.Kind), zap.String("key_id", a.KeyID))
	if kindOf(a).credential {
		obj := x.objectID(x.credential(a.KeyID).Location)
		release, err := x.r.lockObject(ctx, obj, x.owner, x.r.cfg.Lease)
		if err != nil {
			return fmt.Errorf("%s: take the write lease on %s: %w", id, obj, err)
		}
		defer func() {
			if err := release(context.WithoutCancel(ctx)); err != nil {
				log.Warn("release write lease", zap.Error(err))
			}
		}()
	}
	for attempt := 1; ; attempt++ {
		x.mu.Lock()
		ap := x.in.Action(id)
		ap.State, ap.Attempts, ap.Started = incident.Started, ap.Attempts+1, x.r.now()
		a = *ap
		x.record(incident.StepContain, "started", describe(a))
		err := x.save(ctx)
		x.mu.Unlock()
		if err != nil {
			return err // not recorded as started: do not write
		}
		before, err := x.write(ctx, a)
		if errors.Is(err, errAlreadyGone) {
			return x.finishAction(ctx, id, incident.Done, "already gone in a fresh read under the write lease")
		}
		if errors.Is(err, errSigning) {
			ferr := x.finishAction(ctx, id, incident.Failed, err.Error())
			return errors.Join(fmt.Errorf("%w: %v", errNeedsHuman, err), ferr)
		}
		if err == nil {
			ok, why, rerr := x.readBack(ctx, a, before)
			switch {
			case rerr != nil:
				// Accepted, but the read-back failed: it stays "started"
				// and the next run re-reads.
				x.mu.Lock()
				x.pages = append(x.pages, fmt.Sprintf("read-back of %s failed: %v", id, rerr))
				x.mu.Unlock()
				return fmt.Errorf("read back %s: %w", id, rerr)
			case !ok:
				ferr := x.finishAction(ctx, id, incident.Failed, why)
				x.mu.Lock()
				x.pages = append(x.pages, why)
				x.mu.Unlock()
				return errors.Join(fmt.Errorf("%w: %s", errNeedsHuman, why), ferr)
			}
			return x.finishAction(ctx, id, incident.Done, "Graph accepted the write and a fresh read agrees")
		}
		log.Warn("write failed", zap.Int("attempt", attempt), zap.Error(err))
		// Whatever the error, the tenant decides: re-read.
		done, rerr := x.applied(ctx, a)
		if rerr == nil && done {
			return x.finishAction(ctx, id, incident.Done, "confirmed by re-read after: "+err.Error())
		}
		if !directory.Retryable(err) {
			// Graph refused the request (4xx): it was not applied, whether
			// or not the re-read worked.
			ferr := x.finishAction(ctx, id, incident.Failed, err.Error())
			return errors.Join(fmt.Errorf("%w: %s refused: %v", errNeedsHuman, id, err), ferr)
		}
		if rerr != nil {
			// Outcome unknown and the tenant unreadable: stay "started" and
			// let the next run re-read.
			x.mu.Lock()
			x.pages = append(x.pages, fmt.Sprintf("outcome of %s unknown: %v", id, err))
			x.mu.Unlock()
			return fmt.Errorf("outcome of %s unknown (re-read failed: %v): %w", id, rerr, err)
		}
		wait := 500 * time.Millisecond << min(attempt-1, 5)
		var th *directory.ThrottledError
		if errors.As(err, &th) && th.RetryAfter > 0 {
			wait = th.RetryAfter
		}
		if dl, ok := ctx.Deadline(); ok && x.r.now().Add(wait).After(dl) {
			return fmt.Errorf("%s not done before the deadline after %d attempts: %w", id, attempt, err)
		}
		if err := x.r.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
}

// finishAction records an action's end and saves it.
func (x *pass) finishAction(ctx context.Context, id string, state incident.StepState, how string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if state == incident.Done {
		x.markDone(id, how)
	} else {
		a := x.in.Action(id)
		a.State, a.Reason, a.Finished = state, how, x.r.now()
		x.record(incident.StepContain, string(state), describe(*a)+": "+how)
	}
	return x.save(ctx)
}

func (x *pass) markDone(id, how string) {
	a := x.in.Action(id)
	a.State, a.Finished, a.Reason = incident.Done, x.r.now(), how
	kindOf(*a).done(x, a)
	x.record(incident.StepContain, "done", describe(*a)+" ("+how+")")
}

// errAlreadyGone: the fresh read under the lease shows the key gone.
var errAlreadyGone = errors.New("credential already gone")

// readObject reads the object that holds a credential, by location.
func (x *pass) readObject(ctx context.Context, loc string) (directory.Object, error) {
	if loc == string(directory.ServicePrincipal) {
		return x.r.dir.ServicePrincipal(ctx, x.in.App.AppID)
	}
	return x.r.dir.Application(ctx, x.in.App.AppID)
}

// write makes one write through its kind's entry in the table.
func (x *pass) write(ctx context.Context, a incident.Action) (before directory.Object, err error) {
	k := kindOf(a)
	if k.write == nil {
		return directory.Object{}, fmt.Errorf("%w: unknown action %s", directory.ErrRejected, a.Kind)
	}
	return k.write(ctx, x, a)
}

// readBack checks a write that Graph accepted against a fresh read: for a
// credential, the compromised key is gone and every other credential read
// before the write is still there under its own keyId. Anything else is a
// write that did not do what it was meant to, for a person to look at.
func (x *pass) readBack(ctx context.Context, a incident.Action, before directory.Object) (ok bool, why string, err error) {
	if !kindOf(a).credential {
		done, err := x.applied(ctx, a)
		if err != nil {
			return false, "", err
		}
		if !done {
			return false, fmt.Sprintf("%s: Graph accepted the write but a fresh read does not show it", a.ID), nil
		}
		return true, "", nil
	}
	after, err := x.readObject(ctx, string(before.Kind))
	if err != nil {
		return false, "", err
	}
	x.setObject(after)
	if _, has := after.Password(a.KeyID); has {
		return false, fmt.Sprintf("%s: Graph accepted the removal but key %s is still on the %s", a.ID, a.KeyID, before.Kind), nil
	}
	if _, has := after.Key(a.KeyID, ""); has {
		return false, fmt.Sprintf("%s: Graph accepted the removal but key %s is still on the %s", a.ID, a.KeyID, before.Kind), nil
	}
	if a.Kind == string(RemovePassword) {
		// removePassword changes its own keyId only; what else changed on
		// the object is another writer's doing, not this write's.
		return true, "", nil
	}
	var lost []string
	for _, p := range before.Passwords {
		if _, has := after.Password(p.KeyID); !has && !strings.EqualFold(p.KeyID, a.KeyID) {
			lost = append(lost, "secret "+p.KeyID)
		}
	}
	for _, k := range before.Keys {
		if _, has := after.Key(k.KeyID, ""); !has && !strings.EqualFold(k.KeyID, a.KeyID) {
			lost = append(lost, "certificate "+k.KeyID)
		}
	}
	if len(lost) > 0 {
		return false, fmt.Sprintf("%s: after the write the %s no longer shows %s, which were to be kept (another writer, or Graph gave them new key ids)", a.ID, before.Kind, strings.Join(lost, ", ")), nil
	}
	return true, "", nil
}

// applied re-reads the tenant to learn whether a write took effect.
func (x *pass) applied(ctx context.Context, a incident.Action) (bool, error) {
	k := kindOf(a)
	if k.applied == nil {
		return false, fmt.Errorf("unknown action %s", a.Kind)
	}
	return k.applied(ctx, x, a)
}

func (x *pass) credential(keyID string) incident.Credential {
	for _, c := range x.in.Credentials {
		if strings.EqualFold(c.KeyID, keyID) {
			return c
		}
	}
	return incident.Credential{}
}

func (x *pass) objectID(loc string) string {
	if loc == string(directory.ServicePrincipal) {
		return x.in.App.ServicePrincipalID
	}
	return x.in.App.ApplicationID
}

// objectPtr is the run's last read of the object at a location.
func (x *pass) objectPtr(loc string) *directory.Object {
	if loc == string(directory.ServicePrincipal) {
		return x.sp
	}
	return x.app
}

func (x *pass) setObject(o directory.Object) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if o.Kind == directory.ServicePrincipal {
		x.sp = &o
	} else {
		x.app = &o
	}
}
