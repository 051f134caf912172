// Package playbook is the responder's response to a signal: claim an
// incident, verify the signal against Graph, contain it (remove exactly the
// compromised credential, and where the rule says so confirm the service
// principal compromised or disable it), confirm that Conditional Access
// blocks the service principal, and notify the owners.
//
// The model: an Incident (internal/incident) carried through explicit
// stages. Every state change goes to the Store before the next step, and
// every write to the tenant is recorded twice: as started before the call,
// and done (or failed) after it. A write left "started" by a process that
// died is resolved by re-reading the tenant, never by writing again
// blindly. Only the holder of the incident's lease runs its stages, so the
// same signal arriving at two instances makes one set of writes.
//
// Safety comes before speed, in this order: tenant allow-list (intake),
// verify against Graph (a forged, dismissed or mismatched detection gets no
// write), exact keyId match (never a display name; ambiguity refuses),
// protected apps and the kill switch (notify only), dry-run (global and per
// rule), and the blast-radius breaker.
//
// Speed: the reads verify needs (detection, risky service principal,
// application, service principal, Conditional Access policies) go out in
// parallel, so the critical path is one round trip to verify, one to remove
// the credentials (in parallel when several), and one more only when a
// location policy needs its named locations.
package playbook

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/retry"
)

// Directory is what the playbook reads from and writes to the tenant.
// internal/graph implements it with msgraph-sdk-go; errors are classified
// with the directory package's sentinels.
type Directory interface {
	Detection(ctx context.Context, id string) (directory.Detection, error)
	RiskyServicePrincipal(ctx context.Context, spID string) (directory.RiskyServicePrincipal, error)
	Application(ctx context.Context, appID string) (directory.Object, error)
	ServicePrincipal(ctx context.Context, appID string) (directory.Object, error)
	RemovePassword(ctx context.Context, kind directory.ObjectKind, objectID, keyID string) error
	ReplaceKeyCredentials(ctx context.Context, kind directory.ObjectKind, objectID string, keep []directory.KeyCredential) error
	ConfirmCompromised(ctx context.Context, spID string) error
	DisableServicePrincipal(ctx context.Context, spID string) error
	ConditionalAccessPolicies(ctx context.Context) ([]capolicy.Policy, error)
	NamedLocations(ctx context.Context) ([]capolicy.NamedLocation, error)
	// SubscribedSkus tells whether the tenant has Workload Identities
	// Premium (the risk APIs' licence), read from its service plans.
	SubscribedSkus(ctx context.Context) ([]directory.SubscribedSku, error)
}

// Guards are the switches and leases every instance, replay and CLI shares
// through the ledger: the kill switch, the lease that makes one writer per
// directory object, and the decisions people took about a (service
// principal, key) pair. ledger.Store implements it.
type Guards interface {
	// KillSwitch reports whether the shared kill switch is on, and why.
	KillSwitch(ctx context.Context) (on bool, reason string, err error)
	// LockObject takes the write lease on a directory object, waiting
	// while another writer holds it (until ctx ends).
	LockObject(ctx context.Context, objectID, owner string, ttl time.Duration) (release func(context.Context) error, err error)
	// Decision returns a person's resolution of the (service principal,
	// key) pair, if any.
	Decision(ctx context.Context, spID, keyID string) (by, note, incidentID string, found bool, err error)
	// RecordDecision keeps a person's resolution of the pair.
	RecordDecision(ctx context.Context, spID, keyID, incidentID, by, note string, at time.Time) error
}

// Option changes a Responder.
type Option func(*Responder)

// WithGuards gives the responder the ledger's shared guards. Without them
// (unit tests of other packages) the kill switch is the process's setting
// only, credential writes are serialised within the process only, and no
// decision is remembered across incidents.
func WithGuards(g Guards) Option { return func(r *Responder) { r.guards = g } }

