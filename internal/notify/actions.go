package notify

import (
	"context"

	"github.com/spresponder/spresponder/internal/incident"
)

// ActionLink is one decision a reader can take from the card or the email:
// a signed, single-use link to the responder's /api/act page. Following it
// only shows a confirmation page (mail scanners and link previews follow
// links); the decision is taken by a POST from that page.
type ActionLink struct {
	// Kind names the decision ("approve", "falsePositive", "rotated").
	Kind string
	// Label is the button's words ("Approve removal").
	Label string
	URL   string
}

// ActionLinks is what one reader of one incident is offered.
type ActionLinks struct {
	// Report is the incident's full report page, behind the Function
	// App's authentication; empty when no page is deployed.
	Report string
	// Buttons are the decisions the incident's state allows, in order.
	Buttons []ActionLink
}

// Actions issues the action links for one incident and one reader: a Teams
// target id or a mail address. Links are bound to that reader, so the card
// posted to a channel and each owner's mail carry different links. A nil
// Actions offers no links, and messages read as they did without them.
type Actions interface {
	Links(ctx context.Context, in *incident.Incident, recipient string) (ActionLinks, error)
}
