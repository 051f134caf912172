package incident

import (
	"fmt"
	"time"
)

// Use is what the leaked credential was used for: every service-principal
// sign-in with one of the incident's keys from the detection's activity
// time on, read from the hub's retained events and from a Log Analytics
// workspace (internal/usage), plus those that arrive after containment.
type Use struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until,omitzero"`
	// SignIns, oldest first, at most MaxUseSignIns kept (the counts below
	// count all).
	SignIns   []KeySignIn `json:"signIns,omitempty"`
	Successes int         `json:"successes"`
	Failures  int         `json:"failures"`
	// Sources names what was read ("event hub entra/spresponder-usage:
	// 96 events", "Log Analytics workspace ...: 12 rows").
	Sources []string `json:"sources,omitempty"`
	// Unknown says, per source that could not be read, why ("use unknown:
	// permission Log Analytics Reader missing (workspace ...)").
	Unknown []string `json:"unknown,omitempty"`
	// Unreadable lists records a source held that could not be read, with
	// where they are (they stay in the hub or the workspace).
	Unreadable []string  `json:"unreadable,omitempty"`
	At         time.Time `json:"at,omitzero"`
	// StillWorks is set once a successful sign-in with a removed key,
	// after its removal, has paged on-call: the page goes out once.
	StillWorks *KeySignIn `json:"stillWorks,omitempty"`
}

// MaxUseSignIns bounds the sign-ins an incident stores: a day of a busy
// job's sign-ins must not grow the ledger record without limit.
const MaxUseSignIns = 200

// KeySignIn is one sign-in with a compromised key.
type KeySignIn struct {
	ID            string    `json:"id"`
	Time          time.Time `json:"time"`
	KeyID         string    `json:"keyId,omitempty"`
	Success       bool      `json:"success"`
	ErrorCode     int       `json:"errorCode,omitempty"`
	FailureReason string    `json:"failureReason,omitempty"`
	IPAddress     string    `json:"ipAddress,omitempty"`
	Location      string    `json:"location,omitempty"`
	Resource      string    `json:"resource,omitempty"`
	// CAStatus is Entra's conditionalAccessStatus (success, failure,
	// notApplied).
	CAStatus string `json:"caStatus,omitempty"`
	// Source: "hub", "logAnalytics" or "stream" (arrived after containment).
	Source string `json:"source"`
	// AfterRemoval: the key had been removed from the tenant before this
	// sign-in.
	AfterRemoval bool `json:"afterRemoval,omitempty"`
}

// Outcome words a sign-in's result.
func (s KeySignIn) Outcome() string {
	if s.Success {
		return "succeeded"
	}
	if s.FailureReason != "" {
		return fmt.Sprintf("failed (%d: %s)", s.ErrorCode, s.FailureReason)
	}
	return fmt.Sprintf("failed (%d)", s.ErrorCode)
}

// Add merges sign-ins into the use: one entry per sign-in id, oldest
// first, counted once, at most MaxUseSignIns kept. It reports how many
// were new.
func (u *Use) Add(sis ...KeySignIn) int {
	n := 0
	for _, s := range sis {
		if u.has(s.ID) {
			continue
		}
		n++
		if s.Success {
			u.Successes++
		} else {
			u.Failures++
		}
		i := len(u.SignIns)
		for i > 0 && u.SignIns[i-1].Time.After(s.Time) {
			i--
		}
		u.SignIns = append(u.SignIns, KeySignIn{})
		copy(u.SignIns[i+1:], u.SignIns[i:])
		u.SignIns[i] = s
		if len(u.SignIns) > MaxUseSignIns {
			// Keep the first ones (how it started) and the latest ones
			// (what is going on now): drop from the middle.
			mid := MaxUseSignIns / 2
			u.SignIns = append(u.SignIns[:mid], u.SignIns[mid+1:]...)
		}
	}
	return n
}

func (u *Use) has(id string) bool {
	if id == "" {
		return false
	}
	for _, s := range u.SignIns {
		if s.ID == id {
			return true
		}
	}
	return false
}

// Total is the number of sign-ins counted.
func (u *Use) Total() int { return u.Successes + u.Failures }

// Lead returns up to n sentences a person reads first about the use.
func (u *Use) Lead(n int) []string {
	if u == nil {
		return nil
	}
	var out []string
	if s := u.StillWorks; s != nil {
		out = append(out, fmt.Sprintf("The removed key still works somewhere: a sign-in succeeded after its removal, at %s from %s.", s.Time.UTC().Format("2006-01-02 15:04 MST"), where(*s)))
	}
	switch {
	case u.Total() == 0 && len(u.Unknown) == 0:
		out = append(out, fmt.Sprintf("No sign-in with this key since %s.", u.Since.UTC().Format("2006-01-02 15:04 MST")))
	case u.Total() > 0:
		out = append(out, fmt.Sprintf("%d sign-in(s) with this key since %s: %d succeeded, %d failed.", u.Total(), u.Since.UTC().Format("2006-01-02 15:04 MST"), u.Successes, u.Failures))
	}
	for i := len(u.SignIns) - 1; i >= 0 && len(out) < n; i-- {
		s := u.SignIns[i]
		res := ""
		if s.Resource != "" {
			res = " to " + s.Resource
		}
		out = append(out, fmt.Sprintf("%s %s%s from %s.", s.Time.UTC().Format("2006-01-02 15:04 MST"), s.Outcome(), res, where(s)))
	}
	return append(out, u.Unknown...)
}

func where(s KeySignIn) string {
	w := s.IPAddress
	if w == "" {
		w = "an unknown address"
	}
	if s.Location != "" {
		w += " (" + s.Location + ")"
	}
	return w
}

// Describe says what a sign-in was, in one line for a history or a page.
func (s KeySignIn) Describe() string {
	res := ""
	if s.Resource != "" {
		res = " to " + s.Resource
	}
	return fmt.Sprintf("sign-in %s with key %s %s%s at %s from %s", s.ID, s.KeyID, s.Outcome(), res, s.Time.UTC().Format(time.RFC3339), where(s))
}

// StillWorksReason is the page for a successful sign-in with a removed
// key after its removal: the playbook pages with it and the notifier's
// page decision (notify.Pages) words it the same, so it pages once.
func StillWorksReason(s KeySignIn) string {
	r := "the credential still works somewhere: " + s.Describe()
	if s.Source == "stream" {
		// Anyone who can send to the hub can write such a record: say
		// where it comes from, so a person checks the sign-in log.
		r += " (as the event stream reports it; check the app's sign-in log)"
	}
	return r
}
