package app

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/act"
	"github.com/spresponder/spresponder/internal/incident"
)

// TestActApproveHeldRemoval: the owner opens the card's "Approve removal"
// (GET changes nothing, the token stays usable), confirms (POST), and the
// playbook, verifying again, removes exactly the leaked secret; the
// approver, the channel and the result are on the incident; the channel
// gets a follow-up; the link does not work twice; nothing secret is logged.
func TestActApproveHeldRemoval(t *testing.T) {
	h := newActHarness(t, nil)
	link := h.link(act.Approve, "webhook:default")
	tok := tokenIn(t, link)
	before := h.current()

	status, page := h.call("GET", tok, alex, nil)
	if status != 200 || !strings.Contains(page, "Approve removal") || !strings.Contains(page, leakedKey) || !strings.Contains(page, `method="post"`) {
		t.Fatalf("GET: %d %s", status, page)
	}
	after := h.current()
	if len(h.sim.Writes()) != 0 || len(after.History) != len(before.History) || after.State != incident.StateHeld || h.spent(tok) {
		t.Fatalf("GET acted: writes %+v, history %d -> %d, state %s, spent %v", h.sim.Writes(), len(before.History), len(after.History), after.State, h.spent(tok))
	}

	h.clock.add(2 * time.Hour) // the breaker's window has passed
	status, page = h.call("POST", tok, alex, nil)
	if status != 200 || !strings.Contains(page, "Removed") || !strings.Contains(page, leakedKey) {
		t.Fatalf("POST: %d %s", status, page)
	}
	w := h.sim.Writes()
	if len(w) != 1 || len(w[0].RemovedKeyIDs) != 1 || w[0].RemovedKeyIDs[0] != leakedKey {
		t.Fatalf("writes: %+v", w)
	}
	if keys := h.keysOnApp(); strings.Contains(keys, leakedKey) || !strings.Contains(keys, otherSecret) || strings.Count(keys, ",") != strings.Count(h.tenant0, ",")-1 {
		t.Fatalf("keys on the app: %s (was %s)", keys, h.tenant0)
	}
	in := h.current()
	if in.State != incident.StateDone || !h.historyHas("decided", "AlexW@contoso.com") || !h.historyHas("decided", "teams (webhook:default)") ||
		!h.historyHas("result", "removed "+leakedKey) {
		t.Fatalf("state %s, history %+v", in.State, in.History)
	}
	if posts := h.teams.all(); !strings.Contains(posts, "Removal approved") || !strings.Contains(posts, "AlexW@contoso.com") {
		t.Fatalf("follow-up card: %s", posts)
	}
	if !h.historyHas("follow-up posted", "webhook:default") {
		t.Fatal("follow-up not recorded")
	}

	status, page = h.call("POST", tok, alex, nil)
	if status != http.StatusConflict || !strings.Contains(page, "already used") || len(h.sim.Writes()) != 1 {
		t.Fatalf("reuse: %d %s", status, page)
	}
	if status, page = h.call("GET", tok, alex, nil); status != http.StatusConflict {
		t.Fatalf("GET of a used link: %d %s", status, page)
	}
	h.noSecretsLogged(tok)

	// Now contained: "Rotated, close it" closes it, since Graph shows the key gone.
	rot := tokenIn(t, h.link(act.Rotated, "webhook:default"))
	if status, page = h.call("POST", rot, megan, nil); status != 200 || h.current().State != incident.StateResolved {
		t.Fatalf("rotated: %d %s (state %s)", status, page, h.current().State)
	}
}

