// Package ids validates the identifiers that travel from an Entra record
// into a Microsoft Graph request path: tenant, application (appId),
// service principal and key ids, which are GUIDs, and risk detection ids,
// which are opaque strings (Identity Protection uses long hex strings).
//
// Anyone who can send to the hub can write anything in a record. An id is
// pasted into a URL such as /identityProtection/servicePrincipalRiskDetections/{id}
// or /applications(appId='{id}'), so one holding "/", "?", "#", "%", a
// quote, whitespace or ".." would address another resource or change the
// query. Intake quarantines records with such ids (detect.Signal.CheckIDs),
// and the playbook can check again before it builds a request.
package ids

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error this package returns.
var ErrInvalid = errors.New("invalid id")

// MaxDetectionIDLen bounds a detection id. Identity Protection's are 52 to
// 64 hex characters; the bound leaves room for a longer form without
// letting a record smuggle a payload through.
const MaxDetectionIDLen = 256

// IsGUID reports whether s is a GUID in its canonical textual form,
// 8-4-4-4-12 hex digits in either case, with nothing around it (no braces,
// no whitespace).
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

// IsDetectionID reports whether s can be a risk detection id: 1 to
// MaxDetectionIDLen letters, digits, '-' or '_'. That admits the hex ids
// Identity Protection uses, GUIDs and audit ids such as "Directory_ESQ",
// and nothing that has a meaning in a URL (/ ? # % . : whitespace, quotes).
func IsDetectionID(s string) bool {
	if len(s) == 0 || len(s) > MaxDetectionIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isHex(c) || ('g' <= c && c <= 'z') || ('G' <= c && c <= 'Z') || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsThumbprint reports whether s is a certificate thumbprint: hex digits,
// 40 (SHA-1) or 64 (SHA-256) of them.
func IsThumbprint(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// Error names the field and shows the offending value, quoted and cut
// short (it came from outside and may be long or carry control bytes).
type Error struct {
	Field string
	Value string
	Want  string
}

func (e *Error) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("%s %q is not %s", e.Field, v, e.Want)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// CheckGUID returns an *Error unless value is a GUID.
func CheckGUID(field, value string) error {
	if IsGUID(value) {
		return nil
	}
	return &Error{Field: field, Value: value, Want: "a GUID"}
}

// CheckDetectionID returns an *Error unless value is a detection id.
func CheckDetectionID(field, value string) error {
	if IsDetectionID(value) {
		return nil
	}
	return &Error{Field: field, Value: value, Want: "a detection id (letters, digits, '-' or '_', at most 256)"}
}

// CheckThumbprint returns an *Error unless value is a thumbprint.
func CheckThumbprint(field, value string) error {
	if IsThumbprint(value) {
		return nil
	}
	return &Error{Field: field, Value: value, Want: "a certificate thumbprint (40 or 64 hex digits)"}
}
