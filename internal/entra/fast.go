package entra

import (
	"bytes"
	"encoding/binary"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

// SignInView is what the fast path reads from a service-principal sign-in:
// the fields that decide whether the record can matter. Values are slices
// of the record (no copies); Escaped is set when any of them held a JSON
// escape, or when a key it reads is escaped, repeated or spelled in
// another case, in which case the caller must take the full decoder (which
// refuses an ambiguous record) instead of trusting the raw bytes.
type SignInView struct {
	AppID                 []byte
	ServicePrincipalID    []byte
	IPAddress             []byte
	RiskLevelDuringSignIn []byte
	RiskLevelAggregated   []byte
	RiskState             []byte
	ErrorCode             []byte // digits, from a number or a string
	CredentialKeyID       []byte // servicePrincipalCredentialKeyId
	Escaped               bool
}

// ScanSignIn reads a SignInView from the properties object at b[props].
func ScanSignIn(b []byte, props int) (SignInView, error) {
	var v SignInView
	var seen uint16 // wanted keys read so far, by bit
	once := func(bit uint16) {
		if seen&bit != 0 {
			v.Escaped = true // a key twice: let the full decoder judge
		}
		seen |= bit
	}
	str := func(dst *[]byte, i int) (int, error) {
		if jsonscan.IsNull(b, i) {
			return i + 4, nil
		}
		if b[i] != '"' {
			return jsonscan.SkipValue(b, i)
		}
		end, esc, err := jsonscan.SkipString(b, i)
		if err != nil {
			return end, err
		}
		*dst = b[i+1 : end-1]
		v.Escaped = v.Escaped || esc
		return end, nil
	}
	_, err := jsonscan.Object(b, props, func(key []byte, keyEsc bool, i int) (int, error) {
		if keyEsc {
			// An escaped key might spell a field we read; let the full
			// decoder judge.
			v.Escaped = true
		}
		switch string(key) {
		case "appId":
			once(1 << 0)
			return str(&v.AppID, i)
		case "servicePrincipalId":
			once(1 << 1)
			return str(&v.ServicePrincipalID, i)
		case "ipAddress":
			once(1 << 2)
			return str(&v.IPAddress, i)
		case "riskLevelDuringSignIn":
			once(1 << 3)
			return str(&v.RiskLevelDuringSignIn, i)
		case "riskLevelAggregated":
			once(1 << 4)
			return str(&v.RiskLevelAggregated, i)
		case "riskState":
			once(1 << 5)
			return str(&v.RiskState, i)
		case "servicePrincipalCredentialKeyId":
			once(1 << 8)
			return str(&v.CredentialKeyID, i)
		case "status":
			once(1 << 6)
			if b[i] != '{' {
				return jsonscan.SkipValue(b, i)
			}
			return jsonscan.Object(b, i, func(k []byte, kEsc bool, j int) (int, error) {
				if string(k) != "errorCode" {
					if kEsc || foldsTo(k, "errorCode") {
						v.Escaped = true
					}
					return jsonscan.SkipValue(b, j)
				}
				once(1 << 7)
				if b[j] == '"' {
					return str(&v.ErrorCode, j)
				}
				end, err := jsonscan.SkipValue(b, j)
				if err == nil && !jsonscan.IsNull(b, j) {
					v.ErrorCode = b[j:end]
				}
				return end, err
			})
		default:
			// encoding/json matches keys without regard to case; a key that
			// differs from a wanted one only in case must not slip past the
			// fast path, so hand such records to the full decoder.
			if foldsToWanted(key) {
				v.Escaped = true
			}
		}
		return jsonscan.SkipValue(b, i)
	})
	return v, err
}

var wantedKeys = []string{"appId", "servicePrincipalId", "ipAddress", "riskLevelDuringSignIn", "riskLevelAggregated", "riskState", "status", "servicePrincipalCredentialKeyId"}

func foldsToWanted(key []byte) bool {
	ascii := -1 // unknown
	for _, w := range wantedKeys {
		if len(key) == len(w) {
			if bytes.EqualFold(key, []byte(w)) {
				return true
			}
			continue
		}
		if len(key) < len(w) || len(key) > 3*len(w) {
			continue
		}
		if ascii < 0 {
			ascii = 0
			if isASCII(key) {
				ascii = 1
			}
		}
		if ascii == 0 && bytes.EqualFold(key, []byte(w)) {
			return true
		}
	}
	return false
}

// foldsTo reports whether encoding/json would match key to the field named
// w: equal under Unicode case folding, where a key of other letters can
// have another length (the Kelvin sign folds to k, the long s to s).
func foldsTo(key []byte, w string) bool {
	if len(key) == len(w) {
		return bytes.EqualFold(key, []byte(w))
	}
	// Every non-ASCII letter that folds to an ASCII one is at most three
	// bytes, so only longer keys with non-ASCII bytes can still match.
	if len(key) < len(w) || len(key) > 3*len(w) || isASCII(key) {
		return false
	}
	return bytes.EqualFold(key, []byte(w))
}

func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
