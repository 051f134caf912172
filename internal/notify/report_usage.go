package notify

import (
	"fmt"

	"github.com/spresponder/spresponder/internal/incident"
)

// UseView is the short "Used since the leak" section: whether the leaked
// credential was used, from where, and whether it still works after its
// removal. It sits right under the reach in the card and the email; the
// whole list is in `spresponder investigate`.
type UseView struct {
	// Headline: "Used since the leak: 3 sign-ins (2 succeeded, 1 failed)".
	Headline string
	Tone     Tone
	Lines    []string
}

// useSignInsShown bounds the sign-ins listed in every layout (the card
// must stay under MaxCardBytes whatever the key did).
const useSignInsShown = 3

// useLinesMax bounds all the lines, failed reads included.
const useLinesMax = 6

func useView(in *incident.Incident, c func(string) string) UseView {
	u := in.Use
	if u == nil {
		return UseView{}
	}
	since := fmtTime(u.Since)
	v := UseView{Tone: ToneGood}
	switch {
	case u.Total() == 0 && len(u.Unknown) > 0:
		v.Headline, v.Tone = "Used since the leak: unknown", ToneWarning
	case u.Total() == 0:
		v.Headline = "Used since the leak: no sign-in with this key since " + since
	default:
		v.Headline = fmt.Sprintf("Used since the leak: %s since %s (%d succeeded, %d failed)", plural(u.Total(), "1 sign-in", fmt.Sprintf("%d sign-ins", u.Total())), since, u.Successes, u.Failures)
		v.Tone = ToneWarning
		if u.Successes == 0 {
			v.Tone = ToneGood
		}
	}
	if s := u.StillWorks; s != nil {
		v.Tone = ToneAttention
		v.Lines = append(v.Lines, c(fmt.Sprintf("The removed key still works somewhere: a sign-in succeeded after its removal, %s from %s. On-call has been paged.", fmtTime(s.Time), where(*s))))
	}
	for i := len(u.SignIns) - 1; i >= 0 && i >= len(u.SignIns)-useSignInsShown; i-- {
		s := u.SignIns[i]
		to := ""
		if s.Resource != "" {
			to = " to " + s.Resource
		}
		after := ""
		if s.AfterRemoval {
			after = " (after the removal)"
		}
		v.Lines = append(v.Lines, c(fmt.Sprintf("%s: %s%s from %s%s.", fmtTime(s.Time), s.Outcome(), to, where(s), after)))
	}
	if n := u.Total() - min(len(u.SignIns), useSignInsShown); n > 0 {
		v.Lines = append(v.Lines, fmt.Sprintf("… and %d more (spresponder investigate %s).", n, in.ID))
	}
	for _, l := range u.Unknown {
		v.Lines = append(v.Lines, c(l))
	}
	if len(v.Lines) > useLinesMax {
		n := len(v.Lines) - useLinesMax + 1
		v.Lines = append(v.Lines[:useLinesMax-1], fmt.Sprintf("… and %d more lines (spresponder investigate %s).", n, in.ID))
	}
	return v
}

func where(s incident.KeySignIn) string {
	w := s.IPAddress
	if w == "" {
		w = "an unknown address"
	}
	if s.Location != "" {
		w += " (" + s.Location + ")"
	}
	return w
}

// appendUse adds the section to a card body, right under the reach: the
// headline and at most lines of its lines (the compact card shows one).
func appendUse(body []any, u UseView, lines int) []any {
	if u.Headline == "" {
		return body
	}
	h := text(u.Headline)
	h.Weight, h.Color = "Bolder", toneColor(u.Tone)
	body = append(body, h)
	for _, l := range u.Lines[:min(lines, len(u.Lines))] {
		t := text(l)
		t.Spacing = "Small"
		body = append(body, t)
	}
	return body
}
