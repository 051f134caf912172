package redact_test

import (
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/redact"
)

func TestURLKeepsOnlySchemeAndHost(t *testing.T) {
	for raw, want := range map[string]string{
		"https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRETSIG": "https://prod-12.westeurope.logic.azure.com:443/…redacted",
		"https://hooks.example.com/services/T000/B000/XXXXsecretXXXX":                                                                    "https://hooks.example.com/…redacted",
		"https://user:p%40ss@events.pagerduty.com/v2/enqueue":                                                                            "https://events.pagerduty.com/…redacted",
		"https://acct.blob.core.windows.net/ledger/inc-1?sv=2024&sig=SAS":                                                                "https://acct.blob.core.windows.net/…redacted",
		"not a url": redact.Redacted,
		"":          redact.Redacted,
	} {
		if got := redact.URL(raw); got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestURLsInText(t *testing.T) {
	in := `Post "https://hooks.example.com/services/T000/B000/SECRET?x=1": dial tcp 10.0.0.1:443: connection refused; see http://127.0.0.1:10000`
	got := redact.URLsIn(in)
	if strings.Contains(got, "SECRET") || strings.Contains(got, "services") || !strings.Contains(got, "https://hooks.example.com/…redacted") || !strings.Contains(got, "http://127.0.0.1:10000") {
		t.Fatalf("URLsIn = %q", got)
	}
}

func TestRedactorRemovesEveryPart(t *testing.T) {
	hook := "https://hooks.example.com/workflows/0123456789abcdef/run?sig=abcdefghSIG"
	r := redact.New([]string{hook}, []string{"Bearer tok-0123456789"})
	for _, leak := range []string{
		"failed: " + hook,
		"gateway echoed /workflows/0123456789abcdef/run",
		"bad sig abcdefghSIG",
		"auth tok-0123456789 refused",
	} {
		got := r.String(leak)
		for _, secret := range []string{"0123456789abcdef", "abcdefghSIG", "tok-0123456789"} {
			if strings.Contains(got, secret) {
				t.Errorf("%q -> %q still holds %q", leak, got, secret)
			}
		}
	}
}

func TestLabelIsOneBoundedLine(t *testing.T) {
	if got := redact.Label("alice\r\n{\"level\":\"error\"}\x7f"); got != "alice  {\"level\":\"error\"} " {
		t.Errorf("Label kept a line break or control: %q", got)
	}
	long := strings.Repeat("x", 200)
	if got := redact.Label(long); got != long[:80]+"…" {
		t.Errorf("Label of 200 bytes = %d bytes", len(got))
	}
}
