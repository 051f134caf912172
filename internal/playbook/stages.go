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

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// run is one pass over an incident's stages. It works on its own copy of
// the incident and saves the fields it owns after each step (copyTo), so
// what other instances append meanwhile (duplicate signals, proof of a
// block) is kept.
type run struct {
	r         *Responder
	in        *incident.Incident
	log       *zap.Logger
	owner     string // this run's lease token
	escalated bool   // the run ends needing a human: page even if pages were sent before
	flushed   int    // history events of in already in the store

	plan      Plan
	app, sp   *directory.Object
	risky     *directory.RiskyServicePrincipal
	policies  []capolicy.Policy
	polErr    error
	locations []capolicy.NamedLocation
	locErr    error
	pages     []string

	mu sync.Mutex // guards in, app, sp and pages while removals run in parallel
}

func (x *run) record(step incident.StepName, what, detail string) {
	x.in.History = append(x.in.History, incident.Event{At: x.r.now(), Step: string(step), What: what, Detail: detail, Actor: x.actor()})
}

func (x *run) actor() string {
	if x.r.cfg.Operator != "" {
		return x.r.cfg.Operator
	}
	return "responder"
}

// copyTo moves what this run decided onto the stored incident.
func (x *run) copyTo(cur *incident.Incident) {
	cur.Mode, cur.App, cur.Credentials, cur.Verification = x.in.Mode, x.in.App, x.in.Credentials, x.in.Verification
	cur.Steps, cur.Actions, cur.NotifyOnly = x.in.Steps, x.in.Actions, x.in.NotifyOnly
	cur.Recipients, cur.Orphaned, cur.Notified = x.in.Recipients, x.in.Orphaned, x.in.Notified
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
func (x *run) save(ctx context.Context) error {
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

func (x *run) signal() detect.Signal { return x.in.Signals[0] }

func (x *run) stages(ctx context.Context) error {
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
	return nil
}

func (x *run) skip(name incident.StepName, reason string) {
	s := x.in.Step(name)
	s.State, s.Reason = incident.Skipped, reason
	x.record(name, "skipped", reason)
}

// verify re-reads everything the signal claims, in one parallel round trip.
func (x *run) verify(ctx context.Context) error {
	s := x.signal()
	d := x.r.dir
	var (
		wg                             sync.WaitGroup
		det                            directory.Detection
		detErr, riskErr, appErr, spErr error
		app, sp                        directory.Object
		risky                          directory.RiskyServicePrincipal
	)
	readDetection := s.DetectionID != "" && (s.Kind == detect.LeakedCredential || s.Kind == detect.RiskDetection)
	if readDetection {
		wg.Go(func() { det, detErr = d.Detection(ctx, s.DetectionID) })
	}
	if s.ServicePrincipalID != "" {
		wg.Go(func() { risky, riskErr = d.RiskyServicePrincipal(ctx, s.ServicePrincipalID) })
	}
	wg.Go(func() { app, appErr = d.Application(ctx, s.AppID) })
	wg.Go(func() { sp, spErr = d.ServicePrincipal(ctx, s.AppID) })
	if x.plan.CheckPolicy {
		// The named locations are read alongside, not after the policies:
		// one request more (8 at most per incident) for a verdict one round
		// trip sooner when a location policy exists.
		wg.Go(func() { x.policies, x.polErr = d.ConditionalAccessPolicies(ctx) })
		wg.Go(func() { x.locations, x.locErr = d.NamedLocations(ctx) })
	}
	wg.Wait()

	for _, err := range []error{detErr, riskErr, appErr, spErr} {
		if directory.Retryable(err) {
			return fmt.Errorf("verify: %w", err)
		}
	}
	v := incident.Verification{Method: "detection"}
	var limits []string
	licence := errors.Is(detErr, directory.ErrLicence) || errors.Is(riskErr, directory.ErrLicence)
	if licence {
		limits = append(limits, "the tenant has no Workload Identities Premium licence, so Graph would not show the risk detection or the service principal's risk; verified only that the credential exists on the app the record names")
	}
	for what, err := range map[string]error{"application": appErr, "service principal": spErr} {
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("%w: read %s: %v", errNeedsHuman, what, err)
		}
	}
	if appErr == nil {
		x.app = &app
	}
	if spErr == nil {
		x.sp = &sp
	}
	if riskErr == nil && s.ServicePrincipalID != "" {
		x.risky = &risky
	} else if riskErr != nil && !errors.Is(riskErr, directory.ErrNotFound) && !errors.Is(riskErr, directory.ErrLicence) {
		limits = append(limits, "could not read the service principal's risk: "+riskErr.Error())
	}
	fail := func(detail string) error {
		v.Verified, v.Detail, v.Limited = false, detail, strings.Join(limits, "; ")
		x.in.Verification = v
		x.record(incident.StepVerify, "not verified", detail)
		return nil
	}

	// The app and its service principal, matched by appId only.
	if x.sp == nil && x.app == nil {
		return fail(fmt.Sprintf("no application or service principal with appId %s in the tenant: no write", s.AppID))
	}
	if x.sp != nil && s.ServicePrincipalID != "" && !strings.EqualFold(x.sp.ID, s.ServicePrincipalID) {
		x.pages = append(x.pages, "ambiguous mapping: the record's service principal does not match Graph's")
		return fail(fmt.Sprintf("the record names service principal %s but appId %s belongs to service principal %s in Graph: refusing to act on an ambiguous mapping", s.ServicePrincipalID, s.AppID, x.sp.ID))
	}
	x.in.App = incident.App{AppID: strings.ToLower(s.AppID), ServicePrincipalID: strings.ToLower(s.ServicePrincipalID), DisplayName: s.DisplayName}
	if x.app != nil {
		x.in.App.ApplicationID, x.in.App.DisplayName = x.app.ID, x.app.DisplayName
		x.in.App.Tags = append(x.in.App.Tags, x.app.Tags...)
	}
	if x.sp == nil {
		// No service principal for this appId in Graph: the record's id is
		// not verified, so nothing may target it.
		x.in.App.ServicePrincipalID = ""
	}
	if x.sp != nil {
		x.in.App.ServicePrincipalID = x.sp.ID
		if x.in.App.DisplayName == "" {
			x.in.App.DisplayName = x.sp.DisplayName
		}
		x.in.App.Tags = append(x.in.App.Tags, x.sp.Tags...)
	}
	if x.risky != nil {
		x.in.App.RiskLevel, x.in.App.RiskState = x.risky.RiskLevel, x.risky.RiskState
	}

	for what, id := range map[string]string{"detection": det.AppID, "risky service principal": risky.AppID} {
		if id != "" && !strings.EqualFold(id, s.AppID) {
			x.pages = append(x.pages, fmt.Sprintf("the %s in Graph belongs to app %s, the record says %s", what, id, s.AppID))
			return fail(fmt.Sprintf("the %s in Graph belongs to app %s, not %s: refusing to act on an ambiguous mapping", what, id, s.AppID))
		}
	}
	keys := s.KeyIDs
	switch {
	case (s.Kind == detect.LeakedCredential || s.Kind == detect.RiskDetection) && s.DetectionID == "":
		return fail("the record carries no detection id, so it cannot be checked against Graph: no write")
	case readDetection && errors.Is(detErr, directory.ErrNotFound):
		x.pages = append(x.pages, fmt.Sprintf("detection %s in the event stream is unknown to Graph (forged or wrong tenant)", s.DetectionID))
		return fail(fmt.Sprintf("detection %s is unknown to Graph: no write (a forged or stale event)", s.DetectionID))
	case readDetection && detErr == nil:
		if !strings.EqualFold(det.ServicePrincipalID, s.ServicePrincipalID) {
			return fail(fmt.Sprintf("detection %s names service principal %s, not %s: no write", det.ID, det.ServicePrincipalID, s.ServicePrincipalID))
		}
		if det.RiskState != "atRisk" && det.RiskState != "confirmedCompromised" {
			return fail(fmt.Sprintf("detection %s is %s in Graph: no write", det.ID, orUnknown(det.RiskState)))
		}
		// Act only on keys both the event and Graph name: Graph is the
		// truth, and a key the event adds may be forged.
		var both []string
		for _, k := range keys {
			if slices.ContainsFunc(det.KeyIDs, func(g string) bool { return strings.EqualFold(g, k) }) {
				both = append(both, k)
			}
		}
		if len(keys) > 0 && len(both) == 0 {
			return fail(fmt.Sprintf("the event's key ids %v are not the detection's %v in Graph: no write", keys, det.KeyIDs))
		}
		keys = both
		v.Detail = fmt.Sprintf("detection %s (%s, %s, %s) confirmed by Graph", det.ID, det.RiskEventType, det.RiskLevel, det.RiskState)
	case readDetection && licence:
		v.Method = "credentialOnly"
	case readDetection && detErr != nil:
		// Only a missing licence may fall back to checking the credential:
		// a detection Graph would not show us (permission, a malformed id)
		// is not verified.
		x.pages = append(x.pages, "could not read detection "+s.DetectionID+": "+detErr.Error())
		return fail(fmt.Sprintf("could not read detection %s from Graph (%v): no write", s.DetectionID, detErr))
	case s.Kind == detect.RiskyServicePrincipal:
		v.Method = "riskyServicePrincipal"
		if licence {
			v.Method = "credentialOnly"
		} else if x.risky == nil || !atRisk(x.risky.RiskState) {
			return fail(fmt.Sprintf("Graph does not show service principal %s at risk: no write", s.ServicePrincipalID))
		} else {
			v.Detail = fmt.Sprintf("Graph shows the service principal %s with risk %s", x.risky.RiskState, x.risky.RiskLevel)
		}
	default:
		v.Method = "credential"
		if x.risky != nil {
			v.Detail = fmt.Sprintf("Graph shows the service principal's risk as %s (%s)", orUnknown(x.risky.RiskState), orUnknown(x.risky.RiskLevel))
		}
	}

	// Map each key to the one object that holds it.
	x.in.Credentials = nil
	for _, k := range keys {
		c, err := locate(x.app, x.sp, k, "")
		if err != nil {
			x.pages = append(x.pages, err.Error())
			return fail(err.Error())
		}
		x.in.Credentials = append(x.in.Credentials, c)
	}
	if len(keys) == 0 && s.Thumbprint != "" {
		c, err := locate(x.app, x.sp, "", s.Thumbprint)
		if err != nil {
			return fail(err.Error())
		}
		x.in.Credentials = append(x.in.Credentials, c)
	}
	if v.Method == "credentialOnly" {
		found := slices.ContainsFunc(x.in.Credentials, func(c incident.Credential) bool { return c.Found })
		if !found {
			return fail("without the risk APIs only the credential can be checked, and none of the named keys exists on the app: nothing to do")
		}
		v.Detail = "the named credential exists on the app the record names, in the allowed tenant"
	}
	v.Verified = true
	v.Limited = strings.Join(limits, "; ")
	x.in.Verification = v
	x.record(incident.StepVerify, "verified", v.Detail)
	return nil
}

func atRisk(state string) bool { return state == "atRisk" || state == "confirmedCompromised" }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// locate finds the single object holding a credential. A key on both the
// application and the service principal is ambiguous: refuse.
func locate(app, sp *directory.Object, keyID, thumb string) (incident.Credential, error) {
	c := incident.Credential{KeyID: strings.ToLower(keyID), Thumbprint: thumb}
	var hits []incident.Credential
	for _, o := range []*directory.Object{app, sp} {
		if o == nil {
			continue
		}
		if keyID != "" {
			if p, ok := o.Password(keyID); ok {
				hits = append(hits, incident.Credential{KeyID: strings.ToLower(p.KeyID), Type: "password", Location: string(o.Kind), DisplayName: p.DisplayName, Hint: p.Hint, Start: p.Start, End: p.End, Found: true})
			}
		}
		if k, ok := o.Key(keyID, thumb); ok {
			hits = append(hits, incident.Credential{KeyID: strings.ToLower(k.KeyID), Type: "certificate", Location: string(o.Kind), DisplayName: k.DisplayName, Thumbprint: k.CustomKeyIdentifier, Start: k.Start, End: k.End, Found: true})
		}
	}
	switch len(hits) {
	case 0:
		return c, nil // already removed or expired: nothing to write
	case 1:
		return hits[0], nil
	default:
		return c, fmt.Errorf("key %s%s is held by more than one object (%s and %s): refusing to act on an ambiguous mapping", keyID, thumb, hits[0].Location, hits[1].Location)
	}
}

// contain removes the verified credentials and applies the rule's extra
// containment, within the safety switches.
func (x *run) contain(ctx context.Context) error {
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
	if !x.in.Verification.Verified {
		x.skip(incident.StepContain, "the signal was not verified against Graph: nothing is written")
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
		x.skip(incident.StepContain, "nothing to contain: "+x.nothingReason())
		return nil
	}
	// Safety switches, most absolute first.
	withhold := ""
	if prot, why := x.r.rules.Protected(x.in.App.AppID, x.in.App.Tags); prot {
		withhold = "protected app (" + why + "): notify only"
	} else if x.r.cfg.KillSwitch {
		withhold = "kill switch is on (SPRESPONDER_KILL_SWITCH): no write to the tenant"
	} else if !x.r.cfg.Enforce || x.plan.DryRun {
		withhold = "dry-run"
		if x.r.cfg.Enforce {
			withhold = "dry-run (rule " + x.plan.Rule + ")"
		}
	}
	// Every new destructive action counts against the breaker, not only
	// credential removals: a rule that disables service principals is as
	// dangerous in a flood.
	newWrites := 0
	for _, a := range planned {
		if x.in.Action(a.ID) == nil {
			newWrites++
		}
	}
	if withhold == "" && newWrites > 0 && x.r.breaker != nil {
		d, err := x.r.breaker.Allow(ctx, x.in.Key.TenantID, newWrites)
		if err != nil {
			return fmt.Errorf("contain: %w", err)
		}
		if !d.Allowed {
			withhold = d.String() + ": notify only"
			x.pages = append(x.pages, "blast-radius breaker tripped: "+d.String())
		}
	}
	if withhold == "" {
		x.in.Mode = "enforce"
	} else {
		x.in.Mode = "dry-run"
		x.in.NotifyOnly = withhold
	}
	for _, a := range planned {
		if x.in.Action(a.ID) == nil {
			if withhold != "" {
				a.State, a.DryRun, a.Reason = incident.Skipped, true, withhold+": would "+describe(a)
			}
			x.in.Actions = append(x.in.Actions, a)
		}
	}
	if withhold != "" {
		x.skip(incident.StepContain, withhold)
		return x.save(ctx)
	}
	// Secret removals go out together (each is its own call on its own
	// key). Certificate removals rewrite the object's whole certificate
	// list, so they go one at a time, each from a fresh read: two at once
	// would each put back the certificate the other removed. The
	// service-principal actions come last.
	var secrets, certs, others []string
	for _, a := range x.in.Actions {
		if a.State == incident.Done || a.State == incident.Skipped {
			continue
		}
		switch a.Kind {
		case "removePassword":
			secrets = append(secrets, a.ID)
		case "removeCertificate":
			certs = append(certs, a.ID)
		default:
			others = append(others, a.ID)
		}
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range secrets {
		wg.Go(func() {
			if err := x.perform(ctx, id); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, id := range append(certs, others...) {
		if err := x.perform(ctx, id); err != nil {
			return err
		}
	}
	x.record(incident.StepContain, "contained", actionsSummary(x.in))
	return nil
}

func (x *run) nothingReason() string {
	if !x.plan.RemoveCredential && !x.plan.ConfirmCompromised && !x.plan.Disable {
		return "rule " + x.plan.Rule + " only notifies"
	}
	if x.plan.RemoveCredential && x.plan.RequireAtRisk && (x.risky == nil || !atRisk(x.risky.RiskState)) {
		return "rule " + x.plan.Rule + " removes the credential only when Graph shows the service principal at risk, and it does not"
	}
	return "the named credentials no longer exist (already removed or expired)"
}

func describe(a incident.Action) string {
	switch a.Kind {
	case "removePassword":
		return "remove client secret " + a.KeyID + " from the " + a.Target
	case "removeCertificate":
		return "remove certificate " + a.KeyID + " from the " + a.Target + " (keeping every other certificate)"
	case "confirmCompromised":
		return "confirm service principal " + a.Target + " compromised (risk high: risk-based Conditional Access blocks new tokens)"
	case "disableServicePrincipal":
		return "disable service principal " + a.Target
	}
	return a.Kind + " " + a.Target
}

// plannedActions lists the writes the rule asks for, by stable id.
func (x *run) plannedActions() []incident.Action {
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
			kind := "removePassword"
			if c.Type == "certificate" {
				kind = "removeCertificate"
			}
			out = append(out, incident.Action{
				ID: kind + ":" + c.Location + ":" + c.KeyID, Kind: kind, Target: target, KeyID: c.KeyID, State: incident.Pending,
				Before: fmt.Sprintf("%s %s present on %s %s (%s)", c.Type, c.KeyID, c.Location, obj, credLabel(c)),
			})
		}
	}
	sp := x.in.App.ServicePrincipalID
	if x.plan.ConfirmCompromised && sp != "" {
		out = append(out, incident.Action{ID: "confirmCompromised:" + sp, Kind: "confirmCompromised", Target: sp, State: incident.Pending,
			Before: "service principal risk: " + orUnknown(x.in.App.RiskState) + " " + orUnknown(x.in.App.RiskLevel)})
	}
	if x.plan.Disable && sp != "" {
		out = append(out, incident.Action{ID: "disableServicePrincipal:" + sp, Kind: "disableServicePrincipal", Target: sp, State: incident.Pending, Before: "enabled"})
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

// perform makes one write with the before/after record around it, and
// resolves an unknown outcome by re-reading the tenant. Removals of several
// keys run in parallel: every change to the run's incident happens under
// x.mu, the Graph calls outside it.
func (x *run) perform(ctx context.Context, id string) error {
	x.mu.Lock()
	a := *x.in.Action(id)
	x.mu.Unlock()
	log := x.log.With(zap.String("step", "contain"), zap.String("action", a.Kind), zap.String("key_id", a.KeyID))
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
		err = x.write(ctx, a)
		if err == nil {
			return x.finishAction(ctx, id, incident.Done, "Graph accepted the write")
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
func (x *run) finishAction(ctx context.Context, id string, state incident.StepState, how string) error {
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

func (x *run) markDone(id, how string) {
	a := x.in.Action(id)
	a.State, a.Finished, a.Reason = incident.Done, x.r.now(), how
	switch a.Kind {
	case "removePassword", "removeCertificate":
		a.After = a.KeyID + " absent"
	case "confirmCompromised":
		a.After = "service principal risk: confirmedCompromised high"
		x.in.App.RiskState, x.in.App.RiskLevel = "confirmedCompromised", "high"
	case "disableServicePrincipal":
		a.After = "disabled"
	}
	x.record(incident.StepContain, "done", describe(*a)+" ("+how+")")
}

func (x *run) write(ctx context.Context, a incident.Action) error {
	d := x.r.dir
	x.mu.Lock()
	c := x.credential(a.KeyID)
	objID := x.objectID(c.Location)
	x.mu.Unlock()
	switch a.Kind {
	case "removePassword":
		return d.RemovePassword(ctx, directory.ObjectKind(c.Location), objID, a.KeyID)
	case "removeCertificate":
		// Read the certificates afresh: the PATCH replaces the whole list,
		// so it must start from what the object holds now.
		var fresh directory.Object
		var err error
		if c.Location == string(directory.ServicePrincipal) {
			fresh, err = d.ServicePrincipal(ctx, x.in.App.AppID)
		} else {
			fresh, err = d.Application(ctx, x.in.App.AppID)
		}
		if err != nil {
			return err
		}
		var keep []directory.KeyCredential
		for _, k := range fresh.Keys {
			if strings.EqualFold(k.KeyID, a.KeyID) {
				continue
			}
			if len(k.Key) == 0 {
				return fmt.Errorf("%w: certificate %s to keep came without its public key, so the certificates cannot be rewritten safely", directory.ErrRejected, k.KeyID)
			}
			keep = append(keep, k)
		}
		return d.ReplaceKeyCredentials(ctx, fresh.Kind, fresh.ID, keep)
	case "confirmCompromised":
		return d.ConfirmCompromised(ctx, a.Target)
	case "disableServicePrincipal":
		return d.DisableServicePrincipal(ctx, a.Target)
	}
	return fmt.Errorf("%w: unknown action %s", directory.ErrRejected, a.Kind)
}

// applied re-reads the tenant to learn whether a write took effect.
func (x *run) applied(ctx context.Context, a incident.Action) (bool, error) {
	d := x.r.dir
	switch a.Kind {
	case "removePassword", "removeCertificate":
		x.mu.Lock()
		c := x.credential(a.KeyID)
		x.mu.Unlock()
		var o directory.Object
		var err error
		if c.Location == string(directory.ServicePrincipal) {
			o, err = d.ServicePrincipal(ctx, x.in.App.AppID)
		} else {
			o, err = d.Application(ctx, x.in.App.AppID)
		}
		if errors.Is(err, directory.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		x.setObject(o)
		_, hasP := o.Password(a.KeyID)
		_, hasK := o.Key(a.KeyID, "")
		return !hasP && !hasK, nil
	case "confirmCompromised":
		r, err := d.RiskyServicePrincipal(ctx, a.Target)
		if err != nil {
			return false, err
		}
		return r.RiskState == "confirmedCompromised", nil
	case "disableServicePrincipal":
		o, err := d.ServicePrincipal(ctx, x.in.App.AppID)
		if err != nil {
			return false, err
		}
		return o.AccountEnabled != nil && !*o.AccountEnabled, nil
	}
	return false, fmt.Errorf("unknown action %s", a.Kind)
}

func (x *run) credential(keyID string) incident.Credential {
	for _, c := range x.in.Credentials {
		if strings.EqualFold(c.KeyID, keyID) {
			return c
		}
	}
	return incident.Credential{}
}

func (x *run) objectID(loc string) string {
	if loc == string(directory.ServicePrincipal) {
		return x.in.App.ServicePrincipalID
	}
	return x.in.App.ApplicationID
}

func (x *run) setObject(o directory.Object) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if o.Kind == directory.ServicePrincipal {
		x.sp = &o
	} else {
		x.app = &o
	}
}

// confirm evaluates Conditional Access for the service principal.
func (x *run) confirm(ctx context.Context) error {
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

// notifyOwners hands the incident to the notifier.
func (x *run) notifyOwners(ctx context.Context) error {
	if !x.plan.Notify {
		x.skip(incident.StepNotify, "rule "+x.plan.Rule+" does not notify")
		return nil
	}
	if x.r.notify == nil {
		x.skip(incident.StepNotify, "no notification channel is configured")
		return nil
	}
	if !x.in.Verification.Verified && x.in.App.ApplicationID == "" && x.in.App.ServicePrincipalID == "" {
		x.skip(incident.StepNotify, "the app is not in the tenant: no owner to tell")
		return nil
	}
	if err := x.r.notify.Notify(ctx, x.in); err != nil {
		// Delivery outcomes are on the incident; a channel that failed is
		// retried on the next run (sent ones are not sent again).
		return fmt.Errorf("notify: %w", err)
	}
	x.record(incident.StepNotify, "notified", fmt.Sprintf("%d recipient(s), %d deliveries", len(x.in.Recipients), len(x.in.Notified)))
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
