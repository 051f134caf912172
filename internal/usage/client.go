package usage

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/query/azlogs"
)

// DefaultLogAnalyticsURL is the public cloud's query endpoint.
const DefaultLogAnalyticsURL = "https://api.loganalytics.io/v1"

// NewLogAnalyticsClient builds the azlogs client for endpoint (the query
// API's base URL, ".../v1") with the managed identity's credential. An
// http:// endpoint on loopback is the simulated workspace
// (internal/lasim): azcore sends bearer tokens over TLS only, so the
// client is given an https URL and a transport that takes requests to
// that loopback host over plain HTTP. Nothing else may be plain HTTP.
func NewLogAnalyticsClient(endpoint string, cred azcore.TokenCredential) (*azlogs.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("log analytics endpoint is not an http(s) URL")
	}
	opts := &azlogs.ClientOptions{}
	if u.Scheme == "http" {
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("log analytics endpoint %s://%s: plain http is allowed on loopback only", u.Scheme, u.Host)
		}
		u.Scheme = "https"
		opts.Transport = &http.Client{Transport: loopbackHTTP{host: u.Host}}
	}
	base := strings.TrimSuffix(u.String(), "/")
	opts.Cloud = cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		azlogs.ServiceName: {Audience: "https://api.loganalytics.io", Endpoint: base},
	}}
	c, err := azlogs.NewClient(cred, opts)
	if err != nil {
		return nil, fmt.Errorf("log analytics client: %w", err)
	}
	return c, nil
}

// loopbackHTTP sends the requests for one loopback host over plain HTTP.
type loopbackHTTP struct{ host string }

func (t loopbackHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != t.host {
		return nil, fmt.Errorf("log analytics transport: refusing a request to another host than the simulated workspace")
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = "http"
	return http.DefaultTransport.RoundTrip(r2)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StaticToken is a credential that always gives the same token: the
// simulated workspace on loopback checks only that one is sent.
type StaticToken string

// GetToken returns the token, valid for an hour.
func (t StaticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
