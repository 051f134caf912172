package act

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, 32)
	otherKey = bytes.Repeat([]byte{0x17}, 32)
	t0       = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
)

func testIssuer(t *testing.T, keys Keys) *Issuer {
	t.Helper()
	i, err := NewIssuer(keys, "https://spresponder.example.net", 24*time.Hour, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func heldIncident() *incident.Incident {
	return &incident.Incident{ID: "inc-0123456789abcdef01234567", State: incident.StateHeld, Mode: incident.ModeHeld,
		Verification: incident.Verification{Verified: true},
		Credentials:  []incident.Credential{{KeyID: "11111111-1111-4111-8111-111111111111", Type: "password", Found: true}},
		Actions: []incident.Action{{ID: "removePassword:application:1", Kind: "removePassword", Target: "application",
			KeyID: "11111111-1111-4111-8111-111111111111", State: incident.Skipped, DryRun: true}}}
}

func TestTokenRoundTripAndRefusals(t *testing.T) {
	keys := Keys{Current: testKey}
	iss := testIssuer(t, keys)
	raw, err := iss.Issue(heldIncident(), Approve, "webhook:default")
	if err != nil {
		t.Fatal(err)
	}
	tok, key, err := keys.Verify(raw, t0.Add(time.Hour))
	if err != nil || tok.Action != Approve || tok.Incident != "inc-0123456789abcdef01234567" || tok.Channel != ChannelTeams ||
		tok.To != "webhook:default" || !tok.Expires.Equal(t0.Add(24*time.Hour)) || !bytes.Equal(key, testKey) {
		t.Fatalf("round trip: %+v %v", tok, err)
	}
	if _, _, err := keys.Verify(raw, t0.Add(24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, _, err := (Keys{Current: otherKey}).Verify(raw, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("another key: %v", err)
	}
	// Rotation: the old key still verifies as Previous.
	if _, key, err := (Keys{Current: otherKey, Previous: testKey}).Verify(raw, t0); err != nil || !bytes.Equal(key, testKey) {
		t.Fatalf("previous key: %v", err)
	}
	// Altered: the payload says falsePositive, the signature is approve's.
	p, sig, _ := strings.Cut(raw, ".")
	pb, _ := base64.RawURLEncoding.DecodeString(p)
	altered := base64.RawURLEncoding.EncodeToString(bytes.Replace(pb, []byte("|approve|"), []byte("|rotated|"), 1)) + "." + sig
	if _, _, err := keys.Verify(altered, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("altered: %v", err)
	}
	for _, bad := range []string{"", ".", raw + ".x", raw + "A", strings.Repeat("A", 600), "a.b", p + "." + sig[:10]} {
		if _, _, err := keys.Verify(bad, t0); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestMailTokenCarriesNoAddress(t *testing.T) {
	iss := testIssuer(t, Keys{Current: testKey})
	raw, err := iss.Issue(heldIncident(), Approve, "Alice@Contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := strings.Cut(raw, ".")
	pb, _ := base64.RawURLEncoding.DecodeString(p)
	if bytes.Contains(bytes.ToLower(pb), []byte("alice")) || bytes.Contains(bytes.ToLower(pb), []byte("contoso")) {
		t.Fatalf("the address is in the token: %q", pb)
	}
	tok, key, err := iss.keys.Verify(raw, t0)
	if err != nil || tok.Channel != ChannelMail || tok.To != recipientDigest(key, "alice@contoso.com") || tok.To == recipientDigest(key, "bob@contoso.com") {
		t.Fatalf("%+v %v", tok, err)
	}
	if _, err := iss.Issue(heldIncident(), Approve, "https://evil.example/x"); err == nil {
		t.Fatal("a URL accepted as a recipient")
	}
}

func TestKeysTooShortRefused(t *testing.T) {
	if _, err := NewIssuer(Keys{Current: testKey[:31]}, "https://x.example", 0, nil); err == nil {
		t.Fatal("31-byte key accepted")
	}
	if _, err := NewIssuer(Keys{Current: testKey, Previous: []byte("short")}, "https://x.example", 0, nil); err == nil {
		t.Fatal("short previous key accepted")
	}
	if _, err := NewIssuer(Keys{Current: testKey}, "http://x.example", 0, nil); err == nil {
		t.Fatal("plain http base accepted")
	}
}

func TestOffered(t *testing.T) {
	in := heldIncident()
	if got := strings.Join(Offered(in), ","); got != "approve,falsePositive,rotated" {
		t.Fatalf("held: %s", got)
	}
	in.Mode, in.State = incident.ModeProtected, incident.StateDone
	if got := strings.Join(Offered(in), ","); got != "falsePositive,rotated" {
		t.Fatalf("protected: %s", got)
	}
	in.Mode, in.Actions[0].DryRun, in.Actions[0].State = incident.ModeEnforce, false, incident.Done
	if got := strings.Join(Offered(in), ","); got != "rotated" {
		t.Fatalf("contained: %s", got)
	}
	in.State = incident.StateResolved
	if got := Offered(in); len(got) != 0 {
		t.Fatalf("resolved: %v", got)
	}
	un := &incident.Incident{ID: in.ID, State: incident.StateNeedsHuman, Mode: incident.ModeUnverified}
	if got := strings.Join(Offered(un), ","); got != "falsePositive" {
		t.Fatalf("unverified: %s", got)
	}
}

// FuzzDecodeToken: the decoder never panics, and what it accepts has one
// text: signing the decoded token gives the input back.
func FuzzDecodeToken(f *testing.F) {
	keys := Keys{Current: testKey}
	iss, _ := NewIssuer(keys, "https://x.example", time.Hour, func() time.Time { return t0 })
	for _, a := range []string{Approve, FalsePositive, Rotated, Report} {
		for _, r := range []string{"webhook:default", "a@b.example"} {
			s, _ := iss.Issue(heldIncident(), a, r)
			f.Add(s)
		}
	}
	f.Add("")
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, s string) {
		tok, _, err := keys.Verify(s, t0)
		if err != nil {
			if p, _, ok := strings.Cut(s, "."); ok {
				if b, derr := base64.RawURLEncoding.Strict().DecodeString(p); derr == nil {
					if pt, perr := parsePayload(string(b)); perr == nil && pt.payload() != string(b) {
						t.Fatalf("payload %q parses to %+v, which prints as %q", b, pt, pt.payload())
					}
				}
			}
			return
		}
		if got := keys.Sign(tok); got != s {
			t.Fatalf("accepted %q, which signs back as %q", s, got)
		}
	})
}
