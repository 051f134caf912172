package email_test

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/email"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// update is accepted, and unused here, so that
// "go test ./internal/notify/... -update" works across the whole tree.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")

func TestTargetsAreReachableRecipients(t *testing.T) {
	m := &notifytest.Mailer{}
	n, err := email.New(email.Config{From: "secops-noreply@contoso.com"}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &notify.Delivery{Incident: notifytest.ExampleIncident()}
	var got []string
	for _, t := range n.Targets(d) {
		got = append(got, t.ID)
	}
	// deploy-bot has no address and is not a target.
	if strings.Join(got, ",") != "alexw@contoso.com,secops@contoso.com" {
		t.Errorf("targets = %v", got)
	}
}

func TestSend(t *testing.T) {
	m := &notifytest.Mailer{}
	n, _ := email.New(email.Config{From: "secops-noreply@contoso.com"}, m, nil)
	d := &notify.Delivery{Incident: notifytest.ExampleIncident()}
	if err := n.Send(context.Background(), d, notify.Target{ID: "secops@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if len(m.Sent) != 1 {
		t.Fatalf("sent %d", len(m.Sent))
	}
	msg := m.Sent[0].Msg
	if m.Sent[0].From != "secops-noreply@contoso.com" || strings.Join(msg.To, ",") != "secops@contoso.com" || msg.Importance != "high" {
		t.Errorf("message = %+v", m.Sent[0])
	}
	if !strings.Contains(msg.Text, "You receive this as: security team") || !strings.Contains(msg.HTML, "<!DOCTYPE html>") {
		t.Error("bodies are not the rendered email for this recipient")
	}

	if err := n.Send(context.Background(), d, notify.Target{ID: "nobody@contoso.com"}); !notify.IsPermanent(err) {
		t.Errorf("unknown recipient = %v, want permanent", err)
	}

	m.Err = notify.Permanent(errors.New("403 ErrorAccessDenied"))
	err := n.Send(context.Background(), d, notify.Target{ID: "alexw@contoso.com"})
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "to alexw@contoso.com: 403 ErrorAccessDenied") {
		t.Errorf("Send = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := email.New(email.Config{}, &notifytest.Mailer{}, nil); err == nil {
		t.Error("accepted an empty from")
	}
	if _, err := email.New(email.Config{From: "a@contoso.com"}, nil, nil); err == nil {
		t.Error("accepted no mailer")
	}
}
