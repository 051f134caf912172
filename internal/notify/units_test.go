package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

const workflowURL = "https://default4bbb79f757244c9e95f3de075f6ec0.90.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/8a6c1e0b2f3d4c5e9a7b6c5d4e3f2a1b/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Xk3vQ9pLm2TzR8wYb7NcJ5hGf4DsA1eUo0iKqWxVyZs"

// TestRedactURL's rule (scheme and host only) is pinned in
// adversarial_test.go: TestAttackRedactURLKeepsOnlySchemeAndHost.

func TestRedactorScrubsURLErrors(t *testing.T) {
	r := notify.NewRedactor([]string{workflowURL}, []string{"Bearer eyJhbGciOi.secret-token"})
	u, _ := url.Parse(workflowURL)
	sig := u.Query().Get("sig")
	// What net/http returns for a refused connection.
	err := fmt.Errorf("post to webhook:default: %w", &url.Error{Op: "Post", URL: workflowURL, Err: context.DeadlineExceeded})
	red := r.Error(err)
	notifytest.AssertNoSecrets(t, []string{workflowURL, sig, "eyJhbGciOi.secret-token"}, red)
	if !errors.Is(red, context.DeadlineExceeded) {
		t.Error("redacted error lost context.DeadlineExceeded")
	}
	if !strings.Contains(red.Error(), "powerplatform.com") {
		t.Errorf("redacted error lost the host: %v", red)
	}
	// Classification survives redaction.
	th := r.Error(&directory.ThrottledError{RetryAfter: 7 * time.Second, Err: errors.New("429 for " + workflowURL)})
	if d, ok := notify.RetryAfter(th); !ok || d != 7*time.Second {
		t.Errorf("RetryAfter(redacted) = %v %v", d, ok)
	}
	if !notify.IsPermanent(r.Error(notify.Permanent(errors.New("404 at " + workflowURL)))) {
		t.Error("redaction lost Permanent")
	}
	notifytest.AssertNoSecrets(t, []string{sig}, th, r.String("token Bearer eyJhbGciOi.secret-token"))
}

func TestValidateWebhookURL(t *testing.T) {
	for in, ok := range map[string]bool{
		workflowURL:                    true,
		"http://127.0.0.1:8080/hook":   true,
		"http://localhost/hook":        true,
		"http://teams.example.com/x":   false,
		"ftp://x.example/":             false,
		"/relative":                    false,
		"https://%zz":                  false,
		"http://[::1]:9/hook?sig=abcd": true,
	} {
		err := notify.ValidateWebhookURL(in)
		if (err == nil) != ok {
			t.Errorf("ValidateWebhookURL(%q) = %v", in, err)
		}
		if err != nil {
			notifytest.AssertNoSecrets(t, []string{in}, err)
		}
	}
}

func TestMessageMIME(t *testing.T) {
	in := notifytest.ExampleIncident()
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	msg := notify.Message{
		To: []string{"AlexW@contoso.com"}, Cc: []string{"secops@contoso.com"},
		Subject: e.Subject, HTML: e.HTML, Text: e.Text,
		Headers:    []notify.Header{{Name: notify.IncidentHeader, Value: in.ID}},
		Importance: "high",
	}
	raw, err := msg.MIME("secops-noreply@contoso.com", time.Date(2025, 3, 4, 10, 2, 12, 0, time.UTC), "spresponder-boundary-0001")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != e.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, e.Subject)
	}
	if got := m.Header.Get(notify.IncidentHeader); got != in.ID {
		t.Errorf("%s = %q", notify.IncidentHeader, got)
	}
	if m.Header.Get("To") != "AlexW@contoso.com" || m.Header.Get("Cc") != "secops@contoso.com" {
		t.Errorf("To/Cc = %q / %q", m.Header.Get("To"), m.Header.Get("Cc"))
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", mt, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	bodies := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p) // multipart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		bodies[ct] = string(b)
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts = %v, want text/plain then text/html", types)
	}
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	if norm(bodies["text/plain"]) != e.Text || norm(bodies["text/html"]) != e.HTML {
		t.Error("a MIME part does not round-trip to the rendered body")
	}

	// Header injection through an address or a header is refused.
	bad := msg
	bad.To = []string{"alex@contoso.com\r\nBcc: all@contoso.com"}
	if _, err := bad.MIME("secops-noreply@contoso.com", time.Now(), "b"); err == nil {
		t.Error("MIME accepted an address with CRLF")
	}
	bad = msg
	bad.Headers = []notify.Header{{Name: "Bcc", Value: "x@evil.example"}}
	if _, err := bad.MIME("secops-noreply@contoso.com", time.Now(), "b"); err == nil {
		t.Error("MIME accepted a non-x- header")
	}
}
