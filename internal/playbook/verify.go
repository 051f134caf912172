package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
)

// Verification methods, recorded on the incident.
const (
	methodDetection = "detection"             // Graph's risk detection, re-read, names the keys
	methodRisk      = "riskyServicePrincipal" // Graph shows the service principal at risk
	methodOptIn     = "optIn"                 // no licence; a rule opted this app in to act on the credential existing
)

// reads is what verify asks Graph, in one parallel round trip: the
// detection and the risky service principal count against the tenant's
// identity protection budget (two requests per incident); the Conditional
// Access policies and named locations come from the cache.
type reads struct {
	det                    directory.Detection
	detErr, riskErr        error
	app, sp                directory.Object
	appErr, spErr          error
	risky                  directory.RiskyServicePrincipal
	readDetection, readRsk bool
}

func isDetection(s detect.Signal) bool {
	return s.Kind == detect.LeakedCredential || s.Kind == detect.RiskDetection
}

// verify re-reads everything the signal claims and decides three things:
// whether Graph verifies the signal at all, which keys Graph names (the
// only keys that may ever be removed: an event alone never decides which
// key goes), and, through the verification, who may hear of it (owners only
// when verified). Every "no" is recorded; none is an error, because no retry
// changes it.
func (x *pass) verify(ctx context.Context) error {
	s := x.signal()
	x.in.Credentials = nil
	x.in.Verification = incident.Verification{}
	// Ids from the event go into Graph paths: only well-formed ones may.
	if why := badIDs(s); why != "" {
		x.pages = append(x.pages, "a record with malformed ids: "+why)
		return x.notVerified(why + ": nothing is read or written")
	}
	rd := x.read(ctx, s)
	for _, err := range []error{rd.detErr, rd.riskErr, rd.appErr, rd.spErr} {
		if directory.Retryable(err) {
			return fmt.Errorf("verify: %w", err)
		}
	}
	for what, err := range map[string]error{"application": rd.appErr, "service principal": rd.spErr} {
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("%w: read %s: %v", errNeedsHuman, what, err)
		}
	}
	if rd.appErr == nil {
		x.app = &rd.app
	}
	if rd.spErr == nil {
		x.sp = &rd.sp
	}
	x.risky = nil
	if rd.readRsk && rd.riskErr == nil {
		x.risky = &rd.risky
	}
	if done, err := x.identify(s, rd); done {
		return err
	}
	if isDetection(s) {
		return x.verifyDetection(ctx, s, rd)
	}
	return x.verifyRisk(ctx, s, rd)
}

// badIDs names the first id of the signal that is not of its documented
// shape.
func badIDs(s detect.Signal) string {
	if !ids.IsGUID(s.AppID) {
		return fmt.Sprintf("appId %q is not a GUID", clip(s.AppID))
	}
	if s.ServicePrincipalID != "" && !ids.IsGUID(s.ServicePrincipalID) {
		return fmt.Sprintf("servicePrincipalId %q is not a GUID", clip(s.ServicePrincipalID))
	}
	for _, k := range s.KeyIDs {
		if !ids.IsGUID(k) {
			return fmt.Sprintf("key id %q is not a GUID", clip(k))
		}
	}
	if isDetection(s) && s.DetectionID != "" && !ids.IsDetectionID(s.DetectionID) {
		return fmt.Sprintf("detection id %q is not a detection id", clip(s.DetectionID))
	}
	return ""
}

