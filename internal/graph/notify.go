package graph

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/notify"
)

// ApplicationOwners lists the owners of the application with appId (the
// notifier's Owners interface). A missing application has no owners.
func (c *Client) ApplicationOwners(ctx context.Context, appID string) ([]notify.Owner, error) {
	if _, err := uuid.Parse(appID); err != nil {
		return nil, notify.Permanent(fmt.Errorf("list application owners: appId %q is not a GUID", appID))
	}
	// The appId form of the owners route has no builder of its own.
	return c.listOwners(ctx, "list application owners", "/applications(appId='"+appID+"')/owners")
}

// ServicePrincipalOwners lists the owners of a service principal.
func (c *Client) ServicePrincipalOwners(ctx context.Context, spID string) ([]notify.Owner, error) {
	if _, err := uuid.Parse(spID); err != nil {
		return nil, notify.Permanent(fmt.Errorf("list service principal owners: id %q is not a GUID", spID))
	}
	return c.listOwners(ctx, "list service principal owners", "/servicePrincipals/"+spID+"/owners")
}

// listOwners reads every page of an owners collection. Both owners routes
// answer the same directoryObject collection, so one builder serves both.
func (c *Client) listOwners(ctx context.Context, op, path string) ([]notify.Owner, error) {
	var out []notify.Owner
	err := c.call(ctx, op, func(ctx context.Context) error {
		b := applications.NewItemOwnersRequestBuilder(c.base+path, c.adapter)
		resp, err := b.Get(ctx, nil)
		items, err := allPages(resp, err, func(next string) (models.DirectoryObjectCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, nil)
		})
		out = owners(items)
		return err
	})
	return out, notifyErr(err)
}

func owners(items []models.DirectoryObjectable) []notify.Owner {
	var out []notify.Owner
	for _, o := range items {
		ow := notify.Owner{ID: deref(o.GetId())}
		switch v := o.(type) {
		case models.Userable:
			ow.Type, ow.DisplayName, ow.Mail, ow.UserPrincipalName = notify.OwnerUser, deref(v.GetDisplayName()), deref(v.GetMail()), deref(v.GetUserPrincipalName())
		case models.ServicePrincipalable:
			ow.Type, ow.DisplayName = notify.OwnerServicePrincipal, deref(v.GetDisplayName())
		case models.Groupable:
			ow.Type, ow.DisplayName, ow.Mail = notify.OwnerGroup, deref(v.GetDisplayName()), deref(v.GetMail())
		default:
			ow.Type, ow.DisplayName = notify.OwnerType(deref(o.GetOdataType())), ""
		}
		out = append(out, ow)
	}
	return out
}

// notifyErr: Graph's errors carry the directory's classes already, which
// the notifier reads; the one thing to decide here is that a missing object
// has no owners.
func notifyErr(err error) error {
	if errors.Is(err, directory.ErrNotFound) {
		return nil
	}
	return err
}

// SendMail sends msg from the mailbox from through Graph's MIME form of
// sendMail (a base64 MIME message as text/plain): the only form that
// carries an HTML body and its plain-text alternative together.
func (c *Client) SendMail(ctx context.Context, from string, msg notify.Message) error {
	var rb [12]byte
	_, _ = rand.Read(rb[:])
	raw, err := msg.MIME(from, time.Now(), "spresponder-"+hex.EncodeToString(rb[:]))
	if err != nil {
		return notify.Permanent(fmt.Errorf("build MIME message: %w", err))
	}
	body := base64.StdEncoding.EncodeToString(raw)
	err = c.call(ctx, "send mail", func(ctx context.Context) error {
		ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.POST,
			"{+baseurl}/users/{user%2Did}/sendMail", map[string]string{"baseurl": c.base, "user%2Did": from})
		ri.Headers.TryAdd("Accept", "application/json")
		if err := ri.SetContentFromScalar(ctx, c.adapter, "text/plain", &body); err != nil {
			return notify.Permanent(fmt.Errorf("encode MIME body: %w", err))
		}
		return c.adapter.SendNoContent(ctx, ri, abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	})
	if errors.Is(err, directory.ErrNotFound) {
		// An unknown mailbox is a configuration error, not "no owners".
		return notify.Permanent(err)
	}
	return notifyErr(err)
}
