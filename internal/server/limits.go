package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// How large an invocation can be, and how much memory it may take.
//
// The body limit follows from the host's batch settings:
//
//	MaxBodyBytes = maxEventBatchSize x MaxEventBytes x EscapeFactor + EnvelopeBytes
//
// maxEventBatchSize comes from host.json (extensions.eventHubs; the
// extension's default, 100, when unset). MaxEventBytes is Event Hubs' largest
// event (1 MB on Standard, Premium and Dedicated). EscapeFactor covers the
// host sending each body as a JSON string inside a JSON string: every quote
// of an Entra record becomes four bytes (\\\"), which makes real batches
// 1.2 to 1.4 times their events (tools/benchgen measures 1.35); 2 leaves
// room for records dense in escaped strings. With host.json as shipped
// (100 events) the limit is 201 MiB. SPRESPONDER_MAX_INVOCATION_BYTES
// overrides the result. A body over the limit is refused (413) before it
// is read; anything that large did not come from a diagnostic setting.
const (
	MaxEventBytes            = 1 << 20
	EscapeFactor             = 2
	EnvelopeBytes            = 1 << 20
	DefaultMaxEventBatchSize = 100
	// PeakPerBodyByte is what an invocation may hold per byte of its
	// body while it is decoded and processed (the body, the decoded
	// events, the read buffers not yet collected): 2.5, written as a
	// fraction. BenchmarkConcurrentFullBatches measures it.
	PeakPerBodyByteNum, PeakPerBodyByteDen = 5, 2
	// ProcessAllowance is what the rest of the process (clients, caches,
	// the incident pipeline) is allowed beside the budget in the soft
	// memory limit Serve sets.
	ProcessAllowance = 128 << 20
	// DefaultInstanceMemory is assumed when no cgroup limit is found:
	// the smaller Flex Consumption instance size.
	DefaultInstanceMemory = 2 << 30
)

// Limits bound what the server reads.
type Limits struct {
	// MaxBodyBytes is the largest invocation body accepted.
	MaxBodyBytes int64
	// MaxBytesInFlight is the memory all invocations in progress may hold
	// together; each is charged PeakPerBodyByte times its body from
	// before it is read until it is processed. The host runs one
	// invocation per partition at once (up to 32 per instance); when the
	// budget is spent, an invocation waits for room instead of reading.
	// Default: half the instance memory.
	MaxBytesInFlight int64
	// AdmissionWait bounds that wait; past it the invocation is answered
	// 503 (the host retries it if a retry policy is set). Default: half
	// the invocation deadline, so an admitted batch still has time to run.
	AdmissionWait time.Duration
}

// BodyLimit is the formula above.
func BodyLimit(maxEventBatchSize int) int64 {
	if maxEventBatchSize <= 0 {
		maxEventBatchSize = DefaultMaxEventBatchSize
	}
	return int64(maxEventBatchSize)*MaxEventBytes*EscapeFactor + EnvelopeBytes
}

// charge is what an invocation with a body of n bytes is charged.
func charge(n int64) int64 { return n * PeakPerBodyByteNum / PeakPerBodyByteDen }

// DefaultLimits are the limits for host.json's defaults and an instance of
// DefaultInstanceMemory, without reading anything.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: BodyLimit(DefaultMaxEventBatchSize), MaxBytesInFlight: DefaultInstanceMemory / 2}
}

// LimitsFor derives the limits: the body limit from host.json at
// hostJSON ("" or a missing file: the extension's defaults) unless
// maxBody > 0 overrides it, and the budget from the instance memory (the
// cgroup limit, else DefaultInstanceMemory) unless inFlight > 0 overrides
// it. The budget is raised to admit at least one largest body, or no
// batch of that size could ever run. The error says which input was bad.
func LimitsFor(hostJSON string, maxBody, inFlight int64) (Limits, string, error) {
	l := DefaultLimits()
	var how []string
	if maxBody > 0 {
		l.MaxBodyBytes = maxBody
		how = append(how, "body limit set")
	} else {
		n, err := HostMaxEventBatchSize(hostJSON)
		if err != nil {
			return l, "", err
		}
		l.MaxBodyBytes = BodyLimit(n)
		how = append(how, fmt.Sprintf("body limit = %d events x %d x %d + %d", n, MaxEventBytes, EscapeFactor, EnvelopeBytes))
	}
	if inFlight > 0 {
		l.MaxBytesInFlight = inFlight
		how = append(how, "bytes in flight set")
	} else {
		mem, src := InstanceMemory()
		l.MaxBytesInFlight = mem / 2
		how = append(how, fmt.Sprintf("bytes in flight = %s memory %d / 2", src, mem))
	}
	if c := charge(l.MaxBodyBytes); l.MaxBytesInFlight < c {
		l.MaxBytesInFlight = c
		how = append(how, "raised to admit one largest body")
	}
	return l, strings.Join(how, "; "), nil
}

