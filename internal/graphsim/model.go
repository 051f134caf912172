package graphsim

import (
	"encoding/json"
	"slices"
	"time"
)

// PasswordCredential is a client secret as Graph returns it. Graph returns
// secretText only from addPassword, which the simulator does not offer, so
// it is always null here.
type PasswordCredential struct {
	CustomKeyIdentifier *string    `json:"customKeyIdentifier"`
	DisplayName         *string    `json:"displayName"`
	EndDateTime         *time.Time `json:"endDateTime"`
	Hint                *string    `json:"hint"`
	KeyID               string     `json:"keyId"`
	SecretText          *string    `json:"secretText"`
	StartDateTime       *time.Time `json:"startDateTime"`
}

// KeyCredential is a certificate (or symmetric key) credential. Key is the
// base64 DER of the certificate; Graph returns it only when keyCredentials
// is $selected on a single object, and null otherwise.
type KeyCredential struct {
	CustomKeyIdentifier *string    `json:"customKeyIdentifier"`
	DisplayName         *string    `json:"displayName"`
	EndDateTime         *time.Time `json:"endDateTime"`
	Key                 *string    `json:"key"`
	KeyID               string     `json:"keyId"`
	StartDateTime       *time.Time `json:"startDateTime"`
	Type                string     `json:"type"`
	Usage               string     `json:"usage"`
}

// DirectoryObjectRef names an owner in a seed the way Graph's $expand=owners
// shows it: "@odata.type" (#microsoft.graph.user, .servicePrincipal or
// .group) and id. The object itself is listed in users, servicePrincipals or
// groups.
type DirectoryObjectRef struct {
	ODataType string `json:"@odata.type"`
	ID        string `json:"id"`
}

// Application is an app registration. Owners is part of the seed only (like
// $expand=owners); Graph serves it from /applications/{id}/owners.
type Application struct {
	ID                  string               `json:"id"`
	AppID               string               `json:"appId"`
	DisplayName         string               `json:"displayName"`
	Tags                []string             `json:"tags"`
	PasswordCredentials []PasswordCredential `json:"passwordCredentials"`
	KeyCredentials      []KeyCredential      `json:"keyCredentials"`
	Owners              []DirectoryObjectRef `json:"owners,omitempty"`
}

// ServicePrincipal is an enterprise application. AccountEnabled defaults to
// true when a seed leaves it out, as in Graph.
type ServicePrincipal struct {
	ID                     string               `json:"id"`
	AppID                  string               `json:"appId"`
	DisplayName            string               `json:"displayName"`
	AccountEnabled         *bool                `json:"accountEnabled"`
	ServicePrincipalType   string               `json:"servicePrincipalType"`
	AppOwnerOrganizationID *string              `json:"appOwnerOrganizationId"`
	Tags                   []string             `json:"tags"`
	PasswordCredentials    []PasswordCredential `json:"passwordCredentials"`
	KeyCredentials         []KeyCredential      `json:"keyCredentials"`
	Owners                 []DirectoryObjectRef `json:"owners,omitempty"`
	// AppRoles are the application permissions the service principal
	// offers as a resource (Microsoft Graph's; see setup.go).
	AppRoles []AppRole `json:"appRoles"`
}

// User is a user account: an owner to notify or the mailbox mail is sent as.
type User struct {
	ID                string  `json:"id"`
	DisplayName       string  `json:"displayName"`
	Mail              *string `json:"mail"`
	UserPrincipalName string  `json:"userPrincipalName"`
}

// Group is a group; it can appear as a directory object in owner lists.
type Group struct {
	ID          string  `json:"id"`
	DisplayName string  `json:"displayName"`
	Mail        *string `json:"mail"`
	// Members are the ids of the group's direct members (users or
	// groups): a seed-only field, never rendered (see members.go).
	Members []string `json:"members,omitempty"`
}

