package graphsim

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// route is one Graph operation the simulator serves.
type route struct {
	method string
	segs   []string // "{}" matches one segment
	name   string   // "POST /applications/{id}/removePassword"
	// licensed routes need Workload Identities Premium.
	licensed bool
	// limited routes fall under the identity protection and Conditional
	// Access limit (throttle.go).
	limited bool
	h       func(t *Tenant, c *call) reply
}

// call is a request as a handler sees it.
type call struct {
	r      *http.Request
	route  *route
	params []string // values of the "{}" segments, in order
	body   []byte
	// pageSize is the tenant's page size for lists without $top (0: one page).
	pageSize int
}

// reply is what a handler answers. A nil body sends no content.
type reply struct {
	status int
	body   any
	err    *graphError
}

// graphError is Graph's error body {"error":{"code","message","innerError"}}.
type graphError struct{ code, message string }

func gerr(status int, code, format string, args ...any) reply {
	return reply{status: status, err: &graphError{code, fmt.Sprintf(format, args...)}}
}

var routes = buildRoutes()

func buildRoutes() []route {
	r := func(method, path string, h func(*Tenant, *call) reply) route {
		var segs []string
		for _, s := range strings.Split(strings.Trim(path, "/"), "/") {
			if strings.HasPrefix(s, "{") {
				s = "{}"
			}
			segs = append(segs, s)
		}
		return route{method: method, segs: segs, name: method + " " + path,
			licensed: strings.HasPrefix(path, "/identityProtection/"), limited: limitedPath(path), h: h}
	}
	const (
		detections = "identityProtection/servicePrincipalRiskDetections"
		risky      = "identityProtection/riskyServicePrincipals"
		policies   = "identity/conditionalAccess/policies"
		locations  = "identity/conditionalAccess/namedLocations"
	)
	return append([]route{
		r("GET", "/"+detections, func(t *Tenant, c *call) reply {
			return listAll(c, detections, changedBy(t, t.detections, func(d *ServicePrincipalRiskDetection) *time.Time { return d.LastUpdatedDateTime }), detectionProps)
		}),
		r("GET", "/"+detections+"/{id}", func(t *Tenant, c *call) reply {
			return getOne(c, detections, t.detections, func(d *ServicePrincipalRiskDetection) bool { return d.ID == c.params[0] }, detectionProps)
		}),
		r("GET", "/"+risky, func(t *Tenant, c *call) reply {
			return listAll(c, risky, changedBy(t, t.risky, func(r *RiskyServicePrincipal) *time.Time { return r.RiskLastUpdatedDateTime }), riskyProps)
		}),
		r("POST", "/"+risky+"/confirmCompromised", (*Tenant).confirmCompromised),
		r("POST", "/"+risky+"/dismiss", (*Tenant).dismiss),
		r("GET", "/"+risky+"/{id}", func(t *Tenant, c *call) reply {
			return getOne(c, risky, t.risky, idIs(c, func(r *RiskyServicePrincipal) string { return r.ID }), riskyProps)
		}),
		r("GET", "/applications/{id}", (*Tenant).getObject),
		r("PATCH", "/applications/{id}", (*Tenant).patchObject),
		r("GET", "/applications/{id}/owners", (*Tenant).owners),
		r("POST", "/applications/{id}/removePassword", (*Tenant).removePassword),
		r("GET", "/servicePrincipals/{id}", (*Tenant).getObject),
		r("PATCH", "/servicePrincipals/{id}", (*Tenant).patchObject),
		r("GET", "/servicePrincipals/{id}/owners", (*Tenant).owners),
		r("POST", "/servicePrincipals/{id}/removePassword", (*Tenant).removePassword),
		r("GET", "/users/{id}", func(t *Tenant, c *call) reply {
			return getOne(c, "users", t.users, func(u *User) bool { return t.findUser(c.params[0]) == u }, userProps)
		}),
		r("POST", "/users/{id}/sendMail", (*Tenant).sendMail),
		r("GET", "/"+policies, func(t *Tenant, c *call) reply { return listAll(c, policies, t.policies, policyProps) }),
		r("GET", "/"+policies+"/{id}", func(t *Tenant, c *call) reply {
			return getOne(c, policies, t.policies, idIs(c, func(p ConditionalAccessPolicy) string { return p.ID }), policyProps)
		}),
		r("GET", "/subscribedSkus", func(t *Tenant, c *call) reply { return listAll(c, "subscribedSkus", t.subscribedSkus(), skuProps) }),
		r("GET", "/"+locations, func(t *Tenant, c *call) reply { return listAll(c, locations, t.locations, locationProps) }),
		r("GET", "/"+locations+"/{id}", func(t *Tenant, c *call) reply {
			return getOne(c, locations, t.locations, idIs(c, func(l NamedLocation) string { return l.ID }), locationProps)
		}),
	}, append(append(setupRoutes(r), reachRoutes(r)...), memberRoutes(r)...)...)
}

