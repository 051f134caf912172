// Package incident is the responder's unit of work and of record: one
// incident per compromised credential set of one service principal, opened by
// one or more signals and carried through the stages verify, contain, confirm
// and notify. The ledger stores it; every write to a tenant is recorded on it
// before and after it happens, so a crash between the two is resolved by
// re-reading the tenant, never by writing again blindly.
//
// The package holds plain data and pure helpers only: no I/O, no clock.
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
)

// Key identifies an incident. Two signals with the same key are the same
// incident, whichever instance, batch or replay they arrive through.
type Key struct {
	TenantID           string   `json:"tenantId"`
	ServicePrincipalID string   `json:"servicePrincipalId"`
	AppID              string   `json:"appId"`
	KeyIDs             []string `json:"keyIds"`
	DetectionID        string   `json:"detectionId"`
	// RiskState keys a risky-service-principal incident: the state change
	// (atRisk, confirmedCompromised) is what it is about. Empty otherwise.
	RiskState string `json:"riskState,omitempty"`
}

// KeyOf derives an incident key from a signal, in canonical form, so that
// variants of one signal (another case, key ids listed in another order or
// with an extra one) are one incident. A risk detection is keyed on its
// detection id alone, not on the key ids the event lists: the detection is
// what Graph verifies, and it names the keys. Other signals are keyed on
// the key ids they carry, sorted and lower-cased; a risky service
// principal on its risk state as well.
func KeyOf(s detect.Signal) Key {
	k := Key{
		TenantID:           strings.ToLower(s.TenantID),
		ServicePrincipalID: strings.ToLower(s.ServicePrincipalID),
		AppID:              strings.ToLower(s.AppID),
		DetectionID:        strings.ToLower(s.DetectionID),
	}
	if (s.Kind == detect.LeakedCredential || s.Kind == detect.RiskDetection) && s.DetectionID != "" {
		return k
	}
	if s.Kind == detect.RiskyServicePrincipal {
		// A risk state is not a detection id (a signal read back from an
		// older ledger may still carry it as one: LegacyStateID).
		k.DetectionID, k.RiskState = "", strings.ToLower(s.RiskState)
	}
	ids := make([]string, 0, len(s.KeyIDs)+1)
	for _, id := range s.KeyIDs {
		ids = append(ids, strings.ToLower(id))
	}
	if s.Thumbprint != "" && len(ids) == 0 {
		ids = append(ids, "thumbprint:"+strings.ToUpper(s.Thumbprint))
	}
	slices.Sort(ids)
	k.KeyIDs = slices.Compact(ids)
	return k
}

// ID is the deterministic incident id: "inc-" and 24 hex digits of the
// SHA-256 of the key. It is safe as a blob name, a table key and a file name.
// A risk state takes the detection id's place in the digest as
// "state:<riskState>", as it did when it was kept in DetectionID, so the ids
// of existing ledgers stay what they are (TestIncidentKeysArePinned).
func (k Key) ID() string {
	last := k.DetectionID
	if k.RiskState != "" {
		last = "state:" + k.RiskState
	}
	h := sha256.New()
	for _, part := range []string{k.TenantID, k.ServicePrincipalID, k.AppID, strings.Join(k.KeyIDs, ","), last} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "inc-" + hex.EncodeToString(h.Sum(nil))[:24]
}

// State is where an incident is in its life.
type State string

const (
	StateOpen       State = "open"       // claimed, work in progress
	StateParked     State = "parked"     // a step failed transiently; NextAttempt says when to re-drive
	StateNeedsHuman State = "needsHuman" // out of retries, unknown outcome, or a decision only a person can take
	StateDone       State = "done"       // every step finished (done or skipped)
	// StateHeld: the blast-radius breaker withheld a write. A person carries
	// it out (incidents redrive after review) or a rule says so; the Sweep
	// timer never re-drives it by itself.
	StateHeld     State = "held"
	StateResolved State = "resolved" // closed by a person with a note
)

// StepName names a stage of the playbook.
type StepName string