// Store is the incident ledger as the playbook uses it.
type Store interface {
	// Claim creates the incident if it is new; otherwise it returns the
	// stored one.
	Claim(ctx context.Context, in *incident.Incident) (stored *incident.Incident, created bool, err error)
	// Mutate applies fn to the stored incident with a conditional write,
	// re-reading and re-applying on a conflict.
	Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error)
	// ByServicePrincipal lists incidents of a service principal (to attach
	// proof of a block).
	ByServicePrincipal(ctx context.Context, spID string) ([]*incident.Incident, error)
}

// Plan is what a rule asks for a signal.
type Plan struct {
	Rule               string
	RemoveCredential   bool
	RequireAtRisk      bool // remove only when Graph shows the service principal at risk
	ConfirmCompromised bool
	Disable            bool
	CheckPolicy        bool
	Notify             bool
	DryRun             bool
	// UnlicensedFallback: for this app, when the tenant has no Workload
	// Identities Premium (so Graph cannot verify risk), act on the named
	// credential existing on the app. Off by default: without the licence
	// nothing verifies a detection, and the plan says so when it is on.
	UnlicensedFallback bool
}

// Rules maps signals to plans and says which apps are protected.
type Rules interface {
	Plan(s detect.Signal) (Plan, bool)
	Protected(appID string, spTags []string) (bool, string)
}

// Notifier delivers the incident to its owners and records each delivery
// on the incident (Recipients, Notified). It must not send twice for a
// channel and target already recorded as sent.
type Notifier interface {
	Notify(ctx context.Context, in *incident.Incident) error
}

// Pager calls on-call for an incident that needs a human.
type Pager interface {
	Page(ctx context.Context, in *incident.Incident, reason string) error
}

// Config holds the switches a person controls.
type Config struct {
	Enforce    bool // false: dry-run, plan and record every write without making it
	KillSwitch bool // true: no write to the tenant at all
	// Owner names this instance in leases (host name and process id).
	Owner string
	// StageDeadline bounds one run of an incident's stages.
	StageDeadline time.Duration
	// Lease is how long a run may hold an incident.
	Lease time.Duration
	// MaxAttempts before a parked incident needs a human.
	MaxAttempts int
	// Backoff is the first re-drive delay; it doubles per attempt.
	Backoff time.Duration
	// Operator is set for manual replays (the audit trail names them).
	Operator string
	// TenantID is the configured tenant: the breaker counts against it,
	// never against a tenant id an event carries.
	TenantID string
	// NotifyDeadline bounds the owner notification inside a run, so a
	// webhook that is down does not hold the batch; what is not delivered
	// is retried by the Sweep timer. Default 5s.
	NotifyDeadline time.Duration
	// PlannedChannels names the channels a plan would notify on when the
	// plan runs without a notifier (a dry-run replay), for its wording.
	PlannedChannels string
}

// Responder runs the playbook.
type Responder struct {
	dir     Directory
	store   Store
	rules   Rules
	breaker *breaker.Breaker
	notify  Notifier
	pager   Pager
	cfg     Config
	log     *zap.Logger
	guards  Guards
	locks   *localLocks
	lic     licenceCache
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
}

