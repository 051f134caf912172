package entra

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// SignIn is a ServicePrincipalSignInLogs record.
type SignIn struct {
	Envelope
	Properties SignInProperties `json:"properties"`
}

// SignInProperties holds the sign-in fields the responder uses.
type SignInProperties struct {
	ID                                   string          `json:"id"`
	CreatedDateTime                      Time            `json:"createdDateTime" entra:"lenient"`
	AppID                                string          `json:"appId"`
	ServicePrincipalID                   string          `json:"servicePrincipalId"`
	ServicePrincipalName                 string          `json:"servicePrincipalName" entra:"lenient"`
	IPAddress                            string          `json:"ipAddress"`
	Location                             Location        `json:"location" entra:"lenient"`
	Status                               SignInStatus    `json:"status"`
	ConditionalAccessStatus              string          `json:"conditionalAccessStatus" entra:"lenient"`
	AppliedConditionalAccessPolicies     []AppliedPolicy `json:"appliedConditionalAccessPolicies"`
	ClientCredentialType                 string          `json:"clientCredentialType" entra:"lenient"`
	ServicePrincipalCredentialKeyID      string          `json:"servicePrincipalCredentialKeyId"`
	ServicePrincipalCredentialThumbprint string          `json:"servicePrincipalCredentialThumbprint"`
	FederatedCredentialID                string          `json:"federatedCredentialId" entra:"lenient"`
	RiskDetail                           string          `json:"riskDetail" entra:"lenient"`
	RiskLevelAggregated                  string          `json:"riskLevelAggregated"`
	RiskLevelDuringSignIn                string          `json:"riskLevelDuringSignIn"`
	RiskState                            string          `json:"riskState"`
	ResourceDisplayName                  string          `json:"resourceDisplayName" entra:"lenient"`
	ResourceID                           string          `json:"resourceId" entra:"lenient"`
}

// SignInStatus is the sign-in outcome.
type SignInStatus struct {
	ErrorCode     FlexInt `json:"errorCode"`
	FailureReason string  `json:"failureReason" entra:"lenient"`
}

// AppliedPolicy is one Conditional Access policy evaluated for a sign-in.
type AppliedPolicy struct {
	ID                    string  `json:"id"`
	DisplayName           string  `json:"displayName" entra:"lenient"`
	EnforcedGrantControls Strings `json:"enforcedGrantControls" entra:"lenient"`
	Result                string  `json:"result" entra:"lenient"`
}

// RiskEvent is a ServicePrincipalRiskEvents record (a
// servicePrincipalRiskDetection in Graph's terms).
type RiskEvent struct {
	Envelope
	Properties RiskEventProperties `json:"properties"`
}

// RiskEventProperties holds the detection fields.
type RiskEventProperties struct {
	ID                          string   `json:"id"`
	RequestID                   string   `json:"requestId" entra:"lenient"`
	CorrelationID               string   `json:"correlationId" entra:"lenient"`
	RiskEventType               string   `json:"riskEventType"`
	RiskState                   string   `json:"riskState"`
	RiskLevel                   string   `json:"riskLevel"`
	RiskDetail                  string   `json:"riskDetail" entra:"lenient"`
	Source                      string   `json:"source" entra:"lenient"`
	DetectionTimingType         string   `json:"detectionTimingType" entra:"lenient"`
	Activity                    string   `json:"activity" entra:"lenient"`
	IPAddress                   string   `json:"ipAddress" entra:"lenient"`
	Location                    Location `json:"location" entra:"lenient"`
	ActivityDateTime            Time     `json:"activityDateTime" entra:"lenient"`
	DetectedDateTime            Time     `json:"detectedDateTime" entra:"lenient"`
	LastUpdatedDateTime         Time     `json:"lastUpdatedDateTime" entra:"lenient"`
	ServicePrincipalID          string   `json:"servicePrincipalId"`
	ServicePrincipalDisplayName string   `json:"servicePrincipalDisplayName" entra:"lenient"`
	AppID                       string   `json:"appId"`
	KeyIDs                      Strings  `json:"keyIds"`
	AdditionalInfo              JSONText `json:"additionalInfo" entra:"lenient"`
}

// RiskyServicePrincipal is a RiskyServicePrincipals record.
type RiskyServicePrincipal struct {
	Envelope
	Properties RiskyServicePrincipalProperties `json:"properties"`
}

