package notify_test

// Attack tests for the notifier (issue 8, "Trust every write"). Each one
// stands for a way a forged event, a misleading label, a leaking error or a
// slow webhook could make a person do the wrong thing or make the responder
// hold its invocation; each failed before the fix it guards.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/email"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/notify/teams"
)

// unverifiedNotice is what every card, mail and page of an unverified
// incident must say, word for word.
const unverifiedNotice = "Graph did not confirm this signal; nothing was changed; do not rotate or delete credentials on the strength of this message"

// forged is the example incident as a forged event produces it: the event
// names the app and a real key, Graph knows no such detection, so the
// responder wrote nothing.
func forged() *incident.Incident {
	in := notifytest.ExampleIncident()
	in.Recipients = nil
	in.Verification = incident.Verification{Method: "detection", Detail: "Graph has no risk detection " + notifytest.DetectionID}
	in.Mode = incident.ModeUnverified
	in.State = incident.StateNeedsHuman
	in.Actions = nil
	in.Verdict = nil
	in.History = in.History[:1]
	in.Record(in.Created, "verify", "not verified", "detection not found in Graph")
	return in
}

// ownersRig is the standard rig plus every way an owner could be told: an
// application owner, a per-app override, a notify tag on the service
// principal, and a per-app Teams webhook (the owners' channel).
type ownersRig struct {
	*rig
	appHook *hook
}

