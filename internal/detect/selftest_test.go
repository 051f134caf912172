package detect

import "testing"

// A record with the self-test detection id prefix is a SelfTest signal,
// whatever its riskEventType says; any other id keeps its kind.
func TestSelfTestRecord(t *testing.T) {
	rec := func(id, typ string) []byte {
		return []byte(`{"category":"ServicePrincipalRiskEvents","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","spresponderSelfTest":true,` +
			`"properties":{"id":"` + id + `","riskEventType":"` + typ + `","riskState":"atRisk","riskLevel":"none",` +
			`"servicePrincipalId":"5e1f7e57-0000-0000-0000-000000000000","appId":"5e1f7e57-0000-0000-0000-000000000000","keyIds":[]}}`)
	}
	for _, c := range []struct {
		id, typ string
		want    Kind
	}{
		{SelfTestDetectionPrefix + "0123456789abcdef0123456789abcdef", "generic", SelfTest},
		{"SPRESPONDER-SELFTEST-0123", "leakedCredentials", SelfTest},
		{"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5", "leakedCredentials", LeakedCredential},
		{"2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5", "generic", RiskDetection},
	} {
		b := NewBatch(Options{})
		if _, err := b.RiskEvent(rec(c.id, c.typ), "4bbb79f7-5724-4c9e-95f3-de075f6ec090", Source{}); err != nil {
			t.Fatal(err)
		}
		if s := b.Signals(); len(s) != 1 || s[0].Kind != c.want {
			t.Errorf("%s/%s: %+v, want kind %s", c.id, c.typ, s, c.want)
		}
	}
}
