package invocation

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "functions", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oracle returns the decoded bodies the samples must yield, compacted.
func oracle(t *testing.T) [][]byte {
	var bodies []json.RawMessage
	if err := json.Unmarshal(readSample(t, "eventhub-many-decoded-bodies.json"), &bodies); err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(bodies))
	for i, b := range bodies {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			t.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("body is not JSON: %v: %.80s", err, b)
	}
	return buf.Bytes()
}

func TestDecodeSamples(t *testing.T) {
	want := oracle(t)
	for _, tc := range []struct {
		file, binding string
		events        int
	}{
		{"eventhub-invocation-many.json", "events", 2},
		{"eventhub-invocation-many-default-datatype.json", "events", 2},
		{"eventhub-invocation-many-binary.json", "events", 2},
		{"eventhub-invocation-one.json", "event", 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			req, err := Decode(readSample(t, tc.file), tc.binding)
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Events) != tc.events {
				t.Fatalf("got %d events, want %d", len(req.Events), tc.events)
			}
			for i, ev := range req.Events {
				if ev.Err != nil {
					t.Fatalf("event %d: %v", i, ev.Err)
				}
				if got := compact(t, ev.Body); !bytes.Equal(got, want[i]) {
					t.Errorf("event %d body differs from the oracle:\n got %.200s\nwant %.200s", i, got, want[i])
				}
			}
		})
	}
}

func TestDecodeMetadataPositions(t *testing.T) {
	req, err := Decode(readSample(t, "eventhub-invocation-many.json"), "events")
	if err != nil {
		t.Fatal(err)
	}
	if req.MetadataErr != nil {
		t.Fatal(req.MetadataErr)
	}
	if req.Partition.PartitionID != "3" || req.Partition.EventHubName != "insights-logs-signinlogs" || req.Partition.ConsumerGroup != "go-handler" {
		t.Errorf("partition context = %+v", req.Partition)
	}
	p0, p1 := req.Events[0].Pos, req.Events[1].Pos
	if p0.SequenceNumber != 1207 || p1.SequenceNumber != 1208 {
		t.Errorf("sequence numbers = %d, %d", p0.SequenceNumber, p1.SequenceNumber)
	}
	if p0.Offset != "34359738368" || p1.Offset != "34359742464" {
		t.Errorf("offsets = %q, %q", p0.Offset, p1.Offset)
	}
	if want := time.Date(2025, 1, 15, 10, 21, 7, 518e6, time.UTC); !p0.EnqueuedTime.Equal(want) {
		t.Errorf("enqueued time = %v, want %v", p0.EnqueuedTime, want)
	}
	if p0.Partition != "3" || p1.Index != 1 {
		t.Errorf("positions = %+v %+v", p0, p1)
	}
	if first, last := req.SequenceRange(); first != 1207 || last != 1208 {
		t.Errorf("range = %d..%d", first, last)
	}
}

func TestDecodeRetryContext(t *testing.T) {
	body := `{"Data":{"events":"[]"},"Metadata":{"RetryContext":{"RetryCount":2,"MaxRetryCount":5,"Exception":null}}}`
	req, err := Decode([]byte(body), "events")
	if err != nil {
		t.Fatal(err)
	}
	if req.Retry == nil || req.Retry.Count != 2 || req.Retry.Max != 5 {
		t.Errorf("retry = %+v", req.Retry)
	}
}