// match finds the route for a method and path. A path that exists with
// another method reports pathFound, so the answer can be 405 rather than 400.
func match(method string, segs []string) (rt *route, params []string, pathFound bool) {
	for i := range routes {
		r := &routes[i]
		if len(r.segs) != len(segs) {
			continue
		}
		var ps []string
		ok := true
		for j, s := range r.segs {
			if s == "{}" {
				ps = append(ps, segs[j])
			} else if s != segs[j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if r.method == method {
			return r, ps, true
		}
		pathFound = true
	}
	return nil, nil, pathFound
}

// Handler returns the HTTP handler: Graph under /v1.0 and the admin API
// under /_sim/. Use it with httptest.NewServer; the Graph base URL is then
// server.URL + "/v1.0".
func (t *Tenant) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_sim/") {
			t.serveAdmin(w, r)
			return
		}
		t.serveGraph(w, r)
	})
}

// maxBody bounds request bodies; the largest legitimate one is a PATCH of
// a few certificates.
const maxBody = 1 << 20

func (t *Tenant) serveGraph(w http.ResponseWriter, r *http.Request) {
	start := t.now()
	rest, inVersion := strings.CutPrefix(r.URL.Path, "/v1.0")
	inVersion = inVersion && (rest == "" || rest[0] == '/')
	segs := splitPath(rest)
	var rt *route
	var params []string
	var pathFound bool
	if inVersion {
		rt, params, pathFound = match(r.Method, segs)
	}
	entry := Request{Time: start, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if rt != nil {
		entry.Route = rt.name
	}
	reqID := t.newID()
	w.Header().Set("request-id", reqID)
	if id := r.Header.Get("client-request-id"); id != "" {
		w.Header().Set("client-request-id", id)
	}

	delay, fault := t.pickFaults(r.Method, segs)
	if delay > 0 && !sleep(r.Context(), delay) {
		t.record(entry, 0, "client gave up during latency")
		panic(http.ErrAbortHandler) // returning would send an empty 200
	}
	body, bad := readBody(w, r)
	if bad != nil {
		t.finish(w, r, entry, reqID, *bad, nil)
		return
	}
	if fault != nil && cmp.Or(fault.Phase, Before) == Before {
		t.strike(w, r, entry, reqID, fault)
		return
	}

	var rep reply
	t.mu.Lock()
	switch {
	case !inVersion:
		rep = gerr(http.StatusNotFound, "NotFound", "The simulated tenant serves only /v1.0.")
	case rt == nil && (pathFound || r.Method == http.MethodDelete):
		// DELETE is refused everywhere on purpose: a test can then prove the
		// responder never tries to delete an application or a service principal.
		rep = gerr(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
	case rt == nil:
		rep = gerr(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '%s'.", firstUnknown(segs))
	case rt.limited && !t.throttle.admit(time.Now()):
		rep = throttled()
	case rt.licensed && !t.licensed:
		// UNVERIFIED: the code and message Graph uses when the tenant lacks
		// Workload Identities Premium; the docs state only the requirement.
		rep = gerr(http.StatusForbidden, "Forbidden",
			"Your tenant is not licensed for this feature: Microsoft Entra Workload ID Premium is required.")
	default:
		rep = rt.h(t, &call{r: r, route: rt, params: params, body: body, pageSize: t.pageSize})
	}
	t.mu.Unlock()

	if fault != nil {
		t.strike(w, r, entry, reqID, fault)
		return
	}
	t.finish(w, r, entry, reqID, rep, nil)
}

// firstUnknown names the first segment no route knows, as Graph's
// "Resource not found for the segment" message does.
// readBody reads the request body. msgraph-sdk-go gzips request bodies by
// default (kiota's CompressionHandler) and falls back to plain on 415, as
// with real Graph, so both must work.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *reply) {
	var src io.Reader = http.MaxBytesReader(w, r.Body, maxBody)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			rep := gerr(http.StatusBadRequest, "BadRequest", "The gzip request body is malformed.")
			return nil, &rep
		}
		src = io.LimitReader(zr, maxBody)
	default:
		rep := gerr(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Encoding '%s' is not supported.", enc)
		return nil, &rep
	}
	body, err := io.ReadAll(src)
	if err != nil {
		rep := gerr(http.StatusBadRequest, "BadRequest", "Unable to read the request body.")
		return nil, &rep
	}
	return body, nil
}

func firstUnknown(segs []string) string {
	for i := range segs {
		known := false
		for _, r := range routes {
			if len(r.segs) > i && slices.EqualFunc(r.segs[:i+1], segs[:i+1], func(p, s string) bool { return p == "{}" || p == s }) {
				known = true
				break
			}
		}
		if !known {
			return segs[i]
		}
	}
	return "v1.0" // the service root itself, which the simulator does not serve
}

// pickFaults adds up the latency that applies and takes the first
// terminating fault with hits left, counting the hit.
func (t *Tenant) pickFaults(method string, segs []string) (time.Duration, *Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delay := t.latency
	var strike *Fault
	for _, f := range t.faults {
		if (f.Times > 0 && f.hits >= f.Times) || !f.matches(method, segs) {
			continue
		}
		if f.Kind == FaultLatency {
			f.hits++
			delay += time.Duration(f.Delay)
		} else if strike == nil {
			f.hits++
			strike = &f.Fault
		}
	}
	return delay, strike
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// strike applies a terminating fault to the response.
func (t *Tenant) strike(w http.ResponseWriter, r *http.Request, entry Request, reqID string, f *Fault) {
	t.log.Info("graphsim: injecting fault", zap.String("route", entry.Route), zap.String("path", entry.Path), zap.String("fault", f.String()))
	switch f.Kind {
	case FaultStatus:
		rep := gerr(f.Status, statusCode(f.Status), "%s", statusMessage(f.Status))
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
		}
		t.finish(w, r, entry, reqID, rep, f)
	case FaultTimeout:
		hold := time.Duration(f.Delay)
		if hold <= 0 {
			hold = defaultHold
		}
		if !sleep(r.Context(), hold) {
			// The client gave up or the server is shutting down: abort
			// rather than let net/http send an empty 200.
			t.record(entry, 0, f.String())
			panic(http.ErrAbortHandler)
		}
		t.finish(w, r, entry, reqID, gerr(http.StatusGatewayTimeout, "GatewayTimeout", "The request timed out."), f)
	case FaultDrop:
		t.record(entry, 0, f.String())
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or a wrapped writer: abort the stream
	}
}

// statusCode and statusMessage give Graph-like bodies for injected errors.
// 429's text is Graph's own (reference/entra/graph/17); the others are
// simulator wording.
func statusCode(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusGatewayTimeout:
		return "GatewayTimeout"
	case http.StatusInternalServerError:
		return "UnknownError"
	}
	return strings.ReplaceAll(http.StatusText(status), " ", "")
}

