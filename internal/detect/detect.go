package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/entra"
)

// Options tune detection. The zero value is usable: it takes the defaults.
type Options struct {
	// FailedSecretThreshold is how many sign-ins with an invalid or expired
	// client secret for the same service principal and key, within one
	// batch, make a FailedSecretSignIns signal. Default 3.
	FailedSecretThreshold int
	// FailedSecretCodes are the sign-in error codes that mean "invalid or
	// expired client secret". Default 7000215 (AADSTS7000215: invalid
	// client secret, a wrong or guessed secret) and 7000222
	// (AADSTS7000222: the client secret has expired, an app still using an
	// old one). Configurable because Microsoft's list changes.
	FailedSecretCodes []int
	// AllowedNetworks returns the networks a service principal (by appId) is
	// expected to sign in from. A successful sign-in from anywhere else is a
	// risky sign-in (riskEventType "unexpectedNetwork"): the detection that
	// still works in tenants without Workload Identities Premium. nil or an
	// empty list means no rule for that app.
	//
	// It is called for every successful service-principal sign-in, with
	// the ids as they appear in the record (appId, service-principal object
	// id), as bytes so the hot path allocates nothing.
	AllowedNetworks func(appID, servicePrincipalID []byte) []netip.Prefix
	// PolicyChanged is called for an audit record, of the configured
	// tenant, that adds, updates or deletes a Conditional Access policy or
	// a named location: the responder's cache of them is then stale
	// (capolicy.Networks.Invalidate). nil: not called.
	PolicyChanged func()
	// WatchedKey reports whether a key is one an incident already names
	// (a leaked key, removed or about to be): every sign-in with it,
	// success or failure, is a KeySignIn signal, attached to the incident
	// as the use of the credential. nil watches nothing. Called with the
	// ids as they appear in the record, on the hot path: it must not
	// allocate.
	WatchedKey func(servicePrincipalID, keyID []byte) bool
}

const (
	// BlockedByConditionalAccess is AADSTS53003.
	BlockedByConditionalAccess = 53003
	// InvalidClientSecret is AADSTS7000215: the secret presented is not
	// one of the app's (a guess, a typo, or a secret already removed).
	InvalidClientSecret = 7000215
	// ExpiredClientSecret is AADSTS7000222: the secret was the app's but
	// has expired. It says an app runs with an old secret, not that
	// someone is guessing; the skip reasons keep the two apart.
	ExpiredClientSecret = 7000222
	// UnexpectedNetwork is the riskEventType of a sign-in from outside the
	// app's allowed networks (our own detection, not Identity Protection's).
	UnexpectedNetwork = "unexpectedNetwork"
)

func (o Options) withDefaults() Options {
	if o.FailedSecretThreshold <= 0 {
		o.FailedSecretThreshold = 3
	}
	if o.FailedSecretCodes == nil {
		o.FailedSecretCodes = []int{InvalidClientSecret, ExpiredClientSecret}
	}
	return o
}

// Outcome says what became of one record: Signalled, Pending, or the
// reason it was skipped. The strings name the reasons in the intake
// summary, so that every record skipped says why.
type Outcome string

const (
	// Signalled: the record produced (or joined) a signal.
	Signalled Outcome = "signalled"
	// Pending: a failed-secret sign-in counted towards its key's
	// threshold. Whether it ends in a signal is known only at the end of
	// the batch: Batch.BelowThreshold counts those that did not.
	Pending Outcome = "pending"

	// SignInWithoutRisk: a successful service-principal sign-in with no
	// risk, from an allowed network or with no network rule.
	SignInWithoutRisk Outcome = "signInWithoutRisk"
	// SignInOtherFailure: a failed sign-in whose error is neither a
	// Conditional Access block nor a client-secret failure.
	SignInOtherFailure Outcome = "signInOtherFailure"
	// InvalidSecretBelowThreshold: sign-ins with an invalid client secret
	// (7000215) for a key that stayed below the threshold in the batch.
	InvalidSecretBelowThreshold Outcome = "invalidSecretBelowThreshold"
	// ExpiredSecretBelowThreshold: the same with an expired secret
	// (7000222): an app using an old secret, not a guess.
	ExpiredSecretBelowThreshold Outcome = "expiredSecretBelowThreshold"
	// FailedSecretBelowThreshold: the same for another configured code.
	FailedSecretBelowThreshold Outcome = "failedSecretBelowThreshold"
	// RiskNotActive: a risk detection that was dismissed or remediated.
	RiskNotActive Outcome = "riskNotActive"
	// ServicePrincipalNotAtRisk: a risky-service-principal update to a
	// state that asks for nothing (none, dismissed, remediated).
	ServicePrincipalNotAtRisk Outcome = "servicePrincipalNotAtRisk"
	// AuditNotCredentialChange: an audit record of another activity.
	AuditNotCredentialChange Outcome = "auditNotCredentialChange"
)

