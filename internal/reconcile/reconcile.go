// Package reconcile makes sure the responder does not depend on the event
// stream alone (THREATS invariant 8: nothing is lost silently). Entra's
// diagnostic setting can be changed, the hub can drop a batch after the
// host's last retry, a category can stop flowing; none of that says so in
// the stream itself. So, on the Sweep timer:
//
//   - a reconcile round asks Graph for the service-principal risk
//     detections and risky service principals changed since a watermark
//     kept in the ledger (minus an overlap), turns each into the signal the
//     stream would have made, and hands it to the same playbook: the
//     ledger's canonical incident keys make a detection the stream already
//     delivered a duplicate, and one it never delivered an incident. The
//     watermark moves only after a round's signals are durable.
//   - a heartbeat check pages on-call once when a log category has been
//     silent for longer than configured, and again when it resumes.
//
// Identity protection allows about one request per second per tenant and
// answers 429 without Retry-After (graph-write-facts §5), so a round paces
// its page requests and, when throttled, stops early and backs off across
// rounds (doubling, in the ledger, so every instance honours it) instead
// of hammering.
//
// Every request a round sends draws from the Graph client's identity
// protection budget (internal/budget), the one verify and replay draw from
// in the same process: a round's pages take their turns between verify's
// reads. Config.Pace is an extra wait between pages on top of it.
// Across instances the budget is a per-instance share
// (SPRESPONDER_RISK_API_RATE), and the backoff after a 429 is shared in the
// ledger. Only the first configured tenant is reconciled.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/retry"
)

// Lister reads Graph's lists of changes one page at a time;
// *graph.Client implements it.
type Lister interface {
	DetectionsChangedSince(ctx context.Context, since time.Time, next string) ([]directory.ListedDetection, string, error)
	RiskyServicePrincipalsChangedSince(ctx context.Context, since time.Time, next string) ([]directory.ListedRiskyServicePrincipal, string, error)
}

// Handler claims and runs signals; *playbook.Responder implements it.
// Handle returns only when the signals are durable in the ledger.
type Handler interface {
	Handle(ctx context.Context, sigs []detect.Signal, log *zap.Logger) (playbook.Outcome, error)
}

// Marks keeps the watermarks; ledger.Watermarks implements it.
type Marks interface {
	Get(ctx context.Context, name string) (ledger.Watermark, error)
	Advance(ctx context.Context, name string, at time.Time) error
	Throttled(ctx context.Context, name string, backoff func(inARow int) time.Duration, why string) (time.Time, int, error)
}

// The lists a round reads, also the watermarks' names.
const (
	Detections             = "servicePrincipalRiskDetections"
	RiskyServicePrincipals = "riskyServicePrincipals"
)

// Config tunes a round. Zero fields take the defaults.
type Config struct {
	// TenantID is the configured tenant: the signals' tenant, as the
	// stream's are checked against it.
	TenantID string
	// Overlap is subtracted from the watermark, for changes Graph shows a
	// little late (clock skew, replication). Default 5m.
	Overlap time.Duration
	// Lookback is how far the first round (no watermark yet) looks. Default 24h.
	Lookback time.Duration
	// Pace is the wait between two page requests: identity protection
	// allows about one request per second per tenant. Default 1s.
	Pace time.Duration
	// Backoff is the first wait after a throttled round; it doubles with
	// each throttled round in a row, up to MaxBackoff. Defaults 1m and 1h.
	Backoff, MaxBackoff time.Duration
	// MaxPages bounds the pages of one list in one round (bounded
	// resources); past it the round stops early without moving the
	// watermark and the next round continues. Default 50.
	MaxPages int
}

