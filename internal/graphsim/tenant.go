package graphsim

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Tenant is a simulated Graph tenant. Create it with New; serve it with
// Handler, Start or Serve. All methods are safe for concurrent use.
type Tenant struct {
	log   *zap.Logger
	now   func() time.Time
	newID func() string

	mu       sync.Mutex
	tenantID string
	licensed bool
	latency  time.Duration
	faults   []*activeFault
	throttle throttle
	pageSize int  // lists without $top: pages of this size (0: one page)
	upToNow  bool // risk lists hide changes after the clock

	users      []*User
	groups     []*Group
	apps       []*Application
	sps        []*ServicePrincipal
	detections []*ServicePrincipalRiskDetection
	risky      []*RiskyServicePrincipal
	policies   []ConditionalAccessPolicy
	locations  []NamedLocation
	// assignments are app role assignments (setup.go).
	assignments []AppRoleAssignment
	// roleAssignments, roleDefinitions and grants serve the reach of a
	// credential (reach.go).
	roleAssignments []RoleAssignment
	roleDefinitions []RoleDefinition
	grants          []OAuth2PermissionGrant

	requests   []Request
	counts     map[string]int
	writes     []Write
	mail       []Mail
	unexpected []Request
}

// Option configures a Tenant.
type Option func(*Tenant)

// WithLogger sets the logger (zap.NewNop by default).
func WithLogger(l *zap.Logger) Option { return func(t *Tenant) { t.log = l } }

// WithClock sets the clock used for log entries, writes and the risk
// timestamps the tenant updates.
func WithClock(now func() time.Time) Option { return func(t *Tenant) { t.now = now } }

// WithIDs sets the source of new ids (request ids, keyIds of added
// certificates); random UUIDs by default.
func WithIDs(newID func() string) Option { return func(t *Tenant) { t.newID = newID } }

// WithLatency adds d to every Graph request, overriding the seed's latency.
func WithLatency(d time.Duration) Option { return func(t *Tenant) { t.latency = d } }

// WithWorkloadIdentitiesPremium overrides the seed's licence switch.
func WithWorkloadIdentitiesPremium(on bool) Option { return func(t *Tenant) { t.licensed = on } }

// WithFaults adds faults after the seed's own. It panics on an invalid
// fault, like New on an invalid seed: both are programming errors in a test.
func WithFaults(faults ...Fault) Option {
	return func(t *Tenant) {
		for _, f := range faults {
			if err := t.addFault(f); err != nil {
				panic(err)
			}
		}
	}
}

// New builds a tenant from a seed. It panics if the seed is invalid (Load
// and DecodeSeed return that error instead), because a test built on a
// broken tenant would prove nothing. The seed is copied; later changes to it
// do not affect the tenant.
func New(seed Seed, opts ...Option) *Tenant {
	if err := seed.Validate(); err != nil {
		panic(fmt.Sprintf("graphsim: invalid seed: %v", err))
	}
	normalize(&seed)
	t := &Tenant{
		log:      zap.NewNop(),
		now:      time.Now,
		newID:    randomUUID,
		tenantID: seed.TenantID,
		licensed: seed.WorkloadIdentitiesPremium,
		latency:  time.Duration(seed.Latency),
		counts:   map[string]int{},
		throttle: newThrottle(DefaultThrottleRate, DefaultThrottleBurst),
	}
	for _, u := range seed.Users {
		t.users = append(t.users, &u)
	}
	for _, g := range seed.Groups {
		t.groups = append(t.groups, &g)
	}
	for _, a := range seed.Applications {
		a = a.clone()
		t.apps = append(t.apps, &a)
	}
	for _, sp := range seed.ServicePrincipals {
		sp = sp.clone()
		t.sps = append(t.sps, &sp)
	}
	for _, d := range seed.ServicePrincipalRiskDetections {
		d = d.clone()
		t.detections = append(t.detections, &d)
	}
	for _, r := range seed.RiskyServicePrincipals {
		t.risky = append(t.risky, &r)
	}
	t.policies = slices.Clone(seed.ConditionalAccessPolicies)
	t.locations = slices.Clone(seed.NamedLocations)
	t.assignments = slices.Clone(seed.AppRoleAssignments)
	t.roleAssignments = slices.Clone(seed.RoleAssignments)
	t.roleDefinitions = append(BuiltInRoleDefinitions(), seed.RoleDefinitions...)
	t.grants = slices.Clone(seed.OAuth2PermissionGrants)
	for _, f := range seed.Faults {
		if err := t.addFault(f); err != nil {
			panic(err) // unreachable: Validate checked the faults
		}
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// AddFault adds a fault; faults are tried in the order added and the first
// matching one with hits left strikes (latency faults all add up).
func (t *Tenant) AddFault(f Fault) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addFault(f)
}

func (t *Tenant) addFault(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("graphsim: fault %q: %w", f.Route, err)
	}
	m, segs, _ := parsePattern(f.Route)
	t.faults = append(t.faults, &activeFault{Fault: f, method: m, segs: segs})
	return nil
}