// Skipped reports whether the record was skipped (o names why).
func (o Outcome) Skipped() bool { return o != Signalled && o != Pending }

// Batch collects the signals of one batch of records, folding duplicates
// into one signal (Entra republishes records, and the trigger delivers at
// least once). It is pure: the same records in the same order give the same
// signals.
type Batch struct {
	opts    Options
	signals []Signal
	index   map[string]int // dedup key -> index in signals
	failed  map[string]*failedCount
	pending map[string]Signal
	// lastPending is the key and reason of the last Pending outcome.
	lastPending        string
	lastPendingOutcome Outcome
	// tolerated counts, by field path, the bad values of fields no decision
	// reads that decoded records carried (entra's Tolerated).
	tolerated map[string]int
}

// Tolerated counts, by field path (properties.lastUpdatedDateTime, ...),
// the bad values the batch's decoded records carried in fields no decision
// reads: the records were kept, those fields read as empty.
func (b *Batch) Tolerated() map[string]int { return b.tolerated }

func (b *Batch) noteTolerated(notes []string) {
	for _, n := range notes {
		path, _, _ := strings.Cut(n, ": ")
		if b.tolerated == nil {
			b.tolerated = map[string]int{}
		}
		b.tolerated[path]++
	}
}

// failedCount counts the failed-secret sign-ins of one key below the
// threshold, by the reason they are skipped if it is never reached.
type failedCount struct {
	total int
	by    map[Outcome]int
}

// NewBatch starts an empty batch.
func NewBatch(opts Options) *Batch {
	return &Batch{opts: opts.withDefaults(), index: map[string]int{}, failed: map[string]*failedCount{}, pending: map[string]Signal{}}
}

// BelowThreshold counts, by skip reason, the failed-secret sign-ins
// (Pending outcomes) whose key stayed below the threshold: they made no
// signal, and the summary must still account for them.
func (b *Batch) BelowThreshold() map[Outcome]int {
	out := map[Outcome]int{}
	for k, c := range b.failed {
		if _, pending := b.pending[k]; !pending {
			continue
		}
		for r, n := range c.by {
			out[r] += n
		}
	}
	return out
}

// LastPending names the last record SignIn answered Pending: its key and
// the reason it is skipped if the key never makes a signal. Settled tells
// at the end of the batch whether it did. Replay uses them to say what
// became of each record.
func (b *Batch) LastPending() (key string, ifBelow Outcome) {
	return b.lastPending, b.lastPendingOutcome
}

// Settled reports whether the failed-secret key made a signal.
func (b *Batch) Settled(key string) bool { _, ok := b.index[key]; return ok }

// failedReason classifies a failed-secret error code.
func failedReason(code int) Outcome {
	switch code {
	case InvalidClientSecret:
		return InvalidSecretBelowThreshold
	case ExpiredClientSecret:
		return ExpiredSecretBelowThreshold
	}
	return FailedSecretBelowThreshold
}

// checkTenant makes sure the typed decoder read the same tenant as the
// scan intake judged. With the strict decoders they cannot differ; if they
// ever do, the record is ambiguous and nothing is made of it.
func checkTenant(decoded, scanned string) error {
	if decoded != scanned {
		return &entra.AmbiguousError{Reason: fmt.Sprintf("decoded tenant %.40q differs from the scanned %.40q", decoded, scanned)}
	}
	return nil
}

// Signals returns the batch's signals in order of first appearance.
func (b *Batch) Signals() []Signal { return b.signals }

func (b *Batch) add(s Signal, key string) {
	if i, ok := b.index[key]; ok {
		b.signals[i].Count++
		return
	}
	s.Count = 1
	b.index[key] = len(b.signals)
	b.signals = append(b.signals, s)
}

func dedupKey(s Signal, extra string) string {
	ids := slices.Clone(s.KeyIDs)
	slices.Sort(ids)
	return strings.Join([]string{string(s.Kind), s.TenantID, s.ServicePrincipalID, s.AppID, strings.Join(ids, ","), s.Thumbprint, s.DetectionID, extra}, "\x00")
}