// HostMaxEventBatchSize reads extensions.eventHubs.maxEventBatchSize from
// host.json; a missing file or setting gives the extension's default.
func HostMaxEventBatchSize(path string) (int, error) {
	if path == "" {
		return DefaultMaxEventBatchSize, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultMaxEventBatchSize, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	var h struct {
		Extensions struct {
			EventHubs struct {
				MaxEventBatchSize *int `json:"maxEventBatchSize"`
			} `json:"eventHubs"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	n := h.Extensions.EventHubs.MaxEventBatchSize
	switch {
	case n == nil:
		return DefaultMaxEventBatchSize, nil
	case *n < 1 || *n > 10000:
		return 0, fmt.Errorf("%s: extensions.eventHubs.maxEventBatchSize = %d: want 1 to 10000", path, *n)
	}
	return *n, nil
}

// InstanceMemory returns the memory limit of this process's cgroup (v2,
// then v1) and where it came from, or DefaultInstanceMemory when there is
// none.
func InstanceMemory() (int64, string) {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		// "max" (v2) or a page-rounded maximum (v1) mean no limit.
		if err == nil && n > 0 && n < 1<<50 {
			return n, "cgroup"
		}
	}
	return DefaultInstanceMemory, "assumed instance"
}

// errTooLarge reports a body over the limit.
var errTooLarge = errors.New("invocation body too large")

// readBody reads a body of n bytes (-1: unknown) of at most limit bytes.
// A known length is read into one buffer of exactly that size. An unknown
// one is read in chunks and joined once at the end: growing one buffer by
// doubling would hold the old and the new buffer at once and leave up to
// twice the body as garbage.
func readBody(r io.Reader, n, limit int64) ([]byte, error) {
	if n > limit {
		return nil, errTooLarge
	}
	if n >= 0 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	const chunk = 1 << 20
	var chunks [][]byte
	var total int64
	for {
		c := make([]byte, chunk)
		k, err := io.ReadFull(r, c)
		total += int64(k)
		if total > limit {
			return nil, errTooLarge
		}
		chunks = append(chunks, c[:k])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	buf := make([]byte, 0, total)
	for i, c := range chunks {
		buf = append(buf, c...)
		chunks[i] = nil // collectable as soon as it is copied
	}
	return buf, nil
}

// admission is one invocation's charge against the bytes-in-flight budget.
type admission struct {
	s *Server
	n int64
}

// admit waits for room for n bytes, at most AdmissionWait and never past
// ctx; waiting is better than reading, for reading is what costs memory.
func (s *Server) admit(ctx context.Context, n int64) (*admission, error) {
	n = min(n, s.limits.MaxBytesInFlight)
	wctx, cancel := context.WithTimeout(ctx, s.limits.AdmissionWait)
	defer cancel()
	start := time.Now()
	if err := s.inFlight.Acquire(wctx, n); err != nil {
		return nil, fmt.Errorf("instance busy: %d bytes in flight of %d (SPRESPONDER_MAX_BYTES_IN_FLIGHT), no room for %d more after waiting %s: %w",
			s.held.Load(), s.limits.MaxBytesInFlight, n, time.Since(start).Round(time.Millisecond), err)
	}
	s.held.Add(n)
	return &admission{s: s, n: n}, nil
}

// shrink lowers the charge once the body's real size is known.
func (a *admission) shrink(n int64) {
	if n < a.n {
		a.s.inFlight.Release(a.n - n)
		a.s.held.Add(n - a.n)
		a.n = n
	}
}

// release returns the charge; it may be called more than once.
func (a *admission) release() {
	if a.n > 0 {
		a.s.inFlight.Release(a.n)
		a.s.held.Add(-a.n)
		a.n = 0
	}
}