// ServicePrincipalRiskDetection is an Identity Protection detection for a
// workload identity (for example leakedCredentials naming keyIds).
type ServicePrincipalRiskDetection struct {
	ODataType                   string          `json:"@odata.type,omitempty"`
	ID                          string          `json:"id"`
	RequestID                   *string         `json:"requestId"`
	CorrelationID               *string         `json:"correlationId"`
	RiskEventType               string          `json:"riskEventType"`
	RiskState                   string          `json:"riskState"`
	RiskLevel                   string          `json:"riskLevel"`
	RiskDetail                  string          `json:"riskDetail"`
	Source                      string          `json:"source"`
	DetectionTimingType         string          `json:"detectionTimingType"`
	Activity                    string          `json:"activity"`
	TokenIssuerType             string          `json:"tokenIssuerType"`
	IPAddress                   *string         `json:"ipAddress"`
	Location                    json.RawMessage `json:"location"`
	ActivityDateTime            *time.Time      `json:"activityDateTime"`
	DetectedDateTime            *time.Time      `json:"detectedDateTime"`
	LastUpdatedDateTime         *time.Time      `json:"lastUpdatedDateTime"`
	ServicePrincipalID          string          `json:"servicePrincipalId"`
	ServicePrincipalDisplayName string          `json:"servicePrincipalDisplayName"`
	AppID                       string          `json:"appId"`
	KeyIDs                      []string        `json:"keyIds"`
	AdditionalInfo              *string         `json:"additionalInfo"`
}

// RiskyServicePrincipal is Identity Protection's risk state of a service
// principal; its id is the service principal's object id.
type RiskyServicePrincipal struct {
	ID                      string     `json:"id"`
	IsEnabled               bool       `json:"isEnabled"`
	IsProcessing            bool       `json:"isProcessing"`
	RiskLastUpdatedDateTime *time.Time `json:"riskLastUpdatedDateTime"`
	RiskLevel               string     `json:"riskLevel"`
	RiskState               string     `json:"riskState"`
	RiskDetail              string     `json:"riskDetail"`
	DisplayName             string     `json:"displayName"`
	AppID                   string     `json:"appId"`
	ServicePrincipalType    string     `json:"servicePrincipalType"`
}

// ConditionalAccessPolicy is a Conditional Access policy in Graph's v1.0
// shape. Parts the responder does not evaluate (users, platforms, devices,
// session controls, authentication strength) are kept as raw JSON.
type ConditionalAccessPolicy struct {
	ID               string           `json:"id"`
	DisplayName      string           `json:"displayName"`
	CreatedDateTime  *time.Time       `json:"createdDateTime"`
	ModifiedDateTime *time.Time       `json:"modifiedDateTime"`
	State            string           `json:"state"`
	Conditions       CAConditions     `json:"conditions"`
	GrantControls    *CAGrantControls `json:"grantControls"`
	SessionControls  json.RawMessage  `json:"sessionControls"`
}

// CAConditions is conditionalAccessConditionSet.
type CAConditions struct {
	UserRiskLevels             []string              `json:"userRiskLevels"`
	SignInRiskLevels           []string              `json:"signInRiskLevels"`
	ServicePrincipalRiskLevels []string              `json:"servicePrincipalRiskLevels"`
	ClientAppTypes             []string              `json:"clientAppTypes"`
	Platforms                  json.RawMessage       `json:"platforms"`
	Locations                  *CALocations          `json:"locations"`
	Devices                    json.RawMessage       `json:"devices"`
	Users                      json.RawMessage       `json:"users"`
	Applications               *CAApplications       `json:"applications"`
	ClientApplications         *CAClientApplications `json:"clientApplications"`
}

// CAApplications is conditionalAccessApplications.
type CAApplications struct {
	IncludeApplications                         []string `json:"includeApplications"`
	ExcludeApplications                         []string `json:"excludeApplications"`
	IncludeUserActions                          []string `json:"includeUserActions"`
	IncludeAuthenticationContextClassReferences []string `json:"includeAuthenticationContextClassReferences"`
}

