package graph

import (
	"errors"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/spresponder/spresponder/internal/directory"
)

// recorded builds the SDK's error from a Graph error body as Graph sends it.
func recorded(t *testing.T, status int, body string, headers map[string]string) error {
	t.Helper()
	pn, err := jsonser.NewJsonParseNode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	v, err := pn.GetObjectValue(odataerrors.CreateODataErrorFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	od := v.(*odataerrors.ODataError)
	od.SetStatusCode(status)
	h := abstractions.NewResponseHeaders()
	for k, v := range headers {
		h.Add(k, v)
	}
	od.SetResponseHeaders(h)
	return od
}

// TestClassify is the one table of how Graph's answers map to the
// directory's failure classes, over error bodies as Graph sends them.
func TestClassify(t *testing.T) {
	body := func(code, msg string) string {
		return `{"error":{"code":"` + code + `","message":"` + msg + `","innerError":{"date":"2025-03-04T10:02:11","request-id":"94fb3b52-452a-4535-a601-69e0a90e3aa2"}}}`
	}
	future := time.Now().Add(41 * time.Second).UTC().Format(time.RFC1123)
	cases := []struct {
		name    string
		status  int
		body    string
		headers map[string]string
		class   error
		after   time.Duration // > 0: a ThrottledError with about this wait
	}{
		{"not found", 404, body("Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried reference-property objects are not present."), nil, directory.ErrNotFound, 0},
		{"not found by code on 400", 400, body("ResourceNotFound", "Resource not found for the segment 'servicePrincipalRiskDetections'."), nil, directory.ErrNotFound, 0},
		{"permission", 403, body("Authorization_RequestDenied", "Insufficient privileges to complete the operation."), nil, directory.ErrForbidden, 0},
		{"bare 403 of a risk API", 403, body("Forbidden", "You cannot perform the requested operation, required scopes are missing in the token."), nil, directory.ErrForbidden, 0},
		// The wording mentions a licence, but only a code says so: a
		// substring decided this before, and a permission error worded
		// alike would have passed for a licence.
		{"licence wording is not a licence", 403, body("Forbidden", "Your tenant is not licensed for this feature: Microsoft Entra Workload ID Premium is required."), nil, directory.ErrForbidden, 0},
		{"licence code, sign-ins", 403, body("Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license"), nil, directory.ErrLicence, 0},
		{"licence code, PIM", 400, body("AadPremiumLicenseRequired", "AAD Premium 2 license is required"), nil, directory.ErrLicence, 0},
		{"token", 401, body("InvalidAuthenticationToken", "Access token has expired or is not yet valid."), nil, directory.ErrForbidden, 0},
		{"throttled, seconds", 429, body("TooManyRequests", "Please retry again later."), map[string]string{"Retry-After": "10"}, directory.ErrTransient, 10 * time.Second},
		{"throttled, HTTP date", 429, body("TooManyRequests", "Please retry again later."), map[string]string{"Retry-After": future}, directory.ErrTransient, 41 * time.Second},
		{"throttled, no Retry-After (identity protection)", 429, body("TooManyRequests", "Too many requests."), nil, directory.ErrTransient, 0},
		{"outage", 503, body("serviceNotAvailable", "Service unavailable"), nil, directory.ErrTransient, 0},
		{"bad request", 400, body("Request_BadRequest", "Invalid property 'x'."), nil, directory.ErrRejected, 0},
		{"keyCredentials schema", 400, body("BadRequest", "Property keyCredentials in payload has a value that does not match schema."), nil, directory.ErrRejected, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Classify("op", recorded(t, tc.status, tc.body, tc.headers))
			if !errors.Is(err, tc.class) {
				t.Fatalf("%v: not %v", err, tc.class)
			}
			var th *directory.ThrottledError
			throttled := errors.As(err, &th)
			if tc.status == 429 && !throttled {
				t.Fatalf("429 not a ThrottledError: %v", err)
			}
			if tc.after > 0 && (th == nil || th.RetryAfter < tc.after-2*time.Second || th.RetryAfter > tc.after) {
				t.Fatalf("Retry-After %v, want about %v", th, tc.after)
			}
		})
	}
	if err := Classify("op", errors.New(`Get "https://graph.microsoft.com/v1.0/x?$select=secret": dial tcp: connection refused`)); !errors.Is(err, directory.ErrTransient) || errors.Is(err, directory.ErrRejected) {
		t.Fatalf("transport failure: %v", err)
	}
}
