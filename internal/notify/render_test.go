package notify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// update rewrites the golden files (the screenshots in docs/img come from
// make screenshots).
var update = flag.Bool("update", false, "rewrite testdata/notify/*.golden")

// repoRoot is where testdata/ and docs/ live, relative to this package.
const repoRoot = "../.."

func goldenPath(name string) string { return filepath.Join(repoRoot, "testdata", "notify", name) }

// golden compares got with the named golden file, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := goldenPath(name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -run %s -update to create it): %v", t.Name(), err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./internal/notify -run '%s' -update and review the diff.\n%s", name, t.Name(), firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line, which is usually enough to see
// what changed.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return ""
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("card is not valid JSON: %v", err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name string
		in   func() *incident.Incident
	}{
		{"example", notifytest.ExampleIncident},
		{"withheld", withheldIncident},
		{"unverified", unverifiedIncident},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in()
			card, err := notify.RenderCard(in)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "card-"+c.name+".json.golden", indentJSON(t, card))
			e, err := notify.RenderEmail(in, in.Recipients[0])
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "email-"+c.name+".subject.golden", []byte(e.Subject+"\n"))
			golden(t, "email-"+c.name+".html.golden", []byte(e.HTML))
			golden(t, "email-"+c.name+".txt.golden", []byte(e.Text))
		})
	}
}

// withheldIncident is the example in a tenant where the responder was
// told to keep its hands off: the app is protected, the run is a dry run,
// the licence for detection details is missing, and Conditional Access has
// only a report-only policy. Nothing was removed; the card must say so.
func withheldIncident() *incident.Incident {
	in := notifytest.ExampleIncident()
	in.Mode = "dry-run"
	in.NotifyOnly = "protected"
	in.App.Protected = true
	in.Verification.Limited = "risk details are hidden without a Workload Identities Premium licence"
	in.Actions = []incident.Action{{
		ID: "removePassword:application:" + notifytest.KeyID, Kind: "removePassword", Target: "application:" + notifytest.ApplicationID,
		KeyID: notifytest.KeyID, State: incident.Skipped, DryRun: true, Reason: "the app is protected (tag spresponder:protected)",
	}}
	in.Verdict = &incident.Verdict{
		Outcome: incident.VerdictReportOnly,
		Summary: "Only a report-only policy covers this service principal: it logs the risky sign-ins and blocks none.",
		Policies: []incident.PolicyEval{{
			ID: notifytest.BlockPolicyID, DisplayName: "WID - Block risky workload identities", State: "enabledForReportingButNotEnforced", Kind: "risk",
			Reasons: []string{"report-only: evaluates, does not block"},
		}},
	}
	in.Recipients = []incident.Recipient{
		{Name: "deploy-bot", Source: notify.SourceServicePrincipalOwner, Reason: "owner of the service principal is a service principal: it has no mailbox"},
		{Address: "secops@contoso.com", Source: notify.SourceFallback, Reason: "security team: the app has no owner who can receive mail"},
	}
	in.Orphaned = true
	in.History = in.History[:2]
	return in
}

// unverifiedIncident is a forged event (see forged) in a tenant without the
// licence, as the security contact receives it.
func unverifiedIncident() *incident.Incident {
	in := forged()
	in.Verification.Unlicensed = true
	in.Recipients = []incident.Recipient{
		{Address: "secops@contoso.com", Source: notify.SourceFallback, Reason: "security team: Graph did not verify this signal, so only security and on-call are told"},
	}
	return in
}

