package replay

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spresponder/spresponder/internal/intake"
)

// Report says what replay read from one file: its format, its records by
// category, and every record skipped or quarantined, with the reason.
type Report struct {
	File       string         `json:"file"`
	Format     string         `json:"format"`
	Items      int            `json:"items"`
	Records    int            `json:"records"`
	ByCategory map[string]int `json:"byCategory"`
	Signals    int            `json:"signals"`
	Skipped    int            `json:"skipped"`
	// Quarantined counts records and items kept for a person.
	Quarantined int            `json:"quarantined"`
	Tolerated   map[string]int `json:"tolerated,omitempty"`
	Entries     []Entry        `json:"entries"`
	// Read counts the records read: signalled or skipped for a reason.
	Read int `json:"read"`
	// ItemsRead counts the items (events, lines, rows) of which something
	// was read: not quarantined whole, and not every record in them
	// quarantined. An event body with no records counts as read.
	ItemsRead int            `json:"itemsRead"`
	BySkip    map[string]int `json:"-"`
	err       error          // the file could not be read at all
}

// Entry is one record or item that was skipped or quarantined.
type Entry struct {
	Where    string `json:"where"` // "line 12", "element 3 record 2"
	Category string `json:"category,omitempty"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail,omitempty"`
}

// NewReport puts together what Read found in a file and what intake made
// of it (run with intake.Config.Notes).
func NewReport(name string, f File, res intake.Result) Report {
	r := Report{File: name, Format: f.Format, Items: f.Items, ByCategory: map[string]int{}, BySkip: map[string]int{},
		Signals: len(res.Signals), Tolerated: res.Stats.Tolerated}
	multi := map[int]bool{} // events holding more than one record
	seen := map[int]int{}
	for _, n := range res.Notes {
		if n.Record >= 0 {
			seen[n.Event]++
			if seen[n.Event] > 1 || n.Record > 0 {
				multi[n.Event] = true
			}
		}
	}
	bad := map[int]bool{}      // events quarantined whole
	someRead := map[int]bool{} // events with a record read
	anyRec := map[int]bool{}   // events with a record note
	for _, n := range res.Notes {
		switch {
		case n.Record < 0 && n.Outcome == intake.NoteQuarantined:
			bad[n.Event] = true
		case n.Record >= 0:
			anyRec[n.Event] = true
			if n.Outcome != intake.NoteQuarantined {
				someRead[n.Event] = true
			}
		}
	}
	for ev := range f.Events {
		if !bad[ev] && (someRead[ev] || !anyRec[ev]) {
			r.ItemsRead++
		}
	}
	for _, n := range res.Notes {
		cat := n.Category
		if n.Record >= 0 {
			r.Records++
			if cat == "" {
				cat = "(no category)"
			}
			r.ByCategory[cat]++
		}
		switch n.Outcome {
		case intake.NoteSkipped:
			r.Skipped++
			r.Read++
			r.BySkip[n.Reason]++
		case intake.NoteQuarantined:
			r.Quarantined++
		default:
			r.Read++
			continue
		}
		where := fmt.Sprintf("event %d", n.Event+1)
		if n.Event < len(f.Events) {
			where = fmt.Sprintf("%s %d", f.Unit, f.Events[n.Event].Pos.SequenceNumber)
		}
		if n.Record >= 0 && multi[n.Event] {
			where += fmt.Sprintf(" record %d", n.Record+1)
		}
		r.Entries = append(r.Entries, Entry{Where: where, Category: n.Category, Outcome: n.Outcome, Reason: n.Reason, Detail: n.Detail})
	}
	return r
}

// FailedReport is the report of a file that could not be read at all.
func FailedReport(name string, err error) Report {
	return Report{File: name, Format: "unreadable", err: err}
}

// Unreadable reports whether nothing in the file could be read: it could
// not be split into items, or no item in it was read (each one
// quarantined whole, or every record in it quarantined).
func (r Report) Unreadable() bool {
	return r.err != nil || (r.Items > 0 && r.ItemsRead == 0)
}

// Err is why the file could not be read at all, or nil.
func (r Report) Err() error { return r.err }

// WriteReport prints a report for people. Every quarantined item is
// listed; skipped records up to maxPerReason for each reason (0: all),
// then a count of the rest.
func WriteReport(w io.Writer, r Report, maxPerReason int) error {
	fmt.Fprintf(w, "file: %s\n", r.File)
	if r.err != nil {
		_, err := fmt.Fprintf(w, "  could not be read: %v\n", r.err)
		return err
	}
	fmt.Fprintf(w, "  format: %s\n", r.Format)
	var cats []string
	for _, c := range slices.Sorted(maps.Keys(r.ByCategory)) {
		cats = append(cats, fmt.Sprintf("%s=%d", c, r.ByCategory[c]))
	}
	fmt.Fprintf(w, "  read: %d items, %d records (%s)\n", r.Items, r.Records, orNone(strings.Join(cats, " ")))
	fmt.Fprintf(w, "  outcome: %d signals, %d records skipped, %d quarantined\n", r.Signals, r.Skipped, r.Quarantined)
	if len(r.Tolerated) > 0 {
		var t []string
		for _, k := range slices.Sorted(maps.Keys(r.Tolerated)) {
			t = append(t, fmt.Sprintf("%s=%d", k, r.Tolerated[k]))
		}
		fmt.Fprintf(w, "  bad values tolerated (fields no decision reads, read as empty): %s\n", strings.Join(t, " "))
	}
	if len(r.Entries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	listed := map[string]int{}
	for _, e := range r.Entries {
		if e.Outcome == intake.NoteSkipped {
			listed[e.Reason]++
			if maxPerReason > 0 && listed[e.Reason] > maxPerReason {
				continue
			}
		}
		reason := e.Reason
		if e.Detail != "" {
			reason += ": " + oneLine(e.Detail, 160)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Where, orDash(e.Category), e.Outcome, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, reason := range slices.Sorted(maps.Keys(listed)) {
		if n := listed[reason] - maxPerReason; maxPerReason > 0 && n > 0 {
			fmt.Fprintf(w, "  ... and %d more skipped (%s); --max-listed 0 lists them all\n", n, reason)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