func (c Config) withDefaults() Config {
	if c.Overlap <= 0 {
		c.Overlap = 5 * time.Minute
	}
	if c.Lookback <= 0 {
		c.Lookback = 24 * time.Hour
	}
	if c.Pace < 0 {
		c.Pace = 0
	} else if c.Pace == 0 {
		c.Pace = time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Minute
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.MaxPages <= 0 {
		c.MaxPages = 50
	}
	return c
}

// NoPace is a Config.Pace that means "no wait between pages" (tests, the
// simulated tenant).
const NoPace = -1

// Reconciler runs reconcile rounds.
type Reconciler struct {
	cfg   Config
	list  Lister
	h     Handler
	marks Marks
	log   *zap.Logger
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// New builds a Reconciler. now is the clock (injected for tests).
func New(cfg Config, list Lister, h Handler, marks Marks, log *zap.Logger, now func() time.Time) *Reconciler {
	return &Reconciler{cfg: cfg.withDefaults(), list: list, h: h, marks: marks, log: log, now: now, sleep: retry.Sleep}
}

// ListReport is what a round did with one list.
type ListReport struct {
	List      string
	Since     time.Time
	Pages     int
	Items     int
	Signals   int
	New       []string // incidents the round opened (the stream had not delivered them)
	Handled   []string // incidents that already existed
	Refused   int      // items whose ids did not pass the checks the stream applies
	Inactive  int      // items not at risk (dismissed, remediated): no signal, as from the stream
	Skipped   string   // why the list was not read this round, if it was not
	Advanced  time.Time
	Throttled bool
	Err       error
}

// Report is a round's outcome.
type Report struct{ Lists []ListReport }

// String is the Sweep's summary line of the round.
func (r Report) String() string {
	var parts []string
	for _, l := range r.Lists {
		switch {
		case l.Skipped != "":
			parts = append(parts, fmt.Sprintf("%s: %s", l.List, l.Skipped))
		case l.Throttled:
			parts = append(parts, fmt.Sprintf("%s: throttled after %d page(s), round stopped, watermark kept", l.List, l.Pages))
		case l.Err != nil:
			parts = append(parts, fmt.Sprintf("%s: failed after %d page(s), watermark kept: %v", l.List, l.Pages, l.Err))
		default:
			parts = append(parts, fmt.Sprintf("%s: %d changed since %s, %d incident(s) new, %d already handled, %d refused, watermark %s",
				l.List, l.Items, l.Since.UTC().Format(time.RFC3339), len(l.New), len(l.Handled), l.Refused, l.Advanced.UTC().Format(time.RFC3339)))
		}
	}
	return "reconcile: " + strings.Join(parts, "; ")
}

// Round runs one reconcile round over both lists. The error is non-nil
// when a list could not be read or its signals not made durable; the
// report says how far each list got either way. A throttled list is not
// an error: the round stops and the next Sweep after the backoff resumes.
func (r *Reconciler) Round(ctx context.Context, log *zap.Logger) (Report, error) {
	if log == nil {
		log = r.log
	}
	var rep Report
	var errs []error
	for _, name := range []string{Detections, RiskyServicePrincipals} {
		lr := r.list1(ctx, name, log)
		rep.Lists = append(rep.Lists, lr)
		if lr.Throttled || lr.Skipped != "" {
			// The budget is the tenant's: the other list would be
			// throttled too, and reading it during the backoff is the
			// hammering the backoff is there to stop.
			break
		}
		if lr.Err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s: %w", name, lr.Err))
		}
	}
	return rep, errors.Join(errs...)
}

func (r *Reconciler) list1(ctx context.Context, name string, log *zap.Logger) ListReport {
	lr := ListReport{List: name}
	log = log.With(zap.String("list", name))
	m, err := r.marks.Get(ctx, name)
	if err != nil {
		lr.Err = err
		return lr
	}
	start := r.now()
	if start.Before(m.BackoffUntil) {
		lr.Skipped = fmt.Sprintf("backing off after %d throttled round(s) until %s", m.Throttled, m.BackoffUntil.UTC().Format(time.RFC3339))
		return lr
	}
	lr.Since = start.Add(-r.cfg.Lookback)
	if !m.At.IsZero() {
		lr.Since = m.At.Add(-r.cfg.Overlap)
	}
	err = r.pages(ctx, name, lr.Since, func(sigs []detect.Signal) error {
		lr.Pages++
		out, err := r.h.Handle(ctx, sigs, log)
		lr.New = append(lr.New, out.Claimed...)
		lr.Handled = append(lr.Handled, out.Duplicates...)
		return err
	}, &lr)
	var th *directory.ThrottledError
	switch {
	case errors.As(err, &th):
		lr.Throttled = true
		backoff := func(n int) time.Duration {
			return max(min(r.cfg.Backoff<<min(n-1, 16), r.cfg.MaxBackoff), th.RetryAfter)
		}
		until, n, merr := r.marks.Throttled(ctx, name, backoff, redactErr(err))
		if merr != nil {
			lr.Err = merr
		}
		log.Warn("reconcile throttled by Graph: round stopped, watermark kept", zap.Int("pages", lr.Pages),
			zap.Int("throttled_rounds", n), zap.Time("next_round_after", until), zap.Error(err))
		return lr
	case err != nil:
		lr.Err = err
		return lr
	}
	// Every change before start is now durable in the ledger.
	if err := r.marks.Advance(ctx, name, start); err != nil {
		lr.Err = err
		return lr
	}
	lr.Advanced = start
	if len(lr.New) > 0 {
		log.Warn("reconcile found incidents the stream had not delivered", zap.Strings("incidents", lr.New))
	}
	return lr
}

// redactErr is an error's text for the ledger: graph's errors carry no
// URL or token (graph.Classify), so its message is safe as it is.
func redactErr(err error) string { return err.Error() }

// pages reads the list page by page from since, turning each page into
// signals and handing them to take before reading the next.
func (r *Reconciler) pages(ctx context.Context, name string, since time.Time, take func([]detect.Signal) error, lr *ListReport) error {
	link := ""
	for page := 0; ; page++ {
		if page >= r.cfg.MaxPages {
			return fmt.Errorf("more than %d pages of changes: stopped, the next round continues from the same watermark", r.cfg.MaxPages)
		}
		if page > 0 && r.cfg.Pace > 0 {
			if err := r.sleep(ctx, r.cfg.Pace); err != nil {
				return err
			}
		}
		sigs, next, err := r.page(ctx, name, since, link, lr)
		if err != nil {
			return err
		}
		if len(sigs) > 0 {
			if err := take(sigs); err != nil {
				return fmt.Errorf("signals of page %d not durable: %w", page+1, err)
			}
		} else {
			lr.Pages++
		}
		if next == "" {
			return nil
		}
		link = next
	}
}

// page reads one page and makes its signals.
func (r *Reconciler) page(ctx context.Context, name string, since time.Time, link string, lr *ListReport) ([]detect.Signal, string, error) {
	var sigs []detect.Signal
	add := func(s detect.Signal, ok bool) {
		lr.Items++
		if !ok {
			lr.Inactive++
			return
		}
		if err := s.CheckIDs(); err != nil {
			// The stream quarantines such a record; Graph should never
			// hand one out, so this is logged loudly, not acted on.
			lr.Refused++
			r.log.Error("reconcile refused an item whose ids do not check", zap.String("list", name), zap.String("detection_id", s.DetectionID), zap.Error(err))
			return
		}
		lr.Signals++
		sigs = append(sigs, s)
	}
	switch name {
	case Detections:
		items, next, err := r.list.DetectionsChangedSince(ctx, since, link)
		if err != nil {
			return nil, "", err
		}
		for _, d := range items {
			s, ok := DetectionSignal(r.cfg.TenantID, d)
			add(s, ok)
		}
		return sigs, next, nil
	case RiskyServicePrincipals:
		items, next, err := r.list.RiskyServicePrincipalsChangedSince(ctx, since, link)
		if err != nil {
			return nil, "", err
		}
		for _, p := range items {
			s, ok := RiskySignal(r.cfg.TenantID, p)
			add(s, ok)
		}
		return sigs, next, nil
	}
	return nil, "", fmt.Errorf("unknown list %q", name)
}

// active is the stream's rule (detect.RiskEvent, RiskyServicePrincipal): a
// dismissed or remediated item asks for nothing.
func active(state string) bool { return state == "atRisk" || state == "confirmedCompromised" }

// DetectionSignal is the signal the stream makes of a
// ServicePrincipalRiskEvents record (detect.Batch.RiskEvent) for the same
// detection, so that both key the same incident. ok is false for a
// detection that is not at risk.
func DetectionSignal(tenant string, d directory.ListedDetection) (detect.Signal, bool) {
	s := detect.Signal{
		Kind:               detect.RiskDetection,
		TenantID:           tenant,
		AppID:              strings.ToLower(d.AppID),
		ServicePrincipalID: strings.ToLower(d.ServicePrincipalID),
		DisplayName:        d.DisplayName,
		DetectionID:        d.ID,
		RiskEventType:      d.RiskEventType,
		RiskLevel:          d.RiskLevel,
		RiskState:          d.RiskState,
		RiskDetail:         d.RiskDetail,
		IPAddress:          d.IPAddress,
		Activity:           d.Activity,
		Time:               firstTime(d.ActivityTime, d.LastUpdated),
		DetectedTime:       d.Detected,
		// Via alone, no time: the same detection listed again by the
		// next round's overlap is the same signal (playbook.hasSignal).
		Source: detect.Source{Via: detect.ViaReconcile},
	}
	for _, k := range d.KeyIDs {
		s.KeyIDs = append(s.KeyIDs, strings.ToLower(k))
	}
	if d.RiskEventType == "leakedCredentials" {
		s.Kind = detect.LeakedCredential
	}
	return s, active(d.RiskState)
}

// RiskySignal is the signal the stream makes of a RiskyServicePrincipals
// record (detect.Batch.RiskyServicePrincipal) for the same state.
func RiskySignal(tenant string, p directory.ListedRiskyServicePrincipal) (detect.Signal, bool) {
	return detect.Signal{
		Kind:               detect.RiskyServicePrincipal,
		TenantID:           tenant,
		AppID:              strings.ToLower(p.AppID),
		ServicePrincipalID: strings.ToLower(p.ID),
		DisplayName:        p.DisplayName,
		RiskLevel:          p.RiskLevel,
		RiskState:          p.RiskState,
		RiskDetail:         p.RiskDetail,
		Time:               p.LastUpdated,
		Source:             detect.Source{Via: detect.ViaReconcile},
	}, active(p.RiskState)
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// Collect reads both lists from since without handling anything or
// moving a watermark: what replay --graph plans or executes. A throttled
// list stops the reading and is returned as the error (a person is
// waiting, and may run it again later).
func (r *Reconciler) Collect(ctx context.Context, since time.Time) ([]detect.Signal, []ListReport, error) {
	var all []detect.Signal
	var reps []ListReport
	for _, name := range []string{Detections, RiskyServicePrincipals} {
		lr := ListReport{List: name, Since: since}
		err := r.pages(ctx, name, since, func(sigs []detect.Signal) error {
			lr.Pages++
			all = append(all, sigs...)
			return nil
		}, &lr)
		reps = append(reps, lr)
		if err != nil {
			return all, reps, fmt.Errorf("read %s changed since %s: %w", name, since.UTC().Format(time.RFC3339), err)
		}
	}
	return all, reps, nil
}
