// Package notice serves in-band notices to chat UIs: GET /api/notice tells
// whether a route is not operational and what to tell its users, and
// /notice.js is a small script that shows it as a banner in any page.
package notice

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// Source is the incident engine's view of notices; *incident.Engine
// implements it.
type Source interface {
	Notice(route, lang string) (understudy.RouteNotice, string, bool)
	Languages() []string
}

// Handler serves /api/notice and /notice.js.
type Handler struct {
	src Source
	// PublicURL is the status page's address, for links.
	PublicURL func() string
	// Routes tells the known routes (an unknown one is a 404).
	Routes func() []string
}

// New returns a handler.
func New(src Source, publicURL func() string, routes func() []string) *Handler {
	return &Handler{src: src, PublicURL: publicURL, Routes: routes}
}

//go:embed notice.js
var script []byte

// JSON is the answer of GET /api/notice.
type JSON struct {
	Route      string        `json:"route"`
	Active     bool          `json:"active"` // false: operational, nothing to show
	Status     string        `json:"status"`
	Message    string        `json:"message,omitempty"`
	Lang       string        `json:"lang"`
	Incident   *IncidentJSON `json:"incident,omitempty"`
	StatusPage string        `json:"status_page,omitempty"`
	Since      *time.Time    `json:"since,omitempty"`
}

// IncidentJSON names the incident behind a notice.
type IncidentJSON struct {
	ID    int64      `json:"id"`
	Title string     `json:"title"`
	URL   string     `json:"url,omitempty"`
	ETA   *time.Time `json:"eta,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	switch r.URL.Path {
	case "/notice.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(script)
		return
	case "/api/notice":
	default:
		writeErr(w, http.StatusNotFound, "not_found", "unknown path")
		return
	}
	route := r.URL.Query().Get("route")
	if route == "" {
		writeErr(w, http.StatusBadRequest, "invalid", "the route parameter is required, e.g. /api/notice?route=assistant&lang=en")
		return
	}
	known := h.Routes()
	found := false
	for _, k := range known {
		found = found || k == route
	}
	if !found {
		writeErr(w, http.StatusNotFound, "not_found", "unknown route "+strconv.Quote(route)+"; known: "+strings.Join(known, ", "))
		return
	}
	lang := Negotiate(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"), h.src.Languages())
	out := JSON{Route: route, Status: string(understudy.ComponentOperational), Lang: lang}
	page := strings.TrimRight(h.PublicURL(), "/")
	if n, text, ok := h.src.Notice(route, lang); ok {
		since := n.Since.UTC()
		out.Active, out.Status, out.Message, out.Since = true, string(n.Status), text, &since
		out.StatusPage = page
		if n.Incident != 0 {
			inc := &IncidentJSON{ID: n.Incident, Title: n.Title}
			if page != "" {
				inc.URL = page + "/incidents/" + strconv.FormatInt(n.Incident, 10)
				out.StatusPage = inc.URL
			}
			if !n.ETA.IsZero() {
				eta := n.ETA.UTC()
				inc.ETA = &eta
			}
			out.Incident = inc
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=5")
	w.Header().Set("Vary", "Accept-Language")
	_ = json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg, "code": code}})
}

// Negotiate picks the language: an explicit one when offered, else the
// best Accept-Language match (q-values honoured), else the first offered.
func Negotiate(explicit, acceptLanguage string, offered []string) string {
	if len(offered) == 0 {
		return "en"
	}
	has := func(l string) bool {
		for _, o := range offered {
			if o == l {
				return true
			}
		}
		return false
	}
	if has(explicit) {
		return explicit
	}
	best, bestQ := "", 0.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if q > bestQ && has(base) {
			best, bestQ = base, q
		}
	}
	if best != "" {
		return best
	}
	return offered[0]
}
