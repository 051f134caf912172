package notify_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// reachIncident is the example incident with a critical reach, as the
// playbook records it after containment, one read refused.
func reachIncident() *incident.Incident {
	in := notifytest.ExampleIncident()
	in.Reach = &incident.Reach{
		Tier: incident.TierCritical,
		Items: []incident.ReachItem{
			{Kind: incident.ReachApplication, Name: "Machine.Read.All", Resource: "WindowsDefenderATP", Tier: incident.TierNormal, Could: "read device information", Why: "table: EO 1"},
			{Kind: incident.ReachApplication, Name: "Application.ReadWrite.All", Resource: "Microsoft Graph", Tier: incident.TierCritical,
				Could: "add a secret to any app and act as it, so grant itself any permission", Why: "table: AZT 0"},
			{Kind: incident.ReachApplication, Name: "Machine.Isolate", Resource: "WindowsDefenderATP", Tier: incident.TierCritical,
				Could: "isolate any device in Defender for Endpoint, or lift an isolation", Why: "table: EO 0"},
		},
		Unknown:  []string{"reach unknown: permission Directory.Read.All missing (delegated grants)"},
		Requests: 5,
	}
	return in
}

func TestCardAndEmailLeadWithTheReach(t *testing.T) {
	in := reachIncident()
	card, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "card-reach.json.golden", indentJSON(t, card))
	e, err := notify.RenderEmail(in, in.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "email-reach.html.golden", []byte(e.HTML))
	golden(t, "email-reach.txt.golden", []byte(e.Text))

	// The reach comes before the story: the first lines after the header.
	var msg struct {
		Attachments []struct {
			Content struct {
				Body []json.RawMessage `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(card, &msg); err != nil || len(msg.Attachments) != 1 {
		t.Fatal(err)
	}
	c := msg.Attachments[0].Content
	// The compact card has the reach in a line: the most severe item,
	// and how many more the full report has.
	if len(c.Body) < 3 || !strings.Contains(string(c.Body[1]), "What this credential could do: critical") ||
		!strings.Contains(string(c.Body[2]), "This client secret could add a secret to any app and act as it") ||
		!strings.Contains(string(c.Body[2]), "(3 more in the full report)") {
		t.Errorf("card body does not lead with the reach: %s / %s / %s", c.Body[1], c.Body[2], c.Body[3])
	}
	lead := strings.Index(e.Text, "could add a secret to any app")
	story := strings.Index(e.Text, "WHAT HAPPENED")
	if lead < 0 || story < 0 || lead > story || !strings.Contains(e.Text, "Directory.Read.All missing") {
		t.Errorf("email text does not lead with the reach:\n%s", e.Text)
	}
}

// However much the service principal holds, the card stays within the
// size Teams accepts: the reach shows a few lines and says how many more.
func TestHugeReachKeepsTheCardSmall(t *testing.T) {
	in := notifytest.HugeIncident(500)
	in.Reach = &incident.Reach{Tier: incident.TierCritical}
	for i := range 400 {
		in.Reach.Items = append(in.Reach.Items, incident.ReachItem{Kind: incident.ReachApplication, Name: fmt.Sprintf("Perm%03d.ReadWrite.All", i),
			Resource: strings.Repeat("R", 200), Tier: incident.TierCritical, Could: strings.Repeat("do something dreadful ", 20)})
		in.Reach.Unknown = append(in.Reach.Unknown, strings.Repeat("reach unknown: x ", 30))
	}
	card, err := notify.RenderCard(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(card) >= notify.MaxCardBytes {
		t.Errorf("card is %d bytes, limit %d", len(card), notify.MaxCardBytes)
	}
	if !strings.Contains(string(card), "(799 more in the full report)") {
		t.Error("the card does not say how many reach items it left out")
	}
}
