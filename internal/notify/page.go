package notify

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"

	"github.com/spresponder/spresponder/internal/incident"
)

//go:embed templates/page.html.tmpl
var pageTemplate string

// pageHTML is the incident's full report as a web page. html/template
// escapes every value by context (text, attributes, URLs, CSS), so
// incident-derived text cannot add markup, and a link that is not http(s)
// becomes "#ZgotmplZ" (checkLinks refuses those first).
var pageHTML = template.Must(template.New("page").Funcs(template.FuncMap{
	"fg": func(t Tone) template.CSS { return template.CSS(toneHex(t).fg) },
	"bg": func(t Tone) template.CSS { return template.CSS(toneHex(t).bg) },
}).Parse(pageTemplate))

// pageLimits: the page is the place for the whole story, but a browser on
// a phone should not get ten thousand lines; the rest is in incidents show.
var pageLimits = limits{items: 200, text: textMax}

// RenderReportPage returns the incident's full report as a plain,
// server-rendered HTML page: the long form the email shows, with the
// reader's decisions as plain links (each opens the act page, which only
// shows what would happen until the person confirms there). It has no
// JavaScript and loads nothing from elsewhere (a Content-Security-Policy
// says so to the browser as well), sends no Referer when a link is
// followed (the page's own URL may carry a token), and reads at phone
// width (390 px) as well as on a desktop. It is pure; serving it, behind
// the Function App's authentication, is the act handler's job.
func RenderReportPage(in *incident.Incident, links ActionLinks) ([]byte, error) {
	if err := checkLinks(links); err != nil {
		return nil, fmt.Errorf("render report page for %s: action links: %w", in.ID, err)
	}
	data := struct {
		R     Report
		Links ActionLinks
	}{R: buildReport(in, pageLimits.text).limit(pageLimits), Links: labelled(links)}
	var b bytes.Buffer
	if err := pageHTML.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render report page for %s: %w", in.ID, err)
	}
	return b.Bytes(), nil
}
