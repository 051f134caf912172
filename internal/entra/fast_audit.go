package entra

import (
	"bytes"
	"unicode/utf8"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

// AuditView is what the fast path reads from an AuditLogs record: the
// activity's name, which alone decides whether the record can be credential
// management (AuditLog.IsCredentialChange). Almost no audit record is, and
// decoding each one fully with encoding/json would cost more than all the
// sign-ins together.
//
// Escaped is set whenever the bytes might not say what the full decoder
// would read: an escape in the name or in a key, a key that matches
// properties or activityDisplayName only without regard to case (as
// encoding/json matches them), either of them twice, a value of an
// unexpected type, or a name that is not plain ASCII. The caller must then
// take the full decoder.
type AuditView struct {
	ActivityDisplayName []byte
	Escaped             bool
}

// ScanAudit reads an AuditView from the record object at b[0] (after
// whitespace).
func ScanAudit(b []byte) (AuditView, error) {
	var v AuditView
	seenProps, seenName := false, false
	_, err := jsonscan.Object(b, 0, func(key []byte, keyEsc bool, i int) (int, error) {
		if string(key) != "properties" {
			if keyEsc || foldsTo(key, "properties") {
				v.Escaped = true
			}
			return jsonscan.SkipValue(b, i)
		}
		if seenProps {
			v.Escaped = true
		}
		seenProps = true
		switch {
		case jsonscan.IsNull(b, i):
			return i + 4, nil
		case b[i] != '{':
			v.Escaped = true // not an object: the full decoder reports it
			return jsonscan.SkipValue(b, i)
		}
		return jsonscan.Object(b, i, func(key []byte, keyEsc bool, j int) (int, error) {
			if string(key) != "activityDisplayName" {
				if keyEsc || foldsTo(key, "activityDisplayName") {
					v.Escaped = true
				}
				return jsonscan.SkipValue(b, j)
			}
			if seenName {
				v.Escaped = true
			}
			seenName = true
			if jsonscan.IsNull(b, j) {
				return j + 4, nil
			}
			if b[j] != '"' {
				v.Escaped = true
				return jsonscan.SkipValue(b, j)
			}
			end, esc, err := jsonscan.SkipString(b, j)
			if err != nil {
				return end, err
			}
			v.ActivityDisplayName = b[j+1 : end-1]
			if esc || !isASCII(v.ActivityDisplayName) {
				v.Escaped = true
			}
			return end, nil
		})
	})
	return v, err
}

// credentialPhrases are the lower-case phrases IsCredentialChange looks
// for; TestCredentialPhrasesMatchIsCredentialChange keeps the two lists in
// step.
var credentialPhrases = [...][]byte{
	[]byte("certificates and secrets management"),
	[]byte("service principal credentials"),
	[]byte("remove password"),
	[]byte("add password"),
}

// CouldBeCredentialChange reports whether an activity name read by
// ScanAudit could make IsCredentialChange true. For plain ASCII (which
// ScanAudit guarantees unless it sets Escaped) the answer is exact; for
// anything else it is true, so the full decoder judges.
func CouldBeCredentialChange(name []byte) bool {
	var low [256]byte
	if len(name) > len(low) || !utf8.Valid(name) || !isASCII(name) {
		return true
	}
	l := low[:len(name)]
	for k, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[k] = c
	}
	for _, p := range credentialPhrases {
		if bytes.Contains(l, p) {
			return true
		}
	}
	return false
}
