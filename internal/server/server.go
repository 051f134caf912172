// Package server is the Functions custom handler's HTTP edge. The host
// starts the binary, waits until GET / answers on
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, then POSTs each invocation to
// /<FunctionName>. The server decodes the invocation, hands its events to
// the pipeline, and answers {"Outputs":{},"Logs":[...],"ReturnValue":null}
// as application/json. It answers non-2xx only when the batch must be
// retried: when something received could not be made durable. The host
// checkpoints the batch after its retries whatever the answer, so anything
// the handler answers 2xx for must already be safe.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/playbook"
)

// Function names: the folder names under functions/ (the host routes
// POST /<folder>). TestFunctionsHaveRoutes checks both sides.
const (
	EntraLogs = "EntraLogs"
	Health    = "Health"
	Sweep     = "Sweep"
	Replay    = "Replay"
)

// EventsBinding is the trigger's name in functions/EntraLogs/function.json.
const EventsBinding = "events"

// Responder takes the signals of a batch into the response pipeline
// (playbook.Responder.Handle). It must return only once they are durable
// (claimed); an error fails the invocation so the host retries it.
type Responder interface {
	Handle(ctx context.Context, sigs []detect.Signal, log *zap.Logger) (playbook.Outcome, error)
}

// Arrivals learns which Entra log categories a batch carried, once the
// batch is read (the reconcile heartbeat); it never fails the batch.
type Arrivals interface {
	Arrived(ctx context.Context, byCategory map[string]int)
}

// Processor turns events into signals (intake + detect).
type Processor interface {
	Process(ctx context.Context, events []invocation.Event) (intake.Result, error)
}

// Sweeper re-drives parked and abandoned incidents (the timer function).
type Sweeper interface {
	Sweep(ctx context.Context) (summary string, err error)
}

// Replayer runs an on-call replay posted to the Replay HTTP function: the
// request body holds event bodies as a replay file does; query parameters
// choose a plan (the default) or execute=true with an operator. It returns
// the HTTP status and JSON body for the caller.
type Replayer interface {
	Replay(ctx context.Context, req ReplayRequest) (status int, result []byte)
}

// ReplayRequest is the HTTP request the host forwards to the Replay
// function. Headers carry what the platform adds: App Service
// Authentication's X-MS-CLIENT-PRINCIPAL* when it is on, X-Forwarded-For.
type ReplayRequest struct {
	Body    []byte
	Query   map[string]string
	Headers map[string][]string
}

// Server is the handler's HTTP server.
type Server struct {
	proc     Processor
	resp     Responder
	sweeper  Sweeper
	replayer Replayer
	actor    Actor
	lost     LostBatches
	arrivals Arrivals
	log      *zap.Logger
	timeout  time.Duration
	started  time.Time
	limits   Limits
	// inFlight admits invocations while their charge (see Limits) fits
	// the budget; FIFO, so a large batch is not starved by small ones.
	inFlight *semaphore.Weighted
	held     atomic.Int64 // bytes charged now, for messages and logs

	invocations atomic.Int64
	failures    atomic.Int64
	lastBatch   atomic.Int64 // unix nanoseconds
}

// New builds the server. resp and sweeper may be nil: then signals are
// only logged and the timer has nothing to re-drive (intake-only tests).
func New(proc Processor, resp Responder, sweeper Sweeper, log *zap.Logger) *Server {
	s := &Server{proc: proc, resp: resp, sweeper: sweeper, log: log, timeout: 9 * time.Minute, started: time.Now()}
	return s.WithLimits(DefaultLimits())
}

// WithLimits sets the body limit and the bytes-in-flight budget (see
// Limits and LimitsFor). Zero fields take the defaults.
func (s *Server) WithLimits(l Limits) *Server {
	d := DefaultLimits()
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxBytesInFlight <= 0 {
		l.MaxBytesInFlight = d.MaxBytesInFlight
	}
	if l.AdmissionWait <= 0 {
		l.AdmissionWait = s.timeout / 2
	}
	s.limits = l
	s.inFlight = semaphore.NewWeighted(l.MaxBytesInFlight)
	return s
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		// The host's readiness probe: any answer counts.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	mux.HandleFunc("POST /"+EntraLogs, s.entraLogs)
	mux.HandleFunc("POST /"+Health, s.health)
	mux.HandleFunc("POST /"+Sweep, s.sweep)
	mux.HandleFunc("POST /"+Replay, s.replay)
	mux.HandleFunc("POST /"+Act, s.act)
	return mux
}

