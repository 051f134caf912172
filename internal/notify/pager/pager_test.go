package pager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/notify/pager"
)

var update = flag.Bool("update", false, "rewrite testdata/notify/page.json.golden")

// TestPayloadGolden pins the pager JSON contract documented in the package
// doc.
func TestPayloadGolden(t *testing.T) {
	in := notifytest.ExampleIncident()
	in.NotifyOnly = "breaker: 10 removals in 5m"
	in.Actions[0].State, in.Actions[0].Reason = "skipped", "blast-radius breaker open"
	pages := notify.Pages(in, nil)
	if len(pages) != 1 || pages[0].Trigger != notify.TriggerBreaker {
		t.Fatalf("pages = %+v", pages)
	}
	got, err := json.MarshalIndent(pager.BuildPayload(in, pages[0], time.Date(2025, 3, 4, 10, 2, 12, 0, time.UTC)), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "..", "..", "testdata", "notify", "page.json.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("payload differs from %s; run go test ./internal/notify/pager -update and review:\n%s", path, got)
	}
}

func TestTargetsAndUnknownTarget(t *testing.T) {
	n, err := pager.New(pager.Config{URL: "https://pager.example/hook/tok-123456"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &notify.Delivery{Incident: notifytest.ExampleIncident(), Pages: []notify.Page{
		{Trigger: notify.TriggerUnknownOutcome, Severity: notify.SeverityCritical, Reason: "x"},
		{Trigger: notify.TriggerGraphFailing, Severity: notify.SeverityCritical, Reason: "y"},
	}}
	ts := n.Targets(d)
	if len(ts) != 2 || ts[0].ID != "oncall:unknownOutcome" || ts[1].ID != "oncall:graphFailing" {
		t.Errorf("targets = %+v", ts)
	}
	if err := n.Send(context.Background(), d, notify.Target{ID: "oncall:needsHuman"}); !notify.IsPermanent(err) {
		t.Errorf("Send to a trigger that did not fire = %v", err)
	}
	if _, err := pager.New(pager.Config{}, nil); err == nil {
		t.Error("accepted an empty URL")
	}
}
