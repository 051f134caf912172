package directory

import "time"

// ListedDetection is a servicePrincipalRiskDetection as a list of changes
// returns it: the fields a signal needs besides those Detection has, so
// that a detection the stream never delivered becomes the same signal the
// stream would have made.
type ListedDetection struct {
	Detection
	DisplayName string
	Activity    string
	IPAddress   string
	// ActivityTime is when the risky activity happened; LastUpdated is
	// when Graph last changed the detection (what a reconcile round
	// filters on).
	ActivityTime time.Time
	LastUpdated  time.Time
}

// ListedRiskyServicePrincipal is a riskyServicePrincipal as a list of
// changes returns it.
type ListedRiskyServicePrincipal struct {
	RiskyServicePrincipal
	DisplayName string
	LastUpdated time.Time // riskLastUpdatedDateTime
}
