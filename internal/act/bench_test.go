package act

import (
	"testing"
	"time"
)

// BenchmarkVerify: one action link checked (strict decode, HMAC-SHA256
// with the current key, expiry): the part of an /api/act request that
// every refused forgery costs.
func BenchmarkVerify(b *testing.B) {
	keys := Keys{Current: testKey, Previous: otherKey}
	iss, err := NewIssuer(Keys{Current: otherKey}, "https://x.example", time.Hour, func() time.Time { return t0 })
	if err != nil {
		b.Fatal(err)
	}
	tok, err := iss.Issue(heldIncident(), Approve, "a@b.example") // signed with the previous key: both are tried
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := keys.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinks: the report link and three buttons for one recipient, as
// each card and mail asks for them.
func BenchmarkLinks(b *testing.B) {
	iss, err := NewIssuer(Keys{Current: testKey}, "https://x.example", time.Hour, func() time.Time { return t0 })
	if err != nil {
		b.Fatal(err)
	}
	in := heldIncident()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Links(b.Context(), in, "webhook:default"); err != nil {
			b.Fatal(err)
		}
	}
}
