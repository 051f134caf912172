package lasim

import (
	"encoding/json"
	"fmt"
	"time"
)

// SignIn describes one service-principal sign-in, to write it both as the
// diagnostic record the hub carries and as the workspace's row, so tests,
// the demo and benchmarks hold the same sign-ins in both places.
type SignIn struct {
	ID, Tenant, AppID, ServicePrincipalID, Name string
	KeyID, Thumbprint                           string
	Time                                        time.Time
	ErrorCode                                   int
	FailureReason                               string
	IP, City, Country                           string
	Resource, ResourceID                        string
	CAStatus                                    string // success, failure, notApplied
}

// Record is the ServicePrincipalSignInLogs record (Event Hubs form, as in
// testdata/entra/sample-ServicePrincipalSignInLogs.json).
func (s SignIn) Record() map[string]any {
	return map[string]any{
		"time": s.Time.UTC().Format(time.RFC3339Nano), "resourceId": "/tenants/" + s.Tenant + "/providers/Microsoft.aadiam",
		"operationName": "Sign-in activity", "operationVersion": "1.0", "category": "ServicePrincipalSignInLogs",
		"tenantId": s.Tenant, "resultType": fmt.Sprint(s.ErrorCode), "callerIpAddress": s.IP, "Level": 4, "location": s.Country,
		"properties": map[string]any{
			"id": s.ID, "createdDateTime": s.Time.UTC().Format(time.RFC3339Nano), "appId": s.AppID, "ipAddress": s.IP,
			"status":                  map[string]any{"errorCode": s.ErrorCode, "failureReason": s.FailureReason},
			"location":                map[string]any{"city": s.City, "countryOrRegion": s.Country},
			"conditionalAccessStatus": s.CAStatus, "appliedConditionalAccessPolicies": []any{},
			"riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
			"resourceDisplayName": s.Resource, "resourceId": s.ResourceID, "servicePrincipalName": s.Name,
			"servicePrincipalId": s.ServicePrincipalID, "servicePrincipalCredentialKeyId": s.KeyID,
			"servicePrincipalCredentialThumbprint": s.Thumbprint,
		},
	}
}

// Row is the AADServicePrincipalSignInLogs row (column names from the
// table's reference; TenantId is the workspace, LocationDetails and
// ConditionalAccessPolicies are JSON text, ResultType the error code).
func (s SignIn) Row(workspace string) Row {
	loc, _ := json.Marshal(map[string]any{"city": s.City, "countryOrRegion": s.Country})
	return Row{
		"TenantId": workspace, "TimeGenerated": s.Time.UTC().Format(time.RFC3339Nano), "Type": "AADServicePrincipalSignInLogs",
		"Category": "ServicePrincipalSignInLogs", "OperationName": "Sign-in activity", "Id": s.ID,
		"CreatedDateTime": s.Time.UTC().Format(time.RFC3339Nano), "AppId": s.AppID, "ServicePrincipalId": s.ServicePrincipalID,
		"ServicePrincipalName": s.Name, "IPAddress": s.IP, "LocationDetails": string(loc), "Location": s.Country,
		"ConditionalAccessStatus": s.CAStatus, "ConditionalAccessPolicies": "[]", "ResultType": fmt.Sprint(s.ErrorCode),
		"ResultDescription": s.FailureReason, "ServicePrincipalCredentialKeyId": s.KeyID,
		"ServicePrincipalCredentialThumbprint": s.Thumbprint, "ResourceDisplayName": s.Resource, "ResourceIdentity": s.ResourceID,
		"SourceSystem": "Azure AD", "_BilledSize": 2048.0,
	}
}

// Event wraps records as one hub event body, {"records":[...]}.
func Event(records ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"records": records})
	return string(b)
}
