package graph

import (
	"context"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/identityprotection"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/spresponder/spresponder/internal/directory"
)

// The filters of a reconcile round. The v1.0 docs say both lists support
// $filter; they name eq for riskLastUpdatedDateTime and give no list of
// operators for lastUpdatedDateTime. Range filters on these date fields
// are what the docs' own samples and other tools use for the risky-user
// twins (riskLastUpdatedDateTime gt ...): UNVERIFIED against a tenant
// with Workload Identities Premium. The simulated tenant accepts exactly
// these two (ge on these two fields) and nothing wider.
const (
	detectionsChangedFilter = "lastUpdatedDateTime ge "
	riskyChangedFilter      = "riskLastUpdatedDateTime ge "
)

// odataTime is a DateTimeOffset literal: unquoted, UTC, as OData wants it.
func odataTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// DetectionsChangedSince lists one page of the service-principal risk
// detections changed at or after since. next is "" for the first page and
// then the link the previous page returned; the returned link is "" after
// the last page. One page per call lets the caller pace the requests
// (identity protection allows about one request per second per tenant)
// and stop between pages.
func (c *Client) DetectionsChangedSince(ctx context.Context, since time.Time, next string) ([]directory.ListedDetection, string, error) {
	var out []directory.ListedDetection
	var link string
	err := c.limited(ctx, "list risk detections", func(ctx context.Context) error {
		b := identityprotection.NewIdentityProtectionRequestBuilderInternal(c.params(), c.adapter).ServicePrincipalRiskDetections()
		filter := detectionsChangedFilter + odataTime(since)
		cfg := &identityprotection.ServicePrincipalRiskDetectionsRequestBuilderGetRequestConfiguration{Headers: preferEnums(),
			QueryParameters: &identityprotection.ServicePrincipalRiskDetectionsRequestBuilderGetQueryParameters{Filter: &filter}}
		var resp models.ServicePrincipalRiskDetectionCollectionResponseable
		var err error
		if next == "" {
			resp, err = b.Get(ctx, cfg)
		} else {
			resp, err = b.WithUrl(next).Get(ctx, &identityprotection.ServicePrincipalRiskDetectionsRequestBuilderGetRequestConfiguration{Headers: preferEnums()})
		}
		if err != nil {
			return err
		}
		for _, m := range resp.GetValue() {
			d := directory.ListedDetection{
				Detection:   detectionOf(m),
				DisplayName: deref(m.GetServicePrincipalDisplayName()), IPAddress: deref(m.GetIpAddress()),
				ActivityTime: derefTime(m.GetActivityDateTime()), LastUpdated: derefTime(m.GetLastUpdatedDateTime()),
			}
			if v := m.GetActivity(); v != nil {
				d.Activity = v.String()
			}
			out = append(out, d)
		}
		link = deref(resp.GetOdataNextLink())
		return nil
	})
	return out, link, err
}

// RiskyServicePrincipalsChangedSince lists one page of the risky service
// principals whose risk changed at or after since (paging as
// DetectionsChangedSince).
func (c *Client) RiskyServicePrincipalsChangedSince(ctx context.Context, since time.Time, next string) ([]directory.ListedRiskyServicePrincipal, string, error) {
	var out []directory.ListedRiskyServicePrincipal
	var link string
	err := c.limited(ctx, "list risky service principals", func(ctx context.Context) error {
		b := identityprotection.NewIdentityProtectionRequestBuilderInternal(c.params(), c.adapter).RiskyServicePrincipals()
		filter := riskyChangedFilter + odataTime(since)
		cfg := &identityprotection.RiskyServicePrincipalsRequestBuilderGetRequestConfiguration{Headers: preferEnums(),
			QueryParameters: &identityprotection.RiskyServicePrincipalsRequestBuilderGetQueryParameters{Filter: &filter}}
		var resp models.RiskyServicePrincipalCollectionResponseable
		var err error
		if next == "" {
			resp, err = b.Get(ctx, cfg)
		} else {
			resp, err = b.WithUrl(next).Get(ctx, &identityprotection.RiskyServicePrincipalsRequestBuilderGetRequestConfiguration{Headers: preferEnums()})
		}
		if err != nil {
			return err
		}
		for _, m := range resp.GetValue() {
			out = append(out, directory.ListedRiskyServicePrincipal{
				RiskyServicePrincipal: riskyOf(m),
				DisplayName:           deref(m.GetDisplayName()), LastUpdated: derefTime(m.GetRiskLastUpdatedDateTime()),
			})
		}
		link = deref(resp.GetOdataNextLink())
		return nil
	})
	return out, link, err
}
