// Package usage answers "was the leaked credential used?": every
// service-principal sign-in with one of an incident's compromised keys
// from the detection's activity time on, successes and failures, with the
// address, location, resource and Conditional Access result.
//
// The model. A Query names the service principal, the keys (ids, and
// thumbprints for certificates) and the time range. Sources answer it
// independently: the hub's retained events (Hub, the same read-only
// reader as `replay --hub`, through a consumer group of its own, bounded
// in time, events and bytes) and a Log Analytics workspace that receives
// the same logs (LogAnalytics, a query of AADServicePrincipalSignInLogs
// with the azlogs client). Every record, whichever the source, is read by
// the one strict sign-in decoder (entra.DecodeSignIn; workspace rows are
// first mapped to records by internal/logtable), so the two cannot
// disagree on what a sign-in says. Gather merges what the sources found
// by sign-in id.
//
// Like the reach, use is read after containment and never on its path,
// and a source that fails is not an error but a line in Use.Unknown ("use
// unknown: permission Log Analytics Reader missing ..."): what the
// responder could not learn is said, not hidden.
package usage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
)

// Query is what to look for.
type Query struct {
	TenantID           string
	ServicePrincipalID string
	AppID              string
	// KeyIDs and Thumbprints are the compromised credentials (lower-case
	// key ids, upper-case thumbprints).
	KeyIDs      []string
	Thumbprints []string
	Since       time.Time
	Until       time.Time
	// RemovedAt says when each key id was removed from the tenant (a
	// sign-in after it is marked AfterRemoval).
	RemovedAt map[string]time.Time
}

// Validate checks the ids that reach a query (a KQL string or a request
// path) and the time range.
func (q Query) Validate() error {
	var problems []string
	if q.ServicePrincipalID == "" && q.AppID == "" {
		problems = append(problems, "no service principal or app id")
	}
	for name, v := range map[string]string{"tenantId": q.TenantID, "servicePrincipalId": q.ServicePrincipalID, "appId": q.AppID} {
		if v != "" && !ids.IsGUID(strings.ToLower(v)) {
			problems = append(problems, name+" is not a GUID")
		}
	}
	if len(q.KeyIDs) == 0 && len(q.Thumbprints) == 0 {
		problems = append(problems, "no key id or thumbprint to look for")
	}
	for _, k := range q.KeyIDs {
		if !ids.IsGUID(k) {
			problems = append(problems, fmt.Sprintf("key id %.40q is not a lower-case GUID", k))
		}
	}
	for _, t := range q.Thumbprints {
		if ids.CheckThumbprint("thumbprint", t) != nil {
			problems = append(problems, fmt.Sprintf("thumbprint %.60q is not hex", t))
		}
	}
	if q.Since.IsZero() || q.Until.Before(q.Since) {
		problems = append(problems, "the time range is empty")
	}
	if len(problems) > 0 {
		return fmt.Errorf("usage query: %s", strings.Join(problems, "; "))
	}
	return nil
}

// QueryOf derives the query of an incident: the keys Graph verified (the
// incident's credentials), or the signals' keys when Graph named none;
// from the earliest activity time of its signals to now; and when each
// key was removed (a removal done, not planned).
func QueryOf(in *incident.Incident, now time.Time) Query {
	q := Query{TenantID: in.Key.TenantID, ServicePrincipalID: strings.ToLower(in.App.ServicePrincipalID), AppID: strings.ToLower(in.App.AppID),
		Until: now, RemovedAt: map[string]time.Time{}}
	add := func(k string) {
		if k = strings.ToLower(k); k != "" && !slices.Contains(q.KeyIDs, k) {
			q.KeyIDs = append(q.KeyIDs, k)
		}
	}
	for _, c := range in.Credentials {
		add(c.KeyID)
		if c.Thumbprint != "" && !slices.Contains(q.Thumbprints, strings.ToUpper(c.Thumbprint)) {
			q.Thumbprints = append(q.Thumbprints, strings.ToUpper(c.Thumbprint))
		}
	}
	for _, s := range in.Signals {
		if len(in.Credentials) == 0 {
			for _, k := range s.KeyIDs {
				add(k)
			}
		}
		if t := s.Time; !t.IsZero() && (q.Since.IsZero() || t.Before(q.Since)) {
			q.Since = t
		}
	}
	if q.Since.IsZero() {
		q.Since = in.Created
	}
	for _, a := range in.Actions {
		if a.KeyID != "" && a.State == incident.Done && !a.DryRun && !a.Finished.IsZero() {
			q.RemovedAt[strings.ToLower(a.KeyID)] = a.Finished
		}
	}
	return q
}