// clip keeps a hostile value short in records and pages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func (x *pass) read(ctx context.Context, s detect.Signal) reads {
	d := x.r.dir
	var rd reads
	var wg sync.WaitGroup
	rd.readDetection = isDetection(s) && s.DetectionID != ""
	if rd.readDetection {
		wg.Go(func() { rd.det, rd.detErr = d.Detection(ctx, s.DetectionID) })
	}
	if s.ServicePrincipalID != "" {
		rd.readRsk = true
		wg.Go(func() { rd.risky, rd.riskErr = d.RiskyServicePrincipal(ctx, s.ServicePrincipalID) })
	}
	wg.Go(func() { rd.app, rd.appErr = d.Application(ctx, s.AppID) })
	wg.Go(func() { rd.sp, rd.spErr = d.ServicePrincipal(ctx, s.AppID) })
	if x.plan.CheckPolicy && x.policies == nil && x.polErr == nil {
		// A fresh copy from the cache costs nothing; a stale or missing one
		// is read by confirm, after containment: these APIs allow about one
		// request per second per tenant, and the risk reads above come first.
		if snap, ok := x.r.policies.Fresh(x.r.cfg.PolicyMaxAge); ok {
			x.policies, x.locations, x.policiesRead = snap.Policies, snap.Locations, snap.Read
		}
	}
	wg.Wait()
	return rd
}

// identify maps the signal to the app and service principal Graph holds
// for its appId, and refuses an ambiguous mapping. done is true when the
// verification is over (not verified).
func (x *pass) identify(s detect.Signal, rd reads) (done bool, err error) {
	if x.sp == nil && x.app == nil {
		return true, x.notVerified(fmt.Sprintf("no application or service principal with appId %s in the tenant: no write", s.AppID))
	}
	if x.sp != nil && s.ServicePrincipalID != "" && !strings.EqualFold(x.sp.ID, s.ServicePrincipalID) {
		x.pages = append(x.pages, "ambiguous mapping: the record's service principal does not match Graph's")
		return true, x.notVerified(fmt.Sprintf("the record names service principal %s but appId %s belongs to service principal %s in Graph: refusing to act on an ambiguous mapping", s.ServicePrincipalID, s.AppID, x.sp.ID))
	}
	x.in.App = incident.App{AppID: strings.ToLower(s.AppID), DisplayName: s.DisplayName}
	if x.app != nil {
		x.in.App.ApplicationID, x.in.App.DisplayName = x.app.ID, x.app.DisplayName
		x.in.App.Tags = append(x.in.App.Tags, x.app.Tags...)
	}
	if x.sp != nil {
		// Only Graph's id is ever targeted: the record's may be forged.
		x.in.App.ServicePrincipalID = x.sp.ID
		if x.in.App.DisplayName == "" {
			x.in.App.DisplayName = x.sp.DisplayName
		}
		x.in.App.Tags = append(x.in.App.Tags, x.sp.Tags...)
	}
	if x.risky != nil {
		x.in.App.RiskLevel, x.in.App.RiskState = x.risky.RiskLevel, x.risky.RiskState
	}
	for what, id := range map[string]string{"detection": rd.det.AppID, "risky service principal": rd.risky.AppID} {
		if id != "" && !strings.EqualFold(id, s.AppID) {
			x.pages = append(x.pages, fmt.Sprintf("the %s in Graph belongs to app %s, the record says %s", what, id, s.AppID))
			return true, x.notVerified(fmt.Sprintf("the %s in Graph belongs to app %s, not %s: refusing to act on an ambiguous mapping", what, id, s.AppID))
		}
	}
	return false, nil
}

