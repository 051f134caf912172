package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// DefaultARMURL is Azure Resource Manager in the public cloud.
const DefaultARMURL = "https://management.azure.com"

// diagnosticSettingsPath lists Entra's own (tenant-level) diagnostic
// settings. The api-version is the one Entra's diagnostic settings are
// documented with; ARM answers {"value":[...]}.
const diagnosticSettingsPath = "/providers/microsoft.aadiam/diagnosticSettings?api-version=2017-04-01-preview"

// DiagnosticSettingsReader returns a function that lists Entra's
// diagnostic settings through ARM with a token for ARM from cred. base is
// the ARM endpoint (DefaultARMURL; tests give an httptest server). A 401
// or 403 is ErrCannotRead: reading them needs a role at
// /providers/Microsoft.aadiam that the responder usually does not hold,
// and that is "cannot check", not a failure.
func DiagnosticSettingsReader(base string, cred azcore.TokenCredential, hc *http.Client) func(ctx context.Context) ([]DiagnosticSetting, error) {
	base = strings.TrimRight(base, "/")
	if base == "" {
		base = DefaultARMURL
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return func(ctx context.Context) ([]DiagnosticSetting, error) {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{DefaultARMURL + "/.default"}})
		if err != nil {
			return nil, fmt.Errorf("token for Azure Resource Manager: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+diagnosticSettingsPath, nil)
		if err != nil {
			return nil, fmt.Errorf("ARM request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("list diagnostic settings: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			return nil, fmt.Errorf("list diagnostic settings: read: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("list diagnostic settings: HTTP %d: %w", resp.StatusCode, ErrCannotRead)
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("list diagnostic settings: HTTP %d", resp.StatusCode)
		}
		var out struct {
			Value []DiagnosticSetting `json:"value"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return nil, fmt.Errorf("list diagnostic settings: malformed answer: %w", err)
		}
		return out.Value, nil
	}
}
