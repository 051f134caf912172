package act

import (
	"bytes"
	"html/template"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
)

// The pages are plain server-rendered HTML: no script (the CSP forbids
// any), one column that reads on a phone, html/template escaping every
// value that came from the incident.

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · spresponder</title>
<style>
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;color:#1b1b1b;background:#f5f5f5}
main{max-width:40rem;margin:0 auto;background:#fff;padding:1rem 1.25rem;border-radius:6px;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin:.2rem 0 .6rem} h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:.4rem 0} dt{color:#555} dd{margin:0;overflow-wrap:anywhere}
.warn{background:#fff4ce;padding:.6rem .8rem;border-radius:4px} .bad{background:#fde7e9;padding:.6rem .8rem;border-radius:4px}
.good{background:#dff6dd;padding:.6rem .8rem;border-radius:4px}
button{font-size:1.05rem;padding:.7rem 1.2rem;border:0;border-radius:4px;background:#0f6cbd;color:#fff;width:100%;margin-top:.8rem}
small{color:#555} ul{padding-left:1.2rem}
@media (max-width:32rem){dl{grid-template-columns:1fr;gap:0} dt{margin-top:.4rem;font-size:.9rem} body{padding:.5rem}}
</style></head><body><main>`

const pageFoot = `</main></body></html>`

var (
	messageTmpl = template.Must(template.New("message").Parse(pageHead + `<h1>{{.Title}}</h1><p class="bad">{{.Why}}</p>` + pageFoot))

	confirmTmpl = template.Must(template.New("confirm").Parse(pageHead + `
<h1>{{.Title}}</h1>
<p class="warn">{{.WillHappen}}</p>
{{if .Conditions}}<ul>{{range .Conditions}}<li>{{.}}</li>{{end}}</ul>{{end}}
<form method="post" action="{{.Post}}">
<input type="hidden" name="t" value="{{.Token}}">
<button type="submit" name="confirm" value="yes">{{.Button}}</button>
</form>
<p><small>{{if .Who}}Signed in as {{.Who}}.{{else}}You are not signed in: the button records an acknowledgment only, and changes nothing.{{end}} This link works once, until {{.Expires}}. Opening it changed nothing.</small></p>
<h2>{{.R.Title}}</h2>
<p><strong>{{.R.Status}}</strong>{{if .R.Subtitle}} · {{.R.Subtitle}}{{end}}</p>
{{if .R.Lead}}<p>{{.R.Lead}}</p>{{end}}
<dl><dt>Incident</dt><dd>{{.In.ID}}</dd><dt>State</dt><dd>{{.In.State}} · {{.Mode}}</dd>{{range .R.Detection}}<dt>{{.Title}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
{{if .R.Credentials.Items}}<h2>{{.R.CredentialsHeading}}</h2>{{range .R.Credentials.Items}}<p><strong>{{.Heading}}</strong></p><dl>{{range .Facts}}<dt>{{.Title}}</dt><dd>{{.Value}}</dd>{{end}}</dl>{{end}}{{end}}
{{if .R.Reach.Headline}}<h2>{{.R.Reach.Headline}}</h2><ul>{{range .R.Reach.Lines}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .R.NotDone.Items}}<h2>Not done</h2><ul>{{range .R.NotDone.Items}}<li>{{.}}</li>{{end}}</ul>{{end}}
` + pageFoot))

	resultTmpl = template.Must(template.New("result").Parse(pageHead + `
<h1>{{.Title}}</h1><p class="{{.Class}}">{{.Result}}</p>
<dl><dt>Incident</dt><dd>{{.In.ID}}</dd><dt>App</dt><dd>{{.App}}</dd><dt>State now</dt><dd>{{.In.State}} · {{.Mode}}</dd></dl>
<p><small>Recorded on the incident with your name, the time and the channel; the Teams channels that got the card are told who handled it.</small></p>
` + pageFoot))
)

func render(t *template.Template, v any) []byte {
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		// Our own templates over our own types: only a bug gets here.
		return []byte("<!doctype html><title>error</title><p>The page could not be rendered.</p>")
	}
	return b.Bytes()
}

func messagePage(title, why string) []byte {
	return render(messageTmpl, map[string]string{"Title": title, "Why": why})
}

type confirmView struct {
	In         *incident.Incident
	Report     notify.Report
	Action     string
	Token      string
	Post       string
	Who        *Principal
	Enforce    bool
	KillSwitch string
	Expires    time.Time
}

func confirmPage(v confirmView) []byte {
	var will string
	var conds []string
	switch v.Action {
	case Approve:
		will = "Approve the removal of the compromised credential. The responder verifies the detection in Graph again, then removes exactly the key it names; every other key stays. The breaker, the kill switch, dry-run and protected apps still apply."
		if !v.Enforce {
			conds = append(conds, "The service runs in dry-run now: your approval is recorded, and the removal is planned again, not made.")
		}
		if v.KillSwitch != "" {
			conds = append(conds, "The kill switch is on ("+v.KillSwitch+"): nothing is written to the tenant while it is.")
		}
	case FalsePositive:
		will = "Close this incident as a false positive. Nothing is changed in the tenant; the decision holds for later signals about the same keys."
	case Rotated:
		will = "Close this incident because the credential was rotated. The responder reads the app from Graph first and closes it only if the compromised key is gone."
	}
	who := ""
	if v.Who != nil {
		who = v.Who.String()
	}
	return render(confirmTmpl, map[string]any{
		"Title": Labels[v.Action] + "?", "WillHappen": will, "Conditions": conds, "R": v.Report, "In": v.In,
		"Mode": incident.ModeLabel(v.In.Mode), "Post": v.Post, "Token": v.Token, "Button": Labels[v.Action],
		"Who": who, "Expires": v.Expires.UTC().Format("2006-01-02 15:04 MST"),
	})
}

func resultPage(title, result string, in *incident.Incident) []byte {
	class := "good"
	if title == "Not carried out" {
		class = "bad"
	}
	app := in.App.DisplayName
	if app == "" {
		app = in.App.AppID
	}
	return render(resultTmpl, map[string]any{"Title": title, "Result": result, "Class": class, "In": in, "App": app, "Mode": incident.ModeLabel(in.Mode)})
}
