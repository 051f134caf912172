package notify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
)

// FuzzCardLinks: whatever links the act side hands over and whatever the
// incident's names hold, the card either refuses the links with an error
// or is valid JSON under MaxCardBytes carrying every button's URL, and the
// email and the page render too.
func FuzzCardLinks(f *testing.F) {
	f.Add("Approve removal", "https://act.example/api/act?t=1", "https://act.example/api/act?r=1", "Terraform-Datadog-CLI", 3)
	f.Add("<b>x</b>", "javascript:alert(1)", "", "[x](https://evil.example)", 1)
	f.Add(strings.Repeat("Ω", 60), "http://127.0.0.1:7071/api/act?t=\"'<>", "https://a.example/"+strings.Repeat("%", 900), strings.Repeat(`\𝔘`, 400), 4)
	f.Fuzz(func(t *testing.T, label, url, report, name string, buttons int) {
		in := notifytest.ExampleIncident()
		in.App.DisplayName = name
		in.Credentials[0].DisplayName = name
		links := notify.ActionLinks{Report: report}
		for range buttons % 5 {
			links.Buttons = append(links.Buttons, notify.ActionLink{Kind: "k", Label: label, URL: url})
		}
		card, err := notify.RenderCardWith(in, links)
		if err != nil {
			if _, perr := notify.RenderReportPage(in, links); perr == nil {
				t.Fatalf("the card refused links the page took: %v", err)
			}
			return
		}
		if len(card) > notify.MaxCardBytes || !json.Valid(card) {
			t.Fatalf("card of %d bytes, valid JSON %t", len(card), json.Valid(card))
		}
		var c struct {
			Attachments []struct {
				Content struct {
					Body []struct {
						Actions []struct{ URL string } `json:"actions"`
					} `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(card, &c); err != nil {
			t.Fatal(err)
		}
		var urls []string
		for _, b := range c.Attachments[0].Content.Body {
			for _, a := range b.Actions {
				urls = append(urls, a.URL)
			}
		}
		for _, b := range links.Buttons {
			found := false
			for _, u := range urls {
				found = found || u == b.URL
			}
			if !found {
				t.Fatalf("button URL %q lost", b.URL)
			}
		}
		if _, err := notify.RenderEmailWith(in, in.Recipients[0], links); err != nil {
			t.Fatal(err)
		}
		if _, err := notify.RenderReportPage(in, links); err != nil {
			t.Fatal(err)
		}
	})
}