const (
	StepVerify  StepName = "verify"
	StepContain StepName = "contain"
	StepConfirm StepName = "confirm"
	StepNotify  StepName = "notify"
)

// StepState is the state of one step or one action.
type StepState string

const (
	Pending StepState = "pending"
	Started StepState = "started" // a write was about to happen; its outcome is unknown until re-read
	Done    StepState = "done"
	Failed  StepState = "failed"
	Skipped StepState = "skipped"
)

// Step records one stage's outcome.
type Step struct {
	Name     StepName  `json:"name"`
	State    StepState `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Action is one write to the tenant (or a write that was planned and not
// made). Before and After are what the tenant showed around the write, in
// short form (never secret material).
type Action struct {
	ID       string    `json:"id"`   // stable within the incident, e.g. "removePassword:application:<keyId>"
	Kind     string    `json:"kind"` // removePassword, patchKeyCredentials, confirmCompromised, disableServicePrincipal
	Target   string    `json:"target"`
	KeyID    string    `json:"keyId,omitempty"`
	State    StepState `json:"state"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Before   string    `json:"before,omitempty"`
	After    string    `json:"after,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Credential describes a credential named by the incident, as Graph showed it.
// Never the secret: Graph does not return it and we never ask.
type Credential struct {
	KeyID       string    `json:"keyId"`
	Type        string    `json:"type"`     // password or certificate
	Location    string    `json:"location"` // application or servicePrincipal
	DisplayName string    `json:"displayName,omitempty"`
	Hint        string    `json:"hint,omitempty"`
	Thumbprint  string    `json:"thumbprint,omitempty"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	Found       bool      `json:"found"`
}

// App is what the responder learned about the workload identity.
type App struct {
	AppID              string   `json:"appId"`
	ApplicationID      string   `json:"applicationId,omitempty"` // application object id
	ServicePrincipalID string   `json:"servicePrincipalId"`
	DisplayName        string   `json:"displayName,omitempty"`
	Tags               []string `json:"tags,omitempty"`
	Protected          bool     `json:"protected,omitempty"`
	RiskLevel          string   `json:"riskLevel,omitempty"`
	RiskState          string   `json:"riskState,omitempty"`
}

// Verification says how far the signal was confirmed against Graph.
//
// Only a verified incident reaches the app's owners: an unverified one goes
// to security and on-call only, marked unverified, because a forged event
// must not make a person do what the responder refused to do.
type Verification struct {
	Verified bool   `json:"verified"`
	Method   string `json:"method"` // detection, riskyServicePrincipal, credentialOnly, optIn
	Detail   string `json:"detail,omitempty"`
	Limited  string `json:"limited,omitempty"` // what could not be verified and why (licence, permission)
	// Unlicensed: the tenant has no Workload Identities Premium service
	// plan (read from its subscribed SKUs), so Graph cannot verify risk.
	Unlicensed bool `json:"unlicensed,omitempty"`
	// Closed is Graph's state of a detection that is already closed
	// (dismissed, remediated, confirmedSafe): recorded, nobody is told.
	Closed string `json:"closed,omitempty"`
}

// Modes of an incident, as decided when contain ran. Everything but
// ModeEnforce means no write was made; NotifyOnly says why in words.
const (
	ModeEnforce    = "enforce"
	ModeDryRun     = "dry-run"    // the service or the rule is in dry-run
	ModeProtected  = "protected"  // a protected app: notify only
	ModeHeld       = "held"       // the blast-radius breaker withheld the write
	ModeKillSwitch = "killSwitch" // the kill switch is on
	ModeUnverified = "unverified" // Graph did not verify the signal: no write
	ModeNoWrite    = "noWrite"    // verified, and nothing to write (a notify-only rule, a key already gone)
)

