// Package graph is the one package that imports msgraph-sdk-go. It turns the
// SDK's request builders and models into the plain types of
// internal/directory and classifies every failure once, so the rest of the
// responder builds and tests without the SDK (a cold build of the SDK takes
// minutes). Only the request-builder packages in use are imported, never
// the root client, which would pull in every model Graph has.
//
// In production the client authenticates with the Function App's managed
// identity (a user-assigned one when its client id is configured, otherwise
// DefaultAzureCredential) and keeps the SDK's middleware: retry (honouring
// Retry-After on 429, 503 and 504), redirect, compression. Tests and the
// demo point the same client, middleware and all, at the simulated tenant.
package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/redact"
	"github.com/spresponder/spresponder/internal/retry"
)

// DefaultBaseURL is Microsoft Graph v1.0.
const DefaultBaseURL = "https://graph.microsoft.com/v1.0"

// Config says where Graph is and how to authenticate.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; tests give the simulated tenant.
	BaseURL string
	// ManagedIdentityClientID selects a user-assigned managed identity.
	ManagedIdentityClientID string
	// Credential overrides the managed identity (tests, the demo).
	Credential azcore.TokenCredential
	// RequestTimeout bounds one Graph call (each retry of the SDK included).
	RequestTimeout time.Duration
	// Budget paces the identity protection and Conditional Access requests
	// (budget.go); nil sends them unpaced.
	Budget *budget.Budget
}

// Client is the Graph adapter.
type Client struct {
	adapter abstractions.RequestAdapter
	base    string
	timeout time.Duration
	budget  *budget.Budget
}

// New builds the client.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("graph base URL %q is not a URL", base)
	}
	cred := cfg.Credential
	if cred == nil {
		if cfg.ManagedIdentityClientID != "" {
			cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(cfg.ManagedIdentityClientID)})
		} else {
			cred, err = azidentity.NewDefaultAzureCredential(nil)
		}
		if err != nil {
			return nil, fmt.Errorf("graph credential: %w", err)
		}
	}
	// The token provider sends no token to a host outside this list, so a
	// mistyped base URL leaks nothing: only Graph's own hosts, and the
	// simulated tenant on loopback when it is given its static token.
	hosts := []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
	if _, static := cfg.Credential.(StaticToken); static && u.Hostname() == "127.0.0.1" {
		hosts = append(hosts, "127.0.0.1")
	}
	if !slices.Contains(hosts, u.Hostname()) {
		return nil, fmt.Errorf("graph base URL host %q is not a Microsoft Graph host (the simulated tenant listens on 127.0.0.1 and takes a static token)", u.Hostname())
	}
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{"https://graph.microsoft.com/.default"}, hosts)
	if err != nil {
		return nil, fmt.Errorf("graph auth: %w", err)
	}
	// Explicit serializer registries instead of the SDK's process-wide
	// defaults: no global state.
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonParseNodeFactory()
	parse.ContentTypeAssociatedFactories["text/plain"] = textser.NewTextParseNodeFactory()
	ser := absser.NewSerializationWriterFactoryRegistry()
	ser.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonSerializationWriterFactory()
	ser.ContentTypeAssociatedFactories["text/plain"] = textser.NewTextSerializationWriterFactory()
	opts := core.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}
	mw := middleware(&opts)
	hc := core.GetDefaultClient(&opts, mw...)
	if cfg.Budget != nil {
		// Under the SDK's retry handler, so its retries wait their turn too.
		hc.Transport = khttp.NewCustomTransportWithParentTransport(budgetTransport{next: khttp.GetDefaultTransport(), budget: cfg.Budget}, mw...)
	}
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, parse, ser, hc)
	if err != nil {
		return nil, fmt.Errorf("graph adapter: %w", err)
	}
	adapter.SetBaseUrl(base)
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Client{adapter: adapter, base: base, timeout: timeout, budget: cfg.Budget}, nil
}

