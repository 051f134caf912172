package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/email"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/notify/teams"
)

// signedActions is a small, real implementation of notify.Actions: each
// link names the incident, the decision and the reader, and is signed
// with HMAC-SHA256, so the URLs are deterministic and each reader's are
// their own. Like the act side, it offers "Approve removal" only on
// incidents Graph verified. It records who it was asked for, and can be
// told to fail, to panic or to give links no message may carry.
type signedActions struct {
	key string

	mu     sync.Mutex
	asked  []string
	fail   map[string]error
	panics map[string]bool
	bad    map[string]bool
}

const actBase = "https://func-spresponder.azurewebsites.net/api/act"

func (a *signedActions) link(in *incident.Incident, kind, reader string) string {
	m := hmac.New(sha256.New, []byte(a.key))
	m.Write([]byte(in.ID + "|" + kind + "|" + reader))
	q := url.Values{"i": {in.ID}, "a": {kind}, "r": {reader}, "s": {hex.EncodeToString(m.Sum(nil))}}
	return actBase + "?" + q.Encode()
}

func (a *signedActions) Links(ctx context.Context, in *incident.Incident, reader string) (notify.ActionLinks, error) {
	a.mu.Lock()
	a.asked = append(a.asked, reader)
	err, boom, bad := a.fail[reader], a.panics[reader], a.bad[reader]
	a.mu.Unlock()
	switch {
	case err != nil:
		return notify.ActionLinks{}, err
	case boom:
		panic("signing key unavailable")
	case bad:
		return notify.ActionLinks{Buttons: []notify.ActionLink{{Kind: "approve", Label: "Approve removal", URL: "javascript:alert(1)"}}}, nil
	}
	l := notify.ActionLinks{Report: a.link(in, "report", reader)}
	if !notify.SecurityOnly(in) {
		l.Buttons = append(l.Buttons, notify.ActionLink{Kind: "approve", Label: "Approve removal", URL: a.link(in, "approve", reader)})
	}
	l.Buttons = append(l.Buttons,
		notify.ActionLink{Kind: "falsePositive", Label: "False positive", URL: a.link(in, "falsePositive", reader)},
		notify.ActionLink{Kind: "rotated", Label: "Rotated, close it", URL: a.link(in, "rotated", reader)})
	return l, nil
}

// actionsRig delivers on Teams (the security channel and the owners'),
// email and the pager, with the given Actions.
func actionsRig(t *testing.T, acts notify.Actions) (*ownersRig, *notify.Notifier) {
	t.Helper()
	r := newOwnersRig(t)
	tm, err := teams.New(teams.Config{
		WebhookURL:     r.teams.url("teams-sig-0123456789"),
		AppWebhookURLs: map[string]string{notifytest.AppID: r.appHook.url("owners-sig-9876543210")},
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
	n, err := notify.New(notify.Config{Recipients: notify.RecipientConfig{
		Fallback:  []string{"secops@contoso.com"},
		Overrides: map[string][]string{notifytest.AppID: {"datadog-team@contoso.com"}},
	}}, r.owners, []notify.Channel{tm, em, pg}, r.log, notify.WithClock(r.clock.Now), notify.WithSleep(r.clock.Sleep), notify.WithActions(acts))
	if err != nil {
		t.Fatal(err)
	}
	return r, n
}

// Each target of the card and each mail carries the links issued for its
// own reader, and no other reader's; the pager carries none.
func TestEachTargetGetsItsOwnLinks(t *testing.T) {
	acts := &signedActions{key: "test-signing-key"}
	r, n := actionsRig(t, acts)
	in := fresh()
	in.Actions[0].State = incident.Started // pages on-call too
	if err := n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	readers := []string{teams.TargetDefault, teams.TargetApp, "alexw@contoso.com", "datadog-team@contoso.com", "secops@contoso.com"}
	got := slices.Clone(acts.asked)
	slices.Sort(got)
	want := slices.Clone(readers)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("links asked for %v, want once per reader %v", got, want)
	}
	messages := map[string]string{teams.TargetDefault: string(r.teams.bodies[0]), teams.TargetApp: string(r.appHook.bodies[0])}
	for _, s := range r.mailer.Sent {
		messages[strings.ToLower(s.Msg.To[0])] = s.Msg.HTML + "\n" + s.Msg.Text
	}
	if len(messages) != len(readers) {
		t.Fatalf("%d messages, want %d", len(messages), len(readers))
	}
	for _, reader := range readers {
		msg := messages[reader]
		// The card is JSON, the mail HTML: compare the signature, which
		// neither escapes.
		for _, kind := range []string{"approve", "falsePositive", "rotated", "report"} {
			sig := sigOf(t, acts.link(in, kind, reader))
			if !strings.Contains(msg, sig) {
				t.Errorf("%s's message lacks its %s link", reader, kind)
			}
		}
		for _, other := range readers {
			if other != reader && strings.Contains(msg, sigOf(t, acts.link(in, "approve", other))) {
				t.Errorf("%s's message carries %s's link", reader, other)
			}
		}
	}
	for _, b := range r.page.bodies {
		if strings.Contains(string(b), actBase) {
			t.Error("the page to on-call carries action links")
		}
	}
	for _, w := range []string{`"title":"Approve removal"`, `"title":"Full report"`} {
		if !strings.Contains(messages[teams.TargetDefault], w) {
			t.Errorf("card lacks %s", w)
		}
	}
	if n.LinkFailures() != 0 {
		t.Errorf("LinkFailures = %d", n.LinkFailures())
	}
}

func sigOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("s")
}

