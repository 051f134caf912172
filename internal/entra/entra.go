// Package entra decodes Microsoft Entra diagnostic records as a diagnostic
// setting streams them to Event Hubs: each event body is {"records":[...]}
// and each record has a common envelope (time, category, tenantId, ...) and
// category-specific properties.
//
// Four categories are decoded into types: ServicePrincipalSignInLogs,
// ServicePrincipalRiskEvents, RiskyServicePrincipals and AuditLogs. Every
// other category is recognised from its envelope and skipped without
// decoding its properties. The decoders tolerate the quirks seen in real
// records: time in ISO or US form, Level as a number, numeric string or word
// (and spelled level), resultType and durationMs as string or number,
// additionalInfo as a JSON-encoded string, resourceId in either case, and
// absent or null fields.
//
// Service-principal sign-ins are the bulk of what the responder reads, so
// they have a fast path (ScanSignIn) that reads the fields detection needs
// straight from the bytes; the full typed decoder (DecodeSignIn) runs only
// for records detection finds interesting, and a differential fuzz test
// keeps the two in agreement.
package entra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Category is a diagnostic-setting log category as it appears in records.
type Category string

const (
	ServicePrincipalSignInLogs Category = "ServicePrincipalSignInLogs"
	ServicePrincipalRiskEvents Category = "ServicePrincipalRiskEvents"
	RiskyServicePrincipals     Category = "RiskyServicePrincipals"
	AuditLogs                  Category = "AuditLogs"
)

// known lists the other categories Entra streams; they are skipped on
// purpose and counted by name. A category outside both lists is skipped too
// (Entra adds categories over time) but counted as unknown so it shows.
var known = map[string]bool{
	"SignInLogs": true, "NonInteractiveUserSignInLogs": true, "ManagedIdentitySignInLogs": true,
	"MicrosoftServicePrincipalSignInLogs": true, "ProvisioningLogs": true, "ADFSSignInLogs": true,
	"RiskyUsers": true, "UserRiskEvents": true, "RiskyAgents": true, "AgentRiskEvents": true,
	"NetworkAccessTrafficLogs": true, "MicrosoftGraphActivityLogs": true, "EnrichedOffice365AuditLogs": true,
	"B2CRequestLogs": true, "ServicePrincipalSignInLogsV2": true,
}

// Handled reports whether the responder decodes records of this category.
func Handled(c []byte) bool {
	switch string(c) {
	case string(ServicePrincipalSignInLogs), string(ServicePrincipalRiskEvents), string(RiskyServicePrincipals), string(AuditLogs):
		return true
	}
	return false
}

// Known reports whether c is a category Entra is known to stream.
func Known(c []byte) bool { return Handled(c) || known[string(c)] }

// knownNames interns the known category names, so counting records by
// category allocates nothing.
var knownNames = func() map[string]string {
	m := map[string]string{}
	for k := range known {
		m[k] = k
	}
	return m
}()

// KnownName returns the interned name of a known skipped category, or "".
func KnownName(c []byte) string { return knownNames[string(c)] }

// Envelope is the part of a record common to all categories.
type Envelope struct {
	Time              Time       `json:"time" entra:"lenient"`
	ResourceID        string     `json:"resourceId"`
	OperationName     string     `json:"operationName" entra:"lenient"`
	Category          string     `json:"category"`
	TenantID          string     `json:"tenantId"`
	ResultType        FlexString `json:"resultType" entra:"lenient"`
	ResultSignature   string     `json:"resultSignature" entra:"lenient"`
	ResultDescription string     `json:"resultDescription" entra:"lenient"`
	DurationMs        FlexInt    `json:"durationMs" entra:"lenient"`
	CallerIPAddress   string     `json:"callerIpAddress" entra:"lenient"`
	CorrelationID     string     `json:"correlationId" entra:"lenient"`
	Identity          string     `json:"identity" entra:"lenient"`
	// Level matches both "Level" and "level": encoding/json matches keys
	// without regard to case, which is exactly the tolerance needed here.
	Level    Level  `json:"Level" entra:"lenient"`
	Location string `json:"location" entra:"lenient"`
	// Tolerated names the lenient fields (tag entra:"lenient": fields no
	// decision reads) whose values did not decode and were read as empty,
	// as "path: error". Set by the Decode functions.
	Tolerated []string `json:"-"`
}

// Tenant returns the tenant id, from tenantId or else from resourceId
// (/tenants/<id>/providers/Microsoft.aadiam, in either case).
func (e Envelope) Tenant() string {
	if e.TenantID != "" {
		return strings.ToLower(e.TenantID)
	}
	return TenantFromResourceID(e.ResourceID)
}