// CAClientApplications selects workload identities: service principal
// object ids, "ServicePrincipalsInMyTenant", or a filter.
type CAClientApplications struct {
	IncludeServicePrincipals []string  `json:"includeServicePrincipals"`
	ExcludeServicePrincipals []string  `json:"excludeServicePrincipals"`
	ServicePrincipalFilter   *CAFilter `json:"servicePrincipalFilter"`
}

// CAFilter is conditionalAccessFilter (a rule over custom security attributes).
type CAFilter struct {
	Mode string `json:"mode"`
	Rule string `json:"rule"`
}

// CALocations lists named location ids, "All" or "AllTrusted".
type CALocations struct {
	IncludeLocations []string `json:"includeLocations"`
	ExcludeLocations []string `json:"excludeLocations"`
}

// CAGrantControls is conditionalAccessGrantControls; workload identities
// only support "block".
type CAGrantControls struct {
	Operator                    string          `json:"operator"`
	BuiltInControls             []string        `json:"builtInControls"`
	CustomAuthenticationFactors []string        `json:"customAuthenticationFactors"`
	TermsOfUse                  []string        `json:"termsOfUse"`
	AuthenticationStrength      json.RawMessage `json:"authenticationStrength"`
}

// NamedLocation is an ipNamedLocation or a countryNamedLocation, told apart
// by ODataType as in Graph.
type NamedLocation struct {
	ODataType                         string     `json:"@odata.type"`
	ID                                string     `json:"id"`
	DisplayName                       string     `json:"displayName"`
	CreatedDateTime                   *time.Time `json:"createdDateTime"`
	ModifiedDateTime                  *time.Time `json:"modifiedDateTime"`
	IsTrusted                         *bool      `json:"isTrusted,omitempty"`
	IPRanges                          []IPRange  `json:"ipRanges,omitempty"`
	CountriesAndRegions               []string   `json:"countriesAndRegions,omitempty"`
	IncludeUnknownCountriesAndRegions *bool      `json:"includeUnknownCountriesAndRegions,omitempty"`
}

// IPRange is an iPv4CidrRange or iPv6CidrRange.
type IPRange struct {
	ODataType   string `json:"@odata.type"`
	CIDRAddress string `json:"cidrAddress"`
}

// Request is one entry of the request log.
type Request struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	// Route is the matched route, such as "POST /applications/{id}/removePassword";
	// empty for an unexpected request.
	Route string `json:"route,omitempty"`
	// Status is the status sent, 0 when the connection was dropped or the
	// client gave up first.
	Status int `json:"status"`
	// Fault names the injected fault, if any ("status 429 before", "drop after", ...).
	Fault string `json:"fault,omitempty"`
}

// Write is a change applied to the tenant. Route says which call made it.
type Write struct {
	Time          time.Time `json:"time"`
	Route         string    `json:"route"`
	Target        string    `json:"target"`
	RemovedKeyIDs []string  `json:"removedKeyIds,omitempty"`
	AddedKeyIDs   []string  `json:"addedKeyIds,omitempty"`
	Fields        []string  `json:"fields,omitempty"`
}

// Mail is a message accepted by sendMail. Message is the request's message
// object as sent, for golden tests; the other fields are extracted from it.
type Mail struct {
	Time            time.Time       `json:"time"`
	From            string          `json:"from"`
	Subject         string          `json:"subject"`
	To              []string        `json:"to"`
	Cc              []string        `json:"cc,omitempty"`
	Bcc             []string        `json:"bcc,omitempty"`
	SaveToSentItems *bool           `json:"saveToSentItems,omitempty"`
	Message         json.RawMessage `json:"message,omitempty"`
	// MIME and Parts are set for the MIME form of sendMail.
	MIME  []byte     `json:"-"`
	Parts []MailPart `json:"parts,omitempty"`
}

// MailPart is one part of a multipart MIME message.
type MailPart struct {
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
}

// The clones below copy slices so that snapshots handed to tests never alias
// tenant state. Credentials are never mutated in place (writes replace the
// slices), so their pointer fields can be shared.