// ClearFaults removes all faults (the global latency stays).
func (t *Tenant) ClearFaults() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = nil
}

// SetLatency sets the delay added to every Graph request.
func (t *Tenant) SetLatency(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latency = d
}

// SetWorkloadIdentitiesPremium switches the licence the identityProtection
// routes need.
func (t *Tenant) SetWorkloadIdentitiesPremium(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.licensed = on
}

// Requests returns the Graph requests served so far, oldest first (admin
// /_sim/ requests are not logged).
func (t *Tenant) Requests() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.requests)
}

// RouteCounts returns how many requests each route served, keyed by route
// name such as "POST /applications/{id}/removePassword".
func (t *Tenant) RouteCounts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.counts)
}

// Writes returns the changes applied to the tenant, oldest first.
func (t *Tenant) Writes() []Write {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.writes)
}

// SentMail returns the messages accepted by sendMail, oldest first.
func (t *Tenant) SentMail() []Mail {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Mail, len(t.mail))
	for i, m := range t.mail {
		out[i] = m.clone()
	}
	return out
}

// Unexpected returns the requests no route served (unknown paths, wrong
// methods, any DELETE). A test of the responder should find none.
func (t *Tenant) Unexpected() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.unexpected)
}

// snap copies tenant objects for a caller; call it with t.mu held.
func snap[T any](items []*T, clone func(T) T) []T {
	out := make([]T, len(items))
	for i, v := range items {
		out[i] = clone(*v)
	}
	return out
}

func same[T any](v T) T { return v }

// Applications returns a snapshot of all applications.
func (t *Tenant) Applications() []Application {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snap(t.apps, Application.clone)
}

// ServicePrincipals returns a snapshot of all service principals.
func (t *Tenant) ServicePrincipals() []ServicePrincipal {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snap(t.sps, ServicePrincipal.clone)
}

// RiskyServicePrincipals returns a snapshot of Identity Protection's risk states.
func (t *Tenant) RiskyServicePrincipals() []RiskyServicePrincipal {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snap(t.risky, same)
}

// RiskDetections returns a snapshot of the service principal risk detections.
func (t *Tenant) RiskDetections() []ServicePrincipalRiskDetection {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snap(t.detections, ServicePrincipalRiskDetection.clone)
}

// Application returns a snapshot of the application with this object id or appId.
func (t *Tenant) Application(idOrAppID string) (Application, bool) {
	for _, a := range t.Applications() {
		if strings.EqualFold(a.ID, idOrAppID) || strings.EqualFold(a.AppID, idOrAppID) {
			return a, true
		}
	}
	return Application{}, false
}

// ServicePrincipal returns a snapshot of the service principal with this
// object id or appId.
func (t *Tenant) ServicePrincipal(idOrAppID string) (ServicePrincipal, bool) {
	for _, sp := range t.ServicePrincipals() {
		if strings.EqualFold(sp.ID, idOrAppID) || strings.EqualFold(sp.AppID, idOrAppID) {
			return sp, true
		}
	}
	return ServicePrincipal{}, false
}

// State is everything the admin API's GET /_sim/state returns.
type State struct {
	TenantID                       string                          `json:"tenantId"`
	WorkloadIdentitiesPremium      bool                            `json:"workloadIdentitiesPremium"`
	Applications                   []Application                   `json:"applications"`
	ServicePrincipals              []ServicePrincipal              `json:"servicePrincipals"`
	RiskyServicePrincipals         []RiskyServicePrincipal         `json:"riskyServicePrincipals"`
	ServicePrincipalRiskDetections []ServicePrincipalRiskDetection `json:"servicePrincipalRiskDetections"`
	Writes                         []Write                         `json:"writes"`
	SentMail                       []Mail                          `json:"sentMail"`
	Unexpected                     []Request                       `json:"unexpected"`
}

// Snapshot returns the whole state at one instant.
func (t *Tenant) Snapshot() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	mail := make([]Mail, len(t.mail))
	for i, m := range t.mail {
		mail[i] = m.clone()
	}
	return State{
		TenantID: t.tenantID, WorkloadIdentitiesPremium: t.licensed,
		Applications: snap(t.apps, Application.clone), ServicePrincipals: snap(t.sps, ServicePrincipal.clone),
		RiskyServicePrincipals: snap(t.risky, same), ServicePrincipalRiskDetections: snap(t.detections, ServicePrincipalRiskDetection.clone),
		Writes: slices.Clone(t.writes), SentMail: mail, Unexpected: slices.Clone(t.unexpected),
	}
}