var (
	atRisk               = []byte("atRisk")
	confirmedCompromised = []byte("confirmedCompromised")
	medium               = []byte("medium")
	high                 = []byte("high")
)

// RiskEvent examines a ServicePrincipalRiskEvents record of tenant (as
// intake scanned it).
func (b *Batch) RiskEvent(rec []byte, tenant string, src Source) (Outcome, error) {
	r, err := entra.DecodeRiskEvent(rec)
	if err != nil {
		return "", err
	}
	b.noteTolerated(r.Tolerated)
	if err := checkTenant(r.Tenant(), tenant); err != nil {
		return "", err
	}
	p := r.Properties
	// Without its id a detection cannot be verified, and without a service
	// principal or app it names nobody: the record is malformed.
	if p.ID == "" || (p.ServicePrincipalID == "" && p.AppID == "") {
		return "", fmt.Errorf("risk detection without %s: nothing to verify", missing(p.ID == "", "properties.id", p.ServicePrincipalID == "" && p.AppID == "", "properties.servicePrincipalId or appId"))
	}
	// A detection that was dismissed or remediated is an update that asks
	// for nothing; acting on it would undo a person's decision.
	if p.RiskState != "" && p.RiskState != "atRisk" && p.RiskState != "confirmedCompromised" {
		return RiskNotActive, nil
	}
	s := Signal{
		Kind:               RiskDetection,
		TenantID:           tenant,
		AppID:              strings.ToLower(p.AppID),
		ServicePrincipalID: strings.ToLower(p.ServicePrincipalID),
		DisplayName:        p.ServicePrincipalDisplayName,
		DetectionID:        p.ID,
		RiskEventType:      p.RiskEventType,
		RiskLevel:          p.RiskLevel,
		RiskState:          p.RiskState,
		RiskDetail:         p.RiskDetail,
		IPAddress:          p.IPAddress,
		Location:           p.Location.String(),
		Activity:           p.Activity,
		Time:               firstTime(p.ActivityDateTime, r.Time),
		DetectedTime:       p.DetectedDateTime.Time,
		Tolerated:          r.Tolerated,
		Source:             src,
	}
	for _, k := range p.KeyIDs {
		s.KeyIDs = append(s.KeyIDs, strings.ToLower(k))
	}
	if p.RiskEventType == "leakedCredentials" {
		s.Kind = LeakedCredential
	}
	// spresponder selftest's synthetic record, recognised by its reserved
	// detection id alone (see selftest.go): it becomes a SelfTest signal,
	// which the serve path records as a marker and nothing acts on.
	if IsSelfTestDetection(p.ID) {
		s.Kind = SelfTest
	}
	if err := s.CheckIDs(); err != nil {
		return "", err
	}
	b.add(s, dedupKey(s, ""))
	return Signalled, nil
}

// RiskyServicePrincipal examines a RiskyServicePrincipals record of
// tenant (as intake scanned it).
func (b *Batch) RiskyServicePrincipal(rec []byte, tenant string, src Source) (Outcome, error) {
	r, err := entra.DecodeRiskyServicePrincipal(rec)
	if err != nil {
		return "", err
	}
	b.noteTolerated(r.Tolerated)
	if err := checkTenant(r.Tenant(), tenant); err != nil {
		return "", err
	}
	p := r.Properties
	if p.ID == "" {
		return "", fmt.Errorf("risky service principal without properties.id: it names nobody")
	}
	if p.RiskState != "atRisk" && p.RiskState != "confirmedCompromised" {
		return ServicePrincipalNotAtRisk, nil
	}
	s := Signal{
		Kind:               RiskyServicePrincipal,
		TenantID:           tenant,
		AppID:              strings.ToLower(p.AppID),
		ServicePrincipalID: strings.ToLower(p.ID),
		DisplayName:        p.DisplayName,
		RiskLevel:          p.RiskLevel,
		RiskState:          p.RiskState,
		RiskDetail:         p.RiskDetail,
		Time:               firstTime(p.RiskLastUpdatedDateTime, r.Time),
		Tolerated:          r.Tolerated,
		Source:             src,
	}
	// The state change itself identifies the incident (incident.KeyOf keys
	// it on RiskState): the same service principal turning atRisk twice is
	// one incident, confirmedCompromised after atRisk is another. There is
	// no detection id: a risk state is not one.
	if err := s.CheckIDs(); err != nil {
		return "", err
	}
	b.add(s, dedupKey(s, "state:"+p.RiskState))
	return Signalled, nil
}

