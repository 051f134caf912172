package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/pager"
)

// memStore is a one-incident ledger for the phone's records.
type memStore struct{ in *incident.Incident }

func (m *memStore) Mutate(_ context.Context, _ string, fn func(*incident.Incident) error) (*incident.Incident, error) {
	return m.in, fn(m.in)
}

// TestPhoneCallsOnceWithTheReach: the phone webhook gets the page's JSON
// with trigger "reach", critical, and the reason; the call is recorded on
// the incident and not made twice; the webhook's URL is never recorded.
func TestPhoneCallsOnceWithTheReach(t *testing.T) {
	r := newRig(t, notify.Config{})
	url := r.page.srv.URL + "/phone/token-0123456789"
	pg, err := pager.New(pager.Config{URL: url}, r.log, pager.WithHTTPClient(r.page.srv.Client()), pager.WithClock(r.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	in := fresh()
	st := &memStore{in: in}
	phone := notify.NewPhone(pg, st, r.log, r.clock.Now)
	reason := "reach critical: This secret could isolate any device in Defender for Endpoint (Machine.Isolate on WindowsDefenderATP, critical)."
	for range 2 {
		if err := phone.Page(t.Context(), in, reason); err != nil {
			t.Fatal(err)
		}
	}
	if r.page.hits() != 1 {
		t.Fatalf("phoned %d times, want once", r.page.hits())
	}
	var body struct {
		Trigger, Severity, Reason string
	}
	if err := json.Unmarshal(r.page.bodies[0], &body); err != nil || body.Trigger != "reach" || body.Severity != "critical" || body.Reason != reason {
		t.Errorf("body %s (%v)", r.page.bodies[0], err)
	}
	n := in.Notification(notify.ChannelPhone, notify.PageTarget(notify.TriggerReach))
	if n == nil || n.State != incident.Done {
		t.Fatalf("notifications %+v", in.Notified)
	}
	b, _ := json.Marshal(in)
	if strings.Contains(string(b), "token-0123456789") {
		t.Error("the phone webhook's URL reached the incident")
	}
}

// TestStillWorksPagesCritical: an incident whose removed key signed in
// successfully after its removal pages with its own trigger, critical,
// whatever the removal's state says; with the same words the playbook
// pages with, so the page goes out once.
func TestStillWorksPagesCritical(t *testing.T) {
	in := fresh()
	s := incident.KeySignIn{ID: "s9", KeyID: "dbcd79c0-c3ea-46b9-9604-ff40d43b8618", Success: true, IPAddress: "203.0.113.9", AfterRemoval: true}
	in.Use = &incident.Use{StillWorks: &s}
	pages := notify.Pages(in, nil)
	if len(pages) != 1 || pages[0].Trigger != notify.TriggerStillWorks || pages[0].Severity != notify.SeverityCritical || pages[0].Reason != incident.StillWorksReason(s) {
		t.Fatalf("pages %+v", pages)
	}
}
