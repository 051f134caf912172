package notify_test

import (
	"testing"

	"github.com/spresponder/spresponder/internal/notify"
)

// TestOwnersOnlyLeavesTheSecurityContactOut: an incident the rules file's
// reach section narrowed to the owners (notify: owners, a normal reach)
// mails the owners and not the security contact...
func TestOwnersOnlyLeavesTheSecurityContactOut(t *testing.T) {
	r := newRig(t, notify.Config{})
	in := fresh()
	in.OwnersOnly = true
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if in.Notification(notify.ChannelEmail, "alexw@contoso.com") == nil {
		t.Error("the owner was not mailed")
	}
	if in.Notification(notify.ChannelEmail, "secops@contoso.com") != nil {
		t.Error("the security contact was copied on an owners-only incident")
	}
	for _, rc := range in.Recipients {
		if rc.Source == notify.SourceFallback {
			t.Errorf("recipient %+v", rc)
		}
	}
}

// ...unless no owner can be reached: then the security contact is told
// (an incident must reach someone).
func TestOwnersOnlyWithoutOwnersStillTellsSecurity(t *testing.T) {
	r := newRig(t, notify.Config{})
	r.owners.App, r.owners.SP = nil, nil
	in := fresh()
	in.OwnersOnly = true
	if err := r.n.Notify(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if in.Notification(notify.ChannelEmail, "secops@contoso.com") == nil || !in.Orphaned {
		t.Errorf("an orphaned owners-only incident reached nobody: %+v", in.Notified)
	}
}
