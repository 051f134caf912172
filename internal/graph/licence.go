package graph

import (
	"context"

	"github.com/microsoftgraph/msgraph-sdk-go/subscribedskus"

	"github.com/spresponder/spresponder/internal/directory"
)

// SubscribedSkus lists the tenant's SKUs with their service plans
// (permission Organization.Read.All or Directory.Read.All).
func (c *Client) SubscribedSkus(ctx context.Context) ([]directory.SubscribedSku, error) {
	var out []directory.SubscribedSku
	err := c.call(ctx, "list subscribed skus", func(ctx context.Context) error {
		res, err := subscribedskus.NewSubscribedSkusRequestBuilderInternal(c.params(), c.adapter).Get(ctx, &subscribedskus.SubscribedSkusRequestBuilderGetRequestConfiguration{
			QueryParameters: &subscribedskus.SubscribedSkusRequestBuilderGetQueryParameters{Select: []string{"skuPartNumber", "capabilityStatus", "servicePlans"}},
		})
		if err != nil {
			return err
		}
		out = out[:0]
		for _, s := range res.GetValue() {
			sku := directory.SubscribedSku{SkuPartNumber: deref(s.GetSkuPartNumber()), CapabilityStatus: deref(s.GetCapabilityStatus())}
			for _, p := range s.GetServicePlans() {
				sp := directory.ServicePlan{Name: deref(p.GetServicePlanName()), ProvisioningStatus: deref(p.GetProvisioningStatus())}
				if id := p.GetServicePlanId(); id != nil {
					sp.ID = id.String()
				}
				sku.ServicePlans = append(sku.ServicePlans, sp)
			}
			out = append(out, sku)
		}
		return nil
	})
	return out, err
}