// verifyDetection: a risk detection, re-read from Graph, is the only thing
// that names a key the responder may remove.
func (x *pass) verifyDetection(ctx context.Context, s detect.Signal, rd reads) error {
	switch {
	case s.DetectionID == "":
		return x.notVerified("the record carries no detection id, so it cannot be checked against Graph: no write")
	case errors.Is(rd.detErr, directory.ErrNotFound):
		x.pages = append(x.pages, fmt.Sprintf("detection %s in the event stream is unknown to Graph (forged or wrong tenant)", s.DetectionID))
		return x.notVerified(fmt.Sprintf("detection %s is unknown to Graph: no write (a forged or stale event)", s.DetectionID))
	case errors.Is(rd.detErr, directory.ErrLicence) || errors.Is(rd.detErr, directory.ErrForbidden):
		return x.withoutRiskAPIs(ctx, s, "read detection "+s.DetectionID, rd.detErr)
	case rd.detErr != nil:
		x.pages = append(x.pages, "could not read detection "+s.DetectionID+": "+rd.detErr.Error())
		return x.notVerified(fmt.Sprintf("could not read detection %s from Graph (%v): no write", s.DetectionID, rd.detErr))
	}
	det := rd.det
	if !strings.EqualFold(det.ServicePrincipalID, x.in.App.ServicePrincipalID) || x.in.App.ServicePrincipalID == "" {
		x.pages = append(x.pages, fmt.Sprintf("detection %s belongs to service principal %s, not the app's", det.ID, det.ServicePrincipalID))
		return x.notVerified(fmt.Sprintf("detection %s names service principal %s, not %s: no write", det.ID, det.ServicePrincipalID, orUnknown(x.in.App.ServicePrincipalID)))
	}
	if !atRisk(det.RiskState) {
		return x.closed(det.RiskState, fmt.Sprintf("detection %s is %s in Graph: nothing to do, and nobody is told", det.ID, orUnknown(det.RiskState)))
	}
	// Graph names the keys. The event's key ids only narrow them (a
	// detection the event names with other keys is a mismatch to page).
	keys := det.KeyIDs
	if len(s.KeyIDs) > 0 {
		var both []string
		for _, k := range det.KeyIDs {
			if slices.ContainsFunc(s.KeyIDs, func(e string) bool { return strings.EqualFold(e, k) }) {
				both = append(both, k)
			}
		}
		if len(both) == 0 {
			x.pages = append(x.pages, fmt.Sprintf("detection %s: the event's key ids are not Graph's", det.ID))
			return x.notVerified(fmt.Sprintf("the event's key ids %v are not the detection's %v in Graph: no write", s.KeyIDs, det.KeyIDs))
		}
		keys = both
	}
	v := incident.Verification{Method: methodDetection, Verified: true,
		Detail: fmt.Sprintf("detection %s (%s, %s, %s) confirmed by Graph; Graph names key(s) %s", det.ID, det.RiskEventType, det.RiskLevel, det.RiskState, strings.Join(keys, ", "))}
	return x.verified(ctx, v, keys)
}

// verifyRisk: any other signal is verified only by Graph showing the
// service principal at risk, and never names a key to remove.
func (x *pass) verifyRisk(ctx context.Context, s detect.Signal, rd reads) error {
	switch {
	case errors.Is(rd.riskErr, directory.ErrLicence) || errors.Is(rd.riskErr, directory.ErrForbidden):
		return x.withoutRiskAPIs(ctx, s, "read the service principal's risk", rd.riskErr)
	case rd.riskErr != nil && !errors.Is(rd.riskErr, directory.ErrNotFound):
		x.pages = append(x.pages, "could not read the service principal's risk: "+rd.riskErr.Error())
		return x.notVerified("could not read the service principal's risk from Graph: " + rd.riskErr.Error())
	case x.risky == nil || !atRisk(x.risky.RiskState):
		state := "not listed as risky"
		if x.risky != nil {
			state = orUnknown(x.risky.RiskState)
		}
		if x.risky != nil && s.Kind == detect.RiskyServicePrincipal && closedState(x.risky.RiskState) {
			return x.closed(x.risky.RiskState, fmt.Sprintf("Graph shows the service principal %s: nothing to do, and nobody is told", x.risky.RiskState))
		}
		x.pages = append(x.pages, fmt.Sprintf("%s signal for %s not verified: Graph shows the service principal %s", s.Kind, s.AppID, state))
		return x.notVerified(fmt.Sprintf("Graph does not show the service principal at risk (%s): the %s signal is the event's word only", state, s.Kind))
	}
	v := incident.Verification{Method: methodRisk, Verified: true,
		Detail: fmt.Sprintf("Graph shows the service principal %s with risk %s; a %s signal names no key Graph confirms, so no credential is removed", x.risky.RiskState, orUnknown(x.risky.RiskLevel), s.Kind)}
	return x.verified(ctx, v, nil)
}

