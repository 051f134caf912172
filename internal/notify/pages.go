package notify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spresponder/spresponder/internal/incident"
)

// Trigger names why on-call is paged. The values are part of the pager
// JSON contract (see package pager): routing rules match on them.
type Trigger string

const (
	// TriggerBreaker: the blast-radius breaker tripped, so containment was
	// withheld: the incident is held (State held or mode held; older
	// records: NotifyOnly starts with "breaker").
	TriggerBreaker Trigger = "breakerTripped"
	// TriggerUnknownOutcome: a write to the tenant was sent and its outcome
	// is unknown (an action left in state started).
	TriggerUnknownOutcome Trigger = "unknownOutcome"
	// TriggerGraphFailing: Graph kept failing past a step's deadline (a
	// failed step or action), or the owners could not be read.
	TriggerGraphFailing Trigger = "graphFailing"
	// TriggerNeedsHuman: the incident waits for a decision only a person
	// can take, and no more specific trigger explains it; a signal Graph
	// did not verify pages this way too, its reason starting "UNVERIFIED".
	TriggerNeedsHuman Trigger = "needsHuman"
	// TriggerBatchLost: the host's last retry of an Event Hubs batch ended
	// and the batch is still not durable: the host checkpoints it anyway,
	// so on-call must replay the partition's sequence range.
	TriggerBatchLost Trigger = "batchLost"
	// TriggerStreamSilent: no record of a log category has reached the
	// responder for longer than its heartbeat allows (internal/reconcile);
	// TriggerStreamResumed: it flows again after such a page.
	TriggerStreamSilent  Trigger = "streamSilent"
	TriggerStreamResumed Trigger = "streamResumed"
	// TriggerStillWorks: a sign-in with a removed key succeeded after its
	// removal (internal/usage): the credential still works somewhere.
	TriggerStillWorks Trigger = "stillWorks"
	// TriggerReach: the rules file's reach section asks to phone the
	// security contact about an incident of its tier (Phone).
	TriggerReach Trigger = "reach"
)

// Severities of a page.
const (
	// SeverityCritical: the credential may still work.
	SeverityCritical = "critical"
	// SeverityWarning: the credential is removed; something else needs a look.
	SeverityWarning = "warning"
)

// Page is one reason to page on-call about an incident.
type Page struct {
	Trigger  Trigger
	Severity string
	Reason   string
}

// Pages decides whether and why an incident pages on-call. It is pure.
// lookupErrs are the notifier's own directory failures (owners unreadable).
func Pages(in *incident.Incident, lookupErrs []error) []Page {
	o := assess(in)
	sev := SeverityWarning
	if o.credentials > 0 && (o.removed == 0 || o.open > 0) {
		sev = SeverityCritical
	}
	var pages []Page
	addSev := func(t Trigger, sev string, reasons []string) {
		if len(reasons) > 0 {
			pages = append(pages, Page{Trigger: t, Severity: sev, Reason: clean(strings.Join(reasons, "; "), 600)})
		}
	}
	add := func(t Trigger, reasons []string) { addSev(t, sev, reasons) }

	if in.State == incident.StateHeld || ModeOf(in) == incident.ModeHeld {
		reason := "blast-radius breaker tripped, containment withheld"
		if in.NotifyOnly != "" {
			reason += ": " + clean(in.NotifyOnly, 200)
		}
		add(TriggerBreaker, []string{reason})
	}
	if unverifiedConcluded(in) {
		// Security and on-call are the only people who hear of it. Warning,
		// not critical: nothing says the credential is at risk but the
		// event, and a forged flood must not read as a confirmed breach.
		reason := "UNVERIFIED: " + UnverifiedNotice
		if d := in.Verification.Detail; d != "" {
			reason += " (" + clean(d, 200) + ")"
		}
		if in.Verification.Unlicensed {
			reason += "; " + unlicensedSentence
		}
		addSev(TriggerNeedsHuman, SeverityWarning, []string{reason})
	}

	var unknown, failing []string
	for _, a := range in.Actions {
		switch {
		case a.DryRun:
		case a.State == incident.Started:
			unknown = append(unknown, fmt.Sprintf("%s was sent but its outcome is unknown; re-read the tenant before retrying", clean(a.ID, 160)))
		case a.State == incident.Failed:
			failing = append(failing, fmt.Sprintf("%s failed after %d attempts: %s", clean(a.ID, 160), max(a.Attempts, 1), clean(a.Reason, 200)))
		}
	}
	add(TriggerUnknownOutcome, unknown)

	for _, s := range in.Steps {
		if s.Name == incident.StepNotify || s.State != incident.Failed {
			continue
		}
		failing = append(failing, fmt.Sprintf("step %s failed after %d attempts: %s", s.Name, max(s.Attempts, 1), clean(s.Reason, 200)))
	}
	for _, err := range lookupErrs {
		failing = append(failing, "owners could not be read, only the security fallback was told: "+clean(err.Error(), 200))
	}
	add(TriggerGraphFailing, failing)

	if in.Use != nil && in.Use.StillWorks != nil {
		// Critical whatever the removal says: the key works anyway.
		addSev(TriggerStillWorks, SeverityCritical, []string{incident.StillWorksReason(*in.Use.StillWorks)})
	}

	if in.State == incident.StateNeedsHuman && len(pages) == 0 {
		reason := "the incident waits for a decision by a person"
		// The latest line of the playbook itself says what it stopped on;
		// the notifier's own lines do not.
		for i := len(in.History) - 1; i >= 0; i-- {
			if e := in.History[i]; e.Step != string(incident.StepNotify) {
				reason += fmt.Sprintf(" (last: %s %s: %s)", clean(e.Step, 40), clean(e.What, 80), clean(e.Detail, 160))
				break
			}
		}
		add(TriggerNeedsHuman, []string{reason})
	}
	return pages
}

// unverifiedConcluded reports whether Graph was asked and did not confirm
// the signal (a closed detection tells nobody). An incident whose
// verification has not run yet (Graph failing, a parked first attempt) is
// not unverified: it pages for what stopped it.
func unverifiedConcluded(in *incident.Incident) bool {
	v := in.Verification
	if v.Verified || v.Closed != "" {
		return false
	}
	// Read, not in.Step: that adds a missing step, and Pages is pure.
	i := slices.IndexFunc(in.Steps, func(s incident.Step) bool { return s.Name == incident.StepVerify })
	ran := i >= 0 && (in.Steps[i].State == incident.Done || in.Steps[i].State == incident.Skipped)
	return ran || in.Mode == incident.ModeUnverified || v.Method != "" || v.Detail != "" || v.Unlicensed
}

// PageTarget is the target id of a page on the incident: one page per
// trigger, so a re-driven incident does not page twice for the same reason
// but does page for a new one.
func PageTarget(t Trigger) string { return "oncall:" + string(t) }