// Match reads one ServicePrincipalSignInLogs record with the strict
// decoder and says whether it is a sign-in of the query's service
// principal with one of its keys, inside its time range. A record that
// does not decode is an error (the caller reports it, with where it is).
func (q Query) Match(rec []byte, source string) (incident.KeySignIn, bool, error) {
	si, err := entra.DecodeSignIn(rec)
	if err != nil {
		return incident.KeySignIn{}, false, err
	}
	p := si.Properties
	if q.TenantID != "" && si.Tenant() != "" && !strings.EqualFold(si.Tenant(), q.TenantID) {
		return incident.KeySignIn{}, false, nil
	}
	if q.ServicePrincipalID != "" && p.ServicePrincipalID != "" && !strings.EqualFold(p.ServicePrincipalID, q.ServicePrincipalID) {
		return incident.KeySignIn{}, false, nil
	}
	if q.ServicePrincipalID == "" && !strings.EqualFold(p.AppID, q.AppID) {
		return incident.KeySignIn{}, false, nil
	}
	key := strings.ToLower(p.ServicePrincipalCredentialKeyID)
	thumb := strings.ToUpper(p.ServicePrincipalCredentialThumbprint)
	if !(key != "" && slices.Contains(q.KeyIDs, key)) && !(thumb != "" && slices.Contains(q.Thumbprints, thumb)) {
		return incident.KeySignIn{}, false, nil
	}
	at := p.CreatedDateTime.Time
	if at.IsZero() {
		at = si.Time.Time
	}
	if at.Before(q.Since) || at.After(q.Until) {
		return incident.KeySignIn{}, false, nil
	}
	s := incident.KeySignIn{
		ID: p.ID, Time: at.UTC(), KeyID: key, Success: p.Status.ErrorCode == 0, ErrorCode: int(p.Status.ErrorCode),
		FailureReason: p.Status.FailureReason, IPAddress: p.IPAddress, Location: p.Location.String(),
		Resource: p.ResourceDisplayName, CAStatus: p.ConditionalAccessStatus, Source: source,
	}
	if s.ID == "" {
		// No id: one per key, time and address, so the two sources still
		// merge.
		s.ID = fmt.Sprintf("%s@%s@%s", key, at.UTC().Format(time.RFC3339Nano), p.IPAddress)
	}
	if r, ok := q.RemovedAt[key]; ok && at.After(r) {
		s.AfterRemoval = true
	}
	return s, true, nil
}

// Found is what one source read.
type Found struct {
	SignIns []incident.KeySignIn
	// Read names what was read, for Use.Sources.
	Read string
	// Unreadable lists records that could not be read, with where they are.
	Unreadable []string
}

// Source is one place sign-ins are kept.
type Source interface {
	Name() string
	SignIns(ctx context.Context, q Query) (Found, error)
}

// ErrNotConfigured is a source that has nothing to read from (no hub, no
// workspace configured).
var ErrNotConfigured = errors.New("not configured")

// PermissionError is a source that refused for want of a permission.
type PermissionError struct {
	Permission string // what to grant, e.g. "Log Analytics Reader on the workspace"
	Err        error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("permission %s missing: %v", e.Permission, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// maxUnreadableListed bounds the unreadable records named per source.
const maxUnreadableListed = 10

// Gatherer reads the use of a credential from its sources.
type Gatherer struct {
	sources []Source
	log     *zap.Logger
	now     func() time.Time
}

// New builds a gatherer over the sources (nil ones are left out).
func New(log *zap.Logger, now func() time.Time, sources ...Source) *Gatherer {
	g := &Gatherer{log: log, now: now}
	for _, s := range sources {
		if s != nil {
			g.sources = append(g.sources, s)
		}
	}
	return g
}

// Gather reads every source at once and merges what they found. It never
// fails: a source that could not be read is said in Use.Unknown.
func (g *Gatherer) Gather(ctx context.Context, q Query) incident.Use {
	u := incident.Use{Since: q.Since, Until: q.Until}
	if err := q.Validate(); err != nil {
		u.Unknown = append(u.Unknown, "use unknown: "+err.Error())
		u.At = g.now()
		return u
	}
	if len(g.sources) == 0 {
		u.Unknown = append(u.Unknown, "use unknown: no source configured (neither the hub's retained events nor a Log Analytics workspace)")
	}
	found := make([]Found, len(g.sources))
	errs := make([]error, len(g.sources))
	var wg sync.WaitGroup
	for i, s := range g.sources {
		wg.Go(func() { found[i], errs[i] = s.SignIns(ctx, q) })
	}
	wg.Wait()
	for i, s := range g.sources {
		f, err := found[i], errs[i]
		if f.Read != "" {
			u.Sources = append(u.Sources, f.Read)
		}
		if err != nil {
			u.Unknown = append(u.Unknown, g.unknown(ctx, s.Name(), err))
		}
		u.Add(f.SignIns...)
		list := f.Unreadable
		if len(list) > maxUnreadableListed {
			list = append(slices.Clip(list[:maxUnreadableListed]), fmt.Sprintf("%s: and %d more", s.Name(), len(f.Unreadable)-maxUnreadableListed))
		}
		u.Unreadable = append(u.Unreadable, list...)
	}
	u.At = g.now()
	g.log.Info("use of the credential read", zap.String("sp_id", q.ServicePrincipalID), zap.Int("sign_ins", u.Total()),
		zap.Int("successes", u.Successes), zap.Strings("sources", u.Sources), zap.Strings("unknown", u.Unknown))
	return u
}

// unknown words a failed source for a person; the error's own text goes
// to the log only, since it may carry a URL.
func (g *Gatherer) unknown(ctx context.Context, source string, err error) string {
	g.log.Warn("usage: source failed", zap.String("source", source), zap.Error(err))
	var pe *PermissionError
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("use unknown: permission %s missing (%s)", pe.Permission, source)
	case errors.Is(err, ErrNotConfigured):
		return fmt.Sprintf("use unknown: %s not configured", source)
	case errors.Is(err, ErrCapped):
		return fmt.Sprintf("use partly unknown: %s holds more than the cap; the sign-ins listed are the first ones (%s)", source, capDetail(err))
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("use unknown: %s not read in time", source)
	}
	return fmt.Sprintf("use unknown: %s not read (%s)", source, shortReason(err))
}

// Use reads the use of an incident's credential (playbook.UseReader).
func (g *Gatherer) Use(ctx context.Context, in *incident.Incident) incident.Use {
	return g.Gather(ctx, QueryOf(in, g.now()))
}
