package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/health"
)

// Handler serves the client API: POST /v1/chat/completions, GET /v1/models.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", g.serveChat)
	mux.HandleFunc("GET /v1/models", g.serveModels)
	mux.HandleFunc("/v1/chat/completions", methodNotAllowed("POST"))
	mux.HandleFunc("/v1/models", methodNotAllowed("GET"))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, g.log, understudy.Errorf(understudy.ENOTFOUND, "unknown endpoint %s %s; this gateway serves POST /v1/chat/completions and GET /v1/models", r.Method, r.URL.Path))
	})
	return mux
}

// bodyReadTimeout bounds reading a request body.
const bodyReadTimeout = 30 * time.Second

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(chat.NewErrorBody(fmt.Sprintf("method %s not allowed on %s; use %s", r.Method, r.URL.Path, allow),
			"invalid_request_error", "", "method_not_allowed"))
	}
}

// authenticate finds the client's key. With no keys configured (loopback
// only, enforced by config validation) every caller is anonymous.
func (g *Gateway) authenticate(rt *runtime, r *http.Request) (*apiKey, error) {
	if len(rt.keys) == 0 {
		return &apiKey{name: "anonymous", priority: "default"}, nil
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return nil, understudy.Errorf(understudy.EUNAUTHORIZED, "missing API key: send it as \"Authorization: Bearer <key>\"")
	}
	k, ok := rt.keys[sha256.Sum256([]byte(strings.TrimSpace(token)))]
	if !ok {
		return nil, understudy.Errorf(understudy.EUNAUTHORIZED, "invalid API key")
	}
	return k, nil
}

