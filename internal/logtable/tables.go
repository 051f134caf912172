package logtable

// The column mapping, per table. Sources (Microsoft's table references,
// learn.microsoft.com/azure/azure-monitor/reference/tables/<table>; text in
// MicrosoftDocs/azure-reference-other azure-monitor-ref/tables/includes/
// <table>-include.md):
//
//	AADServicePrincipalSignInLogs  aadserviceprincipalsigninlogs-include.md
//	AADServicePrincipalRiskEvents  aadserviceprincipalriskevents-include.md
//	AADRiskyServicePrincipals      aadriskyserviceprincipals-include.md
//	AuditLogs                      auditlogs-include.md
//
// and, for where each value sits in the Event Hubs record, the records in
// testdata/entra (reference/entra/SAMPLES.md) and Graph's signIn,
// servicePrincipalRiskDetection, riskyServicePrincipal and directoryAudit
// resources. Facts the mapping rests on, from those pages:
//
//   - TenantId is "The Log Analytics workspace ID" in every table;
//     AADTenantId ("ID of the ADD tenant") exists in AuditLogs and the
//     user tables, not in the three service-principal tables.
//   - In AADServicePrincipalSignInLogs, Location is "The region of the
//     resource emitting the event" (the record's location) and
//     LocationDetails the sign-in location (properties.location); in
//     AADServicePrincipalRiskEvents, Location (dynamic) is the sign-in
//     location. ResultType carries the sign-in's error code ("0",
//     "7000222": the docs say "Success or Failure", the data holds the
//     code, as in the REAL sample record's resultType).
//   - AuditLogs' Category is the audit category (ApplicationManagement):
//     properties.category, not the diagnostic category.
//   - dynamic columns: AdditionalInfo, KeyIds, Location (risk events);
//     AdditionalDetails, InitiatedBy, TargetResources (AuditLogs); the
//     sign-in table types ConditionalAccessPolicies, LocationDetails and
//     AuthenticationProcessingDetails as string, holding JSON.
//
// Columns without a place in the record (SourceSystem, _BilledSize,
// _IsBillable, ResourceGroup, TableName, ...) are ignored; so is TenantId.

// kind says how a column's value is converted.
type kind int

const (
	text    kind = iota // kept as it is (a string, or whatever JSON the export gave)
	dyn                 // dynamic: JSON text inside a string becomes the JSON
	boolean             // bool: "True"/"false" text becomes a JSON boolean
)

type target struct {
	path string // dotted path in the record
	kind kind
}

type table struct {
	category string              // the diagnostic-setting category
	columns  map[string][]target // beyond common
}

func t(path string) []target { return []target{{path, text}} }
func d(path string) []target { return []target{{path, dyn}} }

// common are the envelope columns every table shares.
var common = map[string][]target{
	"TimeGenerated":     t("time"),
	"OperationName":     t("operationName"),
	"OperationVersion":  t("operationVersion"),
	"CorrelationId":     t("correlationId"),
	"Identity":          t("identity"),
	"Level":             t("Level"),
	"DurationMs":        t("durationMs"),
	"ResultType":        t("resultType"),
	"ResultSignature":   t("resultSignature"),
	"ResultDescription": t("resultDescription"),
	"ResourceId":        t("resourceId"), // AuditLogs: /tenants/<directory>/providers/Microsoft.aadiam
	"CallerIpAddress":   t("callerIpAddress"),
}

// signInColumns is the category column of every sign-in table: there it
// is the diagnostic category, and must agree with Type.
var signInCategory = map[string][]target{"Category": t("category")}

func withSignInCategory(m map[string][]target) map[string][]target {
	for k, v := range signInCategory {
		m[k] = v
	}
	return m
}

