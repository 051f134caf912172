package act

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/redact"
)

// Request is one request to /api/act as the Functions host forwards it.
type Request struct {
	Method  string
	Query   map[string]string
	Headers map[string][]string
	Body    []byte
	// Principal is the signed-in person as the Function App's built-in
	// authentication names them; nil when nobody is signed in or the
	// platform's headers are not to be trusted (WEBSITE_AUTH_ENABLED off).
	Principal *Principal
	// Client is the caller's address, for the record.
	Client string
	// SignIn, when set, is where a GET without a signed-in person is sent
	// first (the platform's sign-in, which comes back to the link).
	SignIn string
}

// Principal is a signed-in person.
type Principal struct {
	ID   string // Entra object id
	Name string // as the platform names them (usually the UPN)
}

func (p *Principal) String() string {
	if p == nil {
		return "an unauthenticated visitor"
	}
	return redact.Label(p.Name) + " (signed in, id " + redact.Label(p.ID) + ")"
}

// Response is the page to send.
type Response struct {
	Status  int
	Body    []byte
	Headers map[string]string
}

// Store is the ledger as the page uses it: read an incident, record on it,
// and keep a person's decision (playbook.Resolve).
type Store interface {
	Get(ctx context.Context, id string) (*incident.Incident, error)
	Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error)
	RecordDecision(ctx context.Context, spID, keyID, incidentID, by, note string, at time.Time) error
}

// Tokens spends tokens once (ledger.ActionTokens).
type Tokens interface {
	Spend(ctx context.Context, nonce, incidentID, action, by string) error
	Result(ctx context.Context, nonce, result string) error
	Spent(ctx context.Context, nonce string) (bool, error)
}

// Directory is what the page reads from Graph: who owns the app, who the
// approver is, whether they are in the security group, and the app's keys
// as they are now.
type Directory interface {
	ApplicationOwners(ctx context.Context, appID string) ([]notify.Owner, error)
	ServicePrincipalOwners(ctx context.Context, spID string) ([]notify.Owner, error)
	User(ctx context.Context, id string) (directory.Owner, error)
	MemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error)
	Application(ctx context.Context, appID string) (directory.Object, error)
	ServicePrincipal(ctx context.Context, appID string) (directory.Object, error)
}

// Runner runs an incident's remaining stages: the playbook's one entry
// for a stored incident (playbook.Responder.Run).
type Runner interface {
	Run(ctx context.Context, id string, log *zap.Logger) (*incident.Incident, error)
}

// FollowUp posts the small "handled by" card to a Teams target the
// incident's card went to.
type FollowUp interface {
	PostFollowUp(ctx context.Context, in *incident.Incident, target string, card []byte) error
}

// ReportRenderer renders the full report page.
type ReportRenderer func(*incident.Incident, notify.ActionLinks) ([]byte, error)

// Config is the page's wiring.
type Config struct {
	Issuer *Issuer
	Keys   Keys
	Store  Store
	Tokens Tokens
	Dir    Directory
	Runner Runner
	// Group is the security group whose members may decide for any app
	// (object id); empty: owners only.
	Group string
	// Enforce is the service's mode, for PrepareRedrive (a reviewed plan
	// is carried out only when the service enforces).
	Enforce bool
	// KillSwitch reads the shared kill switch, for the confirmation page.
	KillSwitch func(ctx context.Context) (bool, string, error)
	FollowUp   FollowUp
	Report     ReportRenderer
	Log        *zap.Logger
	Now        func() time.Time
}

// Page serves /api/act.
type Page struct{ c Config }