// Routes lists the function names the server routes, for the contract test.
func Routes() []string { return []string{EntraLogs, Health, Sweep, Replay, Act} }

// WithReplayer enables the Replay HTTP function.
func (s *Server) WithReplayer(r Replayer) *Server {
	s.replayer = r
	return s
}

// WithArrivals tells a (the heartbeat) which categories each batch
// carried.
func (s *Server) WithArrivals(a Arrivals) *Server {
	s.arrivals = a
	return s
}

// maxReplayBytes bounds a replay posted over HTTP; larger replays go
// through the CLI.
const maxReplayBytes = 16 << 20

// httpTrigger is the HTTP request as the host sends it to an HTTP
// function: Data.req {Method, Query, Headers, Body (a string)}.
type httpTrigger struct {
	Method  string
	Query   map[string]string
	Headers map[string][]string
	Body    string
}

// decodeHTTPTrigger reads the request of an HTTP function's invocation.
func decodeHTTPTrigger(raw []byte) (httpTrigger, error) {
	var inv struct {
		Data struct {
			Req httpTrigger `json:"req"`
		}
	}
	if err := json.Unmarshal(raw, &inv); err != nil {
		return httpTrigger{}, fmt.Errorf("not an HTTP trigger invocation: %w", err)
	}
	return inv.Data.Req, nil
}

