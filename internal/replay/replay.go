// Package replay reads events that on-call staff feed the responder by
// hand: a file of event bodies ({"records":[...]} per line), one JSON
// document (a body, or an array of bodies), or an invocation body captured
// from the Functions host. It also prints signals for people (a table) and
// for scripts (one JSON object per line, with stable field names).
package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/jsonscan"
)

// Events splits a replay file into events. Each event's position records
// where it came from in the file: Partition "file", SequenceNumber the line
// (NDJSON) or element number, so signals and quarantined items can be
// traced back to the line.
func Events(data []byte, binding string) ([]invocation.Event, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return nil, fmt.Errorf("replay file is empty")
	}
	if t[0] == '{' {
		end, err := jsonscan.SkipValue(t, 0)
		if err == nil && len(bytes.TrimSpace(t[end:])) == 0 {
			// One document: a captured invocation or a single body.
			if isInvocation(t) {
				req, err := invocation.Decode(t, binding)
				if err != nil {
					return nil, fmt.Errorf("captured invocation: %w", err)
				}
				return req.Events, nil
			}
			return []invocation.Event{{Body: t, Pos: invocation.Position{Partition: "file", SequenceNumber: 1}}}, nil
		}
	}
	if t[0] == '[' {
		var evs []invocation.Event
		_, err := jsonscan.Array(t, 0, func(i, v int) (int, error) {
			end, err := jsonscan.SkipValue(t, v)
			if err != nil {
				return end, err
			}
			evs = append(evs, invocation.Event{Body: t[v:end], Pos: invocation.Position{Partition: "file", SequenceNumber: int64(i + 1), Index: i}})
			return end, nil
		})
		if err != nil {
			return nil, fmt.Errorf("replay file is a JSON array but not a valid one: %w", err)
		}
		return evs, nil
	}
	// NDJSON: one body per line. A bad line becomes a bad event (kept in
	// quarantine by intake), never the end of the replay.
	var evs []invocation.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), len(data)+1)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		ev := invocation.Event{Body: bytes.Clone(l), Pos: invocation.Position{Partition: "file", SequenceNumber: int64(line), Index: len(evs)}}
		if !json.Valid(l) {
			ev.Err = fmt.Errorf("line %d is not valid JSON", line)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read replay file: %w", err)
	}
	return evs, nil
}

func isInvocation(doc []byte) bool {
	found := false
	_, _ = jsonscan.Object(doc, 0, func(key []byte, _ bool, v int) (int, error) {
		if string(key) == "Data" {
			found = true
		}
		return jsonscan.SkipValue(doc, v)
	})
	return found
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
