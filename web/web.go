// Package web serves the public status page: the overall status, each
// component with its 90-day uptime bars, active incidents with every update,
// maintenance, a page per incident and the incident history, in English and
// French. Pages are rendered on the server; a small script applies changes
// announced on the live SSE stream without a reload, and the page works
// without it.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/live"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/store"
)

// Source is what the page shows: components, incidents (each with its
// Updates) and maintenance windows. *incident.Engine implements it.
type Source interface {
	Components(ctx context.Context) ([]understudy.Component, error)
	Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error) // with Updates
	Incident(ctx context.Context, id int64) (understudy.Incident, error)
	Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error)
}

// Uptime gives the daily uptime bars. *store.Store implements it.
type Uptime interface {
	DailyUptime(ctx context.Context, component string, days int, now time.Time) ([]store.DayUptime, error)
}

// Postmortems gives the published postmortems of incidents, by incident
// id; *postmortem.Service implements it.
type Postmortems interface {
	Published(ctx context.Context, incidentIDs []int64) (map[int64]postmortem.Postmortem, error)
}

// Page describes the status page itself.
type Page struct {
	// Name is the service's name in titles and the header, e.g. "Acme
	// Assistant". Default "Understudy".
	Name string
	// URL is the page's public address, e.g. "https://status.example.com";
	// when set, pages carry a canonical link under it. Empty: none.
	URL string
	// Subscribe shows a link to /subscribe (e-mail subscriptions are on).
	Subscribe bool
}

// Options configure the handler.
type Options struct {
	Source Source // required
	// Uptime gives the uptime bars; nil shows every day as "no data".
	Uptime Uptime
	// Hub is mounted at /live and the page follows it; nil: no /live, and
	// the page does not update by itself.
	Hub    *live.Hub
	Page   Page
	Clock  clockwork.Clock // default: the real clock
	Logger *slog.Logger    // default: discards

	// Postmortems, when set, shows a resolved incident's published
	// postmortem on its page. Nil: none is shown.
	Postmortems Postmortems
}

// UptimeDays is how many days the uptime bars cover.
const UptimeDays = 90

// HistoryPageSize is how many incidents a page of /history lists.
const HistoryPageSize = 20

//go:embed templates/*.html static/status.css static/status.js
var files embed.FS

var pageNames = []string{"home", "incident", "history", "error"}

// Handler serves the status page. Create it with New.
type Handler struct {
	src    Source
	pms    Postmortems
	uptime Uptime
	hub    *live.Hub
	page   Page
	clk    clockwork.Clock
	log    *slog.Logger
	mux    *http.ServeMux
	// pages[lang][name] is a page parsed with lang's formatting functions.
	pages  map[string]map[string]*template.Template
	assets map[string]asset
}

var _ http.Handler = (*Handler)(nil)

// asset is a static file with its version (a hash of its content).
type asset struct {
	body    []byte
	ctype   string
	version string
}

