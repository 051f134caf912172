package act

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/redact"
)

// maxFormBytes bounds the POSTed form: one token and a button.
const maxFormBytes = 4 << 10

// form reads the POSTed form strictly: url-encoded, small, the token once
// and nothing unknown.
func form(req Request) (string, error) {
	ct := header(req.Headers, "Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", refuse(http.StatusUnsupportedMediaType, "Not a form", "Decisions are posted by the button on the confirmation page.")
	}
	if len(req.Body) > maxFormBytes {
		return "", refuse(http.StatusRequestEntityTooLarge, "Form too large", "Decisions are posted by the button on the confirmation page.")
	}
	v, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return "", refuse(http.StatusBadRequest, "Form unreadable", "Decisions are posted by the button on the confirmation page.")
	}
	for k, vs := range v {
		if (k != "t" && k != "confirm") || len(vs) != 1 {
			return "", refuse(http.StatusBadRequest, "Form unreadable", "The form carries fields the confirmation page never sends.")
		}
	}
	return v.Get("t"), nil
}

func header(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

// sameOrigin refuses a cross-site POST: the browser's Origin (or, when a
// browser sends none, its Referer) must be the page's own origin, and a
// Sec-Fetch-Site the browser sends must say same-origin. With neither
// Origin nor Referer, it is not a browser on our page: refused.
func (p *Page) sameOrigin(req Request) error {
	want := p.c.Issuer.Origin()
	bad := refuse(http.StatusForbidden, "Cross-site request refused", "Decisions are taken only from the responder's own confirmation page. Nothing was done.")
	if s := header(req.Headers, "Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return bad
	}
	if o := header(req.Headers, "Origin"); o != "" {
		if o != want {
			return bad
		}
		return nil
	}
	if r := header(req.Headers, "Referer"); r != "" && strings.HasPrefix(r, want+"/") {
		return nil
	}
	return bad
}

func (p *Page) post(ctx context.Context, req Request) (Response, error) {
	if err := p.sameOrigin(req); err != nil {
		return Response{}, err
	}
	raw, err := form(req)
	if err != nil {
		return Response{}, err
	}
	t, key, err := p.verify(raw)
	if err != nil {
		return Response{}, err
	}
	if t.Action == Report {
		return Response{}, refuse(http.StatusBadRequest, "Nothing to decide", "A report link only shows the report.")
	}
	in, err := p.incident(ctx, t)
	if err != nil {
		return Response{}, err
	}
	log := p.c.Log.With(zap.String("incident", in.ID), zap.String("token", Fingerprint(t)), zap.String("action", t.Action))
	if err := p.notSpent(ctx, t); err != nil {
		return Response{}, err
	}
	via := t.Channel
	if t.Channel == ChannelTeams {
		via += " (" + t.To + ")"
	}
	if req.Principal == nil {
		// Without the platform's sign-in nobody is known: the visit is
		// recorded, nothing is decided, and the link stays usable.
		// Once per link: whoever holds it cannot grow the history by
		// posting again.
		mark := "link " + Fingerprint(t)
		if !slices.ContainsFunc(in.History, func(e incident.Event) bool { return e.What == "acknowledged" && strings.HasPrefix(e.Detail, mark) }) {
			p.note(ctx, in.ID, "acknowledged", fmt.Sprintf("%s: %s asked from %s by an unauthenticated visitor from %s; nothing done: deciding needs the Function App's sign-in", mark, Labels[t.Action], via, redact.Label(req.Client)), "unauthenticated visitor")
		}
		log.Info("act: acknowledged without sign-in; nothing done")
		return Response{}, refuse(http.StatusUnauthorized, "Acknowledged, not done", "You are not signed in, so your answer was recorded as an acknowledgment only. Nothing was changed. Sign in through the Function App's Entra ID sign-in and open the link again to decide.")
	}
	who := req.Principal.String()
	if _, err := p.recipient(ctx, t, key, req.Principal, true); err != nil {
		p.note(ctx, in.ID, "refused", fmt.Sprintf("%s from %s: %v", Labels[t.Action], via, err), who)
		return Response{}, err
	}
	if err := p.authorize(ctx, in, req.Principal); err != nil {
		p.note(ctx, in.ID, "refused", fmt.Sprintf("%s from %s: %v", Labels[t.Action], via, err), who)
		return Response{}, err
	}
	if !offered(in, t.Action) {
		return Response{}, refuse(http.StatusConflict, "No longer applies", fmt.Sprintf("The incident is now %s (%s): %q is not a decision it allows.", in.State, incident.ModeLabel(in.Mode), Labels[t.Action]))
	}
	if t.Action == Rotated {
		// Checked before the token is spent: a refusal leaves the link
		// usable once the key is really gone.
		if err := p.keysGone(ctx, in); err != nil {
			return Response{}, err
		}
	}
	if err := p.c.Tokens.Spend(ctx, t.Nonce, in.ID, t.Action, who); err != nil {
		if errors.Is(err, ledger.ErrTokenSpent) {
			return Response{}, refuse(http.StatusConflict, "Link already used", "This link was used before: each link decides once. "+strings.TrimPrefix(err.Error(), ledger.ErrTokenSpent.Error()+": ")+".")
		}
		return Response{}, err
	}
	p.note(ctx, in.ID, "decided", fmt.Sprintf("%s from %s", Labels[t.Action], via), who)
	log.Info("act: decision taken", zap.String("by", req.Principal.ID))
	result, title, err := p.carryOut(ctx, in, t.Action, who, via, log)
	if err != nil {
		result, title = "not carried out: "+err.Error(), "Not carried out"
	}
	p.note(ctx, in.ID, "result", fmt.Sprintf("%s from %s: %s", Labels[t.Action], via, result), who)
	if rerr := p.c.Tokens.Result(ctx, t.Nonce, result); rerr != nil {
		log.Warn("act: result not recorded on the token", zap.Error(rerr))
	}
	after, gerr := p.c.Store.Get(ctx, in.ID)
	if gerr != nil {
		after = in
	}
	p.followUp(ctx, after, notify.Handled{Action: t.Action, By: req.Principal.Name, Via: via, Result: result, At: p.c.Now()}, log)
	status := http.StatusOK
	if err != nil {
		status = http.StatusConflict
	}
	return Response{Status: status, Body: resultPage(title, result, after)}, nil
}

// errSpent is the page for a link used before.
var errSpent = refuse(http.StatusConflict, "Link already used", "This link was used before: each link decides once. The incident's history says who decided and what came of it.")

// notSpent refuses a link used before (the ledger's conditional write
// decides in the end; this says it early and in words).
func (p *Page) notSpent(ctx context.Context, t Token) error {
	spent, err := p.c.Tokens.Spent(ctx, t.Nonce)
	if err != nil {
		return err
	}
	if spent {
		return errSpent
	}
	return nil
}

// recipient checks the token's binding. A Teams-bound token is the
// channel's: anyone who may decide for the app may use it (the channel is
// recorded). A mail-bound token is the addressee's only: the signed-in
// person's mail or user principal name, read from Graph by their object
// id, must be the address it was sent to. It returns that address.
// Without a signed-in person a mail-bound report is shown only when
// the platform's sign-in is off (the token is then the capability).
func (p *Page) recipient(ctx context.Context, t Token, key []byte, who *Principal, deciding bool) (string, error) {
	if t.Channel != ChannelMail || who == nil {
		return "", nil
	}
	u, err := p.c.Dir.User(ctx, who.ID)
	if err != nil && !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrRejected) {
		return "", fmt.Errorf("read the signed-in user: %w", err)
	}
	for _, a := range []string{u.Mail, u.UserPrincipalName} {
		if a != "" && recipientDigest(key, a) == t.To {
			return a, nil
		}
	}
	what := "see this report"
	if deciding {
		what = "decide with it"
	}
	return "", refuse(http.StatusForbidden, "This link is someone else's", "This link was mailed to another person: only they can "+what+". Nothing was done. Use the link in your own mail or the Teams card.")
}

