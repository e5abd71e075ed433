package admin

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
)

// Options configure a Handler.
type Options struct {
	// Service is the incident engine. Required.
	Service Service
	// Tokens stores the admin tokens. Nil: only BootstrapToken signs in,
	// and the token endpoints answer 503.
	Tokens Tokens
	// IsNotFound reports whether an error from Tokens means "no such token"
	// (an unknown token is then a 401, an unknown name a 404). Default:
	// errors.Is(err, ErrNotFound).
	IsNotFound func(error) bool
	// IsExists reports whether an error from Tokens.CreateToken means the
	// name is taken (409). Default: errors.Is(err, ErrExists).
	IsExists func(error) bool
	// Sessions keeps console sessions where every replica finds them.
	// Nil: in this process's memory (a restart signs everyone out, and
	// replicas behind a load balancer do not know each other's).
	Sessions SessionStore
	// Clock tells the time of sessions and token use. Default: the real clock.
	Clock clockwork.Clock
	// Logger receives internal errors and failed token touches; never raw
	// tokens. Default: discard.
	Logger *slog.Logger
	// BootstrapToken is a raw admin-scope token (from UNDERSTUDY_ADMIN_TOKEN)
	// that works without the store, named "bootstrap". Empty: none. Only its
	// hash is kept.
	BootstrapToken string
	// SecureCookies marks the console's cookies Secure (serve over HTTPS).
	SecureCookies bool
	// Handoff, when set, adds the agents' console pages for the
	// human-handoff queue (agent scope).
	Handoff Handoff
	// HandoffSLA is how long a conversation may wait for an agent before
	// the queue shows it as late. Zero means DefaultHandoffSLA (2 minutes);
	// negative is an error.
	HandoffSLA time.Duration
	// Shutdown, when closed, ends the console's open event streams, so that
	// open pages do not hold up the server's shutdown (serve passes its
	// context's Done). Nil: a stream ends only with its request.
	Shutdown <-chan struct{}
	// Postmortems, when set, adds the postmortem API and pages.
	Postmortems Postmortems
	// Insights, when set, adds the analytics and lessons pages, and similar
	// past incidents on incident pages.
	Insights Insights
	// Extra are more API routes (e.g. subscriber management), served under
	// /admin/v1/ through the same table and authentication.
	Extra []ExtraRoute
}

