package hubreplay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/invocation"
)

var (
	// t0 is the enqueued time of the first event of every partition.
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// testFixture is what the fake serves; testFake is the fake.
	testFixture fixture
	testFake    *fake
)

func TestMain(m *testing.M) {
	fx, err := buildFixture()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubreplay tests: build fixture:", err)
		os.Exit(1)
	}
	testFixture = fx
	testFake = startFake(fx)
	code := m.Run()
	testFake.stop()
	os.Exit(code)
}

// buildFixture makes 3 partitions of 20 events: in partition p, event i
// is enqueued at t0 + i*(p+1) minutes + p*7 seconds, so the partitions
// interleave and span 19, 38 and 57 minutes. Bodies are the Entra samples
// from testdata/entra, compacted, in turn.
func buildFixture() (fixture, error) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "entra", "sample-*.json"))
	if err != nil || len(paths) == 0 {
		return fixture{}, fmt.Errorf("no testdata/entra/sample-*.json (%v)", err)
	}
	var bodies []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return fixture{}, err
		}
		var b bytes.Buffer
		if err := json.Compact(&b, data); err != nil {
			return fixture{}, fmt.Errorf("%s: %w", p, err)
		}
		bodies = append(bodies, b.String())
	}
	fx := fixture{Hub: "entra", Partitions: map[string][]fixtureEvent{}}
	n := 0
	for p := range 3 {
		var evs []fixtureEvent
		offset := 0
		for i := range 20 {
			body := bodies[n%len(bodies)]
			n++
			evs = append(evs, fixtureEvent{
				Body:         body,
				EnqueuedTime: t0.Add(time.Duration(i*(p+1))*time.Minute + time.Duration(p*7)*time.Second),
				seq:          int64(i),
				offset:       strconv.Itoa(offset),
			})
			offset += len(body)
		}
		fx.Partitions[strconv.Itoa(p)] = evs
	}
	return fx, nil
}

// want lists the fixture's events in [from, to] of the given partitions
// (all when none), ordered by partition then sequence number.
func want(from, to time.Time, partitions ...string) []invocation.Event {
	if len(partitions) == 0 {
		partitions = []string{"0", "1", "2"}
	}
	var out []invocation.Event
	for _, p := range partitions {
		for _, e := range testFixture.Partitions[p] {
			if e.EnqueuedTime.Before(from) || e.EnqueuedTime.After(to) {
				continue
			}
			out = append(out, invocation.Event{
				Body: []byte(e.Body),
				Pos: invocation.Position{
					Partition:      p,
					SequenceNumber: e.seq,
					Offset:         e.offset,
					EnqueuedTime:   e.EnqueuedTime,
					Index:          len(out),
				},
			})
		}
	}
	return out
}

func assertEvents(t *testing.T, got, want []invocation.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d events, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if !g.Pos.EnqueuedTime.Equal(w.Pos.EnqueuedTime) {
			t.Errorf("event %d: enqueued %s, want %s", i, g.Pos.EnqueuedTime, w.Pos.EnqueuedTime)
		}
		g.Pos.EnqueuedTime, w.Pos.EnqueuedTime = time.Time{}, time.Time{}
		if g.Pos != w.Pos {
			t.Errorf("event %d: position %+v, want %+v", i, g.Pos, w.Pos)
		}
		if !bytes.Equal(g.Body, w.Body) {
			t.Errorf("event %d (%+v): body differs: %.60q..., want %.60q...", i, w.Pos, g.Body, w.Body)
		}
		if g.Err != nil {
			t.Errorf("event %d: Err %v", i, g.Err)
		}
	}
}

func config(t *testing.T, from, to time.Time) hubreplay.Config {
	t.Helper()
	return hubreplay.Config{
		ConnectionString: testFake.connString(t),
		Hub:              "entra",
		ConsumerGroup:    "replay",
		From:             from,
		To:               to,
		ReceiveTimeout:   2 * time.Second,
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestReadTimeRange(t *testing.T) {
	// From and To fall exactly on events of partition 0: both are inclusive.
	from, to := t0.Add(5*time.Minute), t0.Add(12*time.Minute)
	got, err := hubreplay.Read(testContext(t), config(t, from, to))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	w := want(from, to)
	for _, p := range []string{"0", "1", "2"} {
		if len(want(from, to, p)) == 0 {
			t.Fatalf("fixture: partition %s has no event in the range; the test proves nothing", p)
		}
	}
	assertEvents(t, got, w)
}

func TestReadWholeHub(t *testing.T) {
	// The range runs past the end of every partition: reading stops at the
	// last enqueued sequence number instead of waiting for more.
	from, to := t0.Add(-time.Hour), t0.Add(24*time.Hour)
	start := time.Now()
	got, err := hubreplay.Read(testContext(t), config(t, from, to))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	assertEvents(t, got, want(from, to))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Read took %s: it waited for events past the last enqueued one", d)
	}
}

func TestReadFromAfterEverything(t *testing.T) {
	from, to := t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	got, err := hubreplay.Read(testContext(t), config(t, from, to))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("got %d events, want none", len(got))
	}
}

