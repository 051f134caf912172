package server

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/invocation"
)

// Act is the act page's function (functions/Act): the action links of the
// card and the mail open it.
const Act = "Act"

// ActRequest is the HTTP request the host forwards to the Act function.
// Headers carry what the platform adds: App Service Authentication's
// X-MS-CLIENT-PRINCIPAL* when it is on, Origin and Referer from the browser.
type ActRequest struct {
	Method  string
	Query   map[string]string
	Headers map[string][]string
	Body    []byte
}

// ActResponse is the page to send back.
type ActResponse struct {
	Status  int
	Body    []byte
	Headers map[string]string
}

// Actor serves the act page.
type Actor interface {
	Act(ctx context.Context, req ActRequest) ActResponse
}

// WithActor enables the Act HTTP function.
func (s *Server) WithActor(a Actor) *Server {
	s.actor = a
	return s
}

// maxActBytes bounds an act invocation: a page request carries a token
// and a small form, never more.
const maxActBytes = 64 << 10

// act is the Act HTTP function (authLevel anonymous: the links are opened
// by people without a function key; the platform's Entra ID sign-in names
// them). The answer is an HTML page in Outputs.res.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	log := s.log.With(zap.String("invocation_id", r.Header.Get("X-Azure-Functions-InvocationId")), zap.String("function", Act))
	answer := func(a ActResponse) {
		headers := map[string]string{"Content-Type": "text/html; charset=utf-8"}
		for k, v := range a.Headers {
			headers[k] = v
		}
		resp := invocation.NewResponse()
		resp.Outputs["res"] = map[string]any{"statusCode": strconv.Itoa(a.Status), "body": string(a.Body), "headers": headers}
		writeJSON(w, http.StatusOK, resp)
	}
	plain := func(status int, msg string) {
		answer(ActResponse{Status: status, Body: []byte("<!doctype html><title>spresponder</title><p>" + msg + "</p>")})
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActBytes))
	if err != nil {
		plain(http.StatusRequestEntityTooLarge, "Request too large.")
		return
	}
	q, err := decodeHTTPTrigger(raw)
	if err != nil {
		log.Warn("act: not an HTTP trigger invocation", zap.Error(err))
		plain(http.StatusBadRequest, "Not an HTTP request.")
		return
	}
	if s.actor == nil {
		plain(http.StatusServiceUnavailable, "Action links are not configured on this responder (SPRESPONDER_ACT_URL).")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	a := s.actor.Act(ctx, ActRequest{Method: q.Method, Query: q.Query, Headers: q.Headers, Body: []byte(q.Body)})
	log.Info("act", zap.String("method", q.Method), zap.Int("status", a.Status))
	answer(a)
}
