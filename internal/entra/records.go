package entra

import (
	"encoding/json"
	"fmt"
	"regexp"
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
	CreatedDateTime                      Time            `json:"createdDateTime"`
	AppID                                string          `json:"appId"`
	ServicePrincipalID                   string          `json:"servicePrincipalId"`
	ServicePrincipalName                 string          `json:"servicePrincipalName"`
	IPAddress                            string          `json:"ipAddress"`
	Location                             Location        `json:"location"`
	Status                               SignInStatus    `json:"status"`
	ConditionalAccessStatus              string          `json:"conditionalAccessStatus"`
	AppliedConditionalAccessPolicies     []AppliedPolicy `json:"appliedConditionalAccessPolicies"`
	ClientCredentialType                 string          `json:"clientCredentialType"`
	ServicePrincipalCredentialKeyID      string          `json:"servicePrincipalCredentialKeyId"`
	ServicePrincipalCredentialThumbprint string          `json:"servicePrincipalCredentialThumbprint"`
	FederatedCredentialID                string          `json:"federatedCredentialId"`
	RiskDetail                           string          `json:"riskDetail"`
	RiskLevelAggregated                  string          `json:"riskLevelAggregated"`
	RiskLevelDuringSignIn                string          `json:"riskLevelDuringSignIn"`
	RiskState                            string          `json:"riskState"`
	ResourceDisplayName                  string          `json:"resourceDisplayName"`
	ResourceID                           string          `json:"resourceId"`
}

// SignInStatus is the sign-in outcome.
type SignInStatus struct {
	ErrorCode     FlexInt `json:"errorCode"`
	FailureReason string  `json:"failureReason"`
}

// AppliedPolicy is one Conditional Access policy evaluated for a sign-in.
type AppliedPolicy struct {
	ID                    string  `json:"id"`
	DisplayName           string  `json:"displayName"`
	EnforcedGrantControls Strings `json:"enforcedGrantControls"`
	Result                string  `json:"result"`
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
	RequestID                   string   `json:"requestId"`
	CorrelationID               string   `json:"correlationId"`
	RiskEventType               string   `json:"riskEventType"`
	RiskState                   string   `json:"riskState"`
	RiskLevel                   string   `json:"riskLevel"`
	RiskDetail                  string   `json:"riskDetail"`
	Source                      string   `json:"source"`
	DetectionTimingType         string   `json:"detectionTimingType"`
	Activity                    string   `json:"activity"`
	IPAddress                   string   `json:"ipAddress"`
	Location                    Location `json:"location"`
	ActivityDateTime            Time     `json:"activityDateTime"`
	DetectedDateTime            Time     `json:"detectedDateTime"`
	LastUpdatedDateTime         Time     `json:"lastUpdatedDateTime"`
	ServicePrincipalID          string   `json:"servicePrincipalId"`
	ServicePrincipalDisplayName string   `json:"servicePrincipalDisplayName"`
	AppID                       string   `json:"appId"`
	KeyIDs                      Strings  `json:"keyIds"`
	AdditionalInfo              JSONText `json:"additionalInfo"`
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
	DisplayName             string `json:"displayName"`
	IsEnabled               *bool  `json:"isEnabled"`
	AccountEnabled          *bool  `json:"accountEnabled"`
	IsProcessing            bool   `json:"isProcessing"`
	RiskLastUpdatedDateTime Time   `json:"riskLastUpdatedDateTime"`
	RiskLevel               string `json:"riskLevel"`
	RiskState               string `json:"riskState"`
	RiskDetail              string `json:"riskDetail"`
	ServicePrincipalType    string `json:"servicePrincipalType"`
}

// AuditLog is an AuditLogs record.
type AuditLog struct {
	Envelope
	Properties AuditProperties `json:"properties"`
}

// AuditProperties holds the audit fields the responder reads.
type AuditProperties struct {
	ID                  string         `json:"id"`
	ActivityDateTime    Time           `json:"activityDateTime"`
	ActivityDisplayName string         `json:"activityDisplayName"`
	Category            string         `json:"category"`
	CorrelationID       string         `json:"correlationId"`
	OperationType       string         `json:"operationType"`
	Result              string         `json:"result"`
	ResultReason        string         `json:"resultReason"`
	InitiatedBy         AuditInitiator `json:"initiatedBy"`
	TargetResources     []AuditTarget  `json:"targetResources"`
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
	DisplayName        string              `json:"displayName"`
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

// ChangedKeyIDs lists key ids named in the KeyDescription modifications,
// as "[KeyIdentifier=<guid>,KeyType=...]" (format UNVERIFIED).
func (a AuditLog) ChangedKeyIDs() []string {
	var ids []string
	seen := map[string]bool{}
	for _, t := range a.Properties.TargetResources {
		for _, m := range t.ModifiedProperties {
			for _, v := range []JSONText{m.OldValue, m.NewValue} {
				for _, g := range keyIdentifierRE.FindAllStringSubmatch(string(v), -1) {
					id := strings.ToLower(g[1])
					if !seen[id] {
						seen[id] = true
						ids = append(ids, id)
					}
				}
			}
		}
	}
	return ids
}

// decode decodes a record into v, naming the category in errors. It first
// makes sure the record has one reading (checkKeys): encoding/json alone
// would take any spelling of a key, and the last of two.
func decode(rec []byte, v any, s *shape, cat Category) error {
	if err := checkKeys(rec, s); err != nil {
		return fmt.Errorf("decode %s record: %w", cat, err)
	}
	if err := json.Unmarshal(rec, v); err != nil {
		return fmt.Errorf("decode %s record: %w", cat, err)
	}
	return nil
}

// DecodeSignIn decodes a ServicePrincipalSignInLogs record fully.
func DecodeSignIn(rec []byte) (SignIn, error) {
	var s SignIn
	return s, decode(rec, &s, signInShape, ServicePrincipalSignInLogs)
}

// DecodeRiskEvent decodes a ServicePrincipalRiskEvents record.
func DecodeRiskEvent(rec []byte) (RiskEvent, error) {
	var r RiskEvent
	return r, decode(rec, &r, riskEventShape, ServicePrincipalRiskEvents)
}

// DecodeRiskyServicePrincipal decodes a RiskyServicePrincipals record.
func DecodeRiskyServicePrincipal(rec []byte) (RiskyServicePrincipal, error) {
	var r RiskyServicePrincipal
	return r, decode(rec, &r, riskySPShape, RiskyServicePrincipals)
}

// DecodeAuditLog decodes an AuditLogs record.
func DecodeAuditLog(rec []byte) (AuditLog, error) {
	var a AuditLog
	return a, decode(rec, &a, auditShape, AuditLogs)
}
