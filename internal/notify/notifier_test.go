package notify_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/email"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/notify/teams"
)

// hook is an httptest webhook that answers with queued responses (then
// 202) and records what it received.
type hook struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []func(w http.ResponseWriter, r *http.Request)
	bodies  [][]byte
	headers []http.Header
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.headers = append(h.headers, r.Header.Clone())
		var answer func(http.ResponseWriter, *http.Request)
		if len(h.answers) > 0 {
			answer, h.answers = h.answers[0], h.answers[1:]
		}
		h.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) then(f ...func(w http.ResponseWriter, r *http.Request)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answers = append(h.answers, f...)
}

func (h *hook) hits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func status(code int, hdr ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
	}
}

// url returns the hook's URL with a Workflows-style path and signature.
func (h *hook) url(sig string) string {
	return h.srv.URL + "/powerautomate/automations/direct/workflows/8a6c1e0b/triggers/manual/paths/invoke?api-version=1&sv=1.0&sig=" + sig
}

type rig struct {
	clock  *notifytest.Clock
	owners *notifytest.Owners
	mailer *notifytest.Mailer
	teams  *hook
	page   *hook
	log    *zap.Logger
	logs   *observer.ObservedLogs
	n      *notify.Notifier
}

var start = time.Date(2025, 3, 4, 10, 2, 12, 0, time.UTC)

