package invocation

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if req.Retry == nil || req.Retry.RetryCount != 2 || req.Retry.MaxRetryCount != 5 {
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
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, binding := range []string{"events", "event"} {
			req, err := Decode(body, binding)
			if err != nil {
				continue
			}
			for _, ev := range req.Events {
				if ev.Err == nil && len(ev.Body) == 0 {
					t.Fatalf("event without body and without error")
				}
			}
		}
	})
}
