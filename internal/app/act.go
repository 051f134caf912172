package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/act"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/teams"
	"github.com/spresponder/spresponder/internal/server"
)

// newIssuer builds the action-link issuer the settings ask for; nil when
// SPRESPONDER_ACT_URL is empty (no links). It implements notify.Actions:
// the card and the mail take their buttons from it.
func newIssuer(cfg config.Config, now func() time.Time) (*act.Issuer, error) {
	if cfg.Act.URL == "" {
		return nil, nil
	}
	iss, err := act.NewIssuer(act.Keys{Current: cfg.Act.Key, Previous: cfg.Act.Previous}, cfg.Act.URL, cfg.Act.TTL, now)
	if err != nil {
		return nil, fmt.Errorf("SPRESPONDER_ACT_URL / SPRESPONDER_ACT_KEY: %w", err)
	}
	return iss, nil
}

// actStore is the ledger as the act page uses it.
type actStore struct {
	ledger.Store
}

func (s actStore) Get(ctx context.Context, id string) (*incident.Incident, error) {
	return s.L.Get(ctx, id)
}

// newActFunction wires the act page to serve's system: the ledger, the
// Graph client, the playbook and the Teams channel for the follow-up.
// The full report page is notify.RenderReportPage's.
func newActFunction(cfg config.Config, sys *system, log *zap.Logger, now func() time.Time) (server.Actor, error) {
	iss, err := newIssuer(cfg, now)
	if err != nil || iss == nil {
		return nil, err
	}
	var follow act.FollowUp
	if cfg.TeamsWebhook != "" || len(cfg.TeamsAppWebhooks) > 0 {
		var cred azcore.TokenCredential
		if cfg.TeamsTokenAudience != "" {
			if cred, err = azureCredential(cfg.ManagedIdentity); err != nil {
				return nil, fmt.Errorf("SPRESPONDER_TEAMS_TOKEN_AUDIENCE: %w", err)
			}
		}
		tc, topts := teamsAuth(cfg, cred)
		t, err := teams.New(tc, log, append(topts, teams.WithClock(now))...)
		if err != nil {
			return nil, fmt.Errorf("SPRESPONDER_TEAMS_WEBHOOK: %w", err)
		}
		follow = t
	}
	page, err := act.New(act.Config{
		Issuer: iss, Keys: act.Keys{Current: cfg.Act.Key, Previous: cfg.Act.Previous},
		Store: actStore{sys.store}, Tokens: ledger.ActionTokens{L: sys.ledger, Now: now}, Dir: sys.graph, Runner: sys.responder,
		Group: cfg.Act.Group, Enforce: cfg.Enforce,
		KillSwitch: func(ctx context.Context) (bool, string, error) {
			if cfg.KillSwitch {
				return true, "SPRESPONDER_KILL_SWITCH", nil
			}
			return sys.store.KillSwitch(ctx)
		},
		FollowUp: follow, Report: notify.RenderReportPage, Log: log.With(zap.String("function", server.Act)), Now: now,
	})
	if err != nil {
		return nil, err
	}
	return actFunction{page: page, easyAuth: cfg.EasyAuth}, nil
}

// actFunction adapts the page to the server's Act function.
type actFunction struct {
	page     *act.Page
	easyAuth bool
}

func (f actFunction) Act(ctx context.Context, req server.ActRequest) server.ActResponse {
	r := act.Request{Method: req.Method, Query: req.Query, Headers: req.Headers, Body: req.Body, Client: clientAddress(req.Headers)}
	// A decision needs the person's object id (owners and groups are
	// matched by it): a principal without one is nobody.
	if p, ok := signedIn(req.Headers, f.easyAuth); ok && ids.IsGUID(p.id) {
		r.Principal = &act.Principal{ID: strings.ToLower(p.id), Name: p.name}
	} else if f.easyAuth {
		r.SignIn = "/.auth/login/aad?post_login_redirect_uri=" + url.QueryEscape("/api/act?"+url.Values{"t": {req.Query["t"]}}.Encode())
	}
	resp := f.page.Serve(ctx, r)
	return server.ActResponse{Status: resp.Status, Body: resp.Body, Headers: resp.Headers}
}