func statusMessage(status int) string {
	if status == http.StatusTooManyRequests {
		return "Please retry again later."
	}
	return "Injected fault: " + http.StatusText(status) + "."
}

// finish writes a reply and records the request.
func (t *Tenant) finish(w http.ResponseWriter, r *http.Request, entry Request, reqID string, rep reply, f *Fault) {
	status := rep.status
	var body []byte
	if rep.err != nil {
		body, _ = json.Marshal(map[string]any{"error": map[string]any{
			"code":    rep.err.code,
			"message": rep.err.message,
			"innerError": map[string]any{
				"date":              t.now().UTC().Format("2006-01-02T15:04:05"),
				"request-id":        reqID,
				"client-request-id": cmp.Or(r.Header.Get("client-request-id"), reqID),
			},
		}})
	} else if rep.body != nil {
		var err error
		if body, err = json.Marshal(rep.body); err != nil {
			status = http.StatusInternalServerError
			body = []byte(`{"error":{"code":"UnknownError","message":"graphsim: encoding the response failed"}}`)
		}
	}
	if body != nil {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	fault := ""
	if f != nil {
		fault = f.String()
	}
	t.record(entry, status, fault)
}

func (t *Tenant) record(entry Request, status int, fault string) {
	entry.Status, entry.Fault = status, fault
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests = append(t.requests, entry)
	if entry.Route != "" {
		t.counts[entry.Route]++
	} else {
		t.unexpected = append(t.unexpected, entry)
	}
	lvl := zap.DebugLevel
	if entry.Route == "" {
		lvl = zap.WarnLevel
	}
	t.log.Log(lvl, "graphsim: request", zap.String("method", entry.Method), zap.String("path", entry.Path),
		zap.String("route", entry.Route), zap.Int("status", status), zap.String("fault", fault))
}