// replay is the Replay HTTP function (authLevel function: the host checks
// the function key before the request reaches the handler). The host sends
// the HTTP request as Data.req {Method, Query, Headers, Body (a string)}
// and takes the answer from Outputs.res.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	log := s.log.With(zap.String("invocation_id", r.Header.Get("X-Azure-Functions-InvocationId")), zap.String("function", Replay))
	answer := func(status int, body []byte) {
		resp := invocation.NewResponse()
		resp.Outputs["res"] = map[string]any{"statusCode": strconv.Itoa(status), "body": string(body), "headers": map[string]string{"Content-Type": "application/json"}}
		writeJSON(w, http.StatusOK, resp)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4*maxReplayBytes))
	if err != nil {
		answer(http.StatusRequestEntityTooLarge, []byte(`{"error":"replay too large for HTTP: use spresponder replay"}`))
		return
	}
	req, err := decodeHTTPTrigger(raw)
	if err != nil {
		answer(http.StatusBadRequest, fmt.Appendf(nil, `{"error":%q}`, err.Error()))
		return
	}
	if s.replayer == nil {
		answer(http.StatusServiceUnavailable, []byte(`{"error":"replay is not configured on this instance"}`))
		return
	}
	if len(req.Body) > maxReplayBytes {
		answer(http.StatusRequestEntityTooLarge, []byte(`{"error":"replay too large for HTTP: use spresponder replay"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	status, body := s.replayer.Replay(ctx, ReplayRequest{Body: []byte(req.Body), Query: req.Query, Headers: req.Headers})
	log.Info("replay", zap.Int("status", status), zap.Int("bytes", len(req.Body)), zap.String("operator_label", req.Query["operator"]), zap.String("execute", req.Query["execute"]))
	answer(status, body)
}

// sweep is the timer function: re-drive what is due. A failure answers
// non-2xx so the host logs the invocation as failed; the next tick retries.
func (s *Server) sweep(w http.ResponseWriter, r *http.Request) {
	log := s.log.With(zap.String("invocation_id", r.Header.Get("X-Azure-Functions-InvocationId")), zap.String("function", Sweep))
	_, _ = io.Copy(io.Discard, r.Body) // the timer's payload carries nothing we use
	resp := invocation.NewResponse()
	if s.sweeper == nil {
		resp.Logs = append(resp.Logs, "no responder configured: nothing to re-drive")
		writeJSON(w, http.StatusOK, resp)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	summary, err := s.sweeper.Sweep(ctx)
	if err != nil {
		log.Error("sweep", zap.Error(err))
		writeJSON(w, http.StatusInternalServerError, failure(err.Error()))
		return
	}
	log.Info("sweep done", zap.String("summary", summary))
	resp.Logs = append(resp.Logs, summary)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) entraLogs(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.invocations.Add(1)
	invID := r.Header.Get("X-Azure-Functions-InvocationId")
	log := s.log.With(zap.String("invocation_id", invID), zap.String("function", EntraLogs))
	// The host never cancels the request and waits up to functionTimeout + 1
	// minute, so the handler keeps its own deadline.
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()

	// Refuse a body announced over the limit before reading any of it.
	if r.ContentLength > s.limits.MaxBodyBytes {
		s.refuseTooLarge(w, log, r.ContentLength)
		return
	}
	// Charge the invocation before reading: a known length for what it
	// is, an unknown one (chunked) for the largest body until it is read.
	reserve := r.ContentLength
	if reserve < 0 {
		reserve = s.limits.MaxBodyBytes
	}
	adm, err := s.admit(ctx, charge(reserve))
	if err != nil {
		log.Error("instance busy: invocation not admitted", zap.Error(err))
		s.failures.Add(1)
		writeJSON(w, http.StatusServiceUnavailable, failure(err.Error()))
		return
	}
	defer adm.release()

	body, err := readBody(http.MaxBytesReader(w, r.Body, s.limits.MaxBodyBytes), r.ContentLength, s.limits.MaxBodyBytes)
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooLarge) || errors.As(err, &mbe) {
		s.refuseTooLarge(w, log, r.ContentLength)
		return
	}
	if err != nil {
		log.Error("read invocation", zap.Error(err))
		writeJSON(w, http.StatusBadRequest, failure("read invocation: "+err.Error()))
		return
	}
	adm.shrink(charge(int64(len(body))))
	req, err := invocation.Decode(body, EventsBinding)
	if err != nil {
		// The envelope itself is broken: nothing in it can be delimited. A
		// retry cannot fix it, so answer 2xx (the host would checkpoint
		// anyway) but keep the whole body in quarantine first.
		log.Error("invocation envelope malformed", zap.Error(err), zap.Int("bytes", len(body)))
		if qerr := s.keepEnvelope(ctx, body, err); qerr != nil {
			log.Error("quarantine malformed invocation", zap.Error(qerr))
			writeJSON(w, http.StatusInternalServerError, failure("invocation malformed and could not be kept: "+qerr.Error()))
			return
		}
		resp := invocation.NewResponse()
		resp.Logs = append(resp.Logs, "invocation envelope malformed and quarantined: "+err.Error())
		writeJSON(w, http.StatusOK, resp)
		return
	}
	first, last := req.SequenceRange()
	log = log.With(zap.String("partition", req.Partition.PartitionID), zap.Int64("sequence_first", first), zap.Int64("sequence_last", last))
	if req.MetadataErr != nil {
		log.Warn("invocation metadata incomplete: positions may be missing", zap.Error(req.MetadataErr))
	}
	if req.Retry != nil && req.Retry.Count > 0 {
		log.Info("host retry", zap.Int("retry_count", req.Retry.Count), zap.Int("max_retry_count", req.Retry.Max), zap.Bool("last_attempt", req.LastAttempt()))
	}
	res, err := s.proc.Process(ctx, req.Events)
	// What remains are the signals: the events and the body can go, and
	// so can their charge, before the (possibly slow) response.
	req.Events = nil
	adm.release()
	if err != nil {
		log.Error("batch not durable: "+s.failed(ctx, req, err, log), zap.Error(err))
		s.failures.Add(1)
		writeJSON(w, http.StatusInternalServerError, failure(err.Error()))
		return
	}
	s.lastBatch.Store(time.Now().UnixNano())
	if s.arrivals != nil {
		s.arrivals.Arrived(ctx, res.Stats.ByCategory)
	}
	for _, sig := range res.Signals {
		log.Info("signal", zap.String("kind", string(sig.Kind)), zap.String("tenant_id", sig.TenantID),
			zap.String("app_id", sig.AppID), zap.String("sp_id", sig.ServicePrincipalID),
			zap.Strings("key_ids", sig.KeyIDs), zap.String("detection_id", sig.DetectionID),
			zap.String("risk_level", sig.RiskLevel), zap.Int64("sequence_number", sig.Source.SequenceNumber), zap.Int("record", sig.Source.Record))
	}
	if s.resp != nil && len(res.Signals) > 0 {
		if _, err := s.resp.Handle(ctx, res.Signals, log); err != nil {
			log.Error("signals not claimed: "+s.failed(ctx, req, err, log), zap.Error(err))
			s.failures.Add(1)
			writeJSON(w, http.StatusInternalServerError, failure(err.Error()))
			return
		}
	}
	st := res.Stats
	// One "batch" line per invocation: infra/'s events-per-minute view and
	// the no-Entra-events alert read it (infra/README.md).
	log.Info("batch", zap.Int("events", st.Events), zap.Int("records", st.Records), zap.Int("signals", st.Signals),
		zap.Int("skipped", st.Skipped), zap.Int("quarantined", st.Quarantined), zap.Any("category_counts", st.ByCategory),
		zap.Duration("took", time.Since(start)))
	resp := invocation.NewResponse()
	resp.Logs = append(resp.Logs, fmt.Sprintf("partition %s seq %d..%d: %s", req.Partition.PartitionID, first, last, st.Summary()))
	writeJSON(w, http.StatusOK, resp)
}

// refuseTooLarge answers 413 for a body over the limit. The host treats it
// as a failed invocation (and retries it if a retry policy is set); the
// error line says how to raise the limit if the batch was genuine.
func (s *Server) refuseTooLarge(w http.ResponseWriter, log *zap.Logger, n int64) {
	msg := fmt.Sprintf("invocation body of %s exceeds the limit of %d bytes (maxEventBatchSize x %d x %d + %d; SPRESPONDER_MAX_INVOCATION_BYTES overrides it): refused unread",
		sizeText(n), s.limits.MaxBodyBytes, MaxEventBytes, EscapeFactor, EnvelopeBytes)
	log.Error("invocation too large", zap.Int64("content_length", n), zap.Int64("limit", s.limits.MaxBodyBytes))
	s.failures.Add(1)
	// The rest of the body is never read: close the connection after the
	// answer rather than drain it.
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusRequestEntityTooLarge, failure(msg))
}

func sizeText(n int64) string {
	if n < 0 {
		return "unknown length (over the limit when read)"
	}
	return fmt.Sprintf("%d bytes", n)
}

// envelopeKeeper is implemented by processors that can keep a whole
// malformed invocation.
type envelopeKeeper interface {
	KeepInvocation(ctx context.Context, body []byte, cause error) error
}

func (s *Server) keepEnvelope(ctx context.Context, body []byte, cause error) error {
	k, ok := s.proc.(envelopeKeeper)
	if !ok {
		return errors.New("no quarantine for whole invocations")
	}
	return k.KeepInvocation(ctx, body, cause)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	// The HTTP output binding "res" carries the answer to the caller.
	h := map[string]any{
		"status":      "ok",
		"uptime":      time.Since(s.started).Round(time.Second).String(),
		"invocations": s.invocations.Load(),
		"failures":    s.failures.Load(),
	}
	if t := s.lastBatch.Load(); t != 0 {
		h["lastBatch"] = time.Unix(0, t).UTC().Format(time.RFC3339)
	}
	body, _ := json.Marshal(h)
	resp := invocation.NewResponse()
	resp.Outputs["res"] = map[string]any{"statusCode": "200", "body": string(body), "headers": map[string]string{"Content-Type": "application/json"}}
	writeJSON(w, http.StatusOK, resp)
}

func failure(msg string) *invocation.Response {
	r := invocation.NewResponse()
	r.Logs = append(r.Logs, msg)
	return r
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"Outputs":{},"Logs":["encode response failed"],"ReturnValue":null}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Listen opens the loopback listener. The host always dials 127.0.0.1.
func Listen(port int) (net.Listener, error) {
	if port <= 0 {
		return nil, errors.New("no port: FUNCTIONS_CUSTOMHANDLER_PORT is unset (the Functions host sets it); pass --port to run by hand")
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully,
// letting invocations in flight finish within grace.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	// The budget bounds what invocations hold; the garbage they leave is
	// bounded by the Go runtime's soft memory limit, set to the budget
	// plus an allowance for the rest of the process, unless the operator
	// set GOMEMLIMIT. Without it the collector lets the heap grow to twice
	// what is live before it runs, and concurrent batches overshoot the
	// budget (BenchmarkConcurrentFullBatches).
	if os.Getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(s.limits.MaxBytesInFlight + ProcessAllowance)
		defer debug.SetMemoryLimit(prev)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A 100-event batch can be a few hundred MB on a slow loopback
		// moment; these bound a stuck peer, not normal work.
		ReadTimeout:  2 * time.Minute,
		WriteTimeout: 11 * time.Minute,
		IdleTimeout:  5 * time.Minute,
		ErrorLog:     zap.NewStdLog(s.log),
		BaseContext:  func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: waiting for invocations in flight", zap.Duration("grace", grace))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
