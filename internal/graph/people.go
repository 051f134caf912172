package graph

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/spresponder/spresponder/internal/directory"
)

// The reads below serve the act page (internal/act): who a signed-in
// approver is in the directory, and whether they are in the configured
// security group. Raw request information rather than the SDK's users
// builders: the users package is the SDK's largest and would add minutes
// to every cold build for two calls. Permissions: User.Read.All and
// GroupMember.Read.All.

// User reads a user's object id, mail and user principal name.
func (c *Client) User(ctx context.Context, id string) (directory.Owner, error) {
	if _, err := uuid.Parse(id); err != nil {
		return directory.Owner{}, fmt.Errorf("%w: user id %q is not a GUID", directory.ErrRejected, id)
	}
	var out directory.Owner
	err := c.call(ctx, "get user", func(ctx context.Context) error {
		ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.GET,
			"{+baseurl}/users/{user%2Did}{?%24select}", map[string]string{"baseurl": c.base, "user%2Did": id})
		ri.QueryParameters["%24select"] = "id,displayName,mail,userPrincipalName"
		ri.Headers.TryAdd("Accept", "application/json")
		res, err := c.adapter.Send(ctx, ri, models.CreateUserFromDiscriminatorValue, abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
		if err != nil {
			return err
		}
		u, ok := res.(models.Userable)
		if !ok || u == nil {
			return fmt.Errorf("%w: get user: not a user in the answer", directory.ErrRejected)
		}
		out = directory.Owner{ID: deref(u.GetId()), Type: "user", DisplayName: deref(u.GetDisplayName()), Mail: deref(u.GetMail()), UserPrincipalName: deref(u.GetUserPrincipalName())}
		return nil
	})
	return out, err
}

// MemberGroups returns which of groupIDs (at most 20) the user is a member
// of, directly or through nested groups (checkMemberGroups).
func (c *Client) MemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return nil, fmt.Errorf("%w: user id %q is not a GUID", directory.ErrRejected, userID)
	}
	if len(groupIDs) == 0 || len(groupIDs) > 20 {
		return nil, fmt.Errorf("%w: checkMemberGroups takes 1 to 20 groups, not %d", directory.ErrRejected, len(groupIDs))
	}
	for _, g := range groupIDs {
		if _, err := uuid.Parse(g); err != nil {
			return nil, fmt.Errorf("%w: group id %q is not a GUID", directory.ErrRejected, g)
		}
	}
	body, err := json.Marshal(map[string][]string{"groupIds": groupIDs})
	if err != nil {
		return nil, err
	}
	var out []string
	err = c.call(ctx, "check member groups", func(ctx context.Context) error {
		ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.POST,
			"{+baseurl}/users/{user%2Did}/checkMemberGroups", map[string]string{"baseurl": c.base, "user%2Did": userID})
		ri.Headers.TryAdd("Accept", "application/json")
		ri.SetStreamContentAndContentType(body, "application/json")
		raw, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
		if err != nil {
			return err
		}
		b, _ := raw.([]byte)
		var ans struct {
			Value []string `json:"value"`
		}
		if err := json.Unmarshal(b, &ans); err != nil {
			return fmt.Errorf("%w: checkMemberGroups answer: %v", directory.ErrRejected, err)
		}
		out = ans.Value
		return nil
	})
	return out, err
}