// withoutRiskAPIs decides after a 403 from a risk API: the tenant's
// subscribed SKUs say whether it lacks the licence or the responder lacks
// a permission, not the error's wording.
func (x *pass) withoutRiskAPIs(ctx context.Context, s detect.Signal, what string, cause error) error {
	licensed, plan, err := x.r.licence(ctx)
	if directory.Retryable(err) {
		return fmt.Errorf("verify: read subscribed SKUs: %w", err)
	}
	switch {
	case err != nil:
		x.pages = append(x.pages, fmt.Sprintf("could not %s (%v) nor read the tenant's licences (%v)", what, cause, err))
		return x.notVerified(fmt.Sprintf("could not %s (%v), and the tenant's licences are unreadable (%v): no write", what, cause, err))
	case licensed:
		x.pages = append(x.pages, fmt.Sprintf("could not %s although the tenant has %s: a missing permission (IdentityRiskEvent.Read.All, IdentityRiskyServicePrincipal.Read.All)?", what, plan))
		return x.notVerified(fmt.Sprintf("could not %s (%v) although the tenant is licensed (%s): check the responder's permissions; no write", what, cause, plan))
	}
	x.in.Verification.Unlicensed = true
	if x.plan.UnlicensedFallback && isDetection(s) {
		// The one explicit exception: a rule opted this app in.
		var keys []string
		for _, k := range s.KeyIDs {
			if x.holds(k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return x.notVerified("the tenant cannot verify risk (no Workload Identities Premium), and none of the keys the record names exists on the app: nothing to do")
		}
		v := incident.Verification{Method: methodOptIn, Verified: true, Unlicensed: true,
			Detail:  fmt.Sprintf("the tenant cannot verify risk (no Workload Identities Premium licence); rule %s opts this app in to act on the named credential existing, which it does", x.plan.Rule),
			Limited: "not verified by a Graph risk detection: the key is the event's, checked only for existing on the app"}
		return x.verified(ctx, v, keys)
	}
	x.pages = append(x.pages, "the tenant cannot verify risk (no Workload Identities Premium licence): a person must check this signal")
	return x.notVerified("the tenant has no Workload Identities Premium licence (read from its subscribed SKUs), so Graph cannot verify risk: no write, and only security and on-call are told")
}

// holds reports whether the app or its service principal holds the key.
func (x *pass) holds(keyID string) bool {
	for _, o := range []*directory.Object{x.app, x.sp} {
		if o == nil {
			continue
		}
		if _, ok := o.Password(keyID); ok {
			return true
		}
		if _, ok := o.Key(keyID, ""); ok {
			return true
		}
	}
	return false
}

// verified records a verification and the credentials of the keys Graph
// named, minus the pairs a person already resolved: a person's decision
// about a (service principal, key) pair holds for every later incident of
// that pair, whatever detection id or variant of the event opens it.
func (x *pass) verified(ctx context.Context, v incident.Verification, keys []string) error {
	v.Unlicensed = v.Unlicensed || x.in.Verification.Unlicensed
	x.in.Verification = v
	var decided []string
	for _, k := range keys {
		if x.r.guards != nil && x.in.App.ServicePrincipalID != "" {
			by, note, inc, found, err := x.r.guards.Decision(ctx, x.in.App.ServicePrincipalID, k)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if found {
				decided = append(decided, fmt.Sprintf("key %s was resolved by %s in %s (%s)", k, by, inc, note))
				continue
			}
		}
		c, err := locate(x.app, x.sp, k)
		if errors.Is(err, errSigning) {
			// Verified, but only a person can rotate it: owners are told,
			// on-call is paged, nothing is written.
			x.pages = append(x.pages, err.Error())
			x.final, x.finalWhy = incident.StateNeedsHuman, err.Error()
			x.record(incident.StepVerify, "verified", v.Detail)
			x.record(incident.StepVerify, "needs a person", err.Error())
			return nil
		}
		if err != nil {
			x.pages = append(x.pages, err.Error())
			return x.notVerified(err.Error())
		}
		x.in.Credentials = append(x.in.Credentials, c)
	}
	x.record(incident.StepVerify, "verified", v.Detail)
	if len(decided) > 0 {
		x.record(incident.StepVerify, "decided by a person", strings.Join(decided, "; "))
		if len(x.in.Credentials) == 0 {
			x.final, x.finalWhy = incident.StateResolved, "every key it names was resolved by a person before: "+strings.Join(decided, "; ")
		}
	}
	return nil
}

// notVerified: no write, no owner hears of it, the incident waits for a
// person (security and on-call are told, marked unverified).
func (x *pass) notVerified(detail string) error {
	v := x.in.Verification
	v.Verified, v.Detail = false, detail
	x.in.Verification = v
	x.final, x.finalWhy = incident.StateNeedsHuman, "not verified: "+detail
	x.record(incident.StepVerify, "not verified", detail)
	return nil
}

// closed: Graph has already closed what the signal reports. Recorded, not
// sent.
func (x *pass) closed(state, detail string) error {
	x.in.Verification = incident.Verification{Verified: false, Closed: orUnknown(state), Detail: detail}
	x.final = incident.StateDone
	x.record(incident.StepVerify, "closed in Graph", detail)
	return nil
}

func atRisk(state string) bool { return state == "atRisk" || state == "confirmedCompromised" }

// closedState is a risk state in which nothing is left to do.
func closedState(state string) bool {
	switch state {
	case "dismissed", "remediated", "confirmedSafe", "none":
		return true
	}
	return false
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// locate finds the single object holding a credential. A key on both the
// application and the service principal is ambiguous: refuse. A signing
// certificate (Sign usage, or a password paired with a certificate of the
// same keyId, as SAML and token-signing certificates are) goes to a person:
// the PATCH that removes certificates cannot keep such entries safely, and
// removePassword on the pair fails.
func locate(app, sp *directory.Object, keyID string) (incident.Credential, error) {
	c := incident.Credential{KeyID: strings.ToLower(keyID)}
	var hits []incident.Credential
	for _, o := range []*directory.Object{app, sp} {
		if o == nil {
			continue
		}
		p, hasP := o.Password(keyID)
		k, hasK := o.Key(keyID, "")
		switch {
		case hasP && hasK:
			return c, fmt.Errorf("%w: key %s on the %s is a signing certificate with its password (SAML or token signing): a person must rotate it", errSigning, keyID, o.Kind)
		case hasK && (k.Usage != "Verify" || k.Type != "AsymmetricX509Cert"):
			return c, fmt.Errorf("%w: key %s on the %s is a %s certificate used to %s (a signing certificate): a person must rotate it", errSigning, keyID, o.Kind, k.Type, k.Usage)
		case hasP:
			hits = append(hits, incident.Credential{KeyID: strings.ToLower(p.KeyID), Type: "password", Location: string(o.Kind), DisplayName: p.DisplayName, Hint: p.Hint, Start: p.Start, End: p.End, Found: true})
		case hasK:
			hits = append(hits, incident.Credential{KeyID: strings.ToLower(k.KeyID), Type: "certificate", Location: string(o.Kind), DisplayName: k.DisplayName, Thumbprint: k.CustomKeyIdentifier, Start: k.Start, End: k.End, Found: true})
		}
	}
	switch len(hits) {
	case 0:
		return c, nil // already removed or expired: nothing to write
	case 1:
		return hits[0], nil
	default:
		return c, fmt.Errorf("key %s is held by more than one object (%s and %s): refusing to act on an ambiguous mapping", keyID, hits[0].Location, hits[1].Location)
	}
}

// errSigning marks a credential only a person may rotate.
var errSigning = errors.New("signing certificate")