// The refusals: each with a clear page and its status, nothing done.
func TestActRefusals(t *testing.T) {
	h := newActHarness(t, nil)
	link := h.link(act.Approve, "webhook:default")
	tok := tokenIn(t, link)
	h.clock.add(2 * time.Hour) // the breaker would allow: only the refusal stops it

	forged := act.Keys{Current: bytes.Repeat([]byte("k"), 32)}
	other, _ := act.NewIssuer(forged, actOrigin, time.Hour, h.clock.now)
	forgedTok, err := other.Issue(h.current(), act.Approve, "webhook:default")
	if err != nil {
		t.Fatal(err)
	}
	p, sig, _ := strings.Cut(tok, ".")
	pb, _ := base64.RawURLEncoding.DecodeString(p)
	altered := base64.RawURLEncoding.EncodeToString(bytes.Replace(pb, []byte("|approve|"), []byte("|rotated|"), 1)) + "." + sig

	for _, c := range []struct {
		name, method, token string
		as                  *who
		headers             map[string][]string
		status              int
		says                string
	}{
		{"forged", "POST", forgedTok, alex, nil, 403, "not issued by the responder"},
		{"altered", "POST", altered, alex, nil, 403, "altered"},
		{"garbage", "GET", "x" + tok, alex, nil, 400, "damaged"},
		{"non-owner", "POST", tok, lee, nil, 403, "Only an owner of this app or a member of the configured security group"},
		{"cross-site", "POST", tok, alex, map[string][]string{"Origin": {"https://evil.example"}}, 403, "Cross-site"},
		{"cross-site fetch", "POST", tok, alex, map[string][]string{"Sec-Fetch-Site": {"cross-site"}}, 403, "Cross-site"},
		{"no origin, no referer", "POST", tok, alex, map[string][]string{"Origin": {""}}, 403, "Cross-site"},
		{"referer of another site", "POST", tok, alex, map[string][]string{"Origin": {""}, "Referer": {"https://spresponder.example.net.evil.example/api/act"}}, 403, "Cross-site"},
		{"not a form", "POST", tok, alex, map[string][]string{"Content-Type": {"application/json"}}, 415, "Not a form"},
	} {
		status, page := h.call(c.method, c.token, c.as, c.headers)
		if status != c.status || !strings.Contains(page, c.says) {
			t.Errorf("%s: %d, want %d with %q:\n%s", c.name, status, c.status, c.says, page)
		}
	}
	if len(h.sim.Writes()) != 0 || h.spent(tok) || h.current().State != incident.StateHeld {
		t.Fatalf("a refusal acted: writes %+v, spent %v, state %s", h.sim.Writes(), h.spent(tok), h.current().State)
	}
	if !h.historyHas("refused", "LeeG@contoso.com") {
		t.Fatal("the non-owner's attempt is not on record")
	}

	// A mailed report link is its addressee's only.
	if status, page := h.call("GET", tokenIn(t, h.link(act.Report, "AlexW@contoso.com")), megan, nil); status != 403 || !strings.Contains(page, "mailed to another person") {
		t.Fatalf("someone else's report: %d %s", status, page)
	}
	if status, page := h.call("GET", tokenIn(t, h.link(act.Report, "AlexW@contoso.com")), alex, nil); status != 200 || !strings.Contains(page, "Approve removal") {
		t.Fatalf("own report (with the buttons): %d %s", status, page)
	}
	// Wrong recipient: Alex's mailed link, used by Megan (an owner too).
	mailTok := tokenIn(t, h.link(act.Approve, "AlexW@contoso.com"))
	if status, page := h.call("POST", mailTok, megan, nil); status != 403 || !strings.Contains(page, "mailed to another person") {
		t.Fatalf("wrong recipient: %d %s", status, page)
	}
	// The security group (nested) may decide, on the channel's link.
	if status, page := h.call("POST", tok, isaiah, nil); status != 200 || !strings.Contains(page, "Removed") {
		t.Fatalf("security group member: %d %s", status, page)
	}
	h.clock.add(25 * time.Hour)
	if status, page := h.call("GET", mailTok, alex, nil); status != http.StatusGone || !strings.Contains(page, "expired") {
		t.Fatalf("expired: %d %s", status, page)
	}
	h.noSecretsLogged(tok, mailTok, forgedTok)
}

// Without App Service Authentication, principal headers are anyone's to
// send: the POST is recorded as an acknowledgment, nothing is done, and
// the link stays usable.
func TestActWithoutSignInOnlyAcknowledges(t *testing.T) {
	h := newActHarness(t, map[string]string{"WEBSITE_AUTH_ENABLED": "false"})
	tok := tokenIn(t, h.link(act.Approve, "webhook:default"))
	h.clock.add(2 * time.Hour)
	status, page := h.call("POST", tok, alex, nil)
	if status != http.StatusUnauthorized || !strings.Contains(page, "Acknowledged, not done") {
		t.Fatalf("%d %s", status, page)
	}
	if len(h.sim.Writes()) != 0 || h.spent(tok) || !h.historyHas("acknowledged", "unauthenticated visitor") {
		t.Fatalf("writes %+v spent %v", h.sim.Writes(), h.spent(tok))
	}
	// Posting again does not grow the history.
	n := len(h.current().History)
	if status, _ := h.call("POST", tok, alex, nil); status != http.StatusUnauthorized || len(h.current().History) != n {
		t.Fatalf("second acknowledgment: %d, history %d -> %d", status, n, len(h.current().History))
	}
	// The report still shows (the token is the capability without sign-in).
	if status, page := h.call("GET", tokenIn(t, h.link(act.Report, "webhook:default")), nil, nil); status != 200 || !strings.Contains(page, "Terraform-Datadog-CLI") {
		t.Fatalf("report: %d %s", status, page)
	}
}