// tables maps a Log Analytics table (Type) to its category and columns.
// The user and other tables are mapped only far enough for intake to skip
// them by category, with the reason it gives every such record.
var tables = map[string]*table{
	"AADServicePrincipalSignInLogs": {category: "ServicePrincipalSignInLogs", columns: withSignInCategory(map[string][]target{
		"Location":                             t("location"),
		"Id":                                   t("properties.id"),
		"CreatedDateTime":                      t("properties.createdDateTime"),
		"AppId":                                t("properties.appId"),
		"ServicePrincipalId":                   t("properties.servicePrincipalId"),
		"ServicePrincipalName":                 t("properties.servicePrincipalName"),
		"IPAddress":                            {{"properties.ipAddress", text}, {"callerIpAddress", text}},
		"LocationDetails":                      d("properties.location"),
		"ConditionalAccessStatus":              t("properties.conditionalAccessStatus"),
		"ConditionalAccessPolicies":            d("properties.appliedConditionalAccessPolicies"),
		"ClientCredentialType":                 t("properties.clientCredentialType"),
		"ServicePrincipalCredentialKeyId":      t("properties.servicePrincipalCredentialKeyId"),
		"ServicePrincipalCredentialThumbprint": t("properties.servicePrincipalCredentialThumbprint"),
		"FederatedCredentialId":                t("properties.federatedCredentialId"),
		"ResourceDisplayName":                  t("properties.resourceDisplayName"),
		"ResourceIdentity":                     t("properties.resourceId"),
		"ResourceServicePrincipalId":           t("properties.resourceServicePrincipalId"),
		"UniqueTokenIdentifier":                t("properties.uniqueTokenIdentifier"),
		"AuthenticationProcessingDetails":      d("properties.authenticationProcessingDetails"),
		"AuthenticationContextClassReferences": d("properties.authenticationContextClassReferences"),
		// Risk columns of the user sign-in tables, should an export carry them.
		"RiskDetail":            t("properties.riskDetail"),
		"RiskLevelAggregated":   t("properties.riskLevelAggregated"),
		"RiskLevelDuringSignIn": t("properties.riskLevelDuringSignIn"),
		"RiskState":             t("properties.riskState"),
		// The error code is ResultType; the failure text ResultDescription.
		"ResultType":        {{"resultType", text}, {"properties.status.errorCode", text}},
		"ResultDescription": {{"resultDescription", text}, {"properties.status.failureReason", text}},
	})},
	"AADServicePrincipalRiskEvents": {category: "ServicePrincipalRiskEvents", columns: map[string][]target{
		"Id":                          t("properties.id"),
		"Activity":                    t("properties.activity"),
		"ActivityDateTime":            t("properties.activityDateTime"),
		"AdditionalInfo":              d("properties.additionalInfo"),
		"AppId":                       t("properties.appId"),
		"CorrelationId":               {{"correlationId", text}, {"properties.correlationId", text}},
		"DetectedDateTime":            t("properties.detectedDateTime"),
		"DetectionTimingType":         t("properties.detectionTimingType"),
		"IpAddress":                   t("properties.ipAddress"),
		"KeyIds":                      d("properties.keyIds"),
		"LastUpdatedDateTime":         t("properties.lastUpdatedDateTime"),
		"Location":                    d("properties.location"),
		"RequestId":                   t("properties.requestId"),
		"RiskDetail":                  t("properties.riskDetail"),
		"RiskEventType":               t("properties.riskEventType"),
		"RiskLevel":                   t("properties.riskLevel"),
		"RiskState":                   t("properties.riskState"),
		"ServicePrincipalDisplayName": t("properties.servicePrincipalDisplayName"),
		"ServicePrincipalId":          t("properties.servicePrincipalId"),
		"Source":                      t("properties.source"),
		"TokenIssuerType":             t("properties.tokenIssuerType"),
	}},
	"AADRiskyServicePrincipals": {category: "RiskyServicePrincipals", columns: map[string][]target{
		"Id":                      t("properties.id"),
		"AccountEnabled":          {{"properties.accountEnabled", boolean}},
		"AppId":                   t("properties.appId"),
		"DisplayName":             t("properties.displayName"),
		"IsProcessing":            {{"properties.isProcessing", boolean}},
		"RiskDetail":              t("properties.riskDetail"),
		"RiskLastUpdatedDateTime": t("properties.riskLastUpdatedDateTime"),
		"RiskLevel":               t("properties.riskLevel"),
		"RiskState":               t("properties.riskState"),
		"ServicePrincipalType":    t("properties.servicePrincipalType"),
	}},
	"AuditLogs": {category: "AuditLogs", columns: map[string][]target{
		"Id":                  t("properties.id"),
		"AADOperationType":    t("properties.operationType"),
		"ActivityDateTime":    t("properties.activityDateTime"),
		"ActivityDisplayName": t("properties.activityDisplayName"),
		"AdditionalDetails":   d("properties.additionalDetails"),
		"Category":            t("properties.category"),
		"CorrelationId":       {{"correlationId", text}, {"properties.correlationId", text}},
		"InitiatedBy":         d("properties.initiatedBy"),
		"Location":            t("location"),
		"LoggedByService":     t("properties.loggedByService"),
		"Result":              t("properties.result"),
		"ResultReason":        t("properties.resultReason"),
		"TargetResources":     d("properties.targetResources"),
	}},
	// Tables whose records intake skips by category, with a reason.
	"SigninLogs":                      {category: "SignInLogs", columns: signInCategory},
	"AADNonInteractiveUserSignInLogs": {category: "NonInteractiveUserSignInLogs", columns: signInCategory},
	"AADManagedIdentitySignInLogs":    {category: "ManagedIdentitySignInLogs", columns: signInCategory},
	"ADFSSignInLogs":                  {category: "ADFSSignInLogs", columns: signInCategory},
	"AADUserRiskEvents":               {category: "UserRiskEvents"},
	"AADRiskyUsers":                   {category: "RiskyUsers"},
	"AADProvisioningLogs":             {category: "ProvisioningLogs"},
	"MicrosoftGraphActivityLogs":      {category: "MicrosoftGraphActivityLogs"},
	"NetworkAccessTrafficLogs":        {category: "NetworkAccessTrafficLogs"},
	"AADRiskyAgents":                  {category: "RiskyAgents"},
	"AADAgentRiskEvents":              {category: "AgentRiskEvents"},
}

// Known reports whether name is a table the mapping knows.
func Known(name string) bool { _, ok := tables[name]; return ok }