func newOwnersRig(t *testing.T) *ownersRig {
	t.Helper()
	r := newRig(t, notify.Config{Recipients: notify.RecipientConfig{
		Fallback:  []string{"secops@contoso.com"},
		Overrides: map[string][]string{notifytest.AppID: {"datadog-team@contoso.com"}},
	}})
	app := newHook(t)
	tm, err := teams.New(teams.Config{
		WebhookURL:     r.teams.url("teams-sig-0123456789"),
		AppWebhookURLs: map[string]string{notifytest.AppID: app.url("owners-sig-9876543210")},
	}, r.log, teams.WithHTTPClient(r.teams.srv.Client()), teams.WithClock(r.clock.Now))
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
	r.n, err = notify.New(notify.Config{Recipients: notify.RecipientConfig{
		Fallback:  []string{"secops@contoso.com"},
		Overrides: map[string][]string{notifytest.AppID: {"datadog-team@contoso.com"}},
	}}, r.owners, []notify.Channel{tm, em, pg}, r.log, notify.WithClock(r.clock.Now), notify.WithSleep(r.clock.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	return &ownersRig{rig: r, appHook: app}
}

// ownerish is everything that would tell an owner to act on a named key.
var ownerish = []string{"ACTION NEEDED", "Action needed", "delete the old one", "Create a new credential", "Action taken"}

func assertUnverifiedText(t *testing.T, where, s string) {
	t.Helper()
	flat := strings.Join(strings.Fields(s), " ")
	// A subject has no room for the whole notice; it must still say it.
	notice := unverifiedNotice
	if where == "mail subject" {
		notice = "UNVERIFIED"
	}
	if !strings.Contains(flat, "UNVERIFIED") || !strings.Contains(flat, notice) {
		t.Errorf("%s is not marked unverified with the notice:\n%s", where, clip(flat))
	}
	for _, bad := range ownerish {
		if strings.Contains(flat, bad) {
			t.Errorf("%s of an unverified incident says %q", where, bad)
		}
	}
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// A forged event that names a real app and key reaches the security
// contacts and on-call only, marked unverified: not the application owner,
// not the per-app override, not the tag's contact, not the owners' Teams
// channel.
func TestAttackForgedDetectionReachesOnlySecurity(t *testing.T) {
	r := newOwnersRig(t)
	in := forged()
	in.App.Tags = append(in.App.Tags, notify.NotifyTag+"tagged-team@contoso.com")
	_ = r.n.Notify(t.Context(), in)

	var to []string
	for _, s := range r.mailer.Sent {
		to = append(to, s.Msg.To...)
		assertUnverifiedText(t, "mail subject", s.Msg.Subject)
		assertUnverifiedText(t, "mail text", s.Msg.Text)
		assertUnverifiedText(t, "mail HTML", s.Msg.HTML)
	}
	if strings.Join(to, ",") != "secops@contoso.com" {
		t.Errorf("mailed %v, want the security contact only", to)
	}
	for _, rc := range in.Recipients {
		if rc.Address != "" && rc.Source != notify.SourceFallback {
			t.Errorf("recipient %+v of an unverified incident is not a security contact", rc)
		}
	}
	if r.appHook.hits() != 0 {
		t.Errorf("the owners' Teams channel got %d cards of an unverified incident", r.appHook.hits())
	}
	if r.teams.hits() != 1 {
		t.Fatalf("security Teams channel got %d cards, want 1", r.teams.hits())
	}
	assertUnverifiedText(t, "card", string(r.teams.bodies[0]))
	if r.page.hits() != 1 {
		t.Fatalf("on-call paged %d times, want once", r.page.hits())
	}
	var page map[string]any
	if err := json.Unmarshal(r.page.bodies[0], &page); err != nil {
		t.Fatal(err)
	}
	if page["verified"] != false {
		t.Errorf("page verified = %v, want false", page["verified"])
	}
	assertUnverifiedText(t, "page", string(r.page.bodies[0]))
}

// The channels refuse owners of an unverified incident on their own, so a
// caller that hands them stale recipients (an incident resolved while it
// was still verified, a replay) cannot reach an owner either.
func TestAttackChannelsRefuseOwnersOfUnverified(t *testing.T) {
	in := forged()
	in.Recipients = notifytest.ExampleIncident().Recipients
	em, err := email.New(email.Config{From: "secops-noreply@contoso.com"}, &notifytest.Mailer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &notify.Delivery{Incident: in}
	if got := ids(em.Targets(d)); got != "secops@contoso.com" {
		t.Errorf("email targets = %q, want the security contact only", got)
	}
	tm, err := teams.New(teams.Config{WebhookURL: "https://a.example/hook?sig=aaaaaaaa", AppWebhookURLs: map[string]string{notifytest.AppID: "https://b.example/hook?sig=bbbbbbbb"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(tm.Targets(d)); got != teams.TargetDefault {
		t.Errorf("teams targets = %q, want the security channel only", got)
	}
}

func ids(ts []notify.Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return strings.Join(out, ",")
}

func renderAll(t *testing.T, in *incident.Incident) (card string, mail notify.Email) {
	t.Helper()
	b, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	cardContent(t, b)
	if len(b) > notify.MaxCardBytes {
		t.Errorf("card is %d bytes", len(b))
	}
	e, err := notify.RenderEmail(in, incident.Recipient{Address: "secops@contoso.com", Source: notify.SourceFallback, Reason: "security team"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b), e
}

// Without a Workload Identities Premium licence Graph cannot verify risk:
// the message says so plainly, and that nothing was removed automatically.
func TestAttackUnlicensedTenantSaysSo(t *testing.T) {
	in := forged()
	in.Verification = incident.Verification{Method: "detection", Unlicensed: true, Limited: "risk detections are hidden without the licence"}
	card, e := renderAll(t, in)
	for where, s := range map[string]string{"card": card, "mail text": e.Text, "mail HTML": e.HTML} {
		flat := strings.Join(strings.Fields(s), " ")
		for _, w := range []string{"no Workload Identities Premium licence", "nothing was removed automatically"} {
			if !strings.Contains(flat, w) {
				t.Errorf("%s lacks %q", where, w)
			}
		}
		assertUnverifiedText(t, where, s)
	}
}

// A detection Graph already closed needs nothing from anyone; if it is
// rendered at all, it says so and asks for nothing.
func TestAttackClosedDetectionAsksNothing(t *testing.T) {
	in := forged()
	in.Verification = incident.Verification{Method: "detection", Closed: "dismissed"}
	card, e := renderAll(t, in)
	for where, s := range map[string]string{"card": card, "mail subject": e.Subject, "mail text": e.Text, "mail HTML": e.HTML} {
		flat := strings.Join(strings.Fields(s), " ")
		if !strings.Contains(strings.ToLower(flat), "already closed in graph as dismissed") || !strings.Contains(strings.ToLower(flat), "no action needed") {
			t.Errorf("%s does not say it is already closed, no action needed:\n%s", where, clip(flat))
		}
		rest := regexp.MustCompile(`(?i)no action needed`).ReplaceAllString(flat, "")
		for _, bad := range ownerish {
			if strings.Contains(rest, bad) {
				t.Errorf("%s of a closed detection says %q", where, bad)
			}
		}
	}
}

// A protected app in an enforce run was shown and mailed as "dry-run".
// Every place that shows the mode uses its label; the page keeps the raw
// mode and adds the label. Old records (mode dry-run, the reason in
// NotifyOnly) are labelled by what they mean too.
func TestAttackProtectedAppIsNotLabelledDryRun(t *testing.T) {
	for name, mutate := range map[string]func(*incident.Incident){
		"named mode": func(in *incident.Incident) { in.Mode = incident.ModeProtected },
		"old record": func(in *incident.Incident) { in.Mode = incident.ModeDryRun },
	} {
		t.Run(name, func(t *testing.T) {
			in := notifytest.ExampleIncident()
			mutate(in)
			in.NotifyOnly = "protected app (tag spresponder:protected): notify only"
			in.App.Protected = true
			in.Actions[0].State, in.Actions[0].DryRun, in.Actions[0].Reason = incident.Skipped, true, in.NotifyOnly+": would remove the secret"
			card, e := renderAll(t, in)
			for where, s := range map[string]string{"card": card, "mail text": e.Text, "mail HTML": e.HTML} {
				flat := strings.Join(strings.Fields(s), " ")
				if !strings.Contains(flat, "protected (notify only)") {
					t.Errorf("%s lacks the mode label", where)
				}
				// The replay command's label is about the replay, not the incident.
				flat = strings.ReplaceAll(flat, "Replay (dry-run unless told otherwise)", "")
				if strings.Contains(strings.ToLower(flat), "dry-run") || strings.Contains(strings.ToLower(flat), "dry run") {
					i := strings.Index(strings.ToLower(flat), "dry")
					t.Errorf("%s calls a protected app's incident a dry run: …%s…", where, flat[max(0, i-200):min(len(flat), i+100)])
				}
			}
			pages := []notify.Page{{Trigger: notify.TriggerNeedsHuman, Severity: notify.SeverityWarning, Reason: "x"}}
			b, err := json.Marshal(pager.BuildPayload(in, pages[0], start))
			if err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			if p["mode"] != in.Mode || p["modeLabel"] != "protected (notify only)" {
				t.Errorf("page mode %v label %v", p["mode"], p["modeLabel"])
			}
		})
	}
}

// A held incident (the breaker withheld the write) pages on-call as a
// breaker trip, whether or not the withheld reason starts with "breaker".
func TestAttackHeldIncidentPages(t *testing.T) {
	in := notifytest.ExampleIncident()
	in.State, in.Mode, in.NotifyOnly = incident.StateHeld, incident.ModeHeld, "3 removals in 5m reach the limit of 3"
	in.Actions[0].State, in.Actions[0].DryRun = incident.Skipped, true
	pages := notify.Pages(in, nil)
	if len(pages) != 1 || pages[0].Trigger != notify.TriggerBreaker || pages[0].Severity != notify.SeverityCritical {
		t.Fatalf("pages = %+v, want one critical breaker page", pages)
	}
	card, e := renderAll(t, in)
	for where, s := range map[string]string{"card": card, "mail text": e.Text} {
		if !strings.Contains(strings.Join(strings.Fields(s), " "), "held by the breaker (notify only)") {
			t.Errorf("%s lacks the held label", where)
		}
	}
}

// Times a person reads (history, timeline, detection) carry the date and
// the zone, never a bare clock time.
func TestAttackTimesCarryDateAndZone(t *testing.T) {
	in := notifytest.ExampleIncident()
	card, e := renderAll(t, in)
	page, err := json.Marshal(pager.BuildPayload(in, notify.Page{Trigger: notify.TriggerNeedsHuman, Reason: "x"}, start))
	if err != nil {
		t.Fatal(err)
	}
	clock := regexp.MustCompile(`\d{1,2}:\d{2}(:\d{2})?`)
	dated := regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]$`)
	for where, s := range map[string]string{"card": card, "mail text": e.Text, "mail HTML": e.HTML, "page": string(page)} {
		n := 0
		for _, m := range clock.FindAllStringIndex(s, -1) {
			if m[0] > 0 && strings.ContainsRune("0123456789:abcdefABCDEF", rune(s[m[0]-1])) {
				continue // part of a longer token (an id, an address)
			}
			n++
			before, after := s[max(0, m[0]-11):m[0]], s[m[1]:]
			zoned := strings.HasPrefix(after, " UTC") || strings.HasPrefix(after, "Z") || strings.HasPrefix(after, ".")
			if !dated.MatchString(before) || !zoned {
				t.Errorf("%s shows a time without date or zone: %q", where, s[max(0, m[0]-11):min(len(s), m[1]+4)])
			}
		}
		if n == 0 {
			t.Errorf("%s shows no time at all", where)
		}
	}
}

// One redaction rule for a webhook URL, whatever its path looks like:
// scheme and host, then "/…redacted". Workflows sign in the query; other
// services put the key in the path, in words as well as in digits.
func TestAttackRedactURLKeepsOnlySchemeAndHost(t *testing.T) {
	for in, want := range map[string]string{
		workflowURL: "https://default4bbb79f757244c9e95f3de075f6ec0.90.environment.api.powerplatform.com:443/…redacted",
		"https://hooks.example.com/services/teamsecretword/channelsecretword": "https://hooks.example.com/…redacted",
		"https://user:pass@pager.example/x?token=abc":                         "https://pager.example/…redacted",
		"http://127.0.0.1:8080/":                                              "http://127.0.0.1:8080/…redacted",
		"::not a url":                                                         "…redacted",
		"":                                                                    "…redacted",
	} {
		if got := notify.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Error text that repeats parts of a configured URL (a gateway echoing the
// request path, an HTTP library quoting the URL with the password masked,
// a token echoed without its "Bearer " prefix) loses every part.
func TestAttackRedactorScrubsEveryPartOfTheURL(t *testing.T) {
	const (
		pathURL = "https://hooks.example.com/services/teamsecretword/channelsecretword"
		userURL = "https://svcuser:pa55-word-secret@pager.example/v2/enqueue?routing_key=rkey-secret-value"
		token   = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.body.sig"
	)
	r := notify.NewRedactor([]string{pathURL, userURL}, []string{"Bearer " + token})
	for _, leak := range []error{
		errors.New("HTTP 404: no route for /services/teamsecretword/channelsecretword"),
		errors.New("HTTP 403: channel channelsecretword is closed"),
		fmt.Errorf("post to oncall:needsHuman: %w", &url.Error{Op: "Post", URL: "https://svcuser:***@pager.example/v2/enqueue?routing_key=rkey-secret-value", Err: errors.New("EOF")}),
		errors.New(`HTTP 401: {"error":"bad token ` + token + `"}`),
	} {
		red := r.Error(leak)
		notifytest.AssertNoSecrets(t, []string{"teamsecretword", "channelsecretword", "svcuser", "pa55-word-secret", "rkey-secret-value", token}, red)
		if !strings.Contains(red.Error(), "HTTP") && !strings.Contains(red.Error(), "pager.example") {
			t.Errorf("redaction lost the useful part: %v", red)
		}
	}
}

// A channel that names a target by its URL (a bug, or a future channel
// written in a hurry) does not get the URL into the ledger, the logs or the
// error: nothing is sent to a target that is not named safely.
func TestAttackTargetNamedByURLIsNeverRecorded(t *testing.T) {
	const secretURL = "https://hooks.example.com/services/teamsecretword?sig=querysecretvalue"
	r := newRig(t, notify.Config{})
	ch := &urlChannel{id: secretURL}
	n, err := notify.New(notify.Config{Recipients: cfg}, nil, []notify.Channel{ch}, r.log, notify.WithClock(r.clock.Now), notify.WithSleep(r.clock.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	in := fresh()
	nerr := n.Notify(t.Context(), in)
	if nerr == nil {
		t.Error("a target named by its URL was accepted")
	}
	if ch.sent != 0 {
		t.Errorf("sent %d times to a target named by its URL", ch.sent)
	}
	if len(in.Notified) != 1 || in.Notified[0].Target != "https://hooks.example.com/…redacted" || in.Notified[0].State == incident.Done {
		t.Errorf("recorded %+v", in.Notified)
	}
	notifytest.AssertNoSecrets(t, []string{secretURL, "teamsecretword", "querysecretvalue"}, r.logs, nerr, in)
}

// urlChannel names its one target by a URL.
type urlChannel struct {
	id   string
	sent int
}

func (c *urlChannel) Name() string                             { return "custom" }
func (c *urlChannel) Targets(*notify.Delivery) []notify.Target { return []notify.Target{{ID: c.id}} }
func (c *urlChannel) Send(context.Context, *notify.Delivery, notify.Target) error {
	c.sent++
	return nil
}

// No configured secret (webhook URL path and query, bearer and other
// header credentials) reaches a log line, an error, the recorded
// notifications, the incident, a card, a mail or a page: not on a failing
// run whose far ends echo what they got, and not on the re-drive, whose
// card and mail carry the first run's errors in their history.
func TestAttackNoSecretReachesAnyOutput(t *testing.T) {
	clock := &notifytest.Clock{T: start}
	log, logs := notifytest.NewObservedLogger()
	echo := func(code int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, "failed for "+r.URL.String()+" path "+r.URL.Path+" auth "+r.Header.Get("Authorization"))
		}
	}
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = c.Close()
		}
	}
	tHook, aHook, pHook := newHook(t), newHook(t), newHook(t)
	tHook.then(echo(http.StatusInternalServerError))
	aHook.then(hangUp)
	pHook.then(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"key `+strings.TrimPrefix(r.Header.Get("Authorization"), "GenieKey ")+` not valid for `+r.URL.Path+`"}`)
	})
	const (
		teamsAuth = "Bearer teamsflowtoken-5d1c9a77"
		pagerAuth = "GenieKey pagerkeysecret-0b1c2d"
	)
	teamsURL := tHook.url("teamsquerysig-Xk3vQ9pLm2Tz")
	appURL := aHook.srv.URL + "/hooks/ownerspathsecret/channelpathsecret?token=ownersquerytoken"
	pagerURL := pHook.srv.URL + "/v1/enqueue/pagerroutesecret?routing_key=pagerquerykey"
	var secrets []string
	secrets = append(secrets, notifytest.WebhookSecrets(teamsURL, teamsAuth)...)
	secrets = append(secrets, notifytest.WebhookSecrets(appURL)...)
	secrets = append(secrets, notifytest.WebhookSecrets(pagerURL, pagerAuth)...)

	tm, err := teams.New(teams.Config{WebhookURL: teamsURL, AppWebhookURLs: map[string]string{notifytest.AppID: appURL}, Headers: map[string]string{"Authorization": teamsAuth}},
		log, teams.WithHTTPClient(tHook.srv.Client()), teams.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pager.New(pager.Config{URL: pagerURL, Headers: map[string]string{"Authorization": pagerAuth}}, log,
		pager.WithHTTPClient(pHook.srv.Client()), pager.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	mailer := &notifytest.Mailer{Errors: []error{errors.New("sendMail: 503"), errors.New("sendMail: 503")}}
	em, err := email.New(email.Config{From: "secops-noreply@contoso.com"}, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	owners := &notifytest.Owners{App: map[string][]notify.Owner{notifytest.AppID: {alex}}}
	n, err := notify.New(notify.Config{Recipients: cfg, MaxAttempts: 1}, owners, []notify.Channel{tm, em, pg}, log,
		notify.WithClock(clock.Now), notify.WithSleep(clock.Sleep))
	if err != nil {
		t.Fatal(err)
	}

	in := fresh()
	in.Actions[0].State = incident.Started // pages on-call
	err1 := n.Notify(t.Context(), in)
	for _, want := range []string{"HTTP 500", "HTTP 401", "EOF"} {
		if err1 == nil || !strings.Contains(err1.Error(), want) {
			t.Errorf("first run's error lacks %q (the failure did not happen, so the test proves nothing): %v", want, err1)
		}
	}
	// The playbook records the failure on the incident, as it does.
	in.Record(clock.Now(), "notify", "failed", err1.Error())
	err2 := n.Notify(t.Context(), in)
	if err2 != nil {
		t.Fatalf("re-drive: %v", err2)
	}
	if tHook.hits() != 2 || aHook.hits() != 2 || pHook.hits() != 2 || len(mailer.Sent) != 2 {
		t.Fatalf("re-drive did not deliver: teams %d, app %d, page %d, mails %d", tHook.hits(), aHook.hits(), pHook.hits(), len(mailer.Sent))
	}
	// The card is the compact form, without the history; the mail is the
	// long form and carries it.
	if !strings.Contains(mailer.Sent[1].Msg.HTML, "HTTP 500") {
		t.Error("the re-driven mail does not carry the first run's error, so the test does not prove it is clean")
	}
	notifytest.AssertNoSecrets(t, secrets, logs, err1, err2, in.Notified, in.Steps, in.History, in,
		tHook.bodies, aHook.bodies, pHook.bodies, mailer)
}

// stuckMailer ignores its context: it answers only when released, as a
// mail API behind a hung connection without a timeout would.
type stuckMailer struct {
	release chan struct{}
	calls   atomic.Int32
}

func (m *stuckMailer) SendMail(ctx context.Context, from string, msg notify.Message) error {
	m.calls.Add(1)
	<-m.release
	return nil
}

const sweepReason = "deadline; will retry on the next sweep"

// A channel that ignores its context cannot hold the invocation: Notify
// returns by the caller's deadline, records what was not delivered as
// pending with the reason, and says so in its error.
func TestAttackStuckChannelCannotHoldTheInvocation(t *testing.T) {
	r := newRig(t, notify.Config{})
	m := &stuckMailer{release: make(chan struct{})}
	time.AfterFunc(3*time.Second, func() { close(m.release) })
	em, err := email.New(email.Config{From: "secops-noreply@contoso.com"}, m, r.log)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := teams.New(teams.Config{WebhookURL: r.teams.url("teams-sig-0123456789")}, r.log, teams.WithHTTPClient(r.teams.srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Config{Recipients: cfg}, r.owners, []notify.Channel{tm, em}, r.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	in := fresh()
	began := time.Now()
	nerr := n.Notify(ctx, in)
	if took := time.Since(began); took > 1500*time.Millisecond {
		t.Errorf("Notify took %s with a 400ms deadline", took)
	}
	if nerr == nil {
		t.Fatal("Notify reported everything delivered")
	}
	checkUndelivered(t, nerr)
	if n := notification(t, in, notify.ChannelTeams, teams.TargetDefault); n.State != incident.Done {
		t.Errorf("teams = %+v", n)
	}
	for _, to := range []string{"alexw@contoso.com", "secops@contoso.com"} {
		n := notification(t, in, notify.ChannelEmail, to)
		if n.State != incident.Pending || !strings.Contains(n.Reason, sweepReason) {
			t.Errorf("email %s = %+v, want pending: %q", to, n, sweepReason)
		}
	}
}

// checkUndelivered: the caller learns from the error that not everything
// was delivered, and that the deadline is why.
func checkUndelivered(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, notify.ErrUndelivered) || !errors.Is(err, notify.ErrDeadline) {
		t.Errorf("Notify = %v, want an error wrapping ErrUndelivered and ErrDeadline", err)
	}
}

// A Retry-After longer than the time left ends the attempt at once: no
// sleep outlives the context, and the target waits for the next sweep.
func TestAttackRetryAfterDoesNotOutliveTheContext(t *testing.T) {
	h := newHook(t)
	h.then(status(http.StatusTooManyRequests, "Retry-After", "30"))
	tm, err := teams.New(teams.Config{WebhookURL: h.url("teams-sig-0123456789")}, nil, teams.WithHTTPClient(h.srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Config{Recipients: cfg}, nil, []notify.Channel{tm}, nil) // real clock, real sleep
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	in := fresh()
	began := time.Now()
	nerr := n.Notify(ctx, in)
	if took := time.Since(began); took > time.Second {
		t.Errorf("Notify waited %s for a Retry-After that cannot fit", took)
	}
	checkUndelivered(t, nerr)
	if n := notification(t, in, notify.ChannelTeams, teams.TargetDefault); n.State != incident.Pending || !strings.Contains(n.Reason, sweepReason) || !strings.Contains(n.Reason, "HTTP 429") {
		t.Errorf("teams = %+v, want pending for the sweep with the 429", n)
	}
}

// A webhook that is down at the deadline is tried again on the next call,
// and only it: what was delivered is not sent twice.
func TestAttackDownThenUpSendsOnlyWhatWasNotDelivered(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.teams.then(func(w http.ResponseWriter, req *http.Request) { <-req.Context().Done() }) // down: hangs
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	in := fresh()
	nerr := r.n.Notify(ctx, in)
	checkUndelivered(t, nerr)
	if n := notification(t, in, notify.ChannelTeams, teams.TargetDefault); n.State != incident.Pending || !strings.Contains(n.Reason, sweepReason) {
		t.Fatalf("teams after the deadline = %+v", n)
	}
	mails := r.mailer.Calls

	if err := r.n.Notify(t.Context(), in); err != nil { // up again
		t.Fatal(err)
	}
	if r.teams.hits() != 2 || r.mailer.Calls != mails {
		t.Errorf("second call: teams hit %d times in all (want 2), mails %d -> %d (want none again)", r.teams.hits(), mails, r.mailer.Calls)
	}
	if n := notification(t, in, notify.ChannelTeams, teams.TargetDefault); n.State != incident.Done || n.Reason != "" {
		t.Errorf("teams after the second call = %+v", n)
	}
}

// Attack: the service principal is at risk in Graph (so a risky sign-in is
// verified), and a forged sign-in names a key of the app. Graph named no
// key: the owners must not be told to delete or rotate the one the event
// names, nor that a credential is "at risk, not removed".
func TestAttackEventOnlyKeyIsNotNamedToOwners(t *testing.T) {
	const eventKey = "0badc0de-1111-4222-8333-444455556666"
	in := notifytest.ExampleIncident()
	in.Verification = incident.Verification{Verified: true, Method: "riskyServicePrincipal", Detail: "Graph shows the service principal atRisk"}
	in.Credentials = nil
	in.Actions = nil
	in.Mode = incident.ModeNoWrite
	for i := range in.Signals {
		in.Signals[i].Kind = detect.RiskySignIn
		in.Signals[i].RiskEventType = detect.UnexpectedNetwork
		in.Signals[i].KeyIDs = []string{eventKey}
	}
	card, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"card": string(card), "html": e.HTML, "text": e.Text, "subject": e.Subject} {
		if strings.Contains(strings.ReplaceAll(out, "\\u0026", "&"), "delete the old one") {
			t.Errorf("%s tells the owner to delete a key Graph did not name", name)
		}
		if strings.Contains(out, "not removed") {
			t.Errorf("%s says a credential was not removed, for a key Graph did not name: %.200s", name, out)
		}
	}
}
