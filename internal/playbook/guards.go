package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
)

// localLocks serialises credential writes to one object within this
// process. The ledger's lease (Guards.LockObject) does it across
// processes; this one keeps two runs of one process from both polling the
// ledger for it, and is all there is without Guards.
type localLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

func (l *localLocks) acquire(ctx context.Context, obj string) (func(), error) {
	obj = strings.ToLower(obj)
	for {
		l.mu.Lock()
		ch, busy := l.held[obj]
		if !busy {
			ch = make(chan struct{})
			l.held[obj] = ch
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, obj)
				l.mu.Unlock()
				close(ch)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// lockObject takes the write lease on a directory object: the process's
// own lock, then the ledger's, so one writer per object holds across
// incidents and instances.
func (r *Responder) lockObject(ctx context.Context, obj, owner string, ttl time.Duration) (func(context.Context) error, error) {
	unlock, err := r.locks.acquire(ctx, obj)
	if err != nil {
		return nil, err
	}
	if r.guards == nil {
		return func(context.Context) error { unlock(); return nil }, nil
	}
	release, err := r.guards.LockObject(ctx, obj, owner, ttl)
	if err != nil {
		unlock()
		return nil, err
	}
	return func(ctx context.Context) error {
		defer unlock()
		return release(ctx)
	}, nil
}

// licenceCache keeps the tenant's licence answer for an hour: it changes
// when someone buys or drops a subscription, not between incidents.
type licenceCache struct {
	mu       sync.Mutex
	at       time.Time
	licensed bool
	plan     string
}

// licence reads whether the tenant has Workload Identities Premium from its
// subscribed SKUs' service plans.
func (r *Responder) licence(ctx context.Context) (licensed bool, plan string, err error) {
	r.lic.mu.Lock()
	defer r.lic.mu.Unlock()
	if !r.lic.at.IsZero() && r.now().Sub(r.lic.at) < time.Hour {
		return r.lic.licensed, r.lic.plan, nil
	}
	skus, err := r.dir.SubscribedSkus(ctx)
	if err != nil {
		return false, "", err
	}
	r.lic.licensed, r.lic.plan = directory.WorkloadIdentityLicensed(skus)
	r.lic.at = r.now()
	return r.lic.licensed, r.lic.plan, nil
}

// noNotifier says what a plan would have sent when no notifier is wired.
func (r *Responder) noNotifier() string {
	if r.cfg.PlannedChannels != "" {
		return "plan only: would notify by " + r.cfg.PlannedChannels
	}
	return "no notification channel is configured"
}

// Resolver is what resolving an incident needs of the ledger.
type Resolver interface {
	Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error)
	RecordDecision(ctx context.Context, spID, keyID, incidentID, by, note string, at time.Time) error
}

// Resolve closes an incident with a person's decision, and keeps that
// decision for every (service principal, key) pair Graph verified for it,
// so a later variant of the same signal (another detection id, an extra
// key id, another case) does not reopen it.
func Resolve(ctx context.Context, store Resolver, id, by, note string, now time.Time) error {
	var in *incident.Incident
	in, err := store.Mutate(ctx, id, func(cur *incident.Incident) error {
		if cur.Owner != "" && now.Before(cur.LeaseUntil) {
			return fmt.Errorf("incident %s is being worked on right now (lease until %s)", cur.ID, cur.LeaseUntil.Format(time.RFC3339))
		}
		cur.State, cur.Updated = incident.StateResolved, now
		cur.History = append(cur.History, incident.Event{At: now, Step: "resolve", What: "resolved", Detail: note, Actor: by})
		return nil
	})
	if err != nil {
		return fmt.Errorf("resolve %s: %w", id, err)
	}
	// Only what Graph verified carries the decision forward: the service
	// principal Graph named and the keys its detection named. Key ids the
	// event alone gave could be forged, and a decision on them would switch
	// off the containment of a later, genuine leak of that key.
	sp := in.App.ServicePrincipalID
	if sp == "" || !in.Verification.Verified {
		return nil
	}
	var keys []string
	for _, c := range in.Credentials {
		keys = append(keys, strings.ToLower(c.KeyID))
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range slices.Compact(keys) {
		if !ids.IsGUID(k) {
			continue
		}
		errs = append(errs, store.RecordDecision(ctx, sp, k, id, by, note, now))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resolve %s: keep the decision: %w", id, err)
	}
	return nil
}

// PrepareRedrive makes an incident runnable again at a person's request. A
// containment that was only planned (dry-run, the kill switch) or held by
// the breaker is planned afresh when the responder now enforces: that is
// how a person turns a reviewed plan into action. Protected apps, the kill
// switch and the breaker are evaluated again by the run itself.
func PrepareRedrive(cur *incident.Incident, enforce bool, operator string, now time.Time) error {
	if cur.State == incident.StateResolved {
		return fmt.Errorf("incident %s is resolved: nothing to re-drive", cur.ID)
	}
	if cur.Owner != "" && now.Before(cur.LeaseUntil) {
		return fmt.Errorf("incident %s is being worked on right now (lease until %s)", cur.ID, cur.LeaseUntil.Format(time.RFC3339))
	}
	detail := "re-drive requested"
	withheld := cur.Mode == incident.ModeDryRun || cur.Mode == incident.ModeHeld || cur.Mode == incident.ModeKillSwitch
	if enforce && withheld || !cur.Verification.Verified {
		// The plan is made again from a fresh verification, and the owners
		// are told again: what they were told described a plan, not an
		// action. Pages stay sent.
		cur.Actions = slices.DeleteFunc(cur.Actions, func(a incident.Action) bool { return a.DryRun })
		cur.Notified = slices.DeleteFunc(cur.Notified, func(n incident.Notification) bool { return n.Channel != "page" })
		cur.NotifyOnly, cur.Mode = "", ""
		for i := range cur.Steps {
			cur.Steps[i].State, cur.Steps[i].Reason = incident.Pending, ""
		}
		detail = "re-drive requested: the plan will be made again from a fresh verification and carried out if the responder enforces and every guard allows it"
	}
	for i := range cur.Steps {
		if cur.Steps[i].State == incident.Failed {
			cur.Steps[i].State = incident.Pending
		}
	}
	cur.State, cur.NextAttempt, cur.Attempts, cur.Updated = incident.StateParked, now, 0, now
	cur.History = append(cur.History, incident.Event{At: now, Step: "redrive", What: "requested", Detail: detail, Actor: operator})
	return nil
}
