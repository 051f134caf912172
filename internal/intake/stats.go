package intake

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Note says what became of one record (or of a whole event that could not
// be read as records).
type Note struct {
	Event    int    `json:"event"`  // index of the event in the batch
	Record   int    `json:"record"` // index of the record in its event; -1 for the whole event
	Category string `json:"category,omitempty"`
	Outcome  string `json:"outcome"`          // NoteSignalled, NoteSkipped, NoteQuarantined
	Reason   string `json:"reason,omitempty"` // why it was skipped or quarantined
	Detail   string `json:"detail,omitempty"` // the quarantine detail
	pending  string // a failed-secret key whose outcome is known at the end
}

// Stats counts what one batch held. Every record is signalled (folded
// into a signal), skipped (SkippedBy names why) or quarantined (ByReason
// names why).
type Stats struct {
	Events      int            `json:"events"`
	Records     int            `json:"records"`
	Signals     int            `json:"signals"`
	Skipped     int            `json:"skipped"`
	Quarantined int            `json:"quarantined"`
	ByCategory  map[string]int `json:"byCategory,omitempty"`
	ByReason    map[string]int `json:"byReason,omitempty"`  // quarantined, by reason
	SkippedBy   map[string]int `json:"skippedBy,omitempty"` // skipped, by reason
	// Tolerated counts, by field path, bad values in fields no decision
	// reads (a malformed timestamp, say): the records were kept and
	// judged without them (detect.Signal.Tolerated names them too).
	Tolerated map[string]int `json:"tolerated,omitempty"`
}

// skipReason names why a record of a category the responder does not
// decode is skipped.
func skipReason(knownName string) string {
	switch knownName {
	case "SignInLogs", "NonInteractiveUserSignInLogs", "ADFSSignInLogs":
		return SkipUserSignIn
	case "RiskyUsers", "UserRiskEvents":
		return SkipUserRisk
	case "ManagedIdentitySignInLogs":
		return SkipManagedIdentitySignIn
	case "":
		return SkipUnknownCategory
	}
	return SkipCategoryNotUsed
}

func (s *Stats) skip(reason string, n int) {
	if n == 0 {
		return
	}
	s.Skipped += n
	if s.SkippedBy == nil {
		s.SkippedBy = map[string]int{}
	}
	s.SkippedBy[reason] += n
}

// Add folds o into s.
func (s *Stats) Add(o Stats) {
	s.Events += o.Events
	s.Records += o.Records
	s.Signals += o.Signals
	s.Skipped += o.Skipped
	s.Quarantined += o.Quarantined
	for k, v := range o.ByCategory {
		if s.ByCategory == nil {
			s.ByCategory = map[string]int{}
		}
		s.ByCategory[k] += v
	}
	for k, v := range o.ByReason {
		if s.ByReason == nil {
			s.ByReason = map[string]int{}
		}
		s.ByReason[k] += v
	}
	for k, v := range o.SkippedBy {
		if s.SkippedBy == nil {
			s.SkippedBy = map[string]int{}
		}
		s.SkippedBy[k] += v
	}
	for k, v := range o.Tolerated {
		if s.Tolerated == nil {
			s.Tolerated = map[string]int{}
		}
		s.Tolerated[k] += v
	}
}

// Summary renders the counts in one line for people, with the reason for
// every skipped and every quarantined record:
//
//	events=2 records=9 signals=1 skipped=7 quarantined=1; skipped: signInWithoutRisk=5 userSignIn=2; quarantined: ambiguousRecord=1
func (s Stats) Summary() string {
	line := fmt.Sprintf("events=%d records=%d signals=%d skipped=%d quarantined=%d", s.Events, s.Records, s.Signals, s.Skipped, s.Quarantined)
	for _, g := range []struct {
		name string
		m    map[string]int
	}{{"skipped", s.SkippedBy}, {"quarantined", s.ByReason}, {"tolerated bad values", s.Tolerated}} {
		if len(g.m) == 0 {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(g.m)) {
			if g.m[k] != 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", k, g.m[k]))
			}
		}
		line += "; " + g.name + ": " + strings.Join(parts, " ")
	}
	return line
}
