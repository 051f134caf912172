// Package invocation owns the wire contract between the Azure Functions host
// and this custom handler: the request the host POSTs to /<FunctionName>
// ({"Data":{...},"Metadata":{...}}) and the response it expects
// ({"Outputs":{},"Logs":[...],"ReturnValue":null}, as application/json).
//
// For an eventHubTrigger with cardinality "many" and dataType "string" the
// host serialises the array of event bodies as a JSON string holding a JSON
// array of JSON strings, so each body arrives escaped twice, and the
// Metadata arrays (sequence numbers, offsets, enqueued times) arrive as JSON
// strings holding JSON arrays. Decode unwraps both layers of the bodies in
// a single pass (jsonscan.UnescapeStringArray; anything unusual takes one
// pass per layer), without building intermediate values, and also accepts
// the other shapes the host may send (no dataType: an array of objects;
// binary: base64 strings; cardinality one; or a future host that stops
// double-encoding).
package invocation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

// PartitionContext names the partition a batch came from.
type PartitionContext struct {
	FullyQualifiedNamespace string `json:"FullyQualifiedNamespace"`
	EventHubName            string `json:"EventHubName"`
	ConsumerGroup           string `json:"ConsumerGroup"`
	PartitionID             string `json:"PartitionId"`
}

// Position locates one event in its hub.
type Position struct {
	Partition      string
	SequenceNumber int64
	Offset         string
	EnqueuedTime   time.Time
	Index          int // index in the batch
}

// Event is one event of the batch: its body ({"records":[...]}) or the
// reason it could not be extracted (Err, with Body holding the raw bytes
// for quarantine).
type Event struct {
	Body []byte
	Pos  Position
	Err  error
}

// Retry is the host's retry context (Metadata.RetryContext), present only
// when the function has a retry policy. The host creates it before the
// first attempt with Count 0 and raises Count after each failure; Max is
// the policy's maxRetryCount (-1: retry forever). The context's Exception
// (the previous attempt's .NET exception, opaque and possibly large) is
// skipped, never kept.
type Retry struct {
	Count int `json:"count"`
	Max   int `json:"max"`
}

// Last reports whether this is the host's last attempt at the batch: after
// it the host checkpoints the batch whatever the answer, so anything not
// made durable now is lost. A nil Retry (no retry policy) is always the
// last attempt. The count lives in the host instance's memory and restarts
// at 0 on another instance, so "not last" is best-effort.
func (r *Retry) Last() bool {
	return r == nil || (r.Max != -1 && r.Count >= r.Max)
}

// Request is a decoded invocation.
type Request struct {
	Partition PartitionContext
	Events    []Event
	Retry     *Retry
	// MetadataErr is set when the Metadata arrays could not be read; the
	// events are still processed, with positions missing.
	MetadataErr error
}

// PartitionID is the Event Hubs partition the batch came from ("" when the
// metadata did not say).
func (r *Request) PartitionID() string { return r.Partition.PartitionID }

// LastAttempt reports whether the host will not retry this batch (see
// Retry.Last).
func (r *Request) LastAttempt() bool { return r.Retry.Last() }

// SequenceRange returns the first and last sequence numbers of the batch.
func (r *Request) SequenceRange() (first, last int64) {
	if len(r.Events) == 0 {
		return 0, 0
	}
	return r.Events[0].Pos.SequenceNumber, r.Events[len(r.Events)-1].Pos.SequenceNumber
}

// ErrNoBinding is returned when Data lacks the trigger's binding.
var ErrNoBinding = errors.New("invocation has no data for the trigger binding")

// Decode decodes an invocation body. binding is the trigger's name in
// function.json ("events"). A malformed envelope is an error; a malformed
// event is not: it comes back as an Event with Err set, so one bad event
// never costs the rest of the batch.
func Decode(body []byte, binding string) (*Request, error) {
	req := &Request{}
	meta := -1
	sawData, found := false, false
	// Data is walked where it stands (it holds the whole batch; skipping it
	// first and coming back would read it twice). Metadata is small and is
	// decoded after, once the events are known.
	_, err := jsonscan.Object(body, 0, func(key []byte, _ bool, v int) (int, error) {
		switch string(key) {
		case "Data":
			sawData = true
			return jsonscan.Object(body, v, func(key []byte, _ bool, v int) (int, error) {
				if string(key) != binding {
					return jsonscan.SkipValue(body, v)
				}
				found = true
				end, err := req.decodeEvents(body, v)
				if err != nil {
					return end, fmt.Errorf("binding %q: %w", binding, err)
				}
				return end, nil
			})
		case "Metadata":
			meta = v
		}
		return jsonscan.SkipValue(body, v)
	})
	if err != nil {
		return nil, fmt.Errorf("invocation: %w", err)
	}
	if !sawData || !found {
		return nil, fmt.Errorf("binding %q: %w", binding, ErrNoBinding)
	}
	if meta >= 0 {
		req.MetadataErr = req.decodeMetadata(body, meta)
	}
	return req, nil
}

