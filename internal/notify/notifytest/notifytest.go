// Package notifytest holds test helpers for the notify packages and for any
// package that must prove it keeps secrets out of logs and errors:
// AssertNoSecrets with an observed zap logger, a realistic example incident
// (the Terraform-Datadog-CLI leak from the reference material), and fakes
// of the directory and the mailbox.
package notifytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
)

// NewObservedLogger returns a logger that records every entry at debug
// level and above, and the recorded entries for AssertNoSecrets.
func NewObservedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// WebhookSecrets lists what must never leave the process for a configured
// webhook URL and its header values: the URL itself, its path and query
// (whole and as request URI), every query value and every path segment of
// at least 8 characters, the user and password, every header value and the
// credential of an "<scheme> <credential>" value such as a bearer token.
// Pass the result to AssertNoSecrets. Choose test URLs whose path segments
// are not words that messages use ("services"), or they will be reported.
func WebhookSecrets(rawURL string, headerValues ...string) []string {
	out := []string{rawURL}
	if u, err := url.Parse(rawURL); err == nil {
		out = append(out, u.RequestURI(), u.EscapedPath(), u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 8 {
					out = append(out, v)
				}
			}
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			if len(seg) >= 8 {
				out = append(out, seg)
			}
		}
		if u.User != nil {
			out = append(out, u.User.Username())
			if p, ok := u.User.Password(); ok {
				out = append(out, p)
			}
		}
	}
	for _, h := range headerValues {
		out = append(out, h)
		if _, cred, ok := strings.Cut(strings.TrimSpace(h), " "); ok {
			out = append(out, strings.TrimSpace(cred))
		}
	}
	return out
}

// AssertNoSecrets fails the test if any secret appears in any of the
// things: *observer.ObservedLogs (message, logger name and every field of
// every entry), errors (Error() and %+v), strings, byte slices, lists of
// them (the bodies a test webhook received), *Mailer (every message sent:
// recipients, subject, both bodies, headers), and any other value (as %+v
// and as JSON, which covers incident records and pager payloads). Each
// secret is also looked for URL-escaped and JSON-escaped, the forms in which
// HTTP and logging libraries tend to repeat it. Secrets shorter than 4
// characters are ignored: they would match by chance.
func AssertNoSecrets(t testing.TB, secrets []string, things ...any) {
	t.Helper()
	var forms []string
	var owners []int
	for i, s := range secrets {
		if len(s) < 4 {
			continue
		}
		js, _ := json.Marshal(s)
		seen := map[string]bool{}
		for _, f := range []string{s, url.QueryEscape(s), url.PathEscape(s), strings.Trim(string(js), `"`)} {
			if !seen[f] {
				seen[f] = true
				forms = append(forms, f)
				owners = append(owners, i)
			}
		}
	}
	// The report shows where the secret leaked, with every secret masked,
	// so that a failing run does not print them to the CI log.
	var pairs []string
	for j, f := range forms {
		pairs = append(pairs, f, fmt.Sprintf("«secret #%d»", owners[j]))
	}
	masker := strings.NewReplacer(pairs...)
	check := func(where, text string) {
		t.Helper()
		reported := map[int]bool{}
		for j, f := range forms {
			if strings.Contains(text, f) && !reported[owners[j]] {
				reported[owners[j]] = true
				t.Errorf("secret #%d (%s) leaked in %s: %s", owners[j], mask(secrets[owners[j]]), where, shorten(masker.Replace(text)))
			}
		}
	}
	for i, th := range things {
		where := fmt.Sprintf("item %d", i)
		switch v := th.(type) {
		case nil:
		case *observer.ObservedLogs:
			for k, e := range v.All() {
				w := fmt.Sprintf("log entry %d (%q)", k, e.Message)
				check(w, e.Message)
				check(w, e.LoggerName)
				fields, _ := json.Marshal(e.ContextMap())
				check(w, string(fields))
				check(w, fmt.Sprintf("%+v", e.ContextMap()))
			}
		case error:
			check(where+" (error)", v.Error())
			check(where+" (error %+v)", fmt.Sprintf("%+v", v))
		case string:
			check(where, v)
		case []byte:
			check(where, string(v))
		case [][]byte:
			for k, b := range v {
				check(fmt.Sprintf("%s[%d]", where, k), string(b))
			}
		case []string:
			for k, x := range v {
				check(fmt.Sprintf("%s[%d]", where, k), x)
			}
		case []error:
			for k, e := range v {
				if e != nil {
					check(fmt.Sprintf("%s[%d] (error)", where, k), e.Error())
				}
			}
		case *Mailer:
			v.mu.Lock()
			sent := append([]Sent(nil), v.Sent...)
			v.mu.Unlock()
			for k, m := range sent {
				b, _ := json.Marshal(m)
				check(fmt.Sprintf("%s mail %d", where, k), m.Msg.Subject+"\n"+m.Msg.Text+"\n"+m.Msg.HTML)
				check(fmt.Sprintf("%s mail %d (JSON)", where, k), string(b))
			}
		default:
			check(where, fmt.Sprintf("%+v", v))
			if b, err := json.Marshal(v); err == nil {
				check(where+" (JSON)", string(b))
			}
		}
	}
}

