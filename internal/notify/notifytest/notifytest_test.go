package notifytest_test

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// update is accepted, and unused here, so that
// "go test ./internal/notify/... -update" works across the whole tree.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")

// recorder captures what AssertNoSecrets reports instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestAssertNoSecretsCatchesLeaks(t *testing.T) {
	const secret = "sig-abc+def/ghi=="
	log, logs := notifytest.NewObservedLogger()
	log.Info("posting", zap.String("url", "https://x.example/hook?sig="+url.QueryEscape(secret)))
	log.Warn("failed", zap.Error(errors.New("boom "+secret)))
	type record struct{ Target string }

	for _, c := range []struct {
		name  string
		thing any
	}{
		{"log fields (URL-escaped)", logs},
		{"error", fmt.Errorf("wrapped: %w", errors.New(secret))},
		{"string", "x " + secret},
		{"bytes", []byte(secret)},
		{"struct", record{Target: secret}},
	} {
		r := &recorder{TB: t}
		notifytest.AssertNoSecrets(r, []string{secret}, c.thing)
		if len(r.errs) == 0 {
			t.Errorf("%s: leak not reported", c.name)
		}
		for _, e := range r.errs {
			if !strings.Contains(e, "(17 chars)") || strings.Contains(e, "abc+def") {
				t.Errorf("%s: report does not mask the secret: %s", c.name, e)
			}
		}
	}

	r := &recorder{TB: t}
	notifytest.AssertNoSecrets(r, []string{secret, "", "ab"}, "clean text", errors.New("clean"), nil)
	if len(r.errs) != 0 {
		t.Errorf("false positives: %v", r.errs)
	}
}

func TestWebhookSecrets(t *testing.T) {
	got := notifytest.WebhookSecrets("https://u:pw-secret@hooks.example/services/teamsecretword/x?sig=querysecret&v=1", "Bearer tok-abcdef")
	for _, want := range []string{"/services/teamsecretword/x?sig=querysecret&v=1", "/services/teamsecretword/x", "sig=querysecret&v=1", "querysecret", "teamsecretword", "services", "u", "pw-secret", "Bearer tok-abcdef", "tok-abcdef"} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("WebhookSecrets lacks %q: %q", want, got)
		}
	}
	r := &recorder{TB: t}
	m := &notifytest.Mailer{}
	_ = m.SendMail(t.Context(), "a@contoso.com", notify.Message{Subject: "hi", HTML: "<p>querysecret</p>"})
	notifytest.AssertNoSecrets(r, []string{"querysecret"}, m, [][]byte{[]byte("x"), []byte("teamsecretword")})
	if len(r.errs) < 2 {
		t.Errorf("leaks in a mail and a webhook body not reported: %v", r.errs)
	}
}
