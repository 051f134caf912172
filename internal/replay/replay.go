// Package replay reads the files on-call staff feed the responder by hand,
// whatever form they came in (Read: event bodies, bare records and the
// storage archive's PT1H.json, Log Analytics and Sentinel exports as JSON
// or CSV, captured invocations), says what it read (Report), and prints
// signals for people (a table) and for scripts (one JSON object per line,
// with stable field names).
package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/invocation"
)

// Events splits a replay file into events (see Read). Each event's
// position records where it came from in the file: Partition "file",
// SequenceNumber the line (one item per line, CSV) or element number, so
// signals and quarantined items can be traced back to the line.
func Events(data []byte, binding string) ([]invocation.Event, error) {
	f, err := Read(data, binding, Options{})
	return f.Events, err
}

// WriteJSON prints one signal per line.
func WriteJSON(w io.Writer, sigs []detect.Signal) error {
	enc := json.NewEncoder(w)
	for _, s := range sigs {
		if s.KeyIDs == nil {
			s.KeyIDs = []string{} // scripts get [] rather than null
		}
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("write signal: %w", err)
		}
	}
	return nil
}

// WriteTable prints signals for people.
func WriteTable(w io.Writer, sigs []detect.Signal) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tAPP\tSERVICE PRINCIPAL\tKEYS\tRISK\tDETECTION\tTIME\tSOURCE")
	for _, s := range sigs {
		risk := strings.TrimSpace(strings.Join([]string{s.RiskEventType, s.RiskLevel}, " "))
		if s.ErrorCode != 0 {
			risk = strings.TrimSpace(fmt.Sprintf("%s error %d", risk, s.ErrorCode))
		}
		if s.Count > 1 {
			risk += fmt.Sprintf(" (x%d)", s.Count)
		}
		keys := strings.Join(s.KeyIDs, ",")
		if keys == "" && s.Thumbprint != "" {
			keys = "thumbprint " + s.Thumbprint
		}
		name := s.AppID
		if s.DisplayName != "" {
			name = s.DisplayName + " (" + s.AppID + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Kind, orDash(name), orDash(s.ServicePrincipalID), orDash(keys),
			orDash(risk), orDash(short(s.DetectionID)), s.Time.UTC().Format("2006-01-02 15:04:05Z"),
			fmt.Sprintf("p%s/seq%d/ev%d/rec%d", s.Source.Partition, s.Source.SequenceNumber, s.Source.Event, s.Source.Record))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(s string) string {
	if len(s) > 20 {
		return s[:17] + "..."
	}
	return s
}
