// Package directory holds the shapes the responder reads from Microsoft
// Entra (applications, service principals, their credentials, risk state,
// Conditional Access policies) in plain Go types, and the one
// classification of failures every caller uses. The Graph adapter
// (internal/graph, the only package that imports msgraph-sdk-go) fills
// these types; the playbook, the policy check and the notifier consume them
// through small interfaces of their own. Keeping the types here lets those
// packages build and test in seconds without the SDK.
package directory

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// PasswordCredential is a client secret as Graph lists it: never the
// secret itself (Graph returns it only once, at creation).
type PasswordCredential struct {
	KeyID       string
	DisplayName string
	Hint        string
	Start, End  time.Time
}

// KeyCredential is a certificate. Key is the public certificate, present
// only when Graph was asked for it on a single object; it must be sent back
// with every certificate kept in a PATCH of keyCredentials.
type KeyCredential struct {
	KeyID               string
	DisplayName         string
	CustomKeyIdentifier string // the thumbprint as Graph shows it (for matching)
	// CustomKeyIdentifierRaw is the identifier's bytes exactly as Graph
	// holds them, sent back unchanged when the certificate is kept.
	CustomKeyIdentifierRaw []byte
	Type                   string // AsymmetricX509Cert, X509CertAndPassword
	Usage                  string // Verify, Sign
	Key                    []byte
	Start, End             time.Time
}

// Object is an application or a service principal with its credentials.
type Object struct {
	Kind           ObjectKind
	ID             string // object id
	AppID          string
	DisplayName    string
	AccountEnabled *bool // service principals only
	Tags           []string
	Passwords      []PasswordCredential
	Keys           []KeyCredential
}

// ObjectKind says which kind of object holds a credential.
type ObjectKind string

const (
	Application      ObjectKind = "application"
	ServicePrincipal ObjectKind = "servicePrincipal"
)

// Password returns the password credential with keyID, if present.
func (o *Object) Password(keyID string) (PasswordCredential, bool) {
	for _, p := range o.Passwords {
		if equalID(p.KeyID, keyID) {
			return p, true
		}
	}
	return PasswordCredential{}, false
}

// Key returns the key credential with keyID or, when thumbprint is set, the
// one whose customKeyIdentifier is that thumbprint.
func (o *Object) Key(keyID, thumbprint string) (KeyCredential, bool) {
	for _, k := range o.Keys {
		if keyID != "" && equalID(k.KeyID, keyID) {
			return k, true
		}
		if thumbprint != "" && equalID(k.CustomKeyIdentifier, thumbprint) {
			return k, true
		}
	}
	return KeyCredential{}, false
}

// equalID compares ids as Graph does: case does not matter.
func equalID(a, b string) bool { return strings.EqualFold(a, b) }

// Detection is a servicePrincipalRiskDetection.
type Detection struct {
	ID                 string
	RiskEventType      string
	RiskLevel          string
	RiskState          string
	RiskDetail         string
	ServicePrincipalID string
	AppID              string
	KeyIDs             []string
	Detected           time.Time
}

// RiskyServicePrincipal is a service principal's aggregate risk.
type RiskyServicePrincipal struct {
	ID         string // service principal object id
	AppID      string
	RiskLevel  string
	RiskState  string
	RiskDetail string
}

// Owner is a directory object that owns an application or service
// principal.
type Owner struct {
	ID                string
	Type              string // user, servicePrincipal, group
	DisplayName       string
	Mail              string
	UserPrincipalName string
}

// Failure classes. The Graph adapter maps every error to one of these
// once; callers decide with errors.Is and errors.As.
var (
	// ErrNotFound: the object (or the key on it) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the responder lacks a permission.
	ErrForbidden = errors.New("forbidden")
	// ErrLicence: the tenant lacks the licence the API needs (Workload
	// Identities Premium for the risk APIs).
	ErrLicence = errors.New("licence missing")
	// ErrTransient: worth retrying (5xx, timeouts, dropped connections).
	ErrTransient = errors.New("transient failure")
	// ErrRejected: Graph refused the request as invalid; retrying the same
	// request will not help.
	ErrRejected = errors.New("request rejected")
)

// ThrottledError is a 429 (or 503 with Retry-After): wait, then retry. It
// is the one throttling type, for Graph and the webhooks alike. RetryAfter
// is zero when the far end did not say (then the caller backs off on its
// own); Err is the failure it wraps, if any.
type ThrottledError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *ThrottledError) Error() string {
	msg := "throttled"
	if e.RetryAfter > 0 {
		msg = fmt.Sprintf("throttled (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Is makes a throttled error count as transient.
func (e *ThrottledError) Is(target error) bool { return target == ErrTransient }

// Unwrap exposes the failure it wraps.
func (e *ThrottledError) Unwrap() error { return e.Err }

// Mark classifies err without changing its text: errors.Is(Mark(err,
// ErrRejected), ErrRejected) holds, and so does errors.Is(.., err).
func Mark(err, class error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, class: class}
}

type marked struct{ err, class error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.class} }

// Permanent reports whether trying err again cannot help: the far end
// refused the request, the responder lacks a permission or a licence.
func Permanent(err error) bool {
	return errors.Is(err, ErrRejected) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrLicence)
}

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool { return errors.Is(err, ErrTransient) }

// Workload Identities Premium service plans (AAD_WRKLDID_P1 and
// AAD_WRKLDID_P2). The risk APIs need one of them; the responder reads the
// tenant's subscribed SKUs for them rather than guessing the licence from
// an error's wording (a missing licence and a missing permission both come
// back as a bare 403). Source: reference/entra/graph-write-facts.md §3.
var WorkloadIdentityPlans = []string{"84c289f0-efcb-486f-8581-07f44fc9efad", "7dc0e92d-bf15-401d-907e-0884efe7c760"}

// SubscribedSku is one of the tenant's subscriptions with its service plans.
type SubscribedSku struct {
	SkuPartNumber    string
	CapabilityStatus string // Enabled, Warning, Suspended, Deleted, LockedOut
	ServicePlans     []ServicePlan
}

// ServicePlan is one service plan of a SKU.
type ServicePlan struct {
	ID                 string
	Name               string
	ProvisioningStatus string
}

// WorkloadIdentityLicensed reports whether any usable SKU carries a Workload
// Identities Premium service plan, and which.
func WorkloadIdentityLicensed(skus []SubscribedSku) (bool, string) {
	for _, s := range skus {
		if s.CapabilityStatus != "" && s.CapabilityStatus != "Enabled" && s.CapabilityStatus != "Warning" {
			continue // suspended, deleted or locked out: no licence
		}
		for _, p := range s.ServicePlans {
			for _, id := range WorkloadIdentityPlans {
				if equalID(p.ID, id) && (p.ProvisioningStatus == "" || p.ProvisioningStatus == "Success" || p.ProvisioningStatus == "PendingActivation") {
					return true, s.SkuPartNumber + "/" + p.Name
				}
			}
		}
	}
	return false, ""
}