func TestReadRangeBetweenEvents(t *testing.T) {
	// Events exist after To but none inside the range.
	from, to := t0.Add(19*time.Minute+30*time.Second), t0.Add(19*time.Minute+40*time.Second)
	got, err := hubreplay.Read(testContext(t), config(t, from, to))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	assertEvents(t, got, nil)
}

func TestReadCapped(t *testing.T) {
	from, to := t0.Add(5*time.Minute), t0.Add(12*time.Minute)
	all := want(from, to)
	cfg := config(t, from, to)
	cfg.MaxEvents = 7
	got, err := hubreplay.Read(testContext(t), cfg)
	if !errors.Is(err, hubreplay.ErrCapped) {
		t.Fatalf("Read: err %v, want ErrCapped", err)
	}
	if !strings.Contains(err.Error(), "7") {
		t.Errorf("error %q does not name the cap", err)
	}
	assertEvents(t, got, all[:7])

	// Exactly as many events as the cap: not capped.
	cfg.MaxEvents = len(all)
	got, err = hubreplay.Read(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Read with MaxEvents = %d (all of them): %v", len(all), err)
	}
	assertEvents(t, got, all)
}

func TestReadOnePartition(t *testing.T) {
	from, to := t0.Add(5*time.Minute), t0.Add(40*time.Minute)
	cfg := config(t, from, to)
	cfg.Partitions = []string{"1"}
	got, err := hubreplay.Read(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	assertEvents(t, got, want(from, to, "1"))
}

func TestReadUnknownPartition(t *testing.T) {
	cfg := config(t, t0, t0.Add(time.Hour))
	cfg.Partitions = []string{"7"}
	_, err := hubreplay.Read(testContext(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "no partition 7") {
		t.Fatalf("Read: err %v, want one naming partition 7", err)
	}
}

func TestReadFakeNotRunning(t *testing.T) {
	port := freePort(t)
	cfg := hubreplay.Config{
		ConnectionString: fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=k;SharedAccessKey=%s;UseDevelopmentEmulator=true", port, testKey),
		Hub:              "entra",
		From:             t0,
		To:               t0.Add(time.Hour),
		// Retry left at the default: the bound is what on-call gets.
	}
	start := time.Now()
	_, err := hubreplay.Read(testContext(t), cfg)
	took := time.Since(start)
	if err == nil {
		t.Fatal("Read: no error with nothing listening")
	}
	t.Logf("error after %s: %v", took, err)
	if took > 15*time.Second {
		t.Errorf("Read took %s to fail", took)
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d", port)) || !strings.Contains(msg, "entra") {
		t.Errorf("error %q does not name the namespace and hub", msg)
	}
	if strings.Contains(msg, testKey) {
		t.Errorf("error leaks the shared access key: %q", msg)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := hubreplay.Config{
		ConnectionString: "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
		Hub:              "entra",
		From:             t0,
		To:               t0.Add(time.Hour),
	}
	for name, tc := range map[string]struct {
		edit func(*hubreplay.Config)
		want string
	}{
		"no endpoint":        {func(c *hubreplay.Config) { c.ConnectionString = "" }, "give Namespace"},
		"both endpoints":     {func(c *hubreplay.Config) { c.Namespace = "ns.servicebus.windows.net" }, "not both"},
		"no credential":      {func(c *hubreplay.Config) { c.ConnectionString, c.Namespace = "", "ns.servicebus.windows.net" }, "needs a Credential"},
		"bad conn string":    {func(c *hubreplay.Config) { c.ConnectionString = "SharedAccessKey=" + testKey }, "not a valid"},
		"no hub":             {func(c *hubreplay.Config) { c.Hub = "" }, "Hub is empty"},
		"no from":            {func(c *hubreplay.Config) { c.From = time.Time{} }, "From and To"},
		"to before from":     {func(c *hubreplay.Config) { c.To = t0.Add(-time.Second) }, "before From"},
		"negative MaxEvents": {func(c *hubreplay.Config) { c.MaxEvents = -1 }, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := hubreplay.Read(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}