// IsPolicyChange reports whether an audit activity changes what a
// Conditional Access verdict reads: "Add/Update/Delete conditional access
// policy" and "Add/Update/Delete named location" (Entra's audit names in
// the Policy category; the named-location ones are UNVERIFIED against a
// tenant's log). Such records are rare, so they take the full decode.
func IsPolicyChange(activity string) bool {
	a := strings.ToLower(strings.TrimSpace(activity))
	for _, verb := range []string{"add ", "update ", "delete "} {
		if rest, ok := strings.CutPrefix(a, verb); ok {
			return rest == "conditional access policy" || rest == "named location"
		}
	}
	return false
}

// AuditLog examines an AuditLogs record; only credential management counts.
// The fast screen reads the activity's name from the bytes; only a record
// that could be credential management (or that the screen cannot read with
// certainty) is decoded fully. FuzzAuditScreen holds the screen to the full
// decoder.
func (b *Batch) AuditLog(rec []byte, tenant string, src Source) (Outcome, error) {
	if v, err := entra.ScanAudit(rec); err == nil && !v.Escaped && !entra.CouldBeCredentialChange(v.ActivityDisplayName) &&
		(b.opts.PolicyChanged == nil || !IsPolicyChange(string(v.ActivityDisplayName))) {
		return AuditNotCredentialChange, nil
	}
	a, err := entra.DecodeAuditLog(rec)
	if err != nil {
		return "", err
	}
	b.noteTolerated(a.Tolerated)
	if err := checkTenant(a.Tenant(), tenant); err != nil {
		return "", err
	}
	if !a.IsCredentialChange() {
		if b.opts.PolicyChanged != nil && IsPolicyChange(a.Properties.ActivityDisplayName) {
			b.opts.PolicyChanged()
		}
		return AuditNotCredentialChange, nil
	}
	base := Signal{
		Kind:      CredentialChange,
		TenantID:  tenant,
		AuditID:   a.Properties.ID,
		Operation: strings.TrimSpace(a.Properties.ActivityDisplayName),
		Result:    a.Properties.Result,
		Time:      firstTime(a.Properties.ActivityDateTime, a.Time),
		OpType:    a.Properties.OperationType,
		Tolerated: a.Tolerated,
		Source:    src,
	}
	if app := a.Properties.InitiatedBy.App; app != nil {
		base.InitiatedBy = app.DisplayName
	} else if u := a.Properties.InitiatedBy.User; u != nil {
		base.InitiatedBy = u.UserPrincipalName
	}
	changes := a.CredentialChanges()
	if len(changes) == 0 {
		// Credential management that names no credential: still worth a
		// signal, with the first application or service principal it
		// touched.
		for _, t := range a.Properties.TargetResources {
			if tt := strings.ToLower(t.Type); tt == "application" || tt == "serviceprincipal" {
				changes = append(changes, entra.TargetCredentialChange{ObjectID: strings.ToLower(t.ID), Type: map[string]string{"application": "application", "serviceprincipal": "servicePrincipal"}[tt], DisplayName: t.DisplayName})
				break
			}
		}
	}
	if len(changes) == 0 {
		changes = append(changes, entra.TargetCredentialChange{})
	}
	var sigs []Signal
	for _, c := range changes {
		s := base
		s.TargetObjectID, s.TargetType, s.DisplayName, s.AppID = c.ObjectID, c.Type, c.DisplayName, c.AppID
		if c.Type == "servicePrincipal" {
			s.ServicePrincipalID = c.ObjectID
		}
		s.KeysAdded, s.KeysRemoved = c.Added, c.Removed
		s.KeyIDs = append(slices.Clip(c.Added), c.Removed...)
		if err := s.CheckIDs(); err != nil {
			return "", err
		}
		sigs = append(sigs, s)
	}
	for _, s := range sigs {
		b.add(s, dedupKey(s, s.AuditID+"\x00"+s.TargetObjectID))
	}
	return Signalled, nil
}

// missing names the missing fields, joined by " and ".
func missing(pairs ...any) string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i].(bool) {
			out = append(out, pairs[i+1].(string))
		}
	}
	return strings.Join(out, " and ")
}

func firstTime(ts ...entra.Time) time.Time {
	for _, v := range ts {
		if !v.IsZero() {
			return v.Time
		}
	}
	return time.Time{}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