func mask(s string) string {
	if len(s) <= 8 {
		return "****"
	}
	return s[:4] + "…" + fmt.Sprintf("(%d chars)", len(s))
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// The example incident's identifiers: the reference material's leak of a
// client secret of Terraform-Datadog-CLI.
const (
	TenantID           = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	AppID              = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	ApplicationID      = "acc848e9-e8ec-4feb-a521-8d58b5482e09"
	ServicePrincipalID = "b029d485-a308-4311-8720-fb3192e5284e"
	KeyID              = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	DetectionID        = "2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5"
	BlockPolicyID      = "0b8a5c62-3d4e-4f11-9a7b-6c2d1e0f9a31"
	LocationPolicyID   = "7e1f9d20-58a4-4c3b-b6e2-4f0a9c8d7b15"
	AttackerIP         = "203.0.113.45"
	AttackerLocation   = "Amsterdam, Noord-Holland, NL"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ExampleIncident is the story the golden files and screenshots tell: ID
// Protection found a client secret of Terraform-Datadog-CLI leaked; the
// same secret was used from 203.0.113.45 (Amsterdam); the responder
// verified the detection, removed the secret from the application with
// removePassword, left confirmCompromised off by rule, found the app
// blocked by "WID - Block risky workload identities", and later saw that
// policy refuse the attacker's next sign-in. Recipients are resolved:
// Alex Wilber (application owner), deploy-bot (a service principal owner,
// not reachable) and the security fallback.
func ExampleIncident() *incident.Incident {
	leak := detect.Signal{
		Kind:               detect.LeakedCredential,
		TenantID:           TenantID,
		AppID:              AppID,
		ServicePrincipalID: ServicePrincipalID,
		DisplayName:        "Terraform-Datadog-CLI",
		KeyIDs:             []string{KeyID},
		CredentialType:     "password",
		DetectionID:        DetectionID,
		RiskEventType:      "leakedCredentials",
		RiskLevel:          "high",
		RiskState:          "atRisk",
		RiskDetail:         "none",
		Time:               at("2025-03-04T09:58:11Z"),
		DetectedTime:       at("2025-03-04T09:41:27Z"),
		Source:             detect.Source{Partition: "0", SequenceNumber: 4711, Offset: "1288490189616", EnqueuedTime: at("2025-03-04T10:02:08Z")},
	}
	opened := at("2025-03-04T10:02:09Z")
	in := incident.New(leak, opened)
	in.Signals = append(in.Signals, detect.Signal{
		Kind:               detect.RiskySignIn,
		TenantID:           TenantID,
		AppID:              AppID,
		ServicePrincipalID: ServicePrincipalID,
		DisplayName:        "Terraform-Datadog-CLI",
		KeyIDs:             []string{KeyID},
		CredentialType:     "password",
		RiskLevel:          "medium",
		IPAddress:          AttackerIP,
		Location:           AttackerLocation,
		Count:              1,
		Time:               at("2025-03-04T08:03:17Z"),
		Source:             detect.Source{Partition: "1", SequenceNumber: 9921, EnqueuedTime: at("2025-03-04T08:07:40Z")},
	})
	in.Mode = "enforce"
	in.App = incident.App{
		AppID:              AppID,
		ApplicationID:      ApplicationID,
		ServicePrincipalID: ServicePrincipalID,
		DisplayName:        "Terraform-Datadog-CLI",
		Tags:               []string{"WindowsAzureActiveDirectoryIntegratedApp"},
		RiskLevel:          "high",
		RiskState:          "atRisk",
	}
	in.Credentials = []incident.Credential{{
		KeyID:       KeyID,
		Type:        "password",
		Location:    "application",
		DisplayName: "ci-secret",
		Hint:        "Q~x",
		Start:       at("2025-02-01T00:00:00Z"),
		End:         at("2025-08-01T00:00:00Z"),
		Found:       true,
	}}
	in.Verification = incident.Verification{
		Verified: true,
		Method:   "detection",
		Detail:   "servicePrincipalRiskDetection " + DetectionID + " is atRisk (high); keyId found in the application's passwordCredentials",
	}
	in.Actions = []incident.Action{
		{
			ID: "removePassword:application:" + KeyID, Kind: "removePassword", Target: "application:" + ApplicationID, KeyID: KeyID,
			State: incident.Done, Before: "passwordCredentials: ci-secret (" + KeyID + ")", After: "passwordCredentials: none",
			Attempts: 1, Started: at("2025-03-04T10:02:10.812Z"), Finished: at("2025-03-04T10:02:11.204Z"),
		},
		{
			ID: "confirmCompromised:servicePrincipal:" + ServicePrincipalID, Kind: "confirmCompromised", Target: "servicePrincipal:" + ServicePrincipalID,
			State: incident.Skipped, Reason: "the rule for leakedCredentials removes the secret only; ID Protection already rates the service principal high",
		},
	}
	in.Verdict = &incident.Verdict{
		Outcome:   incident.VerdictBlocked,
		Summary:   "The enabled policy “WID - Block risky workload identities” blocks this service principal while its risk is high or medium.",
		RiskLevel: "high",
		Policies: []incident.PolicyEval{
			{
				ID: BlockPolicyID, DisplayName: "WID - Block risky workload identities", State: "enabled", Kind: "risk", Applies: true,
				Reasons: []string{"includes ServicePrincipalsInMyTenant", "risk levels high, medium include high", "grant: block"},
			},
			{
				ID: LocationPolicyID, DisplayName: "WID - Block sign-ins outside trusted locations", State: "enabledForReportingButNotEnforced", Kind: "location", Applies: false,
				Reasons: []string{"report-only: evaluates, does not block"},
			},
		},
		Proof: []incident.SignInRef{{
			ID: "5c2e8f3a-91d7-4b6e-a0c4-7d18e2f3b9a6", Time: at("2025-03-04T10:09:31Z"), IPAddress: AttackerIP, Location: AttackerLocation,
			PolicyIDs: []string{BlockPolicyID}, ErrorCode: 53003,
		}},
	}
	in.Recipients = []incident.Recipient{
		{Address: "AlexW@contoso.com", Name: "Alex Wilber", Source: notify.SourceApplicationOwner, Reason: "owner of the application"},
		{Name: "deploy-bot", Source: notify.SourceServicePrincipalOwner, Reason: "owner of the service principal is a service principal: it has no mailbox"},
		{Address: "secops@contoso.com", Source: notify.SourceFallback, Reason: "security team (always copied)"},
	}
	for _, s := range []struct {
		name     incident.StepName
		from, to string
	}{
		{incident.StepVerify, "2025-03-04T10:02:09.301Z", "2025-03-04T10:02:10.655Z"},
		{incident.StepContain, "2025-03-04T10:02:10.790Z", "2025-03-04T10:02:11.204Z"},
		{incident.StepConfirm, "2025-03-04T10:02:11.250Z", "2025-03-04T10:02:12.018Z"},
	} {
		st := in.Step(s.name)
		st.State, st.Attempts, st.Started, st.Finished = incident.Done, 1, at(s.from), at(s.to)
	}
	in.Record(at("2025-03-04T10:02:10.655Z"), "verify", "verified", "detection atRisk/high; keyId on the application")
	in.Record(at("2025-03-04T10:02:10.812Z"), "contain", "started", "removePassword application:"+ApplicationID+" keyId "+KeyID)
	in.Record(at("2025-03-04T10:02:11.204Z"), "contain", "done", "removePassword 204")
	in.Record(at("2025-03-04T10:02:11.205Z"), "contain", "skipped", "confirmCompromised: off by rule")
	in.Record(at("2025-03-04T10:02:12.018Z"), "confirm", "blocked", "WID - Block risky workload identities (enabled)")
	in.Record(at("2025-03-04T10:09:31Z"), "confirm", "proof", "sign-in from "+AttackerIP+" refused (53003)")
	return in
}

// HugeIncident is the example with n more sign-ins, n history lines and
// n/10 policies: the input that must still produce a card under the Teams
// limit.
func HugeIncident(n int) *incident.Incident {
	in := ExampleIncident()
	base := at("2025-03-04T08:00:00Z")
	for i := range n {
		in.Signals = append(in.Signals, detect.Signal{
			Kind:               detect.RiskySignIn,
			TenantID:           TenantID,
			AppID:              AppID,
			ServicePrincipalID: ServicePrincipalID,
			KeyIDs:             []string{KeyID},
			RiskLevel:          "medium",
			IPAddress:          fmt.Sprintf("198.51.%d.%d", i/250, i%250+1),
			Location:           "Frankfurt am Main, Hessen, DE",
			Count:              1 + i%7,
			Time:               base.Add(time.Duration(i) * 7 * time.Second),
		})
		in.Record(base.Add(time.Duration(i)*time.Second), "confirm", "proof", fmt.Sprintf("sign-in %d from 198.51.%d.%d refused (53003)", i, i/250, i%250+1))
	}
	for i := range n / 10 {
		in.Verdict.Policies = append(in.Verdict.Policies, incident.PolicyEval{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), DisplayName: fmt.Sprintf("Legacy location policy %03d for the finance subsidiaries", i),
			State: "disabled", Kind: "location", Reasons: []string{"disabled"},
		})
	}
	return in
}

// Owners is a fake directory: owner lists keyed by appId and by service
// principal id. AppErr and SPErr fail every call of their kind; the first
// TransientCalls calls (of either kind) fail with Transient.
type Owners struct {
	mu             sync.Mutex
	App            map[string][]notify.Owner
	SP             map[string][]notify.Owner
	AppErr, SPErr  error
	Transient      error
	TransientCalls int
	AppCalls       int
	SPCalls        int
}

// ApplicationOwners implements notify.Owners.
func (o *Owners) ApplicationOwners(ctx context.Context, appID string) ([]notify.Owner, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.AppCalls++
	if err := o.fail(o.AppErr); err != nil {
		return nil, err
	}
	return o.App[appID], nil
}

// ServicePrincipalOwners implements notify.Owners.
func (o *Owners) ServicePrincipalOwners(ctx context.Context, spID string) ([]notify.Owner, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.SPCalls++
	if err := o.fail(o.SPErr); err != nil {
		return nil, err
	}
	return o.SP[spID], nil
}

func (o *Owners) fail(always error) error {
	if always != nil {
		return always
	}
	if o.TransientCalls > 0 {
		o.TransientCalls--
		return o.Transient
	}
	return nil
}

// Mailer is a fake mailbox: it records every message and answers with the
// queued errors first (nil for success), then with Err.
type Mailer struct {
	mu     sync.Mutex
	Errors []error
	Err    error
	Sent   []Sent
	Calls  int
}

// Sent is one recorded message.
type Sent struct {
	From string
	Msg  notify.Message
}

// SendMail implements notify.Mailer.
func (m *Mailer) SendMail(ctx context.Context, from string, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Calls++
	if len(m.Errors) > 0 {
		err := m.Errors[0]
		m.Errors = m.Errors[1:]
		if err != nil {
			return err
		}
	} else if m.Err != nil {
		return m.Err
	}
	m.Sent = append(m.Sent, Sent{From: from, Msg: msg})
	return nil
}

// Clock is a fake clock whose Sleep advances it; pass Now and Sleep to
// notify.WithClock and notify.WithSleep.
type Clock struct {
	mu     sync.Mutex
	T      time.Time
	Sleeps []time.Duration
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.T
}

// Sleep records the wait and advances the clock, returning at once.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Sleeps = append(c.Sleeps, d)
	c.T = c.T.Add(d)
	return nil
}
