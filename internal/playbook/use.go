package playbook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

// UseReader reads the sign-ins with an incident's credential since the
// detection (internal/usage). It never fails: what it cannot read is in
// the result's Unknown.
type UseReader interface {
	Use(ctx context.Context, in *incident.Incident) incident.Use
}

// WithUse makes the responder read the use of every verified incident's
// credential after containment, right before the notice, within deadline
// (default 10s): what is not read by then says so ("not read in time"),
// and `spresponder investigate --refresh` reads it without that bound.
func WithUse(u UseReader, deadline time.Duration) Option {
	return func(r *Responder) {
		if deadline <= 0 {
			deadline = 10 * time.Second
		}
		r.use, r.useDeadline = u, deadline
	}
}

// Watcher learns the incidents a Handle ran, so that the sign-ins with
// their keys that arrive next in the stream are attached to them at once
// rather than after the next refresh (internal/usage.Watch).
type Watcher interface {
	Add(ins ...*incident.Incident)
}

// WithWatch tells w of every incident Handle ran.
func WithWatch(w Watcher) Option { return func(r *Responder) { r.watch = w } }

// gatherUse runs after contain and confirm, before notify, like the reach
// and for the same reasons: the removal is behind us, the reads have their
// own deadline, and nothing here fails the run. Only verified incidents
// are read (a forged record must not make the responder read a hub's
// retention on its behalf).
func (x *pass) gatherUse(ctx context.Context) {
	if x.r.use == nil || (x.in.Use != nil && !x.in.Use.At.IsZero()) || !x.in.Verification.Verified || x.in.Verification.Closed != "" || x.in.App.ServicePrincipalID == "" {
		return
	}
	uctx, cancel := context.WithTimeout(ctx, x.r.useDeadline)
	u := x.r.use.Use(uctx, x.in)
	cancel()
	if x.in.Use != nil {
		// Sign-ins the stream attached before this read stay.
		u.Add(x.in.Use.SignIns...)
		u.StillWorks = x.in.Use.StillWorks
	}
	x.in.Use = &u
	lead := u.Lead(2)
	x.record("use", "read", fmt.Sprintf("%d sign-in(s) with the key since %s (%d succeeded): %s", u.Total(), u.Since.UTC().Format(time.RFC3339), u.Successes, strings.Join(lead, " ")))
	if s, ok := stillWorks(&u); ok {
		u.StillWorks = &s
		x.record("use", "still works", s.Describe())
		x.pages = append(x.pages, incident.StillWorksReason(s))
	}
}

// mergeUse keeps what the run read and adds what the stream attached to
// the stored incident meanwhile.
func mergeUse(run, stored *incident.Use) *incident.Use {
	u := *run
	u.SignIns = append([]incident.KeySignIn(nil), run.SignIns...)
	if stored != nil {
		u.Add(stored.SignIns...)
		if stored.StillWorks != nil {
			u.StillWorks = stored.StillWorks
		}
	}
	return &u
}

// stillWorks finds the first successful sign-in after the key's removal,
// unless one has paged already.
func stillWorks(u *incident.Use) (incident.KeySignIn, bool) {
	if u.StillWorks != nil {
		return incident.KeySignIn{}, false
	}
	for _, s := range u.SignIns {
		if s.Success && s.AfterRemoval {
			return s, true
		}
	}
	return incident.KeySignIn{}, false
}

// namesKey reports whether the incident names the key (Graph's credentials,
// or the signals' keys when Graph named none).
func namesKey(in *incident.Incident, key string) bool {
	key = strings.ToLower(key)
	if len(in.Credentials) > 0 {
		for _, c := range in.Credentials {
			if strings.EqualFold(c.KeyID, key) {
				return true
			}
		}
		return false
	}
	for _, s := range in.Signals {
		if s.Kind == detect.KeySignIn {
			continue
		}
		for _, k := range s.KeyIDs {
			if strings.EqualFold(k, key) {
				return true
			}
		}
	}
	return false
}

// removedAt is when the key's removal was done (zero: not removed).
func removedAt(in *incident.Incident, key string) time.Time {
	for _, a := range in.Actions {
		if strings.EqualFold(a.KeyID, key) && a.State == incident.Done && !a.DryRun {
			return a.Finished
		}
	}
	return time.Time{}
}

// historyUseLines bounds the history lines attached sign-ins write: a job
// that keeps trying a removed key for a week must not grow the incident
// without limit (the Use counts them all and keeps the first and latest).
const historyUseLines = 20

// attachUse adds a sign-in with a watched key to the incidents that name
// the key, as it arrives after containment (as attachProof does for a
// refused sign-in). The first successful sign-in after the key's removal
// pages on-call, once: the credential still works somewhere (another
// copy of the key, a certificate on the service principal, a tenant
// whose removal did not reach every replica). Which mutation sets
// StillWorks is decided under the ledger's concurrency control, so two
// instances page once between them.
func (r *Responder) attachUse(ctx context.Context, s detect.Signal, cache map[string][]*incident.Incident, log *zap.Logger) (int, error) {
	sp := strings.ToLower(s.ServicePrincipalID)
	ins, ok := cache[sp]
	if !ok {
		var err error
		if ins, err = r.store.ByServicePrincipal(ctx, sp); err != nil {
			return 0, err
		}
		cache[sp] = ins
	}
	if len(s.KeyIDs) == 0 {
		return 0, nil
	}
	key := strings.ToLower(s.KeyIDs[0])
	n := 0
	for _, in := range ins {
		if in.State == incident.StateResolved || !namesKey(in, key) {
			continue
		}
		var paged *incident.KeySignIn
		stored, err := r.store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			paged = nil
			ks := incident.KeySignIn{ID: s.DetectionID, Time: s.Time.UTC(), KeyID: key, Success: s.ErrorCode == 0, ErrorCode: s.ErrorCode,
				IPAddress: s.IPAddress, Location: s.Location, Resource: s.Resource, CAStatus: s.CAStatus, Source: "stream"}
			if at := removedAt(cur, key); !at.IsZero() && ks.Time.After(at) {
				ks.AfterRemoval = true
			}
			since := useSince(cur)
			if ks.Time.Before(since) {
				return nil // before the detection's activity time: not the leak's use
			}
			if cur.Use == nil {
				cur.Use = &incident.Use{Since: since}
			}
			if cur.Use.Add(ks) == 0 {
				return nil // seen before (a redelivery)
			}
			if cur.Use.Total() <= historyUseLines {
				cur.Record(r.now(), "use", "sign-in with the key seen", ks.Describe())
			}
			if s, ok := stillWorks(cur.Use); ok {
				cur.Use.StillWorks = &s
				cur.Record(r.now(), "use", "still works", s.Describe())
				paged = &s
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
		if paged != nil {
			r.pageOnCall(ctx, stored, incident.StillWorksReason(*paged), log)
		}
	}
	return n, nil
}

// useSince is when the use of an incident's credential is counted from:
// the earliest activity time of its signals (the detection's), else when
// the incident opened.
func useSince(in *incident.Incident) time.Time {
	var since time.Time
	for _, s := range in.Signals {
		if s.Kind != detect.KeySignIn && !s.Time.IsZero() && (since.IsZero() || s.Time.Before(since)) {
			since = s.Time
		}
	}
	if since.IsZero() {
		return in.Created
	}
	return since
}