// RequireKey serves next only to requests carrying one of the gateway's
// client keys (as the running configuration has them; none configured:
// everyone, as for /v1). Other APIs used by the same chat backends (the
// handoff integrator API) are guarded by it.
func (g *Gateway) RequireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := g.authenticate(g.rt.Load(), r); err != nil {
			writeError(w, g.log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) serveModels(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	if _, err := g.authenticate(rt, r); err != nil {
		writeError(w, g.log, err)
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, name := range rt.routeNames {
		list.Data = append(list.Data, model{ID: name, Object: "model", Created: 0, OwnedBy: "understudy"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (g *Gateway) serveChat(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	key, err := g.authenticate(rt, r)
	if err != nil {
		g.metrics.requests.WithLabelValues("", "", "rejected").Inc()
		writeError(w, g.log, err)
		return
	}
	reject := func(route string, err error) {
		g.metrics.requests.WithLabelValues(route, "", "rejected").Inc()
		writeError(w, g.log, err)
	}
	// over answers 429 with Retry-After when a per-key limit refuses.
	over := func(ok bool, wait int64, reason, format string, args ...any) bool {
		if ok {
			return false
		}
		g.metrics.shed.WithLabelValues(reason).Inc()
		e := understudy.Errorf(understudy.ERATELIMITED, format, args...)
		e.RetryAfter = time.Duration(wait) * time.Second
		writeError(w, g.log, e)
		return true
	}
	if key.tokens != nil {
		if ok, wait := key.tokens.allow(); over(ok, wait, "key_token_limit", "key %q has used its %d tokens for this minute", key.name, key.tokens.perMinute) {
			return
		}
	}
	if key.limiter != nil {
		if ok, wait := key.limiter.allow(); over(ok, wait, "key_rate_limit", "key %q is over its limit of %d requests per minute", key.name, key.limiter.perMinute) {
			return
		}
	}
	// The body is read before admission, under its own deadline, so a slow
	// sender holds no in-flight slot.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rt.cfg.Limits.MaxBodyBytes))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reject("", understudy.Errorf(understudy.ETOOLARGE, "request body is over the limit of %d bytes", tooBig.Limit))
			return
		}
		reject("", understudy.Errorf(understudy.EINVALID, "reading request body: %v", err))
		return
	}
	req, err := chat.ParseRequest(body)
	if err != nil {
		var fe *chat.FieldError
		if errors.As(err, &fe) {
			reject("", &understudy.Error{Code: understudy.EINVALID, Message: fe.Error(), Param: fe.Field})
			return
		}
		reject("", err)
		return
	}
	route, ok := rt.routes[req.Model]
	if !ok {
		reject("", &understudy.Error{Code: understudy.ENOTFOUND, Param: "model",
			Message: fmt.Sprintf("The model %q does not exist. Known models: %s.", req.Model, strings.Join(rt.routeNames, ", "))})
		return
	}
	g.noticeHeaders(w.Header(), rt, route.name)
	user := endUser(req.User, r.Header, rt.cfg.EndUserHeader)
	if route.fastPath > 0 && req.Cacheable {
		if e, ok := route.cache.getWithin(req.ConversationKey(), g.clk.Now(), route.fastPath); ok {
			// The fast path: the same conversation was answered moments ago.
			g.metrics.cache.WithLabelValues(route.name, "fast_hit").Inc()
			x := &exchange{g: g, rt: rt, route: route, req: req, key: key, w: w, start: g.clk.Now(), user: user}
			x.writeDegraded(ModeCached, e.answer, e.model, "")
			return
		}
	}
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	g.metrics.inflight.Inc()
	defer g.metrics.inflight.Dec()
	if limit := rt.cfg.Limits.MaxInflight; limit > 0 && n > inflightLimit(key.priority, limit) {
		g.metrics.shed.WithLabelValues("inflight_limit").Inc()
		now := g.clk.Now()
		// Lower priorities are shed first; the route's degradation ladder
		// answers them when it can, else an explicit 503.
		x := &exchange{g: g, rt: rt, route: route, req: req, key: key, w: w, start: now, deadlineAt: now,
			acceptLanguage: r.Header.Get("Accept-Language"), user: user}
		if x.degrade() {
			return
		}
		g.recordOutcome(understudy.Outcome{Time: now, Route: route.name, Class: understudy.ClassOverloaded, Mode: "unavailable", Stream: req.Stream, User: user})
		e := understudy.Errorf(understudy.EUNAVAILABLE, "the gateway is at capacity for %s traffic (%d requests in flight); retry shortly", key.priority, n-1)
		e.RetryAfter = rt.cfg.Limits.ShedRetryAfter.D()
		writeError(w, g.log, e)
		return
	}
	// The overall deadline runs on the gateway's clock (not context.WithTimeout)
	// so tests can move it with a fake clock.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	total := route.timeouts.Total.D()
	timer := g.clk.AfterFunc(total, func() { cancel(errDeadline) })
	defer timer.Stop()
	now := g.clk.Now()
	x := &exchange{g: g, rt: rt, route: route, req: req, key: key, w: w, start: now, deadlineAt: now.Add(total),
		acceptLanguage: r.Header.Get("Accept-Language"), user: user}
	x.run(ctx)
}

// endUser is the hashed end user of a request: the configured header's
// value when the request has one, else the request's "user" field; "" when
// neither.
func endUser(field string, h http.Header, header string) string {
	v := field
	if header != "" {
		if hv := strings.TrimSpace(h.Get(header)); hv != "" {
			v = hv
		}
	}
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:16])
}

// ModeCached is the serving mode of an answer from the cache's fast path:
// a model's answer to the same conversation, replayed; it counts as served
// well (unlike the ladder's degraded_cache).
const ModeCached = "cached"

// inflightLimit is how many requests may be in flight when one of priority
// arrives: batch traffic is shed beyond 70 % of max_inflight, default
// beyond 90 %, critical only at max_inflight, so that important traffic
// keeps its room under overload.
func inflightLimit(priority string, limit int) int64 {
	switch priority {
	case config.PriorityBatch:
		return int64(max(1, limit*7/10))
	case config.PriorityCritical:
		return int64(limit)
	}
	return int64(max(1, limit*9/10))
}

// noticeHeaders tells the client, on every answer, that the route is not
// operational: its status, the incident and where to read about it.
func (g *Gateway) noticeHeaders(h http.Header, rt *runtime, route string) {
	if g.notices == nil {
		return
	}
	n, ok := g.notices.RouteNotice(route)
	if !ok {
		return
	}
	h.Set("X-Understudy-Status", string(n.Status))
	page := strings.TrimRight(rt.cfg.PublicURL, "/")
	if n.Incident != 0 {
		h.Set("X-Understudy-Incident", strconv.FormatInt(n.Incident, 10))
		if page != "" {
			page += "/incidents/" + strconv.FormatInt(n.Incident, 10)
		}
	}
	if page != "" {
		h.Set("X-Understudy-Status-Page", page)
	}
}

// Healthz answers 200 while the process serves.
func (g *Gateway) Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// Readyz answers 200 when every route has at least one target whose breaker
// lets traffic through, else 503 naming the routes that cannot answer.
func (g *Gateway) Readyz(w http.ResponseWriter, _ *http.Request) {
	rt := g.rt.Load()
	var down []string
	for _, name := range rt.routeNames {
		up := false
		for _, tier := range rt.routes[name].tiers {
			for _, t := range tier {
				if t.breaker.State() != health.Open && !g.isDrained(t.id) {
					up = true
				}
			}
		}
		if !up {
			down = append(down, name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(down) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: no available target for %s\n", strings.Join(down, ", "))
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