// A forged (unverified) incident reaches security only; the act side
// offers no "Approve removal" there, and the messages show exactly what
// they were given.
func TestSecurityOnlyMessagesShowTheLinksGiven(t *testing.T) {
	acts := &signedActions{key: "test-signing-key"}
	r, n := actionsRig(t, acts)
	in := forged()
	_ = n.Notify(t.Context(), in)
	if len(r.mailer.Sent) != 1 || r.teams.hits() != 1 || r.appHook.hits() != 0 {
		t.Fatalf("mails %d, security cards %d, owner cards %d", len(r.mailer.Sent), r.teams.hits(), r.appHook.hits())
	}
	for where, msg := range map[string]string{"card": string(r.teams.bodies[0]), "mail": r.mailer.Sent[0].Msg.HTML, "text": r.mailer.Sent[0].Msg.Text} {
		if strings.Contains(msg, "Approve removal") {
			t.Errorf("%s of an unverified incident offers Approve removal", where)
		}
		if !strings.Contains(msg, "False positive") {
			t.Errorf("%s lacks the links it was given", where)
		}
	}
}

// When the links cannot be had (the Actions fail, panic, or give a link no
// message may carry) the message still goes, without buttons; the failure
// is logged without the secret in it, counted, and recorded on the
// incident.
func TestMessagesGoWithoutLinksWhenActionsFail(t *testing.T) {
	const token = "tok-5e1f0a9c77b2d4"
	acts := &signedActions{
		key:    "test-signing-key",
		fail:   map[string]error{teams.TargetDefault: errors.New("sign link " + actBase + "?t=" + token + ": key vault 503")},
		panics: map[string]bool{"alexw@contoso.com": true},
		bad:    map[string]bool{"secops@contoso.com": true},
	}
	r, n := actionsRig(t, acts)
	in := fresh()
	if err := n.Notify(t.Context(), in); err != nil {
		t.Fatalf("a link failure stopped a delivery: %v", err)
	}
	if r.teams.hits() != 1 || r.appHook.hits() != 1 || len(r.mailer.Sent) != 3 {
		t.Fatalf("cards %d+%d, mails %d: a message did not go", r.teams.hits(), r.appHook.hits(), len(r.mailer.Sent))
	}
	if got := n.LinkFailures(); got != 3 {
		t.Errorf("LinkFailures = %d, want 3", got)
	}
	plain := map[string]string{teams.TargetDefault: string(r.teams.bodies[0])}
	for _, s := range r.mailer.Sent {
		plain[strings.ToLower(s.Msg.To[0])] = s.Msg.HTML
	}
	for _, reader := range []string{teams.TargetDefault, "alexw@contoso.com", "secops@contoso.com"} {
		if strings.Contains(plain[reader], actBase) || strings.Contains(plain[reader], "javascript:") || strings.Contains(plain[reader], "Approve removal") {
			t.Errorf("%s's message carries links after their failure", reader)
		}
	}
	if !strings.Contains(string(r.appHook.bodies[0]), "Approve removal") || !strings.Contains(plain["datadog-team@contoso.com"], "Approve removal") {
		t.Error("readers whose links worked lost them")
	}
	if !strings.Contains(plain[teams.TargetDefault], notify.ShowCommand(in.ID)) {
		t.Error("the card without links does not point to incidents show")
	}
	var recorded []string
	for _, e := range in.History {
		if e.What == "sent without action links" {
			recorded = append(recorded, e.Detail)
		}
	}
	if len(recorded) != 3 {
		t.Errorf("history records %d link failures, want 3: %v", len(recorded), recorded)
	}
	var logged int
	for _, e := range r.logs.All() {
		if strings.Contains(e.Message, "action links unavailable") {
			logged++
		}
	}
	if logged != 3 {
		t.Errorf("%d log lines about link failures, want 3", logged)
	}
	notifytest.AssertNoSecrets(t, []string{token}, r.logs, in.History, in.Notified)
}

// Without Actions, messages carry no decision buttons, and the card points
// to the command that shows the full report.
func TestNoActionsNoButtons(t *testing.T) {
	r, n := actionsRig(t, nil)
	in := fresh()
	if err := n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	card := string(r.teams.bodies[0])
	if strings.Contains(card, "Approve removal") || strings.Contains(card, `"Full report"`) || !strings.Contains(card, notify.ShowCommand(in.ID)) {
		t.Errorf("card without Actions: %s", card)
	}
	want, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	if card != string(want) {
		t.Error("the card without Actions differs from RenderCard's")
	}
	for _, s := range r.mailer.Sent {
		if strings.Contains(s.Msg.HTML, "Full report</a>") {
			t.Error("a mail without Actions has a report button")
		}
	}
}
