package graph

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/identityprotection"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/spresponder/spresponder/internal/directory"
)

// preferEnums asks Graph for evolvable enum members (such as
// adminConfirmedServicePrincipalCompromised) instead of unknownFutureValue.
func preferEnums() *abstractions.RequestHeaders {
	h := abstractions.NewRequestHeaders()
	h.Add("Prefer", "include-unknown-enum-members")
	return h
}

var credentialSelect = []string{"id", "appId", "displayName", "tags", "passwordCredentials", "keyCredentials"}

// Detection reads one servicePrincipalRiskDetection.
func (c *Client) Detection(ctx context.Context, id string) (directory.Detection, error) {
	return read(ctx, c, "get risk detection", func(ctx context.Context) (models.ServicePrincipalRiskDetectionable, error) {
		return c.identityProtection().ServicePrincipalRiskDetections().ByServicePrincipalRiskDetectionId(id).Get(ctx,
			&identityprotection.ServicePrincipalRiskDetectionsServicePrincipalRiskDetectionItemRequestBuilderGetRequestConfiguration{Headers: preferEnums()})
	}, detectionOf)
}

// RiskyServicePrincipal reads a service principal's risk.
func (c *Client) RiskyServicePrincipal(ctx context.Context, spID string) (directory.RiskyServicePrincipal, error) {
	return read(ctx, c, "get risky service principal", func(ctx context.Context) (models.RiskyServicePrincipalable, error) {
		return c.identityProtection().RiskyServicePrincipals().ByRiskyServicePrincipalId(spID).Get(ctx,
			&identityprotection.RiskyServicePrincipalsRiskyServicePrincipalItemRequestBuilderGetRequestConfiguration{Headers: preferEnums()})
	}, riskyOf)
}

// identityProtection is the SDK's builder for identity protection.
func (c *Client) identityProtection() *identityprotection.IdentityProtectionRequestBuilder {
	return identityprotection.NewIdentityProtectionRequestBuilderInternal(c.params(), c.adapter)
}

// read makes one identity protection read under limited (the tenant's
// budget) and maps its result with conv.
func read[M, T any](ctx context.Context, c *Client, op string, get func(context.Context) (M, error), conv func(M) T) (T, error) {
	var out T
	err := c.limited(ctx, op, func(ctx context.Context) error {
		m, err := get(ctx)
		if err != nil {
			return err
		}
		out = conv(m)
		return nil
	})
	return out, err
}

// detectionOf maps the SDK's detection to the directory's, once for the
// single read and the change list.
func detectionOf(m models.ServicePrincipalRiskDetectionable) directory.Detection {
	d := directory.Detection{
		ID: deref(m.GetId()), RiskEventType: deref(m.GetRiskEventType()), ServicePrincipalID: deref(m.GetServicePrincipalId()),
		AppID: deref(m.GetAppId()), KeyIDs: m.GetKeyIds(), Detected: derefTime(m.GetDetectedDateTime()),
	}
	if v := m.GetRiskLevel(); v != nil {
		d.RiskLevel = v.String()
	}
	if v := m.GetRiskState(); v != nil {
		d.RiskState = v.String()
	}
	if v := m.GetRiskDetail(); v != nil {
		d.RiskDetail = v.String()
	}
	return d
}

// riskyOf maps the SDK's risky service principal to the directory's.
func riskyOf(m models.RiskyServicePrincipalable) directory.RiskyServicePrincipal {
	r := directory.RiskyServicePrincipal{ID: deref(m.GetId()), AppID: deref(m.GetAppId())}
	if v := m.GetRiskLevel(); v != nil {
		r.RiskLevel = v.String()
	}
	if v := m.GetRiskState(); v != nil {
		r.RiskState = v.String()
	}
	if v := m.GetRiskDetail(); v != nil {
		r.RiskDetail = v.String()
	}
	return r
}

// Application reads an application by appId with its credentials
// (certificates with their public keys, needed to keep them in a PATCH).
func (c *Client) Application(ctx context.Context, appID string) (directory.Object, error) {
	var o directory.Object
	err := c.call(ctx, "get application", func(ctx context.Context) error {
		b := applicationswithappid.NewApplicationsWithAppIdRequestBuilderInternal(c.params(), c.adapter, &appID)
		m, err := b.Get(ctx, &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetQueryParameters{Select: credentialSelect},
		})
		if err != nil {
			return err
		}
		o = directory.Object{Kind: directory.Application, ID: deref(m.GetId()), AppID: deref(m.GetAppId()), DisplayName: deref(m.GetDisplayName()), Tags: m.GetTags(),
			Passwords: passwords(m.GetPasswordCredentials()), Keys: keys(m.GetKeyCredentials())}
		return nil
	})
	return o, err
}

// ServicePrincipal reads a service principal by appId with its credentials.
func (c *Client) ServicePrincipal(ctx context.Context, appID string) (directory.Object, error) {
	var o directory.Object
	err := c.call(ctx, "get service principal", func(ctx context.Context) error {
		b := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(c.params(), c.adapter, &appID)
		m, err := b.Get(ctx, &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: append(credentialSelect, "accountEnabled")},
		})
		if err != nil {
			return err
		}
		o = directory.Object{Kind: directory.ServicePrincipal, ID: deref(m.GetId()), AppID: deref(m.GetAppId()), DisplayName: deref(m.GetDisplayName()), Tags: m.GetTags(),
			AccountEnabled: m.GetAccountEnabled(), Passwords: passwords(m.GetPasswordCredentials()), Keys: keys(m.GetKeyCredentials())}
		return nil
	})
	return o, err
}