// New builds a responder. notify and pager may be nil (then the notify
// step is recorded as skipped, and pages are logged only).
func New(dir Directory, store Store, rules Rules, br *breaker.Breaker, notify Notifier, pager Pager, cfg Config, log *zap.Logger, now func() time.Time, opts ...Option) *Responder {
	if cfg.StageDeadline <= 0 {
		cfg.StageDeadline = 60 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * cfg.StageDeadline
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Minute
	}
	if cfg.Owner == "" {
		cfg.Owner = "spresponder"
	}
	if cfg.NotifyDeadline <= 0 {
		cfg.NotifyDeadline = 5 * time.Second
	}
	r := &Responder{dir: dir, store: store, rules: rules, breaker: br, notify: notify, pager: pager, cfg: cfg, log: log, now: now, sleep: retry.Sleep,
		locks: &localLocks{held: map[string]chan struct{}{}}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Outcome summarises what Respond did with a batch.
type Outcome struct {
	Claimed    []string // incident ids newly created
	Duplicates []string // incident ids that already existed
	Proof      int      // blocked sign-ins attached as proof
	Ignored    int      // signals no rule acts on
	Incidents  []*incident.Incident
}

// Respond claims an incident for every actionable signal (durably: an
// error means the batch must be retried), attaches blocked sign-ins as
// proof, and then runs the incidents' stages. A stage that fails parks its
// incident for the timer; that is not an error of Respond.
func (r *Responder) Respond(ctx context.Context, sigs []detect.Signal, log *zap.Logger) error {
	_, err := r.Handle(ctx, sigs, log)
	return err
}

// Handle is Respond with its outcome, for the CLI and tests.
func (r *Responder) Handle(ctx context.Context, sigs []detect.Signal, log *zap.Logger) (Outcome, error) {
	if log == nil {
		log = r.log
	}
	var out Outcome
	var run []string
	// Incidents about a credential come first, so that the other signals
	// of the same batch can join them: a risky-service-principal state
	// change caused by the same leak is evidence for that incident, not a
	// second incident (and a second round of emails); a blocked sign-in is
	// proof that its block works.
	bySP := map[string]string{}
	var later []detect.Signal
	// claimInto claims s and books it in the outcome and the run list; it
	// returns "" for a signal no rule acts on.
	claimInto := func(s detect.Signal) (string, error) {
		id, created, ok, err := r.claim(ctx, s)
		if err != nil || !ok {
			if !ok && err == nil {
				out.Ignored++
			}
			return "", err
		}
		if created {
			out.Claimed = append(out.Claimed, id)
		} else {
			out.Duplicates = append(out.Duplicates, id)
		}
		if !slices.Contains(run, id) {
			run = append(run, id)
		}
		return id, nil
	}
	for _, s := range sigs {
		switch s.Kind {
		case detect.BlockedSignIn, detect.RiskyServicePrincipal:
			later = append(later, s)
			continue
		}
		id, err := claimInto(s)
		if err != nil {
			return out, err
		}
		if id != "" {
			bySP[strings.ToLower(s.ServicePrincipalID)] = id
		}
	}
	proofCache := map[string][]*incident.Incident{}
	for _, s := range later {
		if s.Kind == detect.BlockedSignIn {
			// Proof is evidence, not work: failing to attach it must not
			// hold back the batch's containment.
			n, err := r.attachProof(ctx, s, proofCache)
			if err != nil {
				log.Warn("could not attach a blocked sign-in as proof", zap.String("sign_in", s.DetectionID), zap.Error(err))
			}
			out.Proof += n
			continue
		}
		if id, ok := bySP[strings.ToLower(s.ServicePrincipalID)]; ok {
			if _, err := r.store.Mutate(ctx, id, func(cur *incident.Incident) error {
				mergeSignal(cur, s, r.now())
				return nil
			}); err != nil {
				return out, fmt.Errorf("record %s signal on %s: %w", s.Kind, id, err)
			}
			out.Duplicates = append(out.Duplicates, id)
			continue
		}
		if _, err := claimInto(s); err != nil {
			return out, err
		}
	}
	// Everything is durable now; the stages run concurrently, each within
	// its own deadline, and park what they cannot finish.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := r.Run(ctx, id, log)
			if err != nil && !errors.Is(err, ErrInProgress) {
				log.Error("incident run", zap.String("incident", id), zap.Error(err))
			}
			if in != nil {
				mu.Lock()
				out.Incidents = append(out.Incidents, in)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(out.Incidents, func(a, b *incident.Incident) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// claim opens (or finds) the incident for a signal a rule acts on. ok is
// false when no rule does.
func (r *Responder) claim(ctx context.Context, s detect.Signal) (id string, created, ok bool, err error) {
	plan, ok := r.rules.Plan(s)
	if !ok {
		return "", false, false, nil
	}
	in := incident.New(s, r.now())
	in.Operator = r.cfg.Operator
	in.Record(r.now(), "claim", "rule", plan.Rule)
	stored, created, err := r.store.Claim(ctx, in)
	if err != nil {
		return "", false, false, fmt.Errorf("claim incident for %s signal of %s: %w", s.Kind, s.AppID, err)
	}
	if !created && !hasSignal(stored, s) {
		if _, err := r.store.Mutate(ctx, stored.ID, func(cur *incident.Incident) error {
			mergeSignal(cur, s, r.now())
			return nil
		}); err != nil {
			return "", false, false, fmt.Errorf("record duplicate signal on %s: %w", stored.ID, err)
		}
	}
	return stored.ID, created, true, nil
}

// hasSignal reports whether the incident already records this signal (the
// same kind from the same position): a redelivered event changes nothing.
func hasSignal(in *incident.Incident, s detect.Signal) bool {
	return slices.ContainsFunc(in.Signals, func(old detect.Signal) bool { return old.Source == s.Source && old.Kind == s.Kind })
}

// mergeSignal records a duplicate signal on an existing incident, once per
// source position.
func mergeSignal(in *incident.Incident, s detect.Signal, now time.Time) {
	if hasSignal(in, s) {
		return
	}
	in.Signals = append(in.Signals, s)
	in.Record(now, "claim", "duplicate", fmt.Sprintf("%s from partition %s seq %d", s.Kind, s.Source.Partition, s.Source.SequenceNumber))
}

// attachProof adds a blocked sign-in to the incidents of its service
// principal: Conditional Access seen working.
func (r *Responder) attachProof(ctx context.Context, s detect.Signal, cache map[string][]*incident.Incident) (int, error) {
	sp := strings.ToLower(s.ServicePrincipalID)
	ins, ok := cache[sp]
	if !ok {
		var err error
		ins, err = r.store.ByServicePrincipal(ctx, sp)
		if err != nil {
			return 0, err
		}
		cache[sp] = ins
	}
	n := 0
	for _, in := range ins {
		if in.State == incident.StateResolved {
			continue
		}
		ref := incident.SignInRef{ID: s.DetectionID, Time: s.Time, IPAddress: s.IPAddress, Location: s.Location, PolicyIDs: s.PolicyIDs, ErrorCode: s.ErrorCode}
		_, err := r.store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			if cur.Verdict == nil {
				cur.Verdict = &incident.Verdict{Outcome: incident.VerdictCannotEvaluate,
					Summary: "Conditional Access has not been evaluated for this incident yet; the refused sign-ins below show a block at work."}
			}
			for _, p := range cur.Verdict.Proof {
				if p.ID == ref.ID {
					return nil
				}
			}
			cur.Verdict.Proof = append(cur.Verdict.Proof, ref)
			cur.Record(r.now(), string(incident.StepConfirm), "blocked sign-in seen",
				fmt.Sprintf("sign-in %s from %s refused by Conditional Access (error %d, policies %s)", ref.ID, ref.IPAddress, ref.ErrorCode, strings.Join(ref.PolicyIDs, ", ")))
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

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
	run := &run{r: r, in: in, log: log, owner: owner, started: r.now()}
	stageErr := run.stages(sctx)
	return r.finish(ctx, run, stageErr)
}

// errLeaseLost: the run no longer holds the lease (it ran past it and
// another run took over, or a person resolved the incident). Nothing it
// decided is written.
var errLeaseLost = errors.New("lease lost")

// finish releases the lease and parks, escalates or closes the incident.
func (r *Responder) finish(ctx context.Context, run *run, stageErr error) (*incident.Incident, error) {
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
	return in, nil
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