// New returns the status page handler. It serves "/", "/incidents/{id}",
// "/history", "/live" (when o.Hub is set) and "/static/…". It panics when
// o.Source is nil or the embedded templates do not parse (a build defect
// the package's tests catch).
func New(o Options) *Handler {
	if o.Source == nil {
		panic("web: Options.Source is required")
	}
	h := &Handler{src: o.Source, pms: o.Postmortems, uptime: o.Uptime, hub: o.Hub, page: o.Page, clk: o.Clock, log: o.Logger,
		pages: map[string]map[string]*template.Template{}, assets: map[string]asset{}}
	if h.page.Name == "" {
		h.page.Name = "Understudy"
	}
	if h.clk == nil {
		h.clk = clockwork.NewRealClock()
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, l := range langs {
		h.pages[l] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := template.New(name).Funcs(funcs(newLocale(l))).ParseFS(files,
				"templates/layout.html", "templates/parts.html", "templates/"+name+".html")
			if err != nil {
				panic(fmt.Sprintf("web: templates: %v", err))
			}
			h.pages[l][name] = t
		}
	}
	for name, ctype := range map[string]string{"status.css": "text/css; charset=utf-8", "status.js": "text/javascript; charset=utf-8"} {
		b, err := fs.ReadFile(files, "static/"+name)
		if err != nil {
			panic(fmt.Sprintf("web: static %s: %v", name, err))
		}
		sum := sha256.Sum256(b)
		h.assets[name] = asset{body: b, ctype: ctype, version: hex.EncodeToString(sum[:6])}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("GET /incidents/{id}", h.incident)
	h.mux.HandleFunc("GET /history", h.history)
	h.mux.HandleFunc("GET /static/{name}", h.static)
	if h.hub != nil {
		h.mux.Handle("GET /live", h.hub)
	}
	h.mux.HandleFunc("GET /", h.notFound)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// view is what every page's template gets; Data is the page's own.
type view struct {
	Lang      string
	Langs     []langLink
	Title     string // the document's title
	Heading   string // the page's h1, when the page's template uses it
	Nav       string // "home", "history" or ""
	Page      Page
	Canonical string
	CSS, JS   string
	Live      string // the SSE stream's path when the page follows it
	Fragment  string // the live fragment's path
	Now       time.Time
	Data      any
}

// langLink is one entry of the language switcher.
type langLink struct {
	Lang, Name, URL string
	Current         bool
}

// language negotiates r's language, making a ?lang= choice sticky with a
// cookie.
func (h *Handler) language(w http.ResponseWriter, r *http.Request) string {
	l, fromQuery := negotiate(r)
	if fromQuery {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return l
}

// newView fills the parts every page shares.
func (h *Handler) newView(r *http.Request, lang, nav, heading string, data any) view {
	loc := newLocale(lang)
	v := view{Lang: lang, Title: loc.T("page.title", h.page.Name), Heading: heading, Nav: nav, Page: h.page, Now: h.clk.Now(), Data: data,
		CSS: h.assetURL("status.css"), JS: h.assetURL("status.js")}
	if heading != "" {
		v.Title = heading + " · " + v.Title
	}
	for _, l := range langs {
		q := r.URL.Query()
		q.Set("lang", l)
		v.Langs = append(v.Langs, langLink{Lang: l, Name: loc.T("lang.name." + l), Current: l == lang,
			URL: r.URL.Path + "?" + q.Encode()})
	}
	if h.page.URL != "" {
		v.Canonical = strings.TrimSuffix(h.page.URL, "/") + r.URL.Path
	}
	return v
}

func (h *Handler) assetURL(name string) string {
	return "/static/" + name + "?v=" + h.assets[name].version
}

// render writes a page; on a template error it answers 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	if err := h.pages[v.Lang][name].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("web: rendering a page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.write(w, status, "text/html; charset=utf-8", buf.Bytes())
}

// write sends a rendered body with the headers every page has.
func (h *Handler) write(w http.ResponseWriter, status int, ctype string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Vary", "Accept-Language, Cookie")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fail shows err as an error page: its status comes from the application
// error's code (understudy.Error.HTTPStatus); anything else is internal,
// logged and shown as a generic message.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang string, err error) {
	status := http.StatusInternalServerError
	var ue *understudy.Error
	if errors.As(err, &ue) {
		status = ue.HTTPStatus()
	}
	if status >= 500 {
		h.log.Error("web: status page", "path", r.URL.Path, "err", err)
	}
	h.errorPage(w, r, lang, status)
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, lang string, status int) {
	loc := newLocale(lang)
	key := "error.internal"
	switch {
	case status == http.StatusNotFound:
		key = "error.not_found"
	case status < 500:
		key = "error.bad_request"
	}
	v := h.newView(r, lang, "", loc.T(key+".title"), loc.T(key))
	h.render(w, r, status, "error", v)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, h.language(w, r), http.StatusNotFound)
}

// static serves the stylesheet and the script. A request carrying the
// current version may be cached for good.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("name")]
	if !ok {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == a.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	w.Header().Set("ETag", `"`+a.version+`"`)
	http.ServeContent(w, r, path.Base(r.URL.Path), time.Time{}, bytes.NewReader(a.body))
}

// pageURL is path with query q, e.g. "/history?page=2".
func pageURL(p string, q url.Values) string {
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}