// TenantFromResourceID extracts the tenant id from a resourceId.
func TenantFromResourceID(rid string) string {
	const p = "/tenants/"
	if len(rid) < len(p) || !strings.EqualFold(rid[:len(p)], p) {
		return ""
	}
	rest := rid[len(p):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}

// Time is a record timestamp in any of the forms Entra uses.
type Time struct{ time.Time }

// UnmarshalJSON accepts a string in any supported form, or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: %w", err)
	}
	if s == "" {
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339 with nanoseconds.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.Time) }

var timeLayouts = []string{
	time.RFC3339Nano,                // 2022-02-08T06:22:28.3518405Z, ...+00:00, +02:00
	"2006-01-02T15:04:05.999999999", // no zone: the host's EnqueuedTimeUtc, some exports (UTC)
	"1/2/2006 3:04:05 PM",           // risk categories: 8/22/2022 6:07:16 PM (UTC)
	"1/2/2006 3:04:05 PM -07:00",    // 1/9/2007 10:41:00 AM +01:00
	"1/2/2006 15:04:05",             // 01/09/2007 09:41:00
	"2006-01-02 15:04:05.999999999",
	"1/2/2006, 3:04:05.999999999 PM", // the Log Analytics portal's CSV export: 3/4/2025, 10:20:00.123 AM (UTC)
}

// ParseTime parses the time forms seen in Entra records. Forms without a
// zone are UTC (Entra writes UTC everywhere).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: not a recognised Entra time form", truncate(s, 64))
}

// FlexString is a value that arrives as a string or a number.
type FlexString string

// UnmarshalJSON accepts a string, a number or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("expected string or number, got %s", truncate(string(b), 32))
		}
		*f = FlexString(n.String())
		return nil
	}
}

// FlexInt is an integer that arrives as a number or a numeric string.
type FlexInt int64

// UnmarshalJSON accepts a number, a numeric string, "" or null.
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	n, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return fmt.Errorf("expected integer, got %q", truncate(string(s), 32))
	}
	*f = FlexInt(n)
	return nil
}

// Level is the record severity: a number (4), a numeric string ("4") or a
// word ("Informational").
type Level int

var levelWords = map[string]Level{
	"critical": 1, "error": 2, "warning": 3, "informational": 4, "information": 4, "verbose": 5,
}

// UnmarshalJSON accepts a number, numeric string or level word.
func (l *Level) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	if n, err := strconv.Atoi(string(s)); err == nil {
		*l = Level(n)
		return nil
	}
	if v, ok := levelWords[strings.ToLower(string(s))]; ok {
		*l = v
		return nil
	}
	return fmt.Errorf("level %q: not a number or a known level word", truncate(string(s), 32))
}

// JSONText is a value that Entra sometimes sends as JSON and sometimes as a
// string holding JSON (additionalInfo). It keeps the JSON either way.
type JSONText json.RawMessage

// UnmarshalJSON unwraps one string layer when the string holds JSON.
func (j *JSONText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if json.Valid([]byte(s)) {
			*j = JSONText(s)
			return nil
		}
		*j = JSONText(b) // a plain string: keep it as a JSON string
		return nil
	}
	*j = append(JSONText(nil), b...)
	return nil
}

// MarshalJSON writes the JSON as is.
func (j JSONText) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return []byte(j), nil
}

// Strings is a list of strings that may arrive as an array, a JSON-encoded
// array inside a string, a single string or null.
type Strings []string

// UnmarshalJSON accepts all those forms.
func (s *Strings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		one = strings.TrimSpace(one)
		if strings.HasPrefix(one, "[") {
			return s.UnmarshalJSON([]byte(one))
		}
		if one != "" {
			*s = Strings{one}
		}
		return nil
	}
	var list []*string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("expected a list of strings: %w", err)
	}
	for _, v := range list {
		if v != nil && *v != "" {
			*s = append(*s, *v)
		}
	}
	return nil
}

// Location is a sign-in location: an object in sign-ins and detections, but
// sometimes a bare string (or null) in risk records.
type Location struct {
	City            string `json:"city"`
	State           string `json:"state"`
	CountryOrRegion string `json:"countryOrRegion"`
}

// UnmarshalJSON accepts an object, a string (taken as the country) or null.
func (l *Location) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &l.CountryOrRegion)
	}
	type plain Location
	return json.Unmarshal(b, (*plain)(l))
}

// String renders "City, State, CC" without empty parts.
func (l Location) String() string {
	var parts []string
	for _, p := range []string{l.City, l.State, l.CountryOrRegion} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Envelope keys the scan reads, by bit.
const (
	keyCategory = 1 << iota
	keyTenantID
	keyResourceID
	keyProperties
)
