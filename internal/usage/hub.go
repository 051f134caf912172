package usage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/jsonscan"
)

// Defaults of the hub source's bounds.
const (
	DefaultHubMaxEvents = 50000
	DefaultHubMaxBytes  = 256 << 20
	DefaultHubSpan      = 7 * 24 * time.Hour // the longest retention of Event Hubs Standard
)

// Hub reads the sign-ins from the hub's retained events with the reader
// of `replay --hub` (internal/hubreplay): plain partition receivers, no
// checkpoints, no owner level, so the Function App's receivers are never
// disturbed. It should read through a consumer group of its own
// (SPRESPONDER_USAGE_CONSUMER_GROUP): a consumer group allows five
// readers per partition and the Function App holds one.
type Hub struct {
	// Hub is the reader's configuration without the time range, which
	// comes from the query (From and To are set per read).
	Hub hubreplay.Config
	// Span bounds how far back a read goes (default DefaultHubSpan): the
	// hub holds at most its retention anyway.
	Span time.Duration
	// read is hubreplay.Read; tests of the walk replace it.
	read func(context.Context, hubreplay.Config) ([]invocation.Event, error)
}

// Name names the source for a person.
func (h *Hub) Name() string {
	return fmt.Sprintf("event hub %s (consumer group %s)", orDash(h.Hub.Hub), orDash(h.Hub.ConsumerGroup))
}

// SignIns reads the hub's events of the query's time range and walks them.
func (h *Hub) SignIns(ctx context.Context, q Query) (Found, error) {
	if h.Hub.Hub == "" || (h.Hub.Namespace == "" && h.Hub.ConnectionString == "") {
		return Found{}, ErrNotConfigured
	}
	cfg := h.Hub
	span := h.Span
	if span <= 0 {
		span = DefaultHubSpan
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = DefaultHubMaxEvents
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultHubMaxBytes
	}
	cfg.From, cfg.To = q.Since, q.Until
	note := ""
	if cfg.To.Sub(cfg.From) > span {
		cfg.From = cfg.To.Add(-span)
		note = fmt.Sprintf(", from %s only (the span is bounded to %s)", cfg.From.UTC().Format(time.RFC3339), span)
	}
	read := h.read
	if read == nil {
		read = hubreplay.Read
	}
	events, err := read(ctx, cfg)
	f := Walk(events, q, "hub")
	var size int
	for _, e := range events {
		size += len(e.Body)
	}
	f.Read = fmt.Sprintf("%s: %d event(s), %d byte(s) read%s", h.Name(), len(events), size, note)
	if errors.Is(err, hubreplay.ErrCapped) {
		return f, capped(fmt.Sprintf("at most %d events or %d bytes", cfg.MaxEvents, cfg.MaxBytes), err)
	}
	return f, err
}

// Walk finds the query's sign-ins in event bodies of the hub's form,
// {"records":[...]}. Every ServicePrincipalSignInLogs record that could be
// one of them is read by the strict decoder; a record or an event that
// cannot be read is listed in Found.Unreadable with its position (it stays
// in the hub), never dropped silently.
func Walk(events []invocation.Event, q Query, source string) Found {
	var f Found
	needles := needlesOf(q)
	for _, ev := range events {
		body := ev.Body
		where := fmt.Sprintf("partition %s seq %d", ev.Pos.Partition, ev.Pos.SequenceNumber)
		if ev.Err != nil {
			f.Unreadable = append(f.Unreadable, fmt.Sprintf("%s: %v", where, ev.Err))
			continue
		}
		sawRecords := false
		i := jsonscan.SkipWS(body, 0)
		if i >= len(body) || body[i] != '{' {
			f.Unreadable = append(f.Unreadable, where+": event body is not a JSON object")
			continue
		}
		_, err := jsonscan.Object(body, i, func(key []byte, _ bool, v int) (int, error) {
			if string(key) != "records" {
				return jsonscan.SkipValue(body, v)
			}
			sawRecords = true
			if body[v] != '[' {
				return v, errors.New(`"records" is not an array`)
			}
			return jsonscan.Array(body, v, func(ri, r int) (int, error) {
				if body[r] != '{' {
					end, err := jsonscan.SkipValue(body, r)
					if err == nil {
						f.Unreadable = append(f.Unreadable, fmt.Sprintf("%s record %d: not an object", where, ri))
					}
					return end, err
				}
				sc, err := entra.ScanRecord(body, r)
				if err != nil {
					return sc.End, err
				}
				rec := body[r:sc.End]
				if string(sc.Category) != string(entra.ServicePrincipalSignInLogs) && !sc.CategoryAmbiguous {
					return sc.End, nil
				}
				if sc.Ambiguity == "" && !mayHold(rec, needles) {
					return sc.End, nil
				}
				if sc.Ambiguity != "" {
					f.Unreadable = append(f.Unreadable, fmt.Sprintf("%s record %d: ambiguous (%s)", where, ri, sc.Ambiguity))
					return sc.End, nil
				}
				s, ok, err := q.Match(rec, source)
				switch {
				case err != nil:
					f.Unreadable = append(f.Unreadable, fmt.Sprintf("%s record %d: %s", where, ri, trimErr(err)))
				case ok:
					f.SignIns = append(f.SignIns, s)
				}
				return sc.End, nil
			})
		})
		if err == nil && !sawRecords {
			err = errors.New(`no "records" array`)
		}
		if err != nil {
			f.Unreadable = append(f.Unreadable, fmt.Sprintf("%s: malformed event: %s", where, trimErr(err)))
		}
	}
	return f
}

// needlesOf are the byte strings a record holding one of the query's keys
// contains, unless it escapes them (mayHold decodes those anyway).
func needlesOf(q Query) [][]byte {
	var out [][]byte
	for _, k := range q.KeyIDs {
		out = append(out, []byte(strings.ToLower(k)), []byte(strings.ToUpper(k)))
	}
	for _, t := range q.Thumbprints {
		out = append(out, []byte(strings.ToUpper(t)), []byte(strings.ToLower(t)))
	}
	return out
}

// mayHold is the cheap screen: a record is decoded only when it holds a
// key as text, or holds a JSON escape that could spell one (or a key in
// mixed case, which the escape check does not catch, is rare enough to
// be decoded: any byte sequence that is not plain lower or upper).
func mayHold(rec []byte, needles [][]byte) bool {
	if bytes.Contains(rec, []byte(`\u`)) {
		return true
	}
	for _, n := range needles {
		if bytes.Contains(rec, n) {
			return true
		}
	}
	return !plainKeyCase(rec)
}

// plainKeyCase reports whether the record's credential key id, if any,
// is written all lower or all upper case (what the needles find). A
// mixed-case one is read by the decoder.
func plainKeyCase(rec []byte) bool {
	i := bytes.Index(rec, []byte(`"servicePrincipalCredentialKeyId"`))
	if i < 0 {
		return true
	}
	rest := rec[i+len(`"servicePrincipalCredentialKeyId"`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j+38 > len(rest) {
		return true
	}
	v := rest[j+1 : j+37]
	lower, upper := bytes.ToLower(v), bytes.ToUpper(v)
	return bytes.Equal(v, lower) || bytes.Equal(v, upper)
}

func trimErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