// authorize: the person must own the app or its service principal (Graph
// owners), or be in the configured security group (transitively).
func (p *Page) authorize(ctx context.Context, in *incident.Incident, who *Principal) error {
	var owners []notify.Owner
	if in.App.AppID != "" {
		os, err := p.c.Dir.ApplicationOwners(ctx, in.App.AppID)
		if err != nil {
			return fmt.Errorf("read the app's owners: %w", err)
		}
		owners = append(owners, os...)
	}
	if in.App.ServicePrincipalID != "" {
		os, err := p.c.Dir.ServicePrincipalOwners(ctx, in.App.ServicePrincipalID)
		if err != nil {
			return fmt.Errorf("read the service principal's owners: %w", err)
		}
		owners = append(owners, os...)
	}
	if slices.ContainsFunc(owners, func(o notify.Owner) bool { return o.Type == notify.OwnerUser && strings.EqualFold(o.ID, who.ID) }) {
		return nil
	}
	if p.c.Group != "" {
		groups, err := p.c.Dir.MemberGroups(ctx, who.ID, []string{p.c.Group})
		if err != nil && !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrRejected) {
			return fmt.Errorf("check the security group: %w", err)
		}
		if slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, p.c.Group) }) {
			return nil
		}
	}
	return refuse(http.StatusForbidden, "Not yours to decide", "Only an owner of this app or a member of the configured security group may decide. Nothing was done.")
}

