// Package status serves the public status of Understudy in the format of
// the Atlassian Statuspage public API v2, so that existing widgets, bots and
// status aggregators read it as they read any Statuspage page, plus RSS 2.0
// and Atom 1.0 feeds of the incident and maintenance history.
//
// Endpoints (GET and HEAD only; anything else is 405):
//
//	/api/v2/summary.json                          page, components, unresolved incidents, upcoming and active maintenances, status
//	/api/v2/status.json                           page, status (indicator and description)
//	/api/v2/components.json                       page, components
//	/api/v2/incidents.json                        page, the 50 most recent incidents
//	/api/v2/incidents/unresolved.json             page, the open incidents
//	/api/v2/scheduled-maintenances.json           page, the 50 most recent maintenances
//	/api/v2/scheduled-maintenances/upcoming.json  page, the scheduled ones (not started)
//	/api/v2/scheduled-maintenances/active.json    page, those in_progress or verifying
//	/history.rss                                  RSS 2.0: incidents and maintenances, newest first, 50
//	/history.atom                                 Atom 1.0: the same entries
//
// Every response carries Access-Control-Allow-Origin: * (widgets read it
// from other origins) and Cache-Control: max-age=5.
//
// # Mapping
//
// Component ids are stable and derived from the component name alone (see
// ComponentID): a route name made of lowercase letters, digits and '-' is
// its own id; a provider component "provider:NAME" is "provider-NAME"; any
// other name is slugged and suffixed with 8 hex digits of the SHA-256 of the
// full name, so two names never share an id. Routes keep their name;
// provider components are named "Provider NAME" (a route name cannot hold a
// space, so the two never collide). position follows the order of
// Source.Components, from 1. created_at and updated_at are when the current
// status began (we do not record a component's creation).
//
// Incidents keep their numeric id ("42"); impact is the severity (minor,
// major, critical); created_at is when it was detected, started_at its
// first bad minute; monitoring_at is the last move into monitoring. Each
// update's affected_components lists the components whose status, as the
// incident shows it, changed with that update: while investigating or
// identified a component shows the severity's status (minor:
// degraded_performance, major: partial_outage, critical: major_outage), and
// operational otherwise. An update with an ETA gets an "Estimated
// resolution" line in the page time zone.
//
// An incident whose postmortem is published (Options.Postmortems) has the
// status "postmortem", as on Statuspage, in the incident lists and the
// feeds; a last update with that status, dated at the publication, carries
// the postmortem's summary and a link to it on the incident's page
// (Page.URL + "/incidents/{id}#postmortem"). Its resolved_at is unchanged.
//
// Maintenance windows become scheduled maintenances with id "m<ID>", impact
// "maintenance", scheduled_for/scheduled_until from the window. Their
// updates are synthesized from the window's timestamps: scheduled (the
// window's message) at creation, in_progress at the start, verifying at the
// end of the window when probes had to pass, completed at the end. The
// components are the window's components plus the provider components of
// its targets (what the engine shows under maintenance); targets themselves
// are not published. Canceled windows never started and Statuspage has no
// such status: the API leaves them out, the feeds show them as canceled.
//
// The overall indicator is the worst of the components' statuses
// (degraded_performance: minor, partial_outage: major, major_outage:
// critical) and of the unresolved incidents' impacts (monitoring ones
// included, as on Statuspage); when that is none and a component is under
// maintenance or a window is in progress or verifying, it is "maintenance".
// page.updated_at is the latest change among what the response was built
// from (component status changes, incident and window updates), or now when
// there is none.
//
// # Feeds
//
// Both feeds hold the same 50 entries, newest first by publication (an
// incident's detection, a window's announcement). An entry's id (RSS guid)
// is a tag: URI on the host of Page.URL, "tag:HOST,2005:Incident/7" or
// "tag:HOST,2005:Maintenance/3"; its link is the shortlink,
// Page.URL + "/incidents/7", or Page.URL + "/#maintenance-3" (the status
// page shows maintenance on its home page); its content is
// HTML (escaped once more by the XML encoding): the window for a
// maintenance, then every update newest first with its time in the page
// time zone, status and body, then the affected components.
//
// Times are UTC with milliseconds ("2026-11-23T14:02:11.123Z"); a zero time
// is null.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

// Source is what the status API reads; *incident.Engine implements it.
type Source interface {
	// Components returns every component, in page order.
	Components(ctx context.Context) ([]understudy.Component, error)
	// Incidents returns incidents with their Updates (in any order: they
	// are sorted here).
	Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error)
	// Maintenances returns maintenance windows.
	Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error)
}

// Page describes the public status page.
type Page struct {
	// ID is page.id and page_id everywhere. Zero: "understudy".
	ID string
	// Name is page.name and the feeds' title. Zero: "Understudy".
	Name string
	// URL is the public URL of the status page, e.g.
	// "https://status.example.com"; a trailing slash is dropped. Incident
	// links are URL + "/incidents/{id}" and feed ids use its host. Zero:
	// links are relative and ids use the host "localhost" (set it in
	// production: feed readers want absolute links).
	URL string
	// TimeZone is page.time_zone, an IANA name; the feeds and update texts
	// show times in it (API timestamps are always UTC). Zero: "Etc/UTC".
	// An unknown name is kept as page.time_zone and texts fall back to UTC.
	TimeZone string
}