// decodeEvents decodes the trigger value at b[v] into events.
func (r *Request) decodeEvents(b []byte, v int) (int, error) {
	switch b[v] {
	case '"':
		// The usual case: a JSON string holding the serialised array.
		if end, ok := r.decodeFused(b, v); ok {
			return end, nil
		}
		return r.decodeTwoPass(b, v)
	case '[', '{':
		end, err := jsonscan.SkipValue(b, v)
		if err != nil {
			return end, err
		}
		return end, r.decodeValue(b[v:end])
	case 'n':
		return jsonscan.SkipValue(b, v) // null: an empty batch
	default:
		return v, fmt.Errorf("unexpected trigger value %q", b[v])
	}
}

// decodeFused decodes the usual form (a string holding an array of
// strings) in one pass straight to the event bodies. It reports false,
// leaving r as it was, when the value takes any other form or is malformed:
// decodeTwoPass then decodes it or says what is wrong, with the same result
// wherever both succeed.
func (r *Request) decodeFused(b []byte, v int) (int, bool) {
	// Each body is decoded into the scratch buffer (which grows when an
	// event does not fit) and copied out at its exact size.
	scratch := make([]byte, min(len(b)-v, 1<<20)+64)
	evs := r.Events
	end, ok := jsonscan.UnescapeStringArray(scratch, b[v:], func(idx int, content []byte) {
		evs = append(evs, eventFrom(bytes.Clone(content), idx))
	})
	if !ok {
		return v, false
	}
	r.Events = evs
	return v + end, true
}

// decodeTwoPass unwraps the string at b[v] and then decodes its content.
func (r *Request) decodeTwoPass(b []byte, v int) (int, error) {
	layer1, end, err := jsonscan.Unescape(make([]byte, 0, estimateLen(b, v)), b[v:])
	if err != nil {
		return v, fmt.Errorf("events string: %w", err)
	}
	if err := r.decodeValue(layer1); err != nil {
		return v, err
	}
	return v + end, nil
}

// estimateLen bounds the unescaped size of the string at b[v] (plus the
// eight bytes Unescape may write past the end): never more than the rest of
// the input, so one allocation suffices.
func estimateLen(b []byte, v int) int { return len(b) - v + 8 }

// decodeValue decodes the once-unwrapped trigger value: an array of events
// (many) or a single event (one).
func (r *Request) decodeValue(val []byte) error {
	i := jsonscan.SkipWS(val, 0)
	if i >= len(val) {
		return errors.New("empty trigger value")
	}
	if val[i] != '[' {
		// cardinality one: the value is a single body, possibly a string.
		r.Events = append(r.Events, eventFrom(val[i:], 0))
		return nil
	}
	// Bodies are never longer escaped than unescaped, so one buffer the size
	// of the array holds them all and appends never move earlier bodies.
	buf := make([]byte, 0, len(val)+8)
	_, err := jsonscan.Array(val, i, func(idx, e int) (int, error) {
		if val[e] != '"' {
			end, err := jsonscan.SkipValue(val, e)
			if err != nil {
				return end, err
			}
			r.Events = append(r.Events, Event{Body: val[e:end], Pos: Position{Index: idx}})
			return end, nil
		}
		start := len(buf)
		var n int
		var err error
		buf, n, err = jsonscan.Unescape(buf, val[e:])
		if err != nil {
			// The element string itself is broken: the rest of the array
			// cannot be delimited, so this is an envelope error.
			return e, fmt.Errorf("event %d: %w", idx, err)
		}
		ev := eventFrom(buf[start:len(buf):len(buf)], idx)
		r.Events = append(r.Events, ev)
		return e + n, nil
	})
	return err
}

// eventFrom interprets one element's content: a JSON body, a JSON string
// holding a body (cardinality one), or base64 (dataType binary).
func eventFrom(content []byte, idx int) Event {
	ev := Event{Body: content, Pos: Position{Index: idx}}
	t := bytes.TrimSpace(content)
	switch {
	case len(t) > 0 && (t[0] == '{' || t[0] == '['):
		ev.Body = t
	case len(t) > 0 && t[0] == '"':
		inner, _, err := jsonscan.Unescape(nil, t)
		if err != nil {
			ev.Err = fmt.Errorf("event body string: %w", err)
			return ev
		}
		return eventFrom(inner, idx)
	default:
		if dec, err := base64.StdEncoding.DecodeString(string(t)); err == nil && len(bytes.TrimSpace(dec)) > 0 && bytes.TrimSpace(dec)[0] == '{' {
			ev.Body = bytes.TrimSpace(dec)
			return ev
		}
		ev.Err = errors.New("event body is not JSON")
	}
	return ev
}

