package entra

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseTimeForms(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2007-01-09T09:41:00.6816663Z":     time.Date(2007, 1, 9, 9, 41, 0, 681666300, time.UTC),
		"2007-01-09T09:41:00.535404056Z":   time.Date(2007, 1, 9, 9, 41, 0, 535404056, time.UTC),
		"2007-01-09T09:41:00.992099+00:00": time.Date(2007, 1, 9, 9, 41, 0, 992099000, time.UTC),
		"2007-01-09T11:41:00+02:00":        time.Date(2007, 1, 9, 9, 41, 0, 0, time.UTC),
		"1/9/2007 9:41:00 AM":              time.Date(2007, 1, 9, 9, 41, 0, 0, time.UTC),
		"01/09/2007 09:41:00":              time.Date(2007, 1, 9, 9, 41, 0, 0, time.UTC),
		"1/9/2007 10:41:00 AM +01:00":      time.Date(2007, 1, 9, 9, 41, 0, 0, time.UTC),
		"8/22/2022 6:07:16 PM":             time.Date(2022, 8, 22, 18, 7, 16, 0, time.UTC),
		"2025-01-15T10:21:07.518":          time.Date(2025, 1, 15, 10, 21, 7, 518e6, time.UTC),
		"3/4/2025, 10:20:00.123 PM":        time.Date(2025, 3, 4, 22, 20, 0, 123e6, time.UTC), // Log Analytics portal CSV
		"3/4/2025, 9:05:01 AM":             time.Date(2025, 3, 4, 9, 5, 1, 0, time.UTC),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime accepted nonsense")
	}
}

func TestEnvelopeQuirks(t *testing.T) {
	for _, tc := range []struct {
		rec    string
		level  Level
		result string
		dur    int64
		tenant string
	}{
		{`{"Level":4,"resultType":"0","durationMs":0,"tenantId":"ABC"}`, 4, "0", 0, "abc"},
		{`{"Level":"4","resultType":7000222,"durationMs":"12"}`, 4, "7000222", 12, ""},
		{`{"level":"Informational","resultType":null,"durationMs":null,"resourceId":"/TENANTS/Xyz/providers/microsoft.aadiam"}`, 4, "", 0, "xyz"},
		{`{"level":"Warning"}`, 3, "", 0, ""},
		{`{}`, 0, "", 0, ""},
	} {
		var e Envelope
		if err := json.Unmarshal([]byte(tc.rec), &e); err != nil {
			t.Errorf("%s: %v", tc.rec, err)
			continue
		}
		if e.Level != tc.level || string(e.ResultType) != tc.result || int64(e.DurationMs) != tc.dur || e.Tenant() != tc.tenant {
			t.Errorf("%s: got level=%d result=%q dur=%d tenant=%q", tc.rec, e.Level, e.ResultType, e.DurationMs, e.Tenant())
		}
	}
	var e Envelope
	if err := json.Unmarshal([]byte(`{"Level":"loud"}`), &e); err == nil {
		t.Error("an unknown level word was accepted")
	}
}

func TestRiskEventQuirks(t *testing.T) {
	r, err := DecodeRiskEvent([]byte(`{"time":"3/4/2025 9:58:11 AM","category":"ServicePrincipalRiskEvents","properties":{
		"keyIds":"[\"A\",\"b\"]","additionalInfo":"[{\"Key\":\"alertUrl\",\"Value\":null}]","location":null,"ipAddress":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Properties.KeyIDs) != 2 || string(r.Properties.AdditionalInfo) != `[{"Key":"alertUrl","Value":null}]` {
		t.Errorf("properties = %+v", r.Properties)
	}
	if !r.Time.Equal(time.Date(2025, 3, 4, 9, 58, 11, 0, time.UTC)) {
		t.Errorf("time = %v", r.Time)
	}
}

func TestHandledAndKnown(t *testing.T) {
	if !Handled([]byte("ServicePrincipalSignInLogs")) || Handled([]byte("SignInLogs")) || !Known([]byte("MicrosoftServicePrincipalSignInLogs")) || Known([]byte("Nope")) {
		t.Error("category tables are wrong")
	}
}