// New checks the wiring.
func New(c Config) (*Page, error) {
	if c.Issuer == nil || c.Store == nil || c.Tokens == nil || c.Dir == nil || c.Runner == nil {
		return nil, errors.New("act page: issuer, store, tokens, directory and runner are required")
	}
	if c.Report == nil {
		c.Report = notify.RenderReportPage
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Page{c: c}, nil
}

// refusal is a page that says no, with its HTTP status.
type refusal struct {
	status int
	title  string
	why    string
}

func (r *refusal) Error() string { return r.title + ": " + r.why }

func refuse(status int, title, why string) *refusal { return &refusal{status, title, why} }

// Serve answers one request. It never panics on outside input and never
// puts the token in a log line: tokens are named by Fingerprint.
func (p *Page) Serve(ctx context.Context, req Request) Response {
	var resp Response
	var err error
	switch strings.ToUpper(req.Method) {
	case http.MethodGet, http.MethodHead:
		resp, err = p.get(ctx, req)
	case http.MethodPost:
		resp, err = p.post(ctx, req)
	default:
		err = refuse(http.StatusMethodNotAllowed, "Method not allowed", "This page answers GET (show) and POST (decide) only.")
	}
	if err != nil {
		var r *refusal
		if !errors.As(err, &r) {
			p.c.Log.Error("act page", zap.Error(err))
			r = refuse(http.StatusInternalServerError, "Something went wrong", "The responder could not finish this request; nothing more was done than the incident's history shows. Try again, or ask on-call.")
		}
		resp = Response{Status: r.status, Body: messagePage(r.title, r.why)}
	}
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	for k, v := range securityHeaders {
		resp.Headers[k] = v
	}
	return resp
}

// securityHeaders: no script at all, forms only to ourselves, never framed,
// never cached, and no Referer (the URL carries the token).
var securityHeaders = map[string]string{
	"Content-Type":            "text/html; charset=utf-8",
	"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options":         "DENY",
	"Cache-Control":           "no-store",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
}

// verify reads and checks a token, saying each failure in words.
func (p *Page) verify(raw string) (Token, []byte, error) {
	if raw == "" {
		return Token{}, nil, refuse(http.StatusBadRequest, "No action link", "Open this page from a button in the Teams card or the email.")
	}
	t, key, err := p.c.Keys.Verify(raw, p.c.Now())
	switch {
	case errors.Is(err, ErrMalformed):
		return t, nil, refuse(http.StatusBadRequest, "Not a valid action link", "The link is damaged or incomplete. Open it again from the card or the email.")
	case errors.Is(err, ErrForged):
		p.c.Log.Warn("act: token with a bad signature refused")
		return t, nil, refuse(http.StatusForbidden, "Link refused", "This link was not issued by the responder, or it was altered. Nothing was done.")
	case errors.Is(err, ErrExpired):
		return t, nil, refuse(http.StatusGone, "Link expired", fmt.Sprintf("This link expired on %s. Use a newer card, or ask on-call (spresponder incidents show %s).", t.Expires.Format("2006-01-02 15:04 MST"), t.Incident))
	case err != nil:
		return t, nil, err
	}
	return t, key, nil
}

func (p *Page) incident(ctx context.Context, t Token) (*incident.Incident, error) {
	in, err := p.c.Store.Get(ctx, t.Incident)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, refuse(http.StatusNotFound, "Incident not found", "The responder has no incident "+t.Incident+".")
	}
	if err != nil {
		return nil, fmt.Errorf("read incident %s: %w", t.Incident, err)
	}
	return in, nil
}

func (p *Page) get(ctx context.Context, req Request) (Response, error) {
	t, key, err := p.verify(req.Query["t"])
	if err != nil {
		return Response{}, err
	}
	if req.Principal == nil && req.SignIn != "" && strings.HasPrefix(req.SignIn, "/.auth/") {
		return Response{Status: http.StatusFound, Headers: map[string]string{"Location": req.SignIn},
			Body: messagePage("Sign in", "Sign in to continue.")}, nil
	}
	in, err := p.incident(ctx, t)
	if err != nil {
		return Response{}, err
	}
	log := p.c.Log.With(zap.String("incident", in.ID), zap.String("token", Fingerprint(t)), zap.String("action", t.Action))
	if t.Action == Report {
		addr, err := p.recipient(ctx, t, key, req.Principal, false)
		if err != nil {
			return Response{}, err
		}
		links := notify.ActionLinks{}
		switch {
		case t.Channel == ChannelTeams:
			links, err = p.c.Issuer.Links(ctx, in, t.To)
		case addr != "":
			links, err = p.c.Issuer.Links(ctx, in, addr)
		}
		if err != nil {
			return Response{}, err
		}
		body, err := p.c.Report(in, links)
		if err != nil {
			return Response{}, fmt.Errorf("render report of %s: %w", in.ID, err)
		}
		log.Info("act: report shown")
		return Response{Status: http.StatusOK, Body: body}, nil
	}
	if err := p.notSpent(ctx, t); err != nil {
		return Response{}, err
	}
	if !offered(in, t.Action) {
		return Response{}, refuse(http.StatusConflict, "No longer applies", fmt.Sprintf("The incident is now %s (%s): %q is not a decision it allows.", in.State, incident.ModeLabel(in.Mode), Labels[t.Action]))
	}
	var ks string
	if p.c.KillSwitch != nil {
		on, why, err := p.c.KillSwitch(ctx)
		if err != nil {
			return Response{}, err
		}
		if on {
			ks = why
		}
	}
	log.Info("act: confirmation shown (nothing done)")
	return Response{Status: http.StatusOK, Body: confirmPage(confirmView{
		In: in, Report: notify.BuildReport(in), Action: t.Action, Token: req.Query["t"], Post: p.c.Issuer.PageURL(),
		Who: req.Principal, Enforce: p.c.Enforce, KillSwitch: ks, Expires: t.Expires,
	})}, nil
}

// offered reports whether the incident's state still allows the action.
func offered(in *incident.Incident, action string) bool {
	for _, a := range Offered(in) {
		if a == action {
			return true
		}
	}
	return false
}