// keysGone reads the app and its service principal fresh from Graph and
// refuses while any credential the incident names is still there.
func (p *Page) keysGone(ctx context.Context, in *incident.Incident) error {
	var objs []directory.Object
	for _, read := range []func(context.Context, string) (directory.Object, error){p.c.Dir.Application, p.c.Dir.ServicePrincipal} {
		o, err := read(ctx, in.App.AppID)
		if errors.Is(err, directory.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read the app's credentials: %w", err)
		}
		objs = append(objs, o)
	}
	var still []string
	for _, c := range in.Credentials {
		for i := range objs {
			_, pw := objs[i].Password(c.KeyID)
			_, cert := objs[i].Key(c.KeyID, c.Thumbprint)
			if pw || cert {
				still = append(still, c.KeyID)
			}
		}
	}
	if len(still) > 0 {
		slices.Sort(still)
		return refuse(http.StatusConflict, "Not closed: the key is still there",
			"Graph still shows the compromised credential "+strings.Join(slices.Compact(still), ", ")+" on the app. Remove it (after rotating), then use this link again. Nothing was changed.")
	}
	return nil
}

// carryOut takes the decision through the playbook.
func (p *Page) carryOut(ctx context.Context, in *incident.Incident, action, who, via string, log *zap.Logger) (result, title string, err error) {
	now := p.c.Now()
	switch action {
	case FalsePositive:
		if err := playbook.Resolve(ctx, p.c.Store, in.ID, who, "false positive: decided from "+via, now); err != nil {
			return "", "", err
		}
		return "closed as a false positive; the decision holds for later signals about the same keys", "Closed as a false positive", nil
	case Rotated:
		if err := playbook.Resolve(ctx, p.c.Store, in.ID, who, "rotated: Graph shows the compromised credential gone; decided from "+via, now); err != nil {
			return "", "", err
		}
		return "closed: Graph shows the compromised credential gone", "Closed", nil
	case Approve:
		if _, err := p.c.Store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			return playbook.PrepareRedrive(cur, p.c.Enforce, who, now)
		}); err != nil {
			return "", "", err
		}
		done, err := p.c.Runner.Run(ctx, in.ID, log)
		if err != nil {
			return "", "", fmt.Errorf("the playbook did not finish (the Sweep timer carries it on): %w", err)
		}
		return approveResult(done, now)
	}
	return "", "", fmt.Errorf("unknown action %q", action)
}

// approveResult says what the re-run did: which keys went, or why none.
func approveResult(in *incident.Incident, since time.Time) (string, string, error) {
	var removed []string
	for _, a := range in.Actions {
		if isRemoval(a) && a.State == incident.Done && !a.DryRun && !a.Finished.Before(since) {
			removed = append(removed, a.KeyID+" from the "+a.Target)
		}
	}
	if len(removed) > 0 {
		return "removed " + strings.Join(removed, ", ") + " (verified again in Graph first; every other key left as it was)", "Removed", nil
	}
	why := incident.ModeLabel(in.Mode)
	if in.NotifyOnly != "" {
		why += ": " + in.NotifyOnly
	}
	return "", "", fmt.Errorf("nothing was removed: the playbook ran again and a guard still holds (%s); incident now %s", why, in.State)
}

// note appends a line to the incident's history; a failure is logged, the
// page goes on (the token's own record keeps the decision).
func (p *Page) note(ctx context.Context, id, what, detail, who string) {
	_, err := p.c.Store.Mutate(ctx, id, func(cur *incident.Incident) error {
		now := p.c.Now()
		cur.History = append(cur.History, incident.Event{At: now, Step: "act", What: what, Detail: detail, Actor: who})
		cur.Updated = now
		return nil
	})
	if err != nil {
		p.c.Log.Warn("act: could not record on the incident", zap.String("incident", id), zap.String("what", what), zap.Error(err))
	}
}

// followUp posts the "handled by" card to every Teams target the incident's
// card reached; a failure is recorded on the incident, never fatal.
func (p *Page) followUp(ctx context.Context, in *incident.Incident, d notify.Handled, log *zap.Logger) {
	if p.c.FollowUp == nil {
		return
	}
	card, err := notify.RenderFollowUp(in, d)
	if err != nil {
		log.Warn("act: follow-up card", zap.Error(err))
		return
	}
	for _, n := range in.Notified {
		if n.Channel != notify.ChannelTeams || n.State != incident.Done {
			continue
		}
		if err := p.c.FollowUp.PostFollowUp(ctx, in, n.Target, card); err != nil {
			p.note(ctx, in.ID, "follow-up not posted", n.Target+": "+err.Error(), "responder")
			continue
		}
		p.note(ctx, in.ID, "follow-up posted", n.Target, "responder")
	}
}