// middleware is the SDK's default pipeline (retry honouring Retry-After,
// redirect, telemetry, ...) without request compression: when the retry
// handler re-sends a POST whose body the compression handler already
// gzipped, the body arrives malformed (Graph answers 400, so a throttled
// removePassword would fail instead of being retried;
// TestThrottledRemovalRetriedOnce caught it against the simulated tenant).
// The responder's request bodies are a few hundred bytes, so compression
// gains nothing.
func middleware(opts *core.GraphClientOptions) []khttp.Middleware {
	var out []khttp.Middleware
	for _, m := range core.GetDefaultMiddlewaresWithOptions(opts) {
		if _, ok := m.(*khttp.CompressionHandler); ok {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (c *Client) params() map[string]string { return map[string]string{"baseurl": c.base} }

// call bounds one Graph call and classifies its error.
func (c *Client) call(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		return Classify(op, err)
	}
	return nil
}

// Error is a classified Graph failure. It carries Graph's code and message
// and the status, never a URL or a token.
type Error struct {
	Op      string
	Status  int
	Code    string
	Message string
	class   error
	retry   time.Duration
	// queued: the request never left, its turn in the budget was too far.
	queued bool
}

func (e *Error) Error() string {
	s := e.Op + ": "
	if e.Status != 0 {
		s += strconv.Itoa(e.Status) + " "
	}
	if e.Code != "" {
		s += e.Code + ": "
	}
	return s + e.Message
}

// Unwrap exposes the class (directory.ErrNotFound, ...) and, for 429, a
// *directory.ThrottledError.
func (e *Error) Unwrap() []error {
	// Retry-After means "wait" only on a throttle or an outage; on a
	// refusal it changes nothing.
	if e.Status == 429 || e.queued || (e.Status == 503 || e.Status == 504) && e.retry > 0 {
		return []error{e.class, &directory.ThrottledError{RetryAfter: e.retry}}
	}
	return []error{e.class}
}

// Classify maps an SDK error to the directory's failure classes. It is the
// only place that knows Graph's error codes.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, class := range []error{directory.ErrNotFound, directory.ErrForbidden, directory.ErrLicence, directory.ErrTransient, directory.ErrRejected} {
		if errors.Is(err, class) {
			return err // classified already (by this package, before any call)
		}
	}
	e := &Error{Op: op}
	var od *odataerrors.ODataError
	var api *abstractions.ApiError
	var queued *budget.ExhaustedError
	switch {
	case errors.As(err, &queued):
		// Not sent: the budget's queue is longer than the caller's deadline.
		e.Message, e.class, e.retry, e.queued = queued.Error(), directory.ErrTransient, queued.Wait, true
		return e
	case errors.As(err, &od):
		e.Status = od.GetStatusCode()
		// ODataError.Error dereferences the message without a nil check,
		// so read the fields defensively instead.
		if m := od.GetErrorEscaped(); m != nil {
			if m.GetCode() != nil {
				e.Code = *m.GetCode()
			}
			if m.GetMessage() != nil {
				e.Message = *m.GetMessage()
			}
		}
		e.retry = retryAfter(od.GetResponseHeaders())
	case errors.As(err, &api):
		e.Status = api.GetStatusCode()
		e.Message = "error status from Graph"
		e.retry = retryAfter(api.GetResponseHeaders())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.Message = "no answer in time: " + err.Error()
		e.class = directory.ErrTransient
		return e
	default:
		// Transport failures (refused, reset, dropped): the outcome of a
		// write is unknown, which the playbook resolves by re-reading.
		e.Message = redact.URLsIn(err.Error())
		e.class = directory.ErrTransient
		return e
	}
	if e.Message == "" {
		e.Message = "no message"
	}
	code := strings.ToLower(e.Code)
	switch {
	case e.Status == 404 || code == "request_resourcenotfound" || code == "resourcenotfound":
		e.class = directory.ErrNotFound
	case e.Status == 429 || e.Status >= 500 || e.Status == 408:
		e.class = directory.ErrTransient
	case licenceCodes[code]:
		// Only Graph's own codes for a missing licence, never its wording:
		// the risk APIs answer a bare 403 both for a missing licence and a
		// missing permission, so the playbook reads the tenant's
		// subscribed SKUs to tell them apart.
		e.class = directory.ErrLicence
	case e.Status == 403 || e.Status == 401:
		e.class = directory.ErrForbidden
	default:
		e.class = directory.ErrRejected
	}
	return e
}

// retryAfter reads Graph's Retry-After (seconds, or an HTTP date) with the
// one parser every retry shares.
// licenceCodes are the error codes Graph documents for a tenant without
// the licence an API needs (graph-write-facts §3: sign-ins without P1,
// PIM without P2).
var licenceCodes = map[string]bool{
	"authentication_requestfromnonpremiumtenantorb2ctenant": true,
	"aadpremiumlicenserequired":                             true,
}

func retryAfter(h *abstractions.ResponseHeaders) time.Duration {
	if h == nil {
		return 0
	}
	for _, v := range h.Get("Retry-After") {
		if d, ok := retry.ParseAfter(v, time.Now()); ok {
			return d
		}
	}
	return 0
}

// StaticToken is a credential that hands out a fixed token: for the
// simulated tenant, which does not check tokens.
type StaticToken string

// GetToken implements azcore.TokenCredential.
func (s StaticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
