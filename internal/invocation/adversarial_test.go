package invocation

import (
	"strings"
	"testing"
)

// The host's RetryContext carries the previous attempt's .NET exception,
// serialised by Json.NET: opaque and possibly large. It must decode without
// keeping it, and whatever shape it takes must not cost the counts.
func TestRetryContextExceptionIsNotKept(t *testing.T) {
	huge := `{"ClassName":"System.Net.Http.HttpRequestException","Message":"` + strings.Repeat("x", 1<<20) +
		`","Data":{"a":[1,2,{"b":null}]},"InnerException":{"ClassName":"X","InnerException":null},"StackTraceString":"at ..."}`
	for name, rc := range map[string]string{
		"object exception": `{"RetryCount":3,"MaxRetryCount":3,"Exception":` + huge + `,"Instance":null,"State":{}}`,
		"string exception": `{"RetryCount":3,"MaxRetryCount":3,"Exception":"boom"}`,
		"as a string":      `"{\"RetryCount\":3,\"MaxRetryCount\":3,\"Exception\":null}"`,
	} {
		body := `{"Data":{"events":"[]"},"Metadata":{"RetryContext":` + rc + `}}`
		req, err := Decode([]byte(body), "events")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if req.MetadataErr != nil {
			t.Errorf("%s: metadata error %v", name, req.MetadataErr)
		}
		if req.Retry == nil || req.Retry.Count != 3 || req.Retry.Max != 3 || !req.Retry.Last() {
			t.Errorf("%s: retry = %+v", name, req.Retry)
		}
	}
}

// Last follows the host: the attempt with RetryCount == MaxRetryCount is the
// last one; -1 retries forever; no retry context means no retry policy, so
// every invocation is final.
func TestRetryLast(t *testing.T) {
	for _, tc := range []struct {
		rc   *Retry
		last bool
	}{
		{nil, true},
		{&Retry{Count: 0, Max: 5}, false},
		{&Retry{Count: 4, Max: 5}, false},
		{&Retry{Count: 5, Max: 5}, true},
		{&Retry{Count: 7, Max: 5}, true},
		{&Retry{Count: 100, Max: -1}, false},
		{&Retry{Count: 0, Max: 0}, true},
	} {
		if got := tc.rc.Last(); got != tc.last {
			t.Errorf("%+v.Last() = %v, want %v", tc.rc, got, tc.last)
		}
	}
	req := &Request{}
	if !req.LastAttempt() {
		t.Error("a request without a retry context is not final")
	}
}

// A retry context whose counts are not numbers is reported, and treated as
// no retry context (so the invocation is final: better to page than to
// hope for a retry that the host will not make).
func TestRetryContextMalformed(t *testing.T) {
	body := `{"Data":{"events":"[]"},"Metadata":{"RetryContext":{"RetryCount":"two","MaxRetryCount":5}}}`
	req, err := Decode([]byte(body), "events")
	if err != nil {
		t.Fatal(err)
	}
	if req.MetadataErr == nil || !strings.Contains(req.MetadataErr.Error(), "RetryContext") {
		t.Errorf("metadata error = %v", req.MetadataErr)
	}
	if req.Retry != nil || !req.LastAttempt() {
		t.Errorf("retry = %+v", req.Retry)
	}
}

// The batch's position is exposed for the attempt counter and the page.
func TestBatchPosition(t *testing.T) {
	body := `{"Data":{"events":"[\"{}\",\"{}\"]"},"Metadata":{"PartitionContext":{"PartitionId":"7"},"SequenceNumberArray":"[41,42]"}}`
	req, err := Decode([]byte(body), "events")
	if err != nil {
		t.Fatal(err)
	}
	if req.PartitionID() != "7" {
		t.Errorf("partition = %q", req.PartitionID())
	}
	if f, l := req.SequenceRange(); f != 41 || l != 42 {
		t.Errorf("range = %d..%d", f, l)
	}
}
