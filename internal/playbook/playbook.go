// Package playbook is the responder's response to a signal: claim an
// incident, verify the signal against Graph, contain it (remove exactly the
// compromised credential, and where the rule says so confirm the service
// principal compromised or disable it), confirm that Conditional Access
// blocks the service principal, and notify.
//
// The model: an Incident (internal/incident) carried through explicit
// stages, one file each: claim.go (claim and dedup, proof of a block),
// verify.go, contain.go with actions.go (the table of write kinds),
// confirm.go (the Conditional Access verdict and the notification), and
// run.go (the lease, the end state, the page). Every state change goes to
// the Store before the next step, and every write to the tenant is recorded
// twice: as started before the call, and done (or failed) after it. A write
// left "started" by a process that died is resolved by re-reading the
// tenant, never by writing again blindly. Only the holder of the incident's
// lease runs its stages, so the same signal arriving at two instances makes
// one set of writes.
//
// Safety comes before speed, in this order: tenant allow-list and one
// reading of a record (intake); verify against Graph: only a Graph risk
// detection, re-read, names a key that may be removed, and a signal Graph
// does not verify makes no write and ends needing a person; protected apps,
// the kill switch (the process's and the ledger's), dry-run (global and per
// rule), and the blast-radius breaker counted against the configured
// tenant, which leaves what it withholds held for a person. A credential
// write holds the directory object's lease in the ledger (Guards), so
// writes to one object are serialised across incidents and instances, and
// it is done only when a fresh read agrees.
//
// Speed: the reads verify needs go out in parallel, so the critical path to
// a secret's removal is one round trip to verify and one to remove it (plus
// the ledger's lease); a certificate adds a fresh read under the lease, and
// every credential write a read-back before it is marked done. Two of
// verify's reads (the detection, the risky service principal) count against
// the tenant's identity protection budget (internal/budget, held by the
// Graph client); the Conditional Access policies and named locations come
// from a cache (PolicyCache); a copy that needs reading is read by confirm,
// after containment. A read the budget
// cannot send before the run's deadline fails as transient: the incident
// parks and the Sweep re-drives it.
package playbook

import (
	"context"
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

// WithPolicyCache shares the process's Conditional Access cache (the one
// the Sweep timer refreshes and audit records invalidate). Without it the
// responder keeps a cache of its own.
func WithPolicyCache(c PolicyCache) Option { return func(r *Responder) { r.policies = c } }

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
	// MarkSelfTest records that a self-test event arrived (first is true
	// for its first delivery): what `spresponder selftest` waits for.
	MarkSelfTest(ctx context.Context, detectionID string, at time.Time) (first bool, err error)
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
	// ByTier is what each tier of reach adds once the reach is known
	// (reach.go); nil adds nothing.
	ByTier map[string]ReachPlan
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
	// PolicyMaxAge is the oldest copy of the Conditional Access policies
	// and named locations a verdict is computed from; an older one is read
	// again first (capolicy.Networks). Default 10m.
	PolicyMaxAge time.Duration
}

// PolicyCache keeps the tenant's Conditional Access policies and named
// locations between incidents, so an incident costs no request to those
// rate-limited APIs; *capolicy.Networks implements it.
type PolicyCache interface {
	// Current returns the copy, reading it again first when it is older
	// than maxAge or stale.
	Current(ctx context.Context, g capolicy.Reader, maxAge time.Duration) (capolicy.Snapshot, error)
	// Fresh returns the copy only when no read is needed.
	Fresh(maxAge time.Duration) (capolicy.Snapshot, bool)
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
	// reach assesses what the credential could do, after containment
	// (reach.go); nil: not assessed.
	reach         Reacher
	reachDeadline time.Duration
	// policies is the Conditional Access cache verify reads.
	policies PolicyCache
	// use reads the sign-ins with the credential, after containment
	// (use.go); nil: not read.
	use         UseReader
	useDeadline time.Duration
	// watch learns the incidents Handle ran (use.go); nil: nobody.
	watch Watcher
	// phone is the security contact's phone webhook (reach: phone); nil:
	// none configured, and a phone asked for is logged.
	phone Pager
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
	if cfg.PolicyMaxAge <= 0 {
		cfg.PolicyMaxAge = 10 * time.Minute
	}
	r := &Responder{dir: dir, store: store, rules: rules, breaker: br, notify: notify, pager: pager, cfg: cfg, log: log, now: now, sleep: retry.Sleep,
		locks: &localLocks{held: map[string]chan struct{}{}}, policies: &capolicy.Networks{Now: now}}
	for _, o := range opts {
		o(r)
	}
	return r
}
