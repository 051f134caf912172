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
	b := c.identityProtection().ServicePrincipalRiskDetections()
	filter := detectionsChangedFilter + odataTime(since)
	return listPage(ctx, c, "list risk detections", next,
		func(ctx context.Context) (models.ServicePrincipalRiskDetectionCollectionResponseable, error) {
			return b.Get(ctx, &identityprotection.ServicePrincipalRiskDetectionsRequestBuilderGetRequestConfiguration{Headers: preferEnums(),
				QueryParameters: &identityprotection.ServicePrincipalRiskDetectionsRequestBuilderGetQueryParameters{Filter: &filter}})
		},
		func(ctx context.Context, link string) (models.ServicePrincipalRiskDetectionCollectionResponseable, error) {
			return b.WithUrl(link).Get(ctx, &identityprotection.ServicePrincipalRiskDetectionsRequestBuilderGetRequestConfiguration{Headers: preferEnums()})
		},
		func(m models.ServicePrincipalRiskDetectionable) directory.ListedDetection {
			d := directory.ListedDetection{
				Detection:   detectionOf(m),
				DisplayName: deref(m.GetServicePrincipalDisplayName()), IPAddress: deref(m.GetIpAddress()),
				ActivityTime: derefTime(m.GetActivityDateTime()), LastUpdated: derefTime(m.GetLastUpdatedDateTime()),
			}
			if v := m.GetActivity(); v != nil {
				d.Activity = v.String()
			}
			return d
		})
}

// RiskyServicePrincipalsChangedSince lists one page of the risky service
// principals whose risk changed at or after since (paging as
// DetectionsChangedSince).
func (c *Client) RiskyServicePrincipalsChangedSince(ctx context.Context, since time.Time, next string) ([]directory.ListedRiskyServicePrincipal, string, error) {
	b := c.identityProtection().RiskyServicePrincipals()
	filter := riskyChangedFilter + odataTime(since)
	return listPage(ctx, c, "list risky service principals", next,
		func(ctx context.Context) (models.RiskyServicePrincipalCollectionResponseable, error) {
			return b.Get(ctx, &identityprotection.RiskyServicePrincipalsRequestBuilderGetRequestConfiguration{Headers: preferEnums(),
				QueryParameters: &identityprotection.RiskyServicePrincipalsRequestBuilderGetQueryParameters{Filter: &filter}})
		},
		func(ctx context.Context, link string) (models.RiskyServicePrincipalCollectionResponseable, error) {
			return b.WithUrl(link).Get(ctx, &identityprotection.RiskyServicePrincipalsRequestBuilderGetRequestConfiguration{Headers: preferEnums()})
		},
		func(m models.RiskyServicePrincipalable) directory.ListedRiskyServicePrincipal {
			return directory.ListedRiskyServicePrincipal{
				RiskyServicePrincipal: riskyOf(m),
				DisplayName:           deref(m.GetDisplayName()), LastUpdated: derefTime(m.GetRiskLastUpdatedDateTime()),
			}
		})
}

// listPage reads one page of a collection under call: the first (next
// "") with first, a later one by the link the previous page returned. It
// returns the page's items mapped with conv and the next page's link, ""
// after the last.
func listPage[M, T any, P page[M]](ctx context.Context, c *Client, op, next string,
	first func(context.Context) (P, error), later func(ctx context.Context, link string) (P, error), conv func(M) T) ([]T, string, error) {
	var out []T
	var link string
	err := c.limited(ctx, op, func(ctx context.Context) error {
		var resp P
		var err error
		if next == "" {
			resp, err = first(ctx)
		} else {
			resp, err = later(ctx, next)
		}
		if err != nil {
			return err
		}
		for _, m := range resp.GetValue() {
			out = append(out, conv(m))
		}
		link = deref(resp.GetOdataNextLink())
		return nil
	})
	return out, link, err
}