// Options configures a Handler.
type Options struct {
	// Source provides components, incidents and maintenances. Required.
	Source Source
	// Page describes the page; see Page for its defaults.
	Page Page
	// Clock gives "now" when nothing else dates a response (an empty page's
	// updated_at, an empty feed's updated). Zero: the real clock.
	Clock clockwork.Clock
	// Logger receives errors from Source. Zero: discard.
	Logger *slog.Logger
	// Postmortems tells which incidents have a published postmortem. Nil:
	// none has.
	Postmortems Postmortems
}

// Postmortems gives the published postmortems of incidents, by incident
// id; *postmortem.Service implements it.
type Postmortems interface {
	Published(ctx context.Context, incidentIDs []int64) (map[int64]postmortem.Postmortem, error)
}

// Handler serves the Statuspage API and the feeds. Create it with New.
type Handler struct {
	src  Source
	pms  Postmortems
	page Page
	loc  *time.Location
	host string // for tag: URIs
	clk  clockwork.Clock
	log  *slog.Logger
	mux  *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler with opts' zero fields set to their defaults. It
// panics if opts.Source is nil.
func New(opts Options) *Handler {
	if opts.Source == nil {
		panic("status: Options.Source is nil")
	}
	h := &Handler{src: opts.Source, pms: opts.Postmortems, page: opts.Page, clk: opts.Clock, log: opts.Logger}
	if h.page.ID == "" {
		h.page.ID = "understudy"
	}
	if h.page.Name == "" {
		h.page.Name = "Understudy"
	}
	if h.page.TimeZone == "" {
		h.page.TimeZone = "Etc/UTC"
	}
	h.page.URL = strings.TrimRight(h.page.URL, "/")
	if h.clk == nil {
		h.clk = clockwork.NewRealClock()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.loc = location(h.page.TimeZone, h.log)
	h.host = "localhost"
	if u, err := url.Parse(h.page.URL); err == nil && u.Hostname() != "" {
		h.host = u.Hostname()
	}

	h.mux = http.NewServeMux()
	for path, build := range map[string]func(context.Context) (any, error){
		"/api/v2/summary.json":                         h.summary,
		"/api/v2/status.json":                          h.status,
		"/api/v2/components.json":                      h.components,
		"/api/v2/incidents.json":                       h.incidents,
		"/api/v2/incidents/unresolved.json":            h.unresolved,
		"/api/v2/scheduled-maintenances.json":          h.maintenances,
		"/api/v2/scheduled-maintenances/upcoming.json": h.upcoming,
		"/api/v2/scheduled-maintenances/active.json":   h.active,
	} {
		h.mux.Handle(path, h.serveJSON(build))
	}
	h.mux.Handle("/history.rss", h.serveFeed("application/rss+xml; charset=utf-8", h.rss))
	h.mux.Handle("/history.atom", h.serveFeed("application/atom+xml; charset=utf-8", h.atom))
	return h
}

// location resolves the page time zone for texts. "Etc/UTC" and "UTC" need
// no tzdata.
func location(name string, log *slog.Logger) *time.Location {
	switch name {
	case "Etc/UTC", "UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu":
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		log.Warn("status: unknown page time zone, texts use UTC", "time_zone", name, "err", err)
		return time.UTC
	}
	return loc
}

// ServeHTTP serves the paths listed in the package documentation: 404 for
// any other path, 405 for methods other than GET and HEAD.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.writeError(w, r, understudy.Errorf(understudy.ENOTFOUND, "no such path %s", r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeErrorBody(w, http.StatusMethodNotAllowed, "method_not_allowed", "only GET and HEAD are allowed")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) serveJSON(build func(context.Context) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := build(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		body, err := marshalJSON(v)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.write(w, "application/json; charset=utf-8", body)
	})
}

func (h *Handler) serveFeed(contentType string, build func(context.Context) ([]byte, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := build(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.write(w, contentType, body)
	})
}

func (h *Handler) write(w http.ResponseWriter, contentType string, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", "max-age=5")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// marshalJSON encodes v without HTML escaping (as Statuspage does: the body
// is application/json with nosniff, never HTML).
func marshalJSON(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// writeError is the one place errors become responses: an *understudy.Error
// shows its message with its status; anything else is logged and shown as
// a generic 500. Errors are never cached.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusInternalServerError, understudy.EINTERNAL, "internal error"
	var e *understudy.Error
	switch {
	case errors.As(err, &e) && e.Code != understudy.EINTERNAL:
		status, code, msg = e.HTTPStatus(), e.Code, e.Message
	case errors.Is(err, context.Canceled):
		// The client left; nobody reads the answer.
		status, msg = 499, "client closed request"
	default:
		h.log.Error("status: request failed", "path", r.URL.Path, "err", err)
	}
	writeErrorBody(w, status, code, msg)
}

// writeErrorBody writes {"error":{"message","code"}}.
func writeErrorBody(w http.ResponseWriter, status int, code, msg string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "code": code}})
	_, _ = w.Write(append(body, '\n'))
}