// With sign-in on, a GET without a signed-in person goes to the sign-in
// first and comes back to the same link.
func TestActGetSignsInFirst(t *testing.T) {
	h := newActHarness(t, nil)
	tok := tokenIn(t, h.link(act.Approve, "webhook:default"))
	status, _ := h.call("GET", tok, nil, nil)
	if status != http.StatusFound {
		t.Fatalf("GET without sign-in: %d", status)
	}
}

// The kill switch and the breaker still hold after an approval: the
// playbook runs again and withholds the write.
func TestActApprovalObeysKillSwitchAndBreaker(t *testing.T) {
	h := newActHarness(t, nil)
	// The breaker's window has not passed.
	tok := tokenIn(t, h.link(act.Approve, "webhook:default"))
	status, page := h.call("POST", tok, alex, nil)
	if status != http.StatusConflict || !strings.Contains(page, "nothing was removed") || !strings.Contains(page, "breaker") || len(h.sim.Writes()) != 0 {
		t.Fatalf("breaker: %d %s writes %+v", status, page, h.sim.Writes())
	}
	if h.current().State != incident.StateHeld || !h.historyHas("decided", "AlexW@contoso.com") {
		t.Fatalf("state %s", h.current().State)
	}

	h2 := newActHarness(t, nil)
	if _, err := (killSwitchFor(h2)).Set(t.Context(), true, "forged events in the hub", "oncall"); err != nil {
		t.Fatal(err)
	}
	h2.clock.add(2 * time.Hour)
	tok = tokenIn(t, h2.link(act.Approve, "webhook:default"))
	if status, page := h2.call("GET", tok, alex, nil); status != 200 || !strings.Contains(page, "kill switch is on") {
		t.Fatalf("confirmation under the kill switch: %d %s", status, page)
	}
	status, page = h2.call("POST", tok, alex, nil)
	if status != http.StatusConflict || !strings.Contains(page, "kill switch") || len(h2.sim.Writes()) != 0 || !strings.Contains(h2.keysOnApp(), leakedKey) {
		t.Fatalf("kill switch: %d %s writes %+v", status, page, h2.sim.Writes())
	}
}

// False positive: closed, the decision kept for the keys.
func TestActFalsePositive(t *testing.T) {
	h := newActHarness(t, nil)
	tok := tokenIn(t, h.link(act.FalsePositive, "MeganB@contoso.com"))
	status, page := h.call("POST", tok, megan, nil)
	if status != 200 || !strings.Contains(page, "false positive") || h.current().State != incident.StateResolved || len(h.sim.Writes()) != 0 {
		t.Fatalf("%d %s state %s", status, page, h.current().State)
	}
	by, _, _, found, err := h.sys.store.Decision(t.Context(), h.held.App.ServicePrincipalID, leakedKey)
	if err != nil || !found || !strings.Contains(by, "MeganB@contoso.com") {
		t.Fatalf("decision: %q %v %v", by, found, err)
	}
	// Rotated is refused while Graph still shows the key (on another incident state, it is not offered).
	h2 := newActHarness(t, nil)
	rot := tokenIn(t, h2.link(act.Rotated, "webhook:default"))
	if status, page := h2.call("POST", rot, alex, nil); status != http.StatusConflict || !strings.Contains(page, "still shows") || h2.spent(rot) {
		t.Fatalf("rotated with the key still there: %d %s", status, page)
	}
}

// A mailed link works for the person it was mailed to.
func TestActMailedLinkIsTheAddressees(t *testing.T) {
	h := newActHarness(t, nil)
	tok := tokenIn(t, h.link(act.Approve, "AlexW@contoso.com"))
	h.clock.add(2 * time.Hour)
	status, page := h.call("POST", tok, alex, nil)
	if status != 200 || !strings.Contains(page, "Removed") || len(h.sim.Writes()) != 1 || !h.historyHas("decided", "Approve removal from mail") {
		t.Fatalf("%d %s writes %+v", status, page, h.sim.Writes())
	}
	h.noSecretsLogged(tok)
}
