package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/notify/teams"
)

// Workflows flows whose trigger requires sign-in ("any user in my tenant",
// "specific users") want an Entra bearer token with each post. Two ways to
// give one, both from the configuration:
//
//   - SPRESPONDER_TEAMS_BEARER_TOKEN: a token put in teams.Config.Headers,
//     which the Teams channel redacts from its errors like the URL;
//   - SPRESPONDER_TEAMS_TOKEN_AUDIENCE: a managed-identity token for that
//     audience, fetched per request by bearerTransport (azidentity caches
//     and refreshes it), so nothing that expires sits in an app setting.
//
// Neither is ever logged: the header is set on the outgoing request only.

// teamsAuth returns the Teams channel's configuration and options with the
// sign-in the settings ask for. cred is used only with an audience.
func teamsAuth(cfg config.Config, cred azcore.TokenCredential) (teams.Config, []teams.Option) {
	tc := teams.Config{WebhookURL: cfg.TeamsWebhook, AppWebhookURLs: cfg.TeamsAppWebhooks}
	var opts []teams.Option
	switch {
	case cfg.TeamsBearerToken != "":
		tc.Headers = map[string]string{"Authorization": "Bearer " + cfg.TeamsBearerToken}
	case cfg.TeamsTokenAudience != "" && cred != nil:
		opts = append(opts, teams.WithHTTPClient(&http.Client{
			Timeout:   30 * time.Second,
			Transport: &bearerTransport{base: http.DefaultTransport, cred: cred, scope: audienceScope(cfg.TeamsTokenAudience)},
		}))
	}
	return tc, opts
}

// audienceScope turns an audience (resource URI or application id) into
// the scope a token request names.
func audienceScope(aud string) string {
	if strings.HasSuffix(aud, "/.default") {
		return aud
	}
	return strings.TrimRight(aud, "/") + "/.default"
}

// bearerTransport adds a token for scope to every request.
type bearerTransport struct {
	base  http.RoundTripper
	cred  azcore.TokenCredential
	scope string
}

func (b *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.cred.GetToken(req.Context(), policy.TokenRequestOptions{Scopes: []string{b.scope}})
	if err != nil {
		// The credential's error names the identity and the scope, never
		// a token.
		return nil, fmt.Errorf("token for the Teams flow (%s): %w", b.scope, err)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := b.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 300 || tok.Token == "" {
		return resp, err
	}
	// The Teams channel quotes the start of a refusal's body in its error;
	// a flow that echoes the token back must not put it there. (A token
	// set in teams.Config.Headers is redacted by the channel itself; this
	// one is fetched here, so it is redacted here.)
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if rerr != nil {
		body = nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(bytes.ReplaceAll(body, []byte(tok.Token), []byte("[REDACTED]"))))
	resp.ContentLength = -1
	return resp, nil
}