// ModeLabel is the words a person reads for a mode.
func ModeLabel(mode string) string {
	switch mode {
	case ModeEnforce:
		return "enforce"
	case ModeDryRun:
		return "dry-run"
	case ModeProtected:
		return "protected (notify only)"
	case ModeHeld:
		return "held by the breaker (notify only)"
	case ModeKillSwitch:
		return "kill switch on (notify only)"
	case ModeUnverified:
		return "unverified (no write)"
	case ModeNoWrite:
		return "no write needed"
	case "":
		return "not decided yet"
	}
	return mode
}

// Verdict outcomes of the Conditional Access check.
const (
	VerdictBlocked        = "blocked"
	VerdictReportOnly     = "reportOnly"
	VerdictExcluded       = "excluded"
	VerdictNoPolicy       = "noPolicy"
	VerdictCannotEvaluate = "cannotEvaluate"
)

// PolicyEval is one policy's evaluation for this service principal.
type PolicyEval struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	State       string   `json:"state"`
	Kind        string   `json:"kind"` // risk, location, other
	Applies     bool     `json:"applies"`
	Reasons     []string `json:"reasons"`
}

// Verdict is the Conditional Access verdict for the service principal.
type Verdict struct {
	Outcome   string       `json:"outcome"`
	Summary   string       `json:"summary"`
	RiskLevel string       `json:"riskLevel,omitempty"`
	Policies  []PolicyEval `json:"policies,omitempty"`
	// Proof lists later sign-ins of this service principal that Conditional
	// Access refused (error 53003): the block seen working.
	Proof []SignInRef `json:"proof,omitempty"`
}

// SignInRef points at one sign-in record.
type SignInRef struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	IPAddress string    `json:"ipAddress,omitempty"`
	Location  string    `json:"location,omitempty"`
	PolicyIDs []string  `json:"policyIds,omitempty"`
	ErrorCode int       `json:"errorCode,omitempty"`
}

// Recipient is one resolved notification recipient and why.
type Recipient struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
	Source  string `json:"source"` // applicationOwner, servicePrincipalOwner, override, fallback
	Reason  string `json:"reason,omitempty"`
}

// Notification records one delivery on one channel.
type Notification struct {
	Channel  string    `json:"channel"` // teams, email, page
	Target   string    `json:"target"`  // redacted: never a webhook URL
	State    StepState `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// Event is one line of the append-only audit history.
type Event struct {
	At     time.Time `json:"at"`
	Step   string    `json:"step"`
	What   string    `json:"what"`
	Detail string    `json:"detail,omitempty"`
	Actor  string    `json:"actor,omitempty"` // "responder" or an operator name
}

// Incident is the whole record.
type Incident struct {
	ID           string          `json:"id"`
	Key          Key             `json:"key"`
	State        State           `json:"state"`
	Mode         string          `json:"mode"` // enforce or dry-run, as decided when contain ran
	Signals      []detect.Signal `json:"signals"`
	App          App             `json:"app"`
	Credentials  []Credential    `json:"credentials,omitempty"`
	Verification Verification    `json:"verification"`
	Steps        []Step          `json:"steps"`
	Actions      []Action        `json:"actions,omitempty"`
	Verdict      *Verdict        `json:"verdict,omitempty"`
	Recipients   []Recipient     `json:"recipients,omitempty"`
	Orphaned     bool            `json:"orphaned,omitempty"`
	// OwnersOnly: the rules file's reach section narrowed the notice to
	// the owners; the security contact is told only if no owner can be.
	OwnersOnly bool           `json:"ownersOnly,omitempty"`
	Notified   []Notification `json:"notifications,omitempty"`
	NotifyOnly string         `json:"notifyOnly,omitempty"` // why containment was withheld: protected, breaker, kill switch, dry-run, rule
	// Reach is what the leaked credential could do (internal/reach),
	// assessed after containment; nil until then.
	Reach *Reach `json:"reach,omitempty"`
	// Use is what the credential was used for (internal/usage): sign-ins
	// with its keys since the detection; nil until read.
	Use      *Use   `json:"use,omitempty"`
	Operator string `json:"operator,omitempty"`
	// Owner and LeaseUntil say which responder instance is working on the
	// incident. Only the holder of an unexpired lease runs its stages, so
	// two instances that receive the same signal make one set of writes;
	// a lease left by a process that died expires and the timer re-drives.
	Owner       string    `json:"owner,omitempty"`
	LeaseUntil  time.Time `json:"leaseUntil,omitzero"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	History     []Event   `json:"history"`
	// Found says which path saw the incident first (the event stream or a
	// reconcile round) and, once the other path delivered it too, when:
	// the lag between them is what reconcile is worth.
	Found   *Found    `json:"found,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`

	// ETag is the ledger's concurrency token for the stored version this copy
	// was read from. It is not part of the stored document.
	ETag string `json:"-"`
}