func newRig(t *testing.T, cfg notify.Config) *rig {
	t.Helper()
	r := &rig{
		clock: &notifytest.Clock{T: start},
		owners: &notifytest.Owners{
			App: map[string][]notify.Owner{notifytest.AppID: {alex}},
			SP:  map[string][]notify.Owner{notifytest.ServicePrincipalID: {deployer}},
		},
		mailer: &notifytest.Mailer{},
		teams:  newHook(t),
		page:   newHook(t),
	}
	r.log, r.logs = notifytest.NewObservedLogger()
	tm, err := teams.New(teams.Config{WebhookURL: r.teams.url("teams-sig-0123456789")}, r.log,
		teams.WithHTTPClient(r.teams.srv.Client()), teams.WithClock(r.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	em, err := email.New(email.Config{From: "secops-noreply@contoso.com"}, r.mailer, r.log)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pager.New(pager.Config{URL: r.page.srv.URL + "/oncall/token-abcdef123456"}, r.log,
		pager.WithHTTPClient(r.page.srv.Client()), pager.WithClock(r.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Recipients.Fallback) == 0 {
		cfg.Recipients.Fallback = []string{"secops@contoso.com"}
	}
	r.n, err = notify.New(cfg, r.owners, []notify.Channel{tm, em, pg}, r.log,
		notify.WithClock(r.clock.Now), notify.WithSleep(r.clock.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fresh is the example incident before notification: no recipients, no
// deliveries.
func fresh() *incident.Incident {
	in := notifytest.ExampleIncident()
	in.Recipients = nil
	return in
}

func notification(t *testing.T, in *incident.Incident, channel, target string) incident.Notification {
	t.Helper()
	n := in.Notification(channel, target)
	if n == nil {
		t.Fatalf("no %s notification for %s; have %+v", channel, target, in.Notified)
	}
	return *n
}

func TestNotifyDeliversOnEveryChannel(t *testing.T) {
	r := newRig(t, notify.Config{})
	in := fresh()
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ channel, target string }{
		{notify.ChannelTeams, teams.TargetDefault},
		{notify.ChannelEmail, "alexw@contoso.com"},
		{notify.ChannelEmail, "secops@contoso.com"},
	} {
		if n := notification(t, in, c.channel, c.target); n.State != incident.Done || n.Attempts != 1 || !n.At.Equal(start) {
			t.Errorf("%s %s = %+v, want done after 1 attempt at %v", c.channel, c.target, n, start)
		}
	}
	if len(in.Notified) != 3 {
		t.Errorf("Notified = %+v, want 3 entries (no page for a clean incident)", in.Notified)
	}
	if r.page.hits() != 0 {
		t.Errorf("paged %d times for an incident that needs nobody", r.page.hits())
	}
	if st := in.Step(incident.StepNotify); st.State != incident.Done || st.Attempts != 1 {
		t.Errorf("notify step = %+v", st)
	}
	if len(in.Recipients) != 3 || in.Recipients[1].Name != "deploy-bot" || in.Orphaned {
		t.Errorf("recipients = %+v orphaned=%t", in.Recipients, in.Orphaned)
	}

	// The Teams body is the rendered card.
	var payload struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.teams.bodies[0], &payload); err != nil || payload.Type != "message" || payload.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("teams got %s (%v)", r.teams.bodies[0][:80], err)
	}
	if ct := r.teams.headers[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	// One message per recipient, each with both bodies and the incident.
	if len(r.mailer.Sent) != 2 {
		t.Fatalf("sent %d mails, want 2", len(r.mailer.Sent))
	}
	for _, s := range r.mailer.Sent {
		m := s.Msg
		if s.From != "secops-noreply@contoso.com" || len(m.To) != 1 || m.HTML == "" || m.Text == "" || !strings.Contains(m.Subject, "Terraform-Datadog-CLI") {
			t.Errorf("message %+v", s)
		}
		if len(m.Headers) != 1 || m.Headers[0].Name != notify.IncidentHeader || m.Headers[0].Value != in.ID {
			t.Errorf("headers = %+v", m.Headers)
		}
	}
	if !strings.Contains(r.mailer.Sent[0].Msg.Text, "You receive this as: owner of the application") {
		t.Error("the owner's mail does not say why they got it")
	}
}

func TestTeamsThrottledThenAccepted(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.teams.then(status(http.StatusTooManyRequests, "Retry-After", "7"))
	in := fresh()
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	n := notification(t, in, notify.ChannelTeams, teams.TargetDefault)
	if n.State != incident.Done || n.Attempts != 2 {
		t.Errorf("teams = %+v, want done after 2 attempts", n)
	}
	if r.teams.hits() != 2 {
		t.Errorf("teams hit %d times, want 2", r.teams.hits())
	}
	if len(r.clock.Sleeps) != 1 || r.clock.Sleeps[0] != 7*time.Second {
		t.Errorf("slept %v, want exactly the 7s Retry-After", r.clock.Sleeps)
	}
}

func TestRetryAfterPastDeadlineGivesUp(t *testing.T) {
	r := newRig(t, notify.Config{Deadline: time.Minute})
	r.teams.then(status(http.StatusTooManyRequests, "Retry-After", "3600"))
	in := fresh()
	err := r.n.Notify(t.Context(), in)
	if err == nil || !strings.Contains(err.Error(), "would pass the notify deadline") {
		t.Fatalf("Notify = %v, want a deadline error", err)
	}
	// Not a failure of the webhook: it waits for the next sweep.
	n := notification(t, in, notify.ChannelTeams, teams.TargetDefault)
	if n.State != incident.Pending || n.Attempts != 1 || !strings.Contains(n.Reason, "HTTP 429") || !strings.Contains(n.Reason, "will retry on the next sweep") {
		t.Errorf("teams = %+v", n)
	}
	if !errors.Is(err, notify.ErrUndelivered) || !errors.Is(err, notify.ErrDeadline) {
		t.Errorf("Notify = %v, want ErrUndelivered and ErrDeadline", err)
	}
	if len(r.clock.Sleeps) != 0 {
		t.Errorf("slept %v although the wait was past the deadline", r.clock.Sleeps)
	}
	// Email was not held up by Teams.
	if n := notification(t, in, notify.ChannelEmail, "alexw@contoso.com"); n.State != incident.Done {
		t.Errorf("email = %+v", n)
	}
}

func TestTeamsServerErrorsRetriedWithBackoff(t *testing.T) {
	r := newRig(t, notify.Config{MaxAttempts: 3})
	r.teams.then(status(500), status(502), status(503))
	in := fresh()
	err := r.n.Notify(t.Context(), in)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Notify = %v", err)
	}
	if !errors.Is(err, notify.ErrUndelivered) || errors.Is(err, notify.ErrDeadline) {
		t.Errorf("Notify = %v, want ErrUndelivered without ErrDeadline", err)
	}
	if got := r.clock.Sleeps; len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
		t.Errorf("backoff = %v, want [1s 2s]", got)
	}
	if st := in.Step(incident.StepNotify); st.State != incident.Failed || !strings.Contains(st.Reason, "HTTP 503") {
		t.Errorf("notify step = %+v", st)
	}
}

func TestMailFailureRecorded(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.mailer.Err = notify.Permanent(errors.New("sendMail: 403 ErrorAccessDenied: Access is denied. Check credentials and try again"))
	in := fresh()
	err := r.n.Notify(t.Context(), in)
	if err == nil || !strings.Contains(err.Error(), "ErrorAccessDenied") {
		t.Fatalf("Notify = %v", err)
	}
	for _, to := range []string{"alexw@contoso.com", "secops@contoso.com"} {
		n := notification(t, in, notify.ChannelEmail, to)
		if n.State != incident.Failed || n.Attempts != 1 || !strings.Contains(n.Reason, "403 ErrorAccessDenied") || !strings.Contains(n.Reason, "failed permanently") {
			t.Errorf("email %s = %+v", to, n)
		}
	}
	if n := notification(t, in, notify.ChannelTeams, teams.TargetDefault); n.State != incident.Done {
		t.Errorf("teams = %+v: a mail failure must not stop Teams", n)
	}
	if st := in.Step(incident.StepNotify); st.State != incident.Failed {
		t.Errorf("notify step = %+v", st)
	}
}

func TestMailTransientFailureRetried(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.mailer.Errors = []error{
		errors.New("sendMail: 503 ServiceUnavailable"),
		&directory.ThrottledError{RetryAfter: 5 * time.Second, Err: errors.New("sendMail: 429 ApplicationThrottled")},
		nil, // alex's third attempt succeeds
		nil, // secops
	}
	in := fresh()
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if n := notification(t, in, notify.ChannelEmail, "alexw@contoso.com"); n.State != incident.Done || n.Attempts != 3 {
		t.Errorf("alex = %+v", n)
	}
	if got := r.clock.Sleeps; len(got) != 2 || got[0] != time.Second || got[1] != 5*time.Second {
		t.Errorf("waits = %v, want [1s 5s] (backoff, then Retry-After)", got)
	}
}

func TestReplayedIncidentSendsNothing(t *testing.T) {
	r := newRig(t, notify.Config{})
	in := fresh()
	in.NotifyOnly = "breaker: 10 removals in 5m" // also pages
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	teamsHits, pageHits, mails, records := r.teams.hits(), r.page.hits(), r.mailer.Calls, len(in.Notified)
	if teamsHits != 1 || pageHits != 1 || mails != 2 || records != 4 {
		t.Fatalf("first run: teams %d, page %d, mail %d, records %d", teamsHits, pageHits, mails, records)
	}

	// The ledger hands the same incident back (a replay, a redelivery, a
	// re-drive): nothing is sent again.
	stored, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var again incident.Incident
	if err := json.Unmarshal(stored, &again); err != nil {
		t.Fatal(err)
	}
	if err := r.n.Notify(t.Context(), &again); err != nil {
		t.Fatal(err)
	}
	if r.teams.hits() != teamsHits || r.page.hits() != pageHits || r.mailer.Calls != mails {
		t.Errorf("replay sent again: teams %d, page %d, mail %d", r.teams.hits(), r.page.hits(), r.mailer.Calls)
	}
	if len(again.Notified) != records {
		t.Errorf("replay changed the records: %+v", again.Notified)
	}
	if last := again.History[len(again.History)-1]; !strings.Contains(last.Detail, "0 sent, 0 failed, 4 already sent before") {
		t.Errorf("history = %+v", last)
	}
}

func TestRedriveRetriesOnlyWhatFailed(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.mailer.Err = notify.Permanent(errors.New("sendMail: 404 mailbox not found"))
	in := fresh()
	if err := r.n.Notify(t.Context(), in); err == nil {
		t.Fatal("want an error")
	}
	r.mailer.Err = nil
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if r.teams.hits() != 1 {
		t.Errorf("teams sent %d times, want once", r.teams.hits())
	}
	if len(r.mailer.Sent) != 2 {
		t.Errorf("mails sent on re-drive: %d, want 2", len(r.mailer.Sent))
	}
	n := notification(t, in, notify.ChannelEmail, "alexw@contoso.com")
	if n.State != incident.Done || n.Attempts != 2 || n.Reason != "" {
		t.Errorf("alex = %+v, want done with 2 attempts in all", n)
	}
	if len(in.Notified) != 3 {
		t.Errorf("Notified = %+v", in.Notified)
	}
}

func TestPagerFiresForEachTrigger(t *testing.T) {
	cases := []struct {
		name     string
		mutate   func(*incident.Incident, *notifytest.Owners)
		trigger  notify.Trigger
		severity string
		reason   string
	}{
		{"breaker tripped", func(in *incident.Incident, _ *notifytest.Owners) {
			in.NotifyOnly = "breaker: 10 removals in 5m"
			in.Actions[0].State, in.Actions[0].Reason = incident.Skipped, "breaker open"
		}, notify.TriggerBreaker, notify.SeverityCritical, "breaker: 10 removals in 5m"},
		{"write outcome unknown", func(in *incident.Incident, _ *notifytest.Owners) {
			in.Actions[0].State = incident.Started
			in.State = incident.StateNeedsHuman
		}, notify.TriggerUnknownOutcome, notify.SeverityCritical, "removePassword:application:" + notifytest.KeyID + " was sent but its outcome is unknown"},
		{"graph keeps failing", func(in *incident.Incident, _ *notifytest.Owners) {
			in.Actions[0].State, in.Actions[0].Attempts, in.Actions[0].Reason = incident.Failed, 6, "503 from Graph until the step deadline"
			st := in.Step(incident.StepContain)
			st.State, st.Attempts, st.Reason = incident.Failed, 6, "Graph 503 past the 30s deadline"
			in.State = incident.StateParked
		}, notify.TriggerGraphFailing, notify.SeverityCritical, "step contain failed after 6 attempts: Graph 503 past the 30s deadline"},
		{"owners unreadable", func(_ *incident.Incident, o *notifytest.Owners) {
			o.AppErr = notify.Permanent(errors.New("403 Authorization_RequestDenied"))
		}, notify.TriggerGraphFailing, notify.SeverityWarning, "owners could not be read"},
		{"needs a decision", func(in *incident.Incident, _ *notifytest.Owners) {
			in.State = incident.StateNeedsHuman
			in.Record(start, "contain", "needs decision", "two applications claim keyId")
		}, notify.TriggerNeedsHuman, notify.SeverityWarning, "two applications claim keyId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, notify.Config{})
			in := fresh()
			c.mutate(in, r.owners)
			_ = r.n.Notify(t.Context(), in)
			if r.page.hits() != 1 {
				t.Fatalf("paged %d times, want once", r.page.hits())
			}
			var p pager.Payload
			if err := json.Unmarshal(r.page.bodies[0], &p); err != nil {
				t.Fatal(err)
			}
			if p.Trigger != string(c.trigger) || p.Severity != c.severity || !strings.Contains(p.Reason, c.reason) {
				t.Errorf("page = trigger %q severity %q reason %q; want %q %q ~%q", p.Trigger, p.Severity, p.Reason, c.trigger, c.severity, c.reason)
			}
			if p.IncidentID != in.ID || p.DedupKey != in.ID+"/"+string(c.trigger) || p.App.AppID != notifytest.AppID || p.Links.Show != "spresponder incidents show "+in.ID || !p.Time.Equal(start) {
				t.Errorf("page = %+v", p)
			}
			if n := notification(t, in, notify.ChannelPage, notify.PageTarget(c.trigger)); n.State != incident.Done {
				t.Errorf("page record = %+v", n)
			}
		})
	}
}

func TestOwnerLookupRetriedThenFallback(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.owners.Transient, r.owners.TransientCalls = errors.New("graph: 503"), 2
	in := fresh()
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if r.owners.AppCalls != 3 {
		t.Errorf("application owners read %d times, want 3 (two failures, then success)", r.owners.AppCalls)
	}
	if in.Notification(notify.ChannelEmail, "alexw@contoso.com") == nil {
		t.Error("owner not mailed after the lookup recovered")
	}
}

func TestNotifyConfigErrors(t *testing.T) {
	if _, err := notify.New(notify.Config{}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "fallback is empty") {
		t.Errorf("New without fallback = %v", err)
	}
	em, _ := email.New(email.Config{From: "a@contoso.com"}, &notifytest.Mailer{}, nil)
	if _, err := notify.New(notify.Config{Recipients: cfg}, nil, []notify.Channel{em, em}, nil); err == nil {
		t.Error("New accepted a channel twice")
	}
}

// TestNoSecretsInLogsOrErrors runs every failure path with secrets in the
// configuration and proves none of them reaches a log line, an error, or
// the incident record.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	clock := &notifytest.Clock{T: start}
	log, logs := notifytest.NewObservedLogger()

	// The default webhook answers 500 and echoes the request line, as some
	// gateways do.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "upstream failed for "+r.URL.String()+" auth="+r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	// The per-app webhook is gone: connection refused, a *url.Error that
	// quotes the full URL.
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	// The pager refuses with 401 and echoes too.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"bad token `+r.Header.Get("Authorization")+` for `+r.URL.Path+`"}`)
	}))
	defer refuse.Close()

	const (
		sig1       = "Xk3vQ9pLm2TzR8wYb7NcJ5hGf4DsA1eUo0iKqWxVyZs"
		sig2       = "Qm9uZ2VyLXNpZ25hdHVyZS1mb3ItYXBwLXdlYmhvb2s"
		pagerToken = "pgtok-7f3a9c2e5b8d1f4a6c0e"
		bearer     = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload.signature"
		teamsAuth  = "Bearer teams-flow-token-5d1c9a"
	)
	defaultURL := echo.URL + "/powerautomate/automations/direct/workflows/a1/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig1
	appURL := goneURL + "/powerautomate/automations/direct/workflows/b2/triggers/manual/paths/invoke?api-version=1&sig=" + sig2
	pagerURL := refuse.URL + "/v1/oncall/" + pagerToken + "/events"
	secrets := []string{defaultURL, appURL, pagerURL, sig1, sig2, pagerToken, bearer, teamsAuth, url.QueryEscape(sig1)}

	tm, err := teams.New(teams.Config{
		WebhookURL:     defaultURL,
		AppWebhookURLs: map[string]string{notifytest.AppID: appURL},
		Headers:        map[string]string{"Authorization": teamsAuth},
	}, log, teams.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pager.New(pager.Config{URL: pagerURL, Headers: map[string]string{"Authorization": bearer}}, log, pager.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	em, err := email.New(email.Config{From: "secops-noreply@contoso.com"}, &notifytest.Mailer{Err: errors.New("sendMail: 503")}, log)
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Config{Recipients: cfg, MaxAttempts: 3}, &notifytest.Owners{AppErr: errors.New("graph: 500")},
		[]notify.Channel{tm, em, pg}, log, notify.WithClock(clock.Now), notify.WithSleep(clock.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	in := fresh()
	in.Actions[0].State = incident.Started // pages on-call
	notifyErr := n.Notify(t.Context(), in)
	if notifyErr == nil {
		t.Fatal("every channel failed, yet Notify returned nil")
	}
	// The failures really happened (and were logged), so the assertion
	// below is not vacuous.
	for _, want := range []string{"HTTP 500", "connection refused", "HTTP 401"} {
		if !strings.Contains(notifyErr.Error(), want) {
			t.Errorf("error lacks %q: %v", want, notifyErr)
		}
	}
	if logs.FilterMessage("attempt failed").Len() < 3 {
		t.Errorf("expected failure logs, got %d entries", logs.Len())
	}
	notifytest.AssertNoSecrets(t, secrets, logs, notifyErr, in.Notified, in.Steps, in.History, in)

	// Configuration errors name the setting, never the URL.
	_, err1 := teams.New(teams.Config{WebhookURL: "http://teams.example.com/x?sig=" + sig1}, log)
	_, err2 := pager.New(pager.Config{URL: "ftp://pager.example/" + pagerToken}, log)
	_, err3 := teams.New(teams.Config{AppWebhookURLs: map[string]string{"app": "https://%zz/" + sig2}}, log)
	for _, e := range []error{err1, err2, err3} {
		if e == nil {
			t.Error("a bad webhook URL was accepted")
		}
	}
	notifytest.AssertNoSecrets(t, secrets, err1, err2, err3, logs)
}