// ExtraRoute is an API route another package provides. Pattern is relative
// to /admin/v1/; a returned error is written like the API's own.
type ExtraRoute struct {
	Method  string
	Pattern string
	Scope   understudy.Scope
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// Route is one entry of the route table. Scope is the least scope a token
// needs; ScopePublic routes (sign-in and the stylesheet) need none.
type Route struct {
	Method  string
	Pattern string // a net/http pattern path, e.g. /admin/v1/incidents/{id}
	Scope   understudy.Scope
}

// ScopePublic marks the few routes that need no credentials.
const ScopePublic understudy.Scope = ""

// BootstrapName is the name of the token from Options.BootstrapToken.
const BootstrapName = "bootstrap"

const (
	maxBody         = 1 << 20 // request bodies, JSON and forms
	sessionLifetime = 12 * time.Hour
	touchEvery      = time.Minute
	touchTimeout    = 5 * time.Second
)

// Handler serves /admin/ and /console/. Every route goes through one table
// (see Routes) and one authentication middleware.
type Handler struct {
	svc        Service
	handoff    Handoff
	pm         Postmortems
	insights   Insights
	handoffSLA time.Duration
	shutdown   <-chan struct{}
	tokens     Tokens
	isNotFound func(error) bool
	isExists   func(error) bool
	clock      clockwork.Clock
	log        *slog.Logger
	bootstrap  *[32]byte
	secure     bool

	mux      recordingMux
	routes   []Route
	pages    map[string]*template.Template
	sessions SessionStore

	touchMu sync.Mutex
	touched map[string]time.Time // token name → last TouchToken
	touchWG sync.WaitGroup
}

var _ http.Handler = (*Handler)(nil)

// New builds the handler and its route table.
func New(o Options) (*Handler, error) {
	if o.Service == nil {
		return nil, errors.New("admin: Options.Service is required")
	}
	if o.HandoffSLA < 0 {
		return nil, fmt.Errorf("admin: Options.HandoffSLA is negative (%s)", o.HandoffSLA)
	}
	if o.HandoffSLA == 0 {
		o.HandoffSLA = DefaultHandoffSLA
	}
	h := &Handler{svc: o.Service, handoff: o.Handoff, pm: o.Postmortems, insights: o.Insights, handoffSLA: o.HandoffSLA, shutdown: o.Shutdown, tokens: o.Tokens, isNotFound: o.IsNotFound, isExists: o.IsExists,
		clock: o.Clock, log: o.Logger, secure: o.SecureCookies, mux: recordingMux{mux: http.NewServeMux()},
		sessions: o.Sessions, touched: map[string]time.Time{}}
	if h.sessions == nil {
		h.sessions = &memSessions{m: map[[32]byte]understudy.ConsoleSession{}}
	}
	if h.isNotFound == nil {
		h.isNotFound = func(err error) bool { return errors.Is(err, ErrNotFound) }
	}
	if h.isExists == nil {
		h.isExists = func(err error) bool { return errors.Is(err, ErrExists) }
	}
	if h.clock == nil {
		h.clock = clockwork.NewRealClock()
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.BootstrapToken != "" {
		sum := sha256.Sum256([]byte(o.BootstrapToken))
		h.bootstrap = &sum
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	h.registerAPI()
	for _, x := range o.Extra {
		if !x.Scope.Valid() {
			return nil, fmt.Errorf("admin: extra route %s %s: invalid scope %q", x.Method, x.Pattern, x.Scope)
		}
		h.api(x.Method, x.Pattern, x.Scope, x.Handler)
	}
	h.registerConsole()
	h.registerHandoff()
	h.registerPostmortems()
	h.registerInsights()
	return h, nil
}

// Routes returns the route table: every route the handler serves.
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

// Close waits for background token touches to finish.
func (h *Handler) Close() error {
	h.touchWG.Wait()
	return nil
}

// route is the one way a route is registered: into the table, behind auth.
func (h *Handler) route(method, pattern string, scope understudy.Scope, next http.Handler) {
	rt := Route{Method: method, Pattern: pattern, Scope: scope}
	h.routes = append(h.routes, rt)
	h.mux.Handle(method+" "+pattern, h.auth(rt, next))
}

// apiFunc is an API handler; a returned error is written as JSON.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) api(method, pattern string, scope understudy.Scope, fn apiFunc) {
	h.route(method, "/admin/v1/"+pattern, scope, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	}))
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.noRoute(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// noRoute answers a request no route matches: 405 when another method
// would, else 404; JSON under /admin/, a page under /console/.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := h.mux.Handler(r2); p != "" {
			allow = append(allow, m)
		}
	}
	// Routing answers, not application errors: the one place a status is
	// written without (*understudy.Error).HTTPStatus.
	status, code, msg := http.StatusNotFound, understudy.ENOTFOUND, "no such page: "+r.URL.Path
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		status, code = http.StatusMethodNotAllowed, "method_not_allowed"
		msg = r.Method + " is not allowed on " + r.URL.Path + " (allowed: " + strings.Join(allow, ", ") + ")"
	}
	if isConsole(r.URL.Path) {
		h.renderError(w, r, status, msg)
		return
	}
	writeErrorBody(w, status, code, msg)
}

func isConsole(path string) bool { return strings.HasPrefix(path, "/console/") }

// recordingMux is the ServeMux behind the route table. Handle is the only
// way to register on it, and it records every pattern, so tests can prove
// that nothing is served outside the table.
type recordingMux struct {
	mux      *http.ServeMux
	patterns []string
}

func (m *recordingMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.mux.Handle(pattern, h)
}

func (m *recordingMux) Handler(r *http.Request) (http.Handler, string) { return m.mux.Handler(r) }

func (m *recordingMux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }
