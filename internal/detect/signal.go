// Package detect turns decoded Entra records into signals: the typed facts the
// responder may act on. Detection is a pure function of the records it is
// given; it reads no clock and calls nothing, so the same batch always gives
// the same signals, which is what makes replay and dedup trustworthy.
package detect

import (
	"slices"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/ids"
)

// Kind names what a signal says. The string values are part of the replay
// JSON contract: on-call scripts match on them, so they never change.
type Kind string

const (
	// LeakedCredential: Identity Protection found one of the app's credentials
	// in a public place (riskEventType leakedCredentials). Carries keyIds.
	LeakedCredential Kind = "leakedCredential"
	// RiskDetection: any other service-principal risk detection.
	RiskDetection Kind = "riskDetection"
	// RiskyServicePrincipal: the service principal's aggregate risk state
	// changed (atRisk, confirmedCompromised, ...).
	RiskyServicePrincipal Kind = "riskyServicePrincipal"
	// RiskySignIn: a service-principal sign-in that carries risk.
	RiskySignIn Kind = "riskySignIn"
	// BlockedSignIn: a service-principal sign-in refused by Conditional
	// Access (error 53003): proof that a block policy works.
	BlockedSignIn Kind = "blockedSignIn"
	// FailedSecretSignIns: repeated sign-ins with an invalid client secret
	// (7000215, or another configured code): someone is trying a leaked or
	// already revoked secret. One Entra rated medium or high risk is
	// signalled at once, with that rating.
	FailedSecretSignIns Kind = "failedSecretSignIns"
	// ExpiredSecretSignIns: repeated sign-ins with an expired client secret
	// (7000222): the app's own secret past its end date, typically a job
	// that was never given the new one. An operational problem, not an
	// attack: the default rules open no incident for it.
	ExpiredSecretSignIns Kind = "expiredSecretSignIns"
	// KeySignIn: a sign-in, of any outcome, with a key an incident names
	// (Options.WatchedKey): the use of a leaked credential, attached to
	// its incident. A success after the key's removal pages on-call.
	KeySignIn Kind = "keySignIn"
	// CredentialChange: an AuditLogs credential-management activity on an
	// application or service principal (the responder's own removals show up
	// here too, which later confirms them). It has fields of its own:
	// AuditID, Operation, OpType, TargetObjectID, TargetType, KeysAdded,
	// KeysRemoved, InitiatedBy, Result (KeyIDs holds the added and the
	// removed keys); the risk-detection fields (DetectionID, RiskEventType,
	// RiskState, Activity) stay empty.
	CredentialChange Kind = "credentialChange"
)

// Source is where a signal came from, for the audit trail: enough to find the
// exact record again in the hub or in a replay file.
type Source struct {
	Partition      string    `json:"partition,omitempty"`
	SequenceNumber int64     `json:"sequenceNumber"`
	Offset         string    `json:"offset,omitempty"`
	EnqueuedTime   time.Time `json:"enqueuedTime,omitzero"`
	Event          int       `json:"event"`  // index of the event in its batch
	Record         int       `json:"record"` // index of the record in its event
	// Via is the path that found the signal: empty for the event stream
	// (the hub, or a file or hub range replayed), ViaReconcile for a
	// Graph list of changes that a reconcile round or replay --graph read.
	Via string `json:"via,omitempty"`
}

// ViaReconcile marks a signal made from Graph's list of changes rather
// than from an Entra log record.
const ViaReconcile = "reconcile"

// PathOf names the path a signal came by: "stream" or "reconcile".
func (s Source) PathOf() string {
	if s.Via == "" {
		return "stream"
	}
	return s.Via
}

