package graphsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// serveAdmin is the admin API for a separate process (demo, multi-process
// tests): GET /_sim/requests, GET /_sim/state, POST and DELETE /_sim/faults.
func (t *Tenant) serveAdmin(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /_sim/requests":
		reply(http.StatusOK, map[string]any{"requests": t.Requests(), "counts": t.RouteCounts(), "unexpected": t.Unexpected(), "throttled": t.Throttled()})
	case "GET /_sim/state":
		reply(http.StatusOK, t.Snapshot())
	case "POST /_sim/faults":
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		var faults []Fault
		if err := dec.Decode(&faults); err != nil {
			reply(http.StatusBadRequest, map[string]string{"error": "body must be a JSON array of faults: " + err.Error()})
			return
		}
		for _, f := range faults {
			if err := f.validate(); err != nil {
				reply(http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("fault %q: %v", f.Route, err)})
				return
			}
		}
		for _, f := range faults {
			_ = t.AddFault(f) // validated above
		}
		w.WriteHeader(http.StatusNoContent)
	case "DELETE /_sim/faults":
		t.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	default:
		reply(http.StatusNotFound, map[string]string{"error": "admin routes: GET /_sim/requests, GET /_sim/state, POST|DELETE /_sim/faults"})
	}
}

// Serve listens on addr (127.0.0.1:0 when empty), calls ready with the
// Graph base URL (http://127.0.0.1:PORT/v1.0) once listening, and serves
// until ctx is done; it then shuts down gracefully. Requests held by a
// timeout fault end when ctx is done, because their contexts derive from it.
func (t *Tenant) Serve(ctx context.Context, addr string, ready func(baseURL string)) error {
	ln, err := listen(ctx, addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(baseURL(ln))
	}
	return t.serve(ctx, ln)
}

// Start serves in the background and returns the Graph base URL
// (http://127.0.0.1:PORT/v1.0; the admin API is at the same host under
// /_sim/). The server stops when ctx is done.
func (t *Tenant) Start(ctx context.Context, addr string) (string, error) {
	ln, err := listen(ctx, addr)
	if err != nil {
		return "", err
	}
	go func() {
		if err := t.serve(ctx, ln); err != nil {
			t.log.Error("graphsim: server stopped", zap.Error(err))
		}
	}()
	return baseURL(ln), nil
}

func listen(ctx context.Context, addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("graphsim: listen on %s: %w", addr, err)
	}
	return ln, nil
}

func baseURL(ln net.Listener) string {
	return (&url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/v1.0"}).String()
}

func (t *Tenant) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           t.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      defaultHold + 30*time.Second, // room for a held request
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          zap.NewStdLog(t.log),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("graphsim: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("graphsim: shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graphsim: serve: %w", err)
	}
	return nil
}