// cardContent decodes the card out of a Workflows payload.
func cardContent(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	var p struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  *string         `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("payload is not valid JSON: %v", err)
	}
	if p.Type != "message" || len(p.Attachments) != 1 || p.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || p.Attachments[0].ContentURL != nil {
		t.Fatalf("not a Workflows message envelope: %s", payload[:min(len(payload), 200)])
	}
	var c map[string]any
	if err := json.Unmarshal(p.Attachments[0].Content, &c); err != nil {
		t.Fatal(err)
	}
	if c["type"] != "AdaptiveCard" || c["version"] != notify.CardVersion {
		t.Fatalf("card type %v version %v", c["type"], c["version"])
	}
	return c
}

func TestRenderEscapesIncidentText(t *testing.T) {
	in := hostileIncident()
	payload, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	s := string(payload)
	for _, bad := range []string{"[click here](https://", "**URGENT**", "\u202E", `\r\n`} {
		if strings.Contains(s, bad) {
			t.Errorf("card carries unescaped %q", bad)
		}
	}
	if !strings.Contains(s, `\\[click here\\](https://evil.example/x) \\*\\*URGENT\\*\\*`) {
		t.Errorf("card does not escape Markdown in the display name")
	}

	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img src=x", "<iframe", "<b>bold</b>", `href="javascript`, "\u202E"} {
		if strings.Contains(e.HTML, bad) {
			t.Errorf("email HTML carries %q", bad)
		}
	}
	if !strings.Contains(e.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("email HTML does not show the escaped display name")
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		t.Errorf("subject spans lines: %q", e.Subject)
	}
	if strings.Contains(e.Text, "\u202E") || strings.Contains(e.Text, "\r") {
		t.Error("text carries control characters")
	}
}

func TestRenderNeverShowsSecretMaterial(t *testing.T) {
	// The responder never has the secret, but a bug that put Before/After
	// snapshots or a signal's raw fields into a message would show what it
	// has. Before/After are for the ledger and on-call, not for mail.
	in := notifytest.ExampleIncident()
	in.Actions[0].Before = "SECRET-SNAPSHOT-BEFORE"
	in.Actions[0].After = "SECRET-SNAPSHOT-AFTER"
	// A render that fails would show nothing and pass: it must not fail.
	card, err := notify.RenderCard(in)
	if err != nil {
		t.Fatalf("render card: %v", err)
	}
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatalf("render email: %v", err)
	}
	if len(card) == 0 || e.HTML == "" || e.Text == "" {
		t.Fatal("a render came back empty")
	}
	notifytest.AssertNoSecrets(t, []string{"SECRET-SNAPSHOT-BEFORE", "SECRET-SNAPSHOT-AFTER"}, card, e.HTML, e.Text, e.Subject)
}

func TestRenderVariants(t *testing.T) {
	base := notifytest.ExampleIncident
	cases := []struct {
		name   string
		mutate func(*incident.Incident)
		want   []string
	}{
		{"failed removal", func(in *incident.Incident) {
			in.Actions[0].State, in.Actions[0].Reason, in.Actions[0].Attempts = incident.Failed, "403 Authorization_RequestDenied", 3
		}, []string{"removal failed", "failed after 3 attempts. Why: 403 Authorization_RequestDenied", "delete the old one (key ID " + notifytest.KeyID}},
		{"unknown outcome", func(in *incident.Incident) {
			in.Actions[0].State = incident.Started
			in.State = incident.StateNeedsHuman
		}, []string{"removal not confirmed", "could not confirm it happened; on-call is checking"}},
		{"breaker", func(in *incident.Incident) {
			in.NotifyOnly = "breaker: 10 removals in 5m"
			in.Actions[0].State, in.Actions[0].Reason = incident.Skipped, "blast-radius breaker open"
		}, []string{"safety breaker tripped", "Why: blast-radius breaker open", "not removed"}},
		{"kill switch", func(in *incident.Incident) {
			in.NotifyOnly = "kill switch"
			in.Actions = nil
		}, []string{"kill switch is on"}},
		{"no verdict, licence missing", func(in *incident.Incident) {
			in.Verdict = nil
			in.Verification.Limited = "no Workload Identities Premium licence: risk details hidden"
		}, []string{"Not checked yet.", "Some details could not be checked: no Workload Identities Premium licence"}},
		{"no policy", func(in *incident.Incident) {
			in.Verdict = &incident.Verdict{Outcome: incident.VerdictNoPolicy, Summary: "No enabled policy targets workload identities."}
		}, []string{"Not blocked: no Conditional Access policy blocks this service principal."}},
		{"credential already gone", func(in *incident.Incident) {
			in.Credentials[0].Found = false
			in.Actions = nil
		}, []string{"not in the directory (already removed or expired)"}},
		{"risky service principal, no credential named", func(in *incident.Incident) {
			in.Signals = []detect.Signal{{Kind: detect.RiskyServicePrincipal, AppID: notifytest.AppID, ServicePrincipalID: notifytest.ServicePrincipalID,
				RiskEventType: "suspiciousSignins", RiskLevel: "medium", RiskState: "atRisk", Time: in.Created}}
			in.Credentials = nil
			in.Actions = []incident.Action{{ID: "confirmCompromised:servicePrincipal:" + notifytest.ServicePrincipalID, Kind: "confirmCompromised",
				Target: "servicePrincipal:" + notifytest.ServicePrincipalID, State: incident.Done, Finished: in.Created}}
		}, []string{"Risk detected (suspiciousSignins)", "saw sign-ins by the app Terraform-Datadog-CLI that do not match its usual pattern", "Marked the service principal as compromised", "No credential was named"}},
		{"no sign-ins", func(in *incident.Incident) {
			in.Signals = in.Signals[:1]
		}, []string{"carry no sign-in location"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.mutate(in)
			card, err := notify.RenderCard(in)
			if err != nil {
				t.Fatal(err)
			}
			cardContent(t, card)
			e, err := notify.RenderEmail(in, in.Recipients[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(e.Text, w) && !strings.Contains(strings.Join(strings.Fields(e.Text), " "), w) {
					t.Errorf("email text lacks %q", w)
				}
			}
		})
	}
}
