package notify

import (
	"fmt"
	"strings"

	"github.com/spresponder/spresponder/internal/incident"
)

// ReachView is what the leaked credential could do, in plain words: the
// first thing after the header in the card and the email, because it is
// what tells a reader how much the leak matters.
type ReachView struct {
	// Headline: "Reach: critical", or "Reach: unknown".
	Headline string
	Tone     Tone
	// Lines: the most severe items first ("This secret could ..."), then
	// what could not be read ("reach unknown: permission X missing").
	Lines []string
	// Others counts what the first line leaves out: every other item and
	// every failed read (the card shows the first line only).
	Others int
}

// reachItemsShown bounds the reach lines in every layout: the card must
// stay under MaxCardBytes whatever the service principal holds; the rest
// is in incidents show.
const reachItemsShown = 3

// reachLinesMax bounds all the reach lines, failed reads included.
const reachLinesMax = 8

func reachView(in *incident.Incident, noun string, c func(string) string) ReachView {
	r := in.Reach
	if r == nil {
		return ReachView{}
	}
	v := ReachView{Headline: "What this credential could do: " + r.Tier, Tone: ToneGood}
	if len(r.Unknown) > 0 && r.Tier != incident.TierUnknown && r.Tier != incident.TierCritical {
		// What could not be read may hold more: the tier is a floor.
		v.Headline = fmt.Sprintf("What this credential could do: at least %s (%s not read)", r.Tier, plural(len(r.Unknown), "one part", fmt.Sprintf("%d parts", len(r.Unknown))))
	}
	switch r.Tier {
	case incident.TierCritical:
		v.Tone = ToneAttention
	case incident.TierHigh, incident.TierUnknown:
		v.Tone = ToneWarning
	}
	for _, l := range r.Lead(reachItemsShown) {
		// Lead says "This secret"; the card names the credential as the
		// rest of the story does (client secret, certificate).
		if rest, ok := strings.CutPrefix(l, "This secret "); ok && noun != "" {
			l = "This " + noun + " " + rest
		}
		v.Lines = append(v.Lines, c(l))
	}
	v.Others = max(len(r.Items)+len(r.Unknown)-1, 0)
	// Lead lists every failed read; there are a handful at most (one per
	// read), but the card's budget does not rest on that.
	if len(v.Lines) > reachLinesMax {
		n := len(v.Lines) - reachLinesMax + 1
		v.Lines = append(v.Lines[:reachLinesMax-1], fmt.Sprintf("… and %d more lines (spresponder incidents show %s).", n, in.ID))
	}
	return v
}