// RemovePassword removes one client secret by keyId.
func (c *Client) RemovePassword(ctx context.Context, kind directory.ObjectKind, objectID, keyID string) error {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return fmt.Errorf("%w: key id %q is not a GUID", directory.ErrRejected, keyID)
	}
	return c.call(ctx, "remove password", func(ctx context.Context) error {
		switch kind {
		case directory.Application:
			body := applications.NewItemRemovePasswordPostRequestBody()
			body.SetKeyId(&id)
			return applications.NewApplicationsRequestBuilderInternal(c.params(), c.adapter).ByApplicationId(objectID).RemovePassword().Post(ctx, body, nil)
		case directory.ServicePrincipal:
			body := serviceprincipals.NewItemRemovePasswordPostRequestBody()
			body.SetKeyId(&id)
			return serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(objectID).RemovePassword().Post(ctx, body, nil)
		}
		return fmt.Errorf("%w: unknown object kind %q", directory.ErrRejected, kind)
	})
}

// ReplaceKeyCredentials writes the object's certificates as exactly keep.
// Certificates cannot be removed with removeKey without the app's own
// private key, so the responder rewrites the collection without the bad
// one. New model objects are built for every kept certificate: the SDK's
// backing store would send only changed fields of objects read from Graph,
// and a certificate sent without its key is refused.
func (c *Client) ReplaceKeyCredentials(ctx context.Context, kind directory.ObjectKind, objectID string, keep []directory.KeyCredential) error {
	creds := make([]models.KeyCredentialable, 0, len(keep))
	for _, k := range keep {
		id, err := uuid.Parse(k.KeyID)
		if err != nil {
			return fmt.Errorf("%w: key id %q is not a GUID", directory.ErrRejected, k.KeyID)
		}
		m := models.NewKeyCredential()
		m.SetKeyId(&id)
		m.SetKey(k.Key)
		m.SetTypeEscaped(ptr(k.Type))
		m.SetUsage(ptr(k.Usage))
		if k.DisplayName != "" {
			m.SetDisplayName(ptr(k.DisplayName))
		}
		if len(k.CustomKeyIdentifierRaw) > 0 {
			m.SetCustomKeyIdentifier(k.CustomKeyIdentifierRaw)
		}
		if !k.Start.IsZero() {
			m.SetStartDateTime(ptr(k.Start))
		}
		if !k.End.IsZero() {
			m.SetEndDateTime(ptr(k.End))
		}
		creds = append(creds, m)
	}
	return c.call(ctx, "replace key credentials", func(ctx context.Context) error {
		switch kind {
		case directory.Application:
			body := models.NewApplication()
			body.SetKeyCredentials(creds)
			_, err := applications.NewApplicationsRequestBuilderInternal(c.params(), c.adapter).ByApplicationId(objectID).Patch(ctx, body, nil)
			return err
		case directory.ServicePrincipal:
			body := models.NewServicePrincipal()
			body.SetKeyCredentials(creds)
			_, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(objectID).Patch(ctx, body, nil)
			return err
		}
		return fmt.Errorf("%w: unknown object kind %q", directory.ErrRejected, kind)
	})
}

// ConfirmCompromised sets the service principal's risk to high.
func (c *Client) ConfirmCompromised(ctx context.Context, spID string) error {
	return c.limited(ctx, "confirm compromised", func(ctx context.Context) error {
		body := identityprotection.NewRiskyServicePrincipalsConfirmCompromisedPostRequestBody()
		body.SetServicePrincipalIds([]string{spID})
		return identityprotection.NewIdentityProtectionRequestBuilderInternal(c.params(), c.adapter).RiskyServicePrincipals().ConfirmCompromised().Post(ctx, body, nil)
	})
}

// DisableServicePrincipal sets accountEnabled to false.
func (c *Client) DisableServicePrincipal(ctx context.Context, spID string) error {
	return c.call(ctx, "disable service principal", func(ctx context.Context) error {
		body := models.NewServicePrincipal()
		body.SetAccountEnabled(ptr(false))
		_, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params(), c.adapter).ByServicePrincipalId(spID).Patch(ctx, body, nil)
		return err
	})
}

func passwords(in []models.PasswordCredentialable) []directory.PasswordCredential {
	out := make([]directory.PasswordCredential, 0, len(in))
	for _, p := range in {
		out = append(out, directory.PasswordCredential{
			KeyID: uuidString(p.GetKeyId()), DisplayName: deref(p.GetDisplayName()), Hint: deref(p.GetHint()),
			Start: derefTime(p.GetStartDateTime()), End: derefTime(p.GetEndDateTime()),
		})
	}
	return out
}

func keys(in []models.KeyCredentialable) []directory.KeyCredential {
	out := make([]directory.KeyCredential, 0, len(in))
	for _, k := range in {
		kc := directory.KeyCredential{
			KeyID: uuidString(k.GetKeyId()), DisplayName: deref(k.GetDisplayName()), Type: deref(k.GetTypeEscaped()), Usage: deref(k.GetUsage()),
			Key: k.GetKey(), Start: derefTime(k.GetStartDateTime()), End: derefTime(k.GetEndDateTime()),
		}
		// customKeyIdentifier is Edm.Binary: the SDK decodes the base64
		// text Graph sends. Graph's text for a certificate is its hex
		// thumbprint, so encoding the bytes again gives the thumbprint back.
		if b := k.GetCustomKeyIdentifier(); len(b) > 0 {
			kc.CustomKeyIdentifierRaw = b
			kc.CustomKeyIdentifier = base64.StdEncoding.EncodeToString(b)
		}
		out = append(out, kc)
	}
	return out
}

func uuidString(u *uuid.UUID) string {
	if u == nil {
		return ""
	}
	return u.String()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefTime(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}

func ptr[T any](v T) *T { return &v }