// RiskyServicePrincipalProperties holds the risk state. Graph calls the
// enabled flag isEnabled and Log Analytics AccountEnabled; the Event Hubs
// name is unverified, so both are read.
type RiskyServicePrincipalProperties struct {
	ID                      string `json:"id"`
	AppID                   string `json:"appId"`
	DisplayName             string `json:"displayName" entra:"lenient"`
	IsEnabled               *bool  `json:"isEnabled" entra:"lenient"`
	AccountEnabled          *bool  `json:"accountEnabled" entra:"lenient"`
	IsProcessing            bool   `json:"isProcessing" entra:"lenient"`
	RiskLastUpdatedDateTime Time   `json:"riskLastUpdatedDateTime" entra:"lenient"`
	RiskLevel               string `json:"riskLevel"`
	RiskState               string `json:"riskState"`
	RiskDetail              string `json:"riskDetail" entra:"lenient"`
	ServicePrincipalType    string `json:"servicePrincipalType" entra:"lenient"`
}

// AuditLog is an AuditLogs record.
type AuditLog struct {
	Envelope
	Properties AuditProperties `json:"properties"`
}

// AuditProperties holds the audit fields the responder reads.
type AuditProperties struct {
	ID                  string         `json:"id"`
	ActivityDateTime    Time           `json:"activityDateTime" entra:"lenient"`
	ActivityDisplayName string         `json:"activityDisplayName"`
	Category            string         `json:"category" entra:"lenient"`
	CorrelationID       string         `json:"correlationId" entra:"lenient"`
	OperationType       string         `json:"operationType" entra:"lenient"`
	Result              string         `json:"result" entra:"lenient"`
	ResultReason        string         `json:"resultReason" entra:"lenient"`
	InitiatedBy         AuditInitiator `json:"initiatedBy" entra:"lenient"`
	TargetResources     []AuditTarget  `json:"targetResources"`
	// AdditionalDetails holds key/value pairs; application management
	// records carry the app's AppId here.
	AdditionalDetails []AuditDetail `json:"additionalDetails"`
}

// AuditDetail is one additionalDetails entry.
type AuditDetail struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// AuditInitiator says who performed an audited activity.
type AuditInitiator struct {
	User *struct {
		ID                string `json:"id"`
		UserPrincipalName string `json:"userPrincipalName"`
		IPAddress         string `json:"ipAddress"`
	} `json:"user"`
	App *struct {
		AppID              string `json:"appId"`
		DisplayName        string `json:"displayName"`
		ServicePrincipalID string `json:"servicePrincipalId"`
	} `json:"app"`
}

// AuditTarget is one resource an audited activity touched.
type AuditTarget struct {
	ID                 string              `json:"id"`
	DisplayName        string              `json:"displayName" entra:"lenient"`
	Type               string              `json:"type"`
	ModifiedProperties []AuditModification `json:"modifiedProperties"`
}

// AuditModification is one changed property, old and new as Entra renders them.
type AuditModification struct {
	DisplayName string   `json:"displayName"`
	OldValue    JSONText `json:"oldValue"`
	NewValue    JSONText `json:"newValue"`
}

// IsCredentialChange reports whether the activity manages application or
// service-principal credentials. The activity names come from a third-party
// list and are UNVERIFIED against Microsoft's; the test
// TestAuditActivityNames pins them so a change is deliberate.
func (a AuditLog) IsCredentialChange() bool {
	n := strings.ToLower(a.Properties.ActivityDisplayName)
	return strings.Contains(n, "certificates and secrets management") ||
		strings.Contains(n, "service principal credentials") ||
		strings.Contains(n, "remove password") || strings.Contains(n, "add password")
}

