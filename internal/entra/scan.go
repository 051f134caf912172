package entra

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

// Scan is the cheap first look every record gets: its category, tenant
// and resourceId and the offset of its properties, read from the bytes
// without decoding anything else. It is the one reading of the envelope:
// intake decides the category and the tenant allow-list on it, and detect
// gives signals this tenant. End is the index just past the record.
type Scan struct {
	Category   []byte
	TenantID   []byte
	ResourceID []byte
	Properties int // offset of the properties value, -1 when absent
	End        int
	// Ambiguity is set when the envelope can be read more than one way:
	// one of its identity keys (category, tenantId, resourceId,
	// properties) twice, in another case (as encoding/json would still
	// match it), of a type other than a string, or any escaped key (which
	// could spell any of them). CategoryAmbiguous says whether the doubt
	// reaches the category itself, in which case not even skipping the
	// record can be trusted.
	Ambiguity         string
	CategoryAmbiguous bool
}

// ScanRecord scans the record object starting at b[i].
func ScanRecord(b []byte, i int) (Scan, error) {
	sc := Scan{Properties: -1}
	var seen uint8
	doubt := func(why string, cat bool) {
		if sc.Ambiguity == "" {
			sc.Ambiguity = why
		}
		sc.CategoryAmbiguous = sc.CategoryAmbiguous || cat
	}
	// str reads a string value once; a second sight of the key, or a value
	// of another type, is a doubt.
	str := func(dst *[]byte, bit uint8, name string, v int) (int, error) {
		if seen&bit != 0 {
			doubt("key "+name+" twice", bit == keyCategory)
		}
		seen |= bit
		if b[v] != '"' {
			if !jsonscan.IsNull(b, v) {
				doubt(name+" is not a string", bit == keyCategory)
			}
			return jsonscan.SkipValue(b, v)
		}
		s, e, err := jsonscan.String(b, v, nil)
		if err != nil {
			return e, err
		}
		*dst = s
		return e, nil
	}
	end, err := jsonscan.Object(b, i, func(key []byte, esc bool, v int) (int, error) {
		if esc {
			doubt(fmt.Sprintf("escaped key %.40q", key), true)
			return jsonscan.SkipValue(b, v)
		}
		switch string(key) {
		case "category":
			return str(&sc.Category, keyCategory, "category", v)
		case "tenantId":
			return str(&sc.TenantID, keyTenantID, "tenantId", v)
		case "resourceId":
			return str(&sc.ResourceID, keyResourceID, "resourceId", v)
		case "properties":
			if seen&keyProperties != 0 {
				doubt("key properties twice", false)
			}
			seen |= keyProperties
			sc.Properties = v
		default:
			if n := foldsToEnvelopeKey(key); n != "" {
				doubt(fmt.Sprintf("key %.40q differs from %q only in case", key, n), n == "category")
			}
		}
		return jsonscan.SkipValue(b, v)
	})
	sc.End = end
	return sc, err
}

// foldsToEnvelopeKey returns the envelope key that key matches only
// without regard to case, or "". The lengths are checked first so the
// common key costs a comparison or two.
func foldsToEnvelopeKey(key []byte) string {
	if len(key) < 8 || len(key) > 30 {
		return ""
	}
	// Folding goes rune by rune: an ASCII first letter other than c, t, r
	// or p (in either case) cannot fold to any of the four. This skips
	// most keys (time, operationName, durationMs, identity, location...)
	// at the cost of one comparison.
	if c := key[0]; c < utf8.RuneSelf {
		switch c | 0x20 {
		case 'c', 't', 'r', 'p':
		default:
			return ""
		}
	}
	switch {
	case len(key) == 8:
		if bytes.EqualFold(key, []byte("category")) {
			return "category"
		}
		if bytes.EqualFold(key, []byte("tenantId")) {
			return "tenantId"
		}
		return ""
	case len(key) == 10:
		if bytes.EqualFold(key, []byte("resourceId")) {
			return "resourceId"
		}
		if bytes.EqualFold(key, []byte("properties")) {
			return "properties"
		}
		return ""
	case len(key) < 8 || len(key) > 30 || isASCII(key):
		return ""
	}
	// A longer key with non-ASCII letters can still fold to one of them
	// (the long s folds to s).
	for _, n := range [...]string{"category", "tenantId", "resourceId", "properties"} {
		if foldsTo(key, n) {
			return n
		}
	}
	return ""
}

// Tenant returns the scanned tenant id (lower case), falling back to the
// resourceId.
func (s Scan) Tenant() string {
	if len(s.TenantID) > 0 {
		return strings.ToLower(string(s.TenantID))
	}
	return TenantFromResourceID(string(s.ResourceID))
}

// TenantsDisagree reports whether tenantId and resourceId both name a
// tenant and name different ones: the record then says two things about
// whose it is.
func (s Scan) TenantsDisagree() bool {
	const p = "/tenants/"
	rid := s.ResourceID
	if len(s.TenantID) == 0 || len(rid) < len(p) || !bytes.EqualFold(rid[:len(p)], []byte(p)) {
		return false
	}
	rest := rid[len(p):]
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return !bytes.EqualFold(rest, s.TenantID)
}