func TestDecodeBadEventKeepsOthers(t *testing.T) {
	inner, _ := json.Marshal([]string{`{"records":[]}`, `not json at all`, `{"records":[{}]}`})
	outer, _ := json.Marshal(string(inner))
	body := `{"Data":{"events":` + string(outer) + `},"Metadata":{}}`
	req, err := Decode([]byte(body), "events")
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Events) != 3 {
		t.Fatalf("got %d events", len(req.Events))
	}
	if req.Events[0].Err != nil || req.Events[2].Err != nil {
		t.Errorf("good events marked bad: %v / %v", req.Events[0].Err, req.Events[2].Err)
	}
	if req.Events[1].Err == nil || string(req.Events[1].Body) != "not json at all" {
		t.Errorf("bad event = %+v", req.Events[1])
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	for name, body := range map[string]string{
		"empty":           ``,
		"not object":      `[1,2]`,
		"no data":         `{"Metadata":{}}`,
		"no binding":      `{"Data":{"other":"[]"}}`,
		"truncated":       `{"Data":{"events":"[\"{}\"`,
		"bad escape":      `{"Data":{"events":"[\q]"}}`,
		"unterminated el": `{"Data":{"events":"[\"abc]"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(body), "events"); err == nil {
				t.Errorf("Decode(%q) succeeded", body)
			}
		})
	}
}

func TestResponseShape(t *testing.T) {
	b, err := json.Marshal(NewResponse())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"Outputs":{},"Logs":[],"ReturnValue":null}` {
		t.Errorf("empty response = %s", b)
	}
	if !strings.Contains(string(readSample(t, "invocation-response-success.json")), `"Outputs"`) {
		t.Error("sample response lost its Outputs key")
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"eventhub-invocation-many.json", "eventhub-invocation-one.json", "eventhub-invocation-many-binary.json", "eventhub-invocation-many-default-datatype.json"} {
		f.Add(readSample(f, name))
	}
	f.Add([]byte(`{"Data":{"events":"[\"{\\\"records\\\":[]}\"]"}}`))
	f.Add([]byte(`{"Data":{"events":[{"records":[]}]}}`))
	f.Add([]byte(`{"Data":{"events":"[]"},"Metadata":{"RetryContext":{"RetryCount":1,"MaxRetryCount":-1,"Exception":{"Message":"x","Data":[{}]}}}}`))
	f.Add([]byte(`{"Data":{"events":"[]"},"Metadata":{"RetryContext":"{\"RetryCount\":1e3,\"MaxRetryCount\":2}"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, binding := range []string{"events", "event"} {
			req, err := Decode(body, binding)
			if err != nil {
				continue
			}
			if req.Retry == nil && !req.LastAttempt() {
				t.Fatalf("no retry context but not the last attempt")
			}
			for _, ev := range req.Events {
				if ev.Err == nil && len(ev.Body) == 0 {
					t.Fatalf("event without body and without error")
				}
			}
		}
	})
}

// encodeHost encodes v as the host does (Newtonsoft: no HTML escaping).
func encodeHost(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// eventsValue returns the raw Data.events value of a sample invocation.
func eventsValue(t testing.TB, name, binding string) []byte {
	var inv struct{ Data map[string]json.RawMessage }
	if err := json.Unmarshal(readSample(t, name), &inv); err != nil {
		t.Fatal(err)
	}
	return inv.Data[binding]
}

// checkFusedMatchesTwoPass decodes the trigger value src both ways: where
// the one-pass decoder accepts it, the two-pass one must too, with the same
// events and the same end.
func checkFusedMatchesTwoPass(t *testing.T, src []byte) (fusedOK bool) {
	t.Helper()
	if len(src) == 0 || src[0] != '"' {
		return false
	}
	// The scratch buffer grows as needed: starting from nothing gives the
	// same contents as starting from plenty.
	var big, small [][]byte
	endBig, okBig := jsonscan.UnescapeStringArray(make([]byte, len(src)+64), src, func(_ int, c []byte) { big = append(big, bytes.Clone(c)) })
	endSmall, okSmall := jsonscan.UnescapeStringArray(nil, src, func(_ int, c []byte) { small = append(small, bytes.Clone(c)) })
	if endBig != endSmall || okBig != okSmall || len(big) != len(small) && okBig {
		t.Fatalf("scratch of %d bytes: %d %v %d; none: %d %v %d", len(src)+64, endBig, okBig, len(big), endSmall, okSmall, len(small))
	}
	for i := range big {
		if okBig && !bytes.Equal(big[i], small[i]) {
			t.Fatalf("element %d: %q with scratch, %q growing it", i, big[i], small[i])
		}
	}
	var fused, two Request
	end, ok := fused.decodeFused(src, 0)
	if !ok {
		if len(fused.Events) != 0 {
			t.Fatalf("failed one-pass decode left %d events", len(fused.Events))
		}
		return false
	}
	end2, err := two.decodeTwoPass(src, 0)
	if err != nil {
		t.Fatalf("one pass accepted %q, two passes say %v", src, err)
	}
	if end != end2 {
		t.Fatalf("end %d, two passes end at %d, in %q", end, end2, src)
	}
	if len(fused.Events) != len(two.Events) {
		t.Fatalf("%d events, two passes give %d, in %q", len(fused.Events), len(two.Events), src)
	}
	for i, ev := range fused.Events {
		tw := two.Events[i]
		if !bytes.Equal(ev.Body, tw.Body) || (ev.Err == nil) != (tw.Err == nil) || (ev.Err != nil && ev.Err.Error() != tw.Err.Error()) || ev.Pos != tw.Pos {
			t.Fatalf("event %d differs in %q:\n one pass %q %v %+v\ntwo passes %q %v %+v", i, src, ev.Body, ev.Err, ev.Pos, tw.Body, tw.Err, tw.Pos)
		}
	}
	return true
}

func TestFusedDecodesHostForms(t *testing.T) {
	// The sample's own value and the benchmark's shapes take the one-pass
	// road, with the same result as two passes.
	if !checkFusedMatchesTwoPass(t, eventsValue(t, "eventhub-invocation-many.json", "events")) {
		t.Error("the sample invocation fell back to two passes")
	}
	for _, bodies := range [][]string{
		{},
		{`{"records":[]}`},
		{`{"records":[{"category":"AuditLogs","properties":{"newValue":"\"\"","x":"a\\b\/c\n\t\r\b\f"}}]}`, `{"records":[]}`},
		{`{"records":[{"name":"é€𝄞 <&> \u00e9 \ud834\udd1e \ud800 \udc00 \ud800\u0041"}]}`},
		{`  {"records":[]}  `, `"{\"records\":[]}"`, `not json`, ``, `eyJyZWNvcmRzIjpbXX0=`},
	} {
		inner := encodeHost(t, bodies)
		outer := encodeHost(t, string(inner))
		if !checkFusedMatchesTwoPass(t, outer) {
			t.Errorf("%s fell back to two passes", outer)
		}
	}
	// Forms left to the two-pass decoder.
	for _, src := range []string{
		`"[\"a\u0041\"]"`, `"[{\"records\":[]}]"`, `"{\"records\":[]}"`, `"[\"a\"] x"`, `"[\"a\",]"`,
		`"[\"a\\u00\"]"`, `"[\"a\\q\"]"`, `"[\"a\n\"]"`, `"[\"a"]`, `"[\"a\"`, `"[\"a\u005c\u0022\"]"`,
	} {
		if checkFusedMatchesTwoPass(t, []byte(src)) {
			t.Errorf("one pass accepted %s", src)
		}
	}
	// Whitespace of the inner layer, as escapes or spaces.
	if !checkFusedMatchesTwoPass(t, []byte(`"\n[ \"{}\" ,\t\r\"[]\"\n]\n"`)) {
		t.Error("inner whitespace fell back")
	}
}

// FuzzFusedMatchesTwoPass holds the one-pass decoder of the usual trigger
// value to the two-pass one on arbitrary input.
func FuzzFusedMatchesTwoPass(f *testing.F) {
	f.Add(eventsValue(f, "eventhub-invocation-many.json", "events"))
	f.Add(eventsValue(f, "eventhub-invocation-many-binary.json", "events"))
	f.Add(eventsValue(f, "eventhub-invocation-many-default-datatype.json", "events"))
	f.Add(encodeHost(f, string(encodeHost(f, []string{`{"a":"\"\\\/\n\u00e9\ud834\udd1e\ud800x\udc00"}`, "é€𝄞", ""}))))
	f.Add([]byte(`"[\"\\ud800\\udc00\\ud800\\u0041\\udc00\"]"`))
	f.Add([]byte(`"\n[ \"{}\" ,\t\r\"[]\"\n]\n"`))
	f.Add([]byte(`"[\"a\\\/\/\\\\\\\"\"]"`))
	f.Fuzz(func(t *testing.T, src []byte) {
		checkFusedMatchesTwoPass(t, src)
	})
}

// FuzzFusedRoundTrip encodes arbitrary bodies as the host does: the
// one-pass decoder must give them back, and must take its own road unless
// the encoder used an escape of the outer layer.
func FuzzFusedRoundTrip(f *testing.F) {
	f.Add(`{"records":[{"a":"\"x\""}]}`, "é\\\"/\u2028", 2)
	f.Fuzz(func(t *testing.T, a, b string, n int) {
		bodies := []string{a, b, a + b}[:1+(n&3)%3]
		outer := encodeHost(t, string(encodeHost(t, bodies)))
		// Go's encoder escapes nothing in the outer layer but quotes and
		// backslashes (the inner text is valid UTF-8 without control
		// characters), so the one-pass road must always be taken.
		if !checkFusedMatchesTwoPass(t, outer) {
			t.Fatalf("one pass fell back on %q", outer)
		}
		var fused Request
		_, _ = fused.decodeFused(outer, 0)
		for i, ev := range fused.Events {
			want := strings.TrimSpace(bodies[i])
			if utf8.ValidString(want) && len(want) > 0 && (want[0] == '{' || want[0] == '[') && (ev.Err != nil || string(ev.Body) != want) {
				t.Fatalf("body %d = %q (%v), want %q", i, ev.Body, ev.Err, want)
			}
		}
	})
}