// Signal is one fact worth acting on. The JSON names are a stable contract
// (spresponder replay --format json prints them; later stages persist them).
type Signal struct {
	Kind               Kind     `json:"kind"`
	TenantID           string   `json:"tenantId"`
	AppID              string   `json:"appId"`
	ServicePrincipalID string   `json:"servicePrincipalId"`
	DisplayName        string   `json:"displayName,omitempty"`
	KeyIDs             []string `json:"keyIds"`
	Thumbprint         string   `json:"thumbprint,omitempty"`
	CredentialType     string   `json:"credentialType,omitempty"`
	DetectionID        string   `json:"detectionId"`
	RiskEventType      string   `json:"riskEventType"`
	RiskLevel          string   `json:"riskLevel"`
	RiskState          string   `json:"riskState,omitempty"`
	RiskDetail         string   `json:"riskDetail,omitempty"`
	IPAddress          string   `json:"ipAddress,omitempty"`
	Location           string   `json:"location,omitempty"`
	ErrorCode          int      `json:"errorCode,omitempty"`
	PolicyIDs          []string `json:"policyIds,omitempty"`
	// Resource and CAStatus: a sign-in's resource (display name) and
	// Conditional Access status (KeySignIn signals).
	Resource     string    `json:"resource,omitempty"`
	CAStatus     string    `json:"caStatus,omitempty"`
	Count        int       `json:"count,omitempty"` // records folded into this signal
	Activity     string    `json:"activity,omitempty"`
	Time         time.Time `json:"time"`                  // the record's own time
	DetectedTime time.Time `json:"detectedTime,omitzero"` // when Entra detected it
	Source       Source    `json:"source"`

	// Credential changes (Kind CredentialChange) only.
	AuditID        string   `json:"auditId,omitempty"`        // the audit record's id
	Operation      string   `json:"operation,omitempty"`      // the audited activity, as Entra names it
	OpType         string   `json:"operationType,omitempty"`  // the audit's operationType (Add, Update, ...), never a risk's activity
	TargetObjectID string   `json:"targetObjectId,omitempty"` // object id of the application or service principal changed
	TargetType     string   `json:"targetType,omitempty"`     // "application" or "servicePrincipal"
	KeysAdded      []string `json:"keysAdded,omitempty"`
	KeysRemoved    []string `json:"keysRemoved,omitempty"`
	InitiatedBy    string   `json:"initiatedBy,omitempty"` // user principal name or app display name
	Result         string   `json:"result,omitempty"`      // success, failure, ...

	// Tolerated names fields of the record that did not decode and that no
	// decision reads (a malformed timestamp, say), as "path: error": the
	// signal was made without them.
	Tolerated []string `json:"tolerated,omitempty"`
}

// CheckIDs validates every id of the signal that can reach a Microsoft
// Graph request path: tenant, app and service principal ids, key ids and
// Conditional Access policy ids must be GUIDs, a thumbprint hex, and a
// detection id of the documented form (ids.IsDetectionID). Intake
// quarantines a record whose signal fails it; the playbook may call it
// again before it builds a request. Empty ids other than the tenant are
// allowed: they mean "not in the record", and the playbook looks them up.
// The error wraps ids.ErrInvalid.
func (s Signal) CheckIDs() error {
	if err := ids.CheckGUID("tenantId", s.TenantID); err != nil {
		return err
	}
	if s.AppID != "" {
		if err := ids.CheckGUID("appId", s.AppID); err != nil {
			return err
		}
	}
	if s.ServicePrincipalID != "" {
		if err := ids.CheckGUID("servicePrincipalId", s.ServicePrincipalID); err != nil {
			return err
		}
	}
	for _, k := range s.KeyIDs {
		if err := ids.CheckGUID("keyIds", k); err != nil {
			return err
		}
	}
	if s.TargetObjectID != "" {
		if err := ids.CheckGUID("targetObjectId", s.TargetObjectID); err != nil {
			return err
		}
	}
	for _, k := range append(slices.Clip(s.KeysAdded), s.KeysRemoved...) {
		if err := ids.CheckGUID("keysAdded/keysRemoved", k); err != nil {
			return err
		}
	}
	for _, p := range s.PolicyIDs {
		if err := ids.CheckGUID("policyIds", p); err != nil {
			return err
		}
	}
	if s.Thumbprint != "" {
		if err := ids.CheckThumbprint("thumbprint", s.Thumbprint); err != nil {
			return err
		}
	}
	if s.DetectionID != "" && !s.LegacyStateID() {
		if err := ids.CheckDetectionID("detectionId", s.DetectionID); err != nil {
			return err
		}
	}
	return nil
}

// LegacyStateID reports whether the signal is a RiskyServicePrincipal
// signal as versions before RiskState had one meaning stored it: with the
// risk state copied into DetectionID as "state:<riskState>". Such signals
// are read back from older ledgers (replay --incident, --parked, --held);
// they are accepted, and their DetectionID is never read as a detection.
func (s Signal) LegacyStateID() bool {
	return s.Kind == RiskyServicePrincipal && strings.EqualFold(s.DetectionID, "state:"+s.RiskState)
}