func (a Application) clone() Application {
	a.Tags = slices.Clone(a.Tags)
	a.PasswordCredentials = slices.Clone(a.PasswordCredentials)
	a.KeyCredentials = slices.Clone(a.KeyCredentials)
	a.Owners = slices.Clone(a.Owners)
	return a
}

func (s ServicePrincipal) clone() ServicePrincipal {
	s.Tags = slices.Clone(s.Tags)
	s.PasswordCredentials = slices.Clone(s.PasswordCredentials)
	s.KeyCredentials = slices.Clone(s.KeyCredentials)
	s.Owners = slices.Clone(s.Owners)
	s.AppRoles = slices.Clone(s.AppRoles)
	return s
}

func (d ServicePrincipalRiskDetection) clone() ServicePrincipalRiskDetection {
	d.KeyIDs = slices.Clone(d.KeyIDs)
	d.Location = slices.Clone(d.Location)
	return d
}

func (m Mail) clone() Mail {
	m.To, m.Cc, m.Bcc = slices.Clone(m.To), slices.Clone(m.Cc), slices.Clone(m.Bcc)
	m.Message = slices.Clone(m.Message)
	return m
}

// SubscribedSku is Graph's subscribedSku (the fields the responder reads).
// The simulator derives the list from the tenant's licence switch: every
// tenant has an Entra ID P2 subscription; one with Workload Identities
// Premium also has that SKU with the AAD_WRKLDID_P2 service plan.
type SubscribedSku struct {
	ID               string            `json:"id"`
	SkuID            string            `json:"skuId"`
	SkuPartNumber    string            `json:"skuPartNumber"`
	CapabilityStatus string            `json:"capabilityStatus"`
	AppliesTo        string            `json:"appliesTo"`
	ConsumedUnits    int               `json:"consumedUnits"`
	ServicePlans     []ServicePlanInfo `json:"servicePlans"`
}

// ServicePlanInfo is one service plan of a SKU.
type ServicePlanInfo struct {
	ServicePlanID      string `json:"servicePlanId"`
	ServicePlanName    string `json:"servicePlanName"`
	ProvisioningStatus string `json:"provisioningStatus"`
	AppliesTo          string `json:"appliesTo"`
}

func (t *Tenant) subscribedSkus() []SubscribedSku {
	skus := []SubscribedSku{{
		ID: t.tenantID + "_eec0eb4f-6444-4f95-aba0-50c24d67f998", SkuID: "eec0eb4f-6444-4f95-aba0-50c24d67f998", SkuPartNumber: "AAD_PREMIUM_P2",
		CapabilityStatus: "Enabled", AppliesTo: "User", ConsumedUnits: 12,
		ServicePlans: []ServicePlanInfo{
			{ServicePlanID: "41781fb2-bc02-4b7c-bd55-b576c07bb09d", ServicePlanName: "AAD_PREMIUM", ProvisioningStatus: "Success", AppliesTo: "User"},
			{ServicePlanID: "eec0eb4f-6444-4f95-aba0-50c24d67f998", ServicePlanName: "AAD_PREMIUM_P2", ProvisioningStatus: "Success", AppliesTo: "User"},
		},
	}}
	if t.licensed {
		skus = append(skus, SubscribedSku{
			ID: t.tenantID + "_7dc0e92d-bf15-401d-907e-0884efe7c760", SkuID: "7dc0e92d-bf15-401d-907e-0884efe7c760", SkuPartNumber: "Workload_Identities_Premium_CN",
			CapabilityStatus: "Enabled", AppliesTo: "Company", ConsumedUnits: 0,
			ServicePlans: []ServicePlanInfo{{ServicePlanID: "7dc0e92d-bf15-401d-907e-0884efe7c760", ServicePlanName: "AAD_WRKLDID_P2", ProvisioningStatus: "Success", AppliesTo: "Company"}},
		})
	}
	return skus
}