var keyIdentifierRE = regexp.MustCompile(`(?i)KeyIdentifier=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)

var guidRE = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ChangedKeyIDs lists the key ids added or removed on any target (see
// CredentialChanges), in order of first appearance.
func (a AuditLog) ChangedKeyIDs() []string {
	var ids []string
	for _, c := range a.CredentialChanges() {
		ids = append(ids, c.Added...)
		ids = append(ids, c.Removed...)
	}
	return ids
}

// TargetCredentialChange is what one audit record says about the
// credentials of one directory object.
type TargetCredentialChange struct {
	ObjectID    string // the target's object id, lower case
	Type        string // "application" or "servicePrincipal" (as Entra spells it, else lower case)
	DisplayName string
	AppID       string // the app id, where the record names it; lower case
	// Added and Removed are the key ids (lower case) present only after,
	// or only before, the change. Entra lists every credential of the
	// object on each side (KeyDescription:
	// "[KeyIdentifier=<guid>,KeyType=Password,KeyUsage=Verify,DisplayName=...]"),
	// so the keys on both sides did not change and are named in neither.
	Added, Removed []string
}

// CredentialChanges diffs, for each target of the record, the key ids in
// the old and new values of its modified properties (KeyDescription, and
// any other that names KeyIdentifier=). The app id comes from the
// record's additionalDetails AppId, or for a service principal from the
// first GUID among its TargetId.ServicePrincipalNames.
func (a AuditLog) CredentialChanges() []TargetCredentialChange {
	appID := ""
	for _, d := range a.Properties.AdditionalDetails {
		if strings.EqualFold(d.Key, "AppId") && guidRE.MatchString(strings.TrimSpace(d.Value)) {
			appID = strings.ToLower(strings.TrimSpace(d.Value))
		}
	}
	var out []TargetCredentialChange
	for _, t := range a.Properties.TargetResources {
		c := TargetCredentialChange{ObjectID: strings.ToLower(t.ID), DisplayName: t.DisplayName, AppID: appID}
		switch strings.ToLower(t.Type) {
		case "application":
			c.Type = "application"
		case "serviceprincipal":
			c.Type = "servicePrincipal"
		default:
			c.Type = strings.ToLower(t.Type)
		}
		var before, after []string
		touched := false
		for _, m := range t.ModifiedProperties {
			if strings.EqualFold(m.DisplayName, "TargetId.ServicePrincipalNames") && c.AppID == "" {
				c.AppID = firstGUID(string(m.NewValue))
			}
			o, n := keyIDsIn(m.OldValue), keyIDsIn(m.NewValue)
			if len(o)+len(n) > 0 || strings.EqualFold(m.DisplayName, "KeyDescription") {
				touched = true
			}
			before, after = append(before, o...), append(after, n...)
		}
		if !touched {
			continue
		}
		c.Added = minus(after, before)
		c.Removed = minus(before, after)
		out = append(out, c)
	}
	return out
}

func keyIDsIn(v JSONText) []string {
	var ids []string
	for _, g := range keyIdentifierRE.FindAllStringSubmatch(string(v), -1) {
		ids = append(ids, strings.ToLower(g[1]))
	}
	return ids
}

// minus returns the distinct elements of a not in b, in order.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// firstGUID returns the first GUID among the ;- or ,-separated names in a
// JSON string or list of strings, lower case.
func firstGUID(v string) string {
	f := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("\";,[] ", r) })
	for _, s := range f {
		if guidRE.MatchString(s) {
			return strings.ToLower(s)
		}
	}
	return ""
}

// decode decodes a record into v, naming the category in errors. It first
// makes sure the record has one reading (checkKeys): encoding/json alone
// would take any spelling of a key, and the last of two.
//
// A lenient field (tag entra:"lenient": one no decision reads) whose value
// does not decode is read as null instead, and named in the returned
// notes: one malformed timestamp must not cost the whole detection.
func decode(rec []byte, v any, s *shape, cat Category) (notes []string, err error) {
	if _, err := checkKeys(rec, s, false); err != nil {
		return nil, fmt.Errorf("decode %s record: %w", cat, err)
	}
	err = json.Unmarshal(rec, v)
	if err == nil {
		return nil, nil // the common case: one decode, nothing set aside
	}
	// Something did not decode: find the lenient fields that do not, set
	// them aside and decode again. If none of them is at fault, the
	// record fails with the first error.
	bad, kerr := checkKeys(rec, s, true)
	if kerr != nil || len(bad) == 0 {
		return nil, fmt.Errorf("decode %s record: %w", cat, err)
	}
	patched := make([]byte, 0, len(rec))
	prev := 0
	for _, b := range bad {
		patched = append(append(patched, rec[prev:b.start]...), "null"...)
		prev = b.end
		notes = append(notes, b.note)
	}
	patched = append(patched, rec[prev:]...)
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(patched, v); err != nil {
		return nil, fmt.Errorf("decode %s record: %w", cat, err)
	}
	return notes, nil
}

// DecodeSignIn decodes a ServicePrincipalSignInLogs record fully.
func DecodeSignIn(rec []byte) (SignIn, error) {
	var s SignIn
	notes, err := decode(rec, &s, signInShape, ServicePrincipalSignInLogs)
	s.Tolerated = notes
	return s, err
}

// DecodeRiskEvent decodes a ServicePrincipalRiskEvents record.
func DecodeRiskEvent(rec []byte) (RiskEvent, error) {
	var r RiskEvent
	notes, err := decode(rec, &r, riskEventShape, ServicePrincipalRiskEvents)
	r.Tolerated = notes
	return r, err
}

// DecodeRiskyServicePrincipal decodes a RiskyServicePrincipals record.
func DecodeRiskyServicePrincipal(rec []byte) (RiskyServicePrincipal, error) {
	var r RiskyServicePrincipal
	notes, err := decode(rec, &r, riskySPShape, RiskyServicePrincipals)
	r.Tolerated = notes
	return r, err
}

// DecodeAuditLog decodes an AuditLogs record.
func DecodeAuditLog(rec []byte) (AuditLog, error) {
	var a AuditLog
	notes, err := decode(rec, &a, auditShape, AuditLogs)
	a.Tolerated = notes
	return a, err
}