// unwrap removes one JSON string layer when raw is a string.
func unwrap(raw []byte) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if s, _, err := jsonscan.Unescape(nil, raw); err == nil {
			return s
		}
	}
	return raw
}

func (r *Request) decodeMetadata(b []byte, m int) error {
	raw := map[string][]byte{}
	_, err := jsonscan.Object(b, m, func(key []byte, _ bool, v int) (int, error) {
		end, err := jsonscan.SkipValue(b, v)
		if err != nil {
			return end, err
		}
		switch string(key) {
		case "PartitionContext", "SequenceNumberArray", "OffsetArray", "EnqueuedTimeUtcArray", "RetryContext":
			raw[string(key)] = b[v:end]
		}
		return end, nil
	})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	var errs []error
	if p, ok := raw["PartitionContext"]; ok {
		if err := json.Unmarshal(unwrap(p), &r.Partition); err != nil {
			errs = append(errs, fmt.Errorf("PartitionContext: %w", err))
		}
	}
	if p, ok := raw["RetryContext"]; ok && string(p) != "null" {
		rc, err := decodeRetry(unwrap(p))
		if err != nil {
			errs = append(errs, fmt.Errorf("RetryContext: %w", err))
		} else {
			r.Retry = rc
		}
	}
	var seqs []json.Number
	if p, ok := raw["SequenceNumberArray"]; ok {
		if err := json.Unmarshal(unwrap(p), &seqs); err != nil {
			errs = append(errs, fmt.Errorf("SequenceNumberArray: %w", err))
		}
	}
	var offsets []json.RawMessage
	if p, ok := raw["OffsetArray"]; ok {
		if err := json.Unmarshal(unwrap(p), &offsets); err != nil {
			errs = append(errs, fmt.Errorf("OffsetArray: %w", err))
		}
	}
	var times []string
	if p, ok := raw["EnqueuedTimeUtcArray"]; ok {
		if err := json.Unmarshal(unwrap(p), &times); err != nil {
			errs = append(errs, fmt.Errorf("EnqueuedTimeUtcArray: %w", err))
		}
	}
	for i := range r.Events {
		pos := &r.Events[i].Pos
		pos.Partition = r.Partition.PartitionID
		idx := pos.Index
		if idx < len(seqs) {
			if n, err := strconv.ParseInt(seqs[idx].String(), 10, 64); err == nil {
				pos.SequenceNumber = n
			}
		}
		if idx < len(offsets) {
			pos.Offset = strings.Trim(string(offsets[idx]), `"`)
		}
		if idx < len(times) {
			pos.EnqueuedTime = parseEnqueued(times[idx])
		}
	}
	if len(seqs) != 0 && len(seqs) != len(r.Events) {
		errs = append(errs, fmt.Errorf("SequenceNumberArray has %d entries for %d events", len(seqs), len(r.Events)))
	}
	return errors.Join(errs...)
}

// decodeRetry reads RetryCount and MaxRetryCount and skips everything else
// (Exception above all: it is walked, never decoded into values). A
// context without both counts is an error: a guess could make a final
// attempt look like one the host will retry.
func decodeRetry(b []byte) (*Retry, error) {
	var rc Retry
	sawCount, sawMax := false, false
	num := func(v int, dst *int) (int, error) {
		end, err := jsonscan.SkipValue(b, v)
		if err != nil {
			return end, err
		}
		n, err := strconv.Atoi(string(b[v:end]))
		if err != nil {
			return end, fmt.Errorf("%.20q is not a whole number", b[v:end])
		}
		*dst = n
		return end, nil
	}
	_, err := jsonscan.Object(b, 0, func(key []byte, _ bool, v int) (int, error) {
		switch string(key) {
		case "RetryCount":
			sawCount = true
			return num(v, &rc.Count)
		case "MaxRetryCount":
			sawMax = true
			return num(v, &rc.Max)
		}
		return jsonscan.SkipValue(b, v)
	})
	if err != nil {
		return nil, err
	}
	if !sawCount || !sawMax {
		return nil, errors.New("RetryCount or MaxRetryCount missing")
	}
	return &rc, nil
}

// parseEnqueued parses the host's enqueued times, which come without a zone
// (they are UTC) and sometimes with one.
func parseEnqueued(s string) time.Time {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Response is what the handler answers. Outputs must be an object and the
// body must never be empty: the host hangs on an empty 2xx body.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// NewResponse returns a response with empty, non-null Outputs and Logs.
func NewResponse() *Response {
	return &Response{Outputs: map[string]any{}, Logs: []string{}}
}