// Found records the paths that delivered an incident's signals.
type Found struct {
	First   string    `json:"first"` // "stream" or "reconcile"
	FirstAt time.Time `json:"firstAt"`
	Later   string    `json:"later,omitempty"` // the other path, once it delivered
	LaterAt time.Time `json:"laterAt,omitzero"`
}

// Lag is how much later the second path delivered (0 while only one has).
func (f *Found) Lag() time.Duration {
	if f == nil || f.Later == "" {
		return 0
	}
	return f.LaterAt.Sub(f.FirstAt)
}

// New opens an incident for a signal. The caller supplies the time.
func New(s detect.Signal, now time.Time) *Incident {
	k := KeyOf(s)
	return &Incident{
		ID:      k.ID(),
		Key:     k,
		State:   StateOpen,
		Signals: []detect.Signal{s},
		App:     App{AppID: s.AppID, ServicePrincipalID: s.ServicePrincipalID, DisplayName: s.DisplayName},
		Steps: []Step{
			{Name: StepVerify, State: Pending},
			{Name: StepContain, State: Pending},
			{Name: StepConfirm, State: Pending},
			{Name: StepNotify, State: Pending},
		},
		History: []Event{{At: now, Step: "claim", What: "opened", Detail: string(s.Kind), Actor: "responder"}},
		Found:   &Found{First: s.Source.PathOf(), FirstAt: now},
		Created: now,
		Updated: now,
	}
}

// NoteSecondPath records, the first time a signal arrives by the path that
// did not open the incident, which path it was and how much later, on the
// incident and in its history. It reports whether it recorded anything.
func (in *Incident) NoteSecondPath(s detect.Signal, now time.Time) bool {
	path := s.Source.PathOf()
	if in.Found == nil {
		// Opened before paths were recorded: the stream was the only one.
		in.Found = &Found{First: "stream", FirstAt: in.Created}
	}
	if path == in.Found.First || in.Found.Later != "" {
		return false
	}
	in.Found.Later, in.Found.LaterAt = path, now
	in.Record(now, "claim", "also seen by the "+path, fmt.Sprintf("also seen by the %s, %s later", path, in.Found.Lag().Round(time.Second)))
	return true
}

// Step returns a pointer to the named step, adding it when missing.
func (in *Incident) Step(name StepName) *Step {
	for i := range in.Steps {
		if in.Steps[i].Name == name {
			return &in.Steps[i]
		}
	}
	in.Steps = append(in.Steps, Step{Name: name, State: Pending})
	return &in.Steps[len(in.Steps)-1]
}

// Action returns the action with the given id, or nil.
func (in *Incident) Action(id string) *Action {
	for i := range in.Actions {
		if in.Actions[i].ID == id {
			return &in.Actions[i]
		}
	}
	return nil
}

// Record appends a line to the audit history.
func (in *Incident) Record(at time.Time, step, what, detail string) {
	in.History = append(in.History, Event{At: at, Step: step, What: what, Detail: detail, Actor: "responder"})
	in.Updated = at
}

// Notification returns the delivery record for a channel and target, or nil.
func (in *Incident) Notification(channel, target string) *Notification {
	for i := range in.Notified {
		if in.Notified[i].Channel == channel && in.Notified[i].Target == target {
			return &in.Notified[i]
		}
	}
	return nil
}
