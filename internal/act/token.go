package act

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Actions a token may carry. Report is the full report page: a view, never
// spent; the other three are decisions, each spent once.
const (
	Approve       = "approve"
	FalsePositive = "falsePositive"
	Rotated       = "rotated"
	Report        = "report"
)

// Channels a token is bound to.
const (
	ChannelTeams = "teams"
	ChannelMail  = "mail"
)

// MinKeyBytes is the shortest signing key accepted: HMAC-SHA256 gains
// nothing from more than 32 bytes, and a shorter key is guessable sooner.
const MinKeyBytes = 32

// maxTokenLen bounds what the decoder reads: a real token is about 200
// characters; anything far longer is not one.
const maxTokenLen = 512

// Errors a decoder returns; the page says each in words.
var (
	ErrMalformed = errors.New("not an action token")
	ErrForged    = errors.New("action token signature does not match: forged or altered")
	ErrExpired   = errors.New("action token expired")
)

// Token is one signed action link's content.
type Token struct {
	// Nonce is 16 random bytes (base64url): the token's identity, what the
	// ledger spends.
	Nonce    string
	Incident string
	Action   string
	// Channel is teams or mail; To is the Teams target id
	// ("webhook:default", "webhook:app") or, for mail, a keyed digest of
	// the address (32 hex digits), so an address never sits in a URL.
	Channel string
	To      string
	Expires time.Time
}

// Keys sign and verify tokens: Current signs and verifies, Previous (during
// a rotation) only verifies.
type Keys struct {
	Current  []byte
	Previous []byte
}

// Check refuses keys too short to sign with.
func (k Keys) Check() error {
	if len(k.Current) < MinKeyBytes {
		return fmt.Errorf("action-link signing key: %d bytes, want at least %d", len(k.Current), MinKeyBytes)
	}
	if len(k.Previous) != 0 && len(k.Previous) < MinKeyBytes {
		return fmt.Errorf("previous action-link signing key: %d bytes, want at least %d", len(k.Previous), MinKeyBytes)
	}
	return nil
}

const macDomain = "spresponder act-token v1\x00"

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macDomain))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// recipientDigest binds a mail address to a token without putting it in
// the URL: keyed, so a dictionary of addresses needs the key too.
func recipientDigest(key []byte, addr string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("spresponder act-recipient v1\x00"))
	m.Write([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// payload is the signed text: fields joined by "|", each of a shape
// parsePayload checks exactly.
func (t Token) payload() string {
	return strings.Join([]string{"1", t.Nonce, t.Incident, t.Action, t.Channel, t.To, strconv.FormatInt(t.Expires.Unix(), 10)}, "|")
}

// Sign returns the token's text: base64url(payload) "." base64url(mac).
func (k Keys) Sign(t Token) string {
	p := t.payload()
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(p)) + "." + enc.EncodeToString(mac(k.Current, p))
}

// Verify decodes a token strictly, checks its signature against the
// current key, then the previous one (constant-time compares), and its
// expiry. It returns the key that verified it (for the recipient digest).
func (k Keys) Verify(s string, now time.Time) (Token, []byte, error) {
	p, sig, err := split(s)
	if err != nil {
		return Token{}, nil, err
	}
	var key []byte
	for _, c := range [][]byte{k.Current, k.Previous} {
		if len(c) >= MinKeyBytes && hmac.Equal(sig, mac(c, p)) {
			key = c
			break
		}
	}
	if key == nil {
		return Token{}, nil, ErrForged
	}
	t, err := parsePayload(p)
	if err != nil {
		// Signed by us and still unreadable: a bug, said as malformed.
		return Token{}, nil, err
	}
	if !now.Before(t.Expires) {
		return t, key, fmt.Errorf("%w at %s", ErrExpired, t.Expires.UTC().Format(time.RFC3339))
	}
	return t, key, nil
}

// split takes a token's text apart without trusting any of it.
func split(s string) (payload string, sig []byte, err error) {
	if len(s) == 0 || len(s) > maxTokenLen {
		return "", nil, ErrMalformed
	}
	a, b, ok := strings.Cut(s, ".")
	if !ok || strings.Contains(b, ".") {
		return "", nil, ErrMalformed
	}
	enc := base64.RawURLEncoding.Strict()
	p, err := enc.DecodeString(a)
	if err != nil {
		return "", nil, ErrMalformed
	}
	sig, err = enc.DecodeString(b)
	if err != nil || len(sig) != sha256.Size {
		return "", nil, ErrMalformed
	}
	if _, err := parsePayload(string(p)); err != nil {
		return "", nil, err
	}
	return string(p), sig, nil
}

// parsePayload reads the signed text; every field has one exact shape, so
// one token has one text (FuzzDecodeToken holds it to that).
func parsePayload(p string) (Token, error) {
	f := strings.Split(p, "|")
	if len(f) != 7 || f[0] != "1" {
		return Token{}, ErrMalformed
	}
	t := Token{Nonce: f[1], Incident: f[2], Action: f[3], Channel: f[4], To: f[5]}
	if !isNonce(t.Nonce) || !isIncidentID(t.Incident) {
		return Token{}, ErrMalformed
	}
	switch t.Action {
	case Approve, FalsePositive, Rotated, Report:
	default:
		return Token{}, ErrMalformed
	}
	switch t.Channel {
	case ChannelTeams:
		if !isTargetID(t.To) {
			return Token{}, ErrMalformed
		}
	case ChannelMail:
		if !isHex(t.To, 32) {
			return Token{}, ErrMalformed
		}
	default:
		return Token{}, ErrMalformed
	}
	exp := f[6]
	if len(exp) == 0 || len(exp) > 12 || exp[0] == '0' || strings.Trim(exp, "0123456789") != "" {
		return Token{}, ErrMalformed
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return Token{}, ErrMalformed
	}
	t.Expires = time.Unix(n, 0).UTC()
	return t, nil
}

func isNonce(s string) bool {
	if len(s) != 22 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 16
}

func isIncidentID(s string) bool {
	rest, ok := strings.CutPrefix(s, "inc-")
	return ok && isHex(rest, 24)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isTargetID: a Teams target id as the channel records it
// ("webhook:default"): short, lower-case, no separator of the payload.
func isTargetID(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ':' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Fingerprint names a token in logs and the ledger without giving it
// away: the first 8 characters of its nonce's SHA-256. A full token is
// never logged.
func Fingerprint(t Token) string {
	h := sha256.Sum256([]byte(t.Nonce))
	return hex.EncodeToString(h[:4])
}
