package admin

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

//go:embed templates/*.html static/console.css
var assets embed.FS

var pageNames = []string{"home", "incidents", "incident", "incident_new", "maintenances", "slos", "tokens", "signin", "error", "handoff",
	"postmortems", "postmortem", "insight"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"list": func(s []string) string {
		if len(s) == 0 {
			return "—"
		}
		return strings.Join(s, ", ")
	},
	"words": func(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") },
	"pct":   func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"burn":  func(f float64) string { return fmt.Sprintf("%.1f×", f) },
	"low":   func(f float64) bool { return f < 0.25 },
	// Postmortems: written fields in (safe) Markdown, statuses for people.
	"markdown":  postmortem.RenderMarkdown,
	"pmStatus":  postmortem.StatusWords,
	"hasPrefix": strings.HasPrefix,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.DateOnly)
	},
}

// parsePages parses each page with the layout and the shared partials.
func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("admin: console templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// registerConsole registers /console/: pages are GETs, changes are POST
// forms answered with a redirect (Post/Redirect/Get).
func (h *Handler) registerConsole() {
	agent, operator, admin := understudy.ScopeAgent, understudy.ScopeOperator, understudy.ScopeAdmin
	page := func(method, pattern string, scope understudy.Scope, fn http.HandlerFunc) {
		h.route(method, "/console/"+pattern, scope, fn)
	}
	page("GET", "static/console.css", ScopePublic, h.stylesheet)
	page("GET", "signin", ScopePublic, h.signinForm)
	page("POST", "signin", ScopePublic, h.signin)
	page("POST", "signout", agent, h.signout)
	page("GET", "{$}", agent, h.consoleHome)
	page("GET", "incidents", agent, h.consoleIncidents)
	page("GET", "incidents/new", operator, h.consoleNewIncident)
	page("POST", "incidents", operator, h.consoleCreateIncident)
	page("GET", "incidents/{id}", agent, h.consoleIncident)
	page("POST", "incidents/{id}/updates", operator, h.consoleUpdate)
	page("POST", "incidents/{id}/resolve", operator, h.consoleResolve)
	page("POST", "incidents/{id}/reopen", operator, h.consoleReopen)
	page("POST", "incidents/{id}/merge", operator, h.consoleMerge)
	page("GET", "maintenances", agent, h.consoleMaintenances)
	page("POST", "maintenances", operator, h.consoleSchedule)
	page("POST", "maintenances/{id}/cancel", operator, h.consoleCancel)
	page("GET", "slos", agent, h.consoleSLOs)
	page("GET", "tokens", admin, h.consoleTokens)
	page("POST", "tokens", admin, h.consoleCreateToken)
	page("POST", "tokens/{name}/revoke", admin, h.consoleRevokeToken)
}

// pageData is what every page's template gets; Data is the page's own.
type pageData struct {
	Title, Page string
	User        string
	Scope       understudy.Scope
	CSRF        string
	Flash       string
	NewToken    string // a raw token just created, shown once
	Error       string // a form's error, shown above it
	CanOperate  bool
	IsAdmin     bool
	Handoff     bool // the handoff queue exists
	Postmortems bool // postmortems are on
	Insights    bool // analytics and the lessons library are on
	Data        any
}

// render writes page with data; errMsg is a form error to show.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any, errMsg string) {
	pd := pageData{Title: title, Page: page, Error: errMsg, Data: data}
	if p := principalFrom(r.Context()); p.sess != nil {
		pd.User, pd.Scope, pd.CSRF = p.Name, p.Scope, p.sess.csrf
		pd.Handoff, pd.Postmortems, pd.Insights = h.handoff != nil, h.pm != nil, h.insights != nil
		pd.CanOperate, pd.IsAdmin = p.Scope.Allows(understudy.ScopeOperator), p.Scope.Allows(understudy.ScopeAdmin)
		if r.Method == http.MethodGet && status == http.StatusOK {
			f := h.takeFlash(w, r)
			pd.Flash, pd.NewToken = f.Notice, f.NewToken
		}
	}
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", pd); err != nil {
		h.log.Error("admin: rendering a console page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// consoleError shows err as an error page; internal errors are logged.
func (h *Handler) consoleError(w http.ResponseWriter, r *http.Request, err error) {
	e := h.public(r, err)
	h.renderError(w, r, e.HTTPStatus(), sentence(e.Message))
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", http.StatusText(status), nil, msg)
}

// formFailed re-renders a form with err's message, or shows an error page
// when err is internal.
func (h *Handler) formFailed(w http.ResponseWriter, r *http.Request, err error, rerender func(status int, msg string)) {
	e := h.public(r, err)
	if e.Code == understudy.EINTERNAL {
		h.renderError(w, r, e.HTTPStatus(), sentence(e.Message))
		return
	}
	rerender(e.HTTPStatus(), sentence(e.Message))
}

// done ends a successful form: a notice for the next page, and a redirect.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, to, notice, newToken string) {
	h.setFlash(w, flash{Notice: notice, NewToken: newToken})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) stylesheet(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(assets, "static/console.css")
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

type homeData struct {
	Open         []understudy.Incident
	Maintenances []understudy.Maintenance
	Components   []understudy.Component
	SLOs         []SLOJSON
	Windows      []string
	Overdue      []postmortem.OverdueItem // open action items past due
}

func (h *Handler) consoleHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var d homeData
	var err error
	if d.Open, err = h.svc.Incidents(ctx, understudy.IncidentFilter{Open: true}); err != nil {
		h.consoleError(w, r, err)
		return
	}
	if d.Maintenances, err = h.svc.Maintenances(ctx, understudy.MaintenanceFilter{Active: true}); err != nil {
		h.consoleError(w, r, err)
		return
	}
	if d.Components, err = h.svc.Components(ctx); err != nil {
		h.consoleError(w, r, err)
		return
	}
	if d.SLOs, d.Windows, err = h.sloViews(r); err != nil {
		h.consoleError(w, r, err)
		return
	}
	if h.pm != nil {
		if d.Overdue, err = h.pm.OverdueActionItems(ctx); err != nil {
			h.consoleError(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "home", "Overview", d, "")
}

func (h *Handler) sloViews(r *http.Request) ([]SLOJSON, []string, error) {
	list, err := h.svc.SLOs(r.Context())
	if err != nil {
		return nil, nil, err
	}
	views := make([]SLOJSON, 0, len(list))
	burns := make([]map[string]float64, 0, len(list))
	for _, s := range list {
		views = append(views, sloJSON(s))
		burns = append(burns, s.Status.Burn)
	}
	return views, windowNames(burns...), nil
}

func (h *Handler) consoleSLOs(w http.ResponseWriter, r *http.Request) {
	views, windows, err := h.sloViews(r)
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "slos", "Service level objectives", homeData{SLOs: views, Windows: windows}, "")
}

type incidentsData struct {
	Open, Recent []understudy.Incident
}

func (h *Handler) consoleIncidents(w http.ResponseWriter, r *http.Request) {
	all, err := h.svc.Incidents(r.Context(), understudy.IncidentFilter{Limit: 100})
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	var d incidentsData
	for _, inc := range all {
		if inc.Status.Open() {
			d.Open = append(d.Open, inc)
		} else {
			d.Recent = append(d.Recent, inc)
		}
	}
	h.render(w, r, http.StatusOK, "incidents", "Incidents", d, "")
}

// incidentData is the incident page: the incident, its evidence, and the
// forms with what was typed in them.
type incidentData struct {
	Inc      understudy.Incident
	Timeline []understudy.Event
	Classes  []classCount
	Form     string // the form Error belongs to: update, resolve, reopen, merge
	Update   updateForm
	Message  string // resolve or reopen message
	Into     string
	Choices  choices
	// Postmortem is the incident's, nil when none; PostmortemsOn tells
	// whether one can be drafted.
	Postmortem    *postmortem.Postmortem
	PostmortemsOn bool
	// Similar are past incidents like this one (HTML from the lessons library).
	Similar template.HTML
}

type classCount struct {
	Class string
	Count int64
}

type updateForm struct {
	Message, Status, Severity, Components, ETA string
}

// choices are the select options of the forms.
type choices struct {
	Statuses   []understudy.IncidentStatus
	Severities []understudy.Severity
	Causes     []understudy.Cause
	Scopes     []understudy.Scope
}

var formChoices = choices{Statuses: statuses, Severities: severities, Causes: causes, Scopes: scopes}

func (h *Handler) consoleIncident(w http.ResponseWriter, r *http.Request) {
	h.showIncident(w, r, http.StatusOK, incidentData{}, "")
}

// showIncident renders the incident page; d holds the forms' values.
func (h *Handler) showIncident(w http.ResponseWriter, r *http.Request, status int, d incidentData, errMsg string) {
	id, err := pathID(r, "incident")
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	if d.Inc, d.Timeline, err = h.incidentDetail(r.Context(), id); err != nil {
		h.consoleError(w, r, err)
		return
	}
	for c, n := range d.Inc.Evidence.Classes {
		d.Classes = append(d.Classes, classCount{Class: string(c), Count: n})
	}
	slices.SortFunc(d.Classes, func(a, b classCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Class, b.Class))
	})
	if d.Form != "update" {
		d.Update.Components = strings.Join(d.Inc.Components, ", ")
	}
	d.Choices = formChoices
	d.Postmortem, d.PostmortemsOn = h.incidentPostmortem(r, id), h.pm != nil
	d.Similar = h.incidentSimilar(r, id)
	h.render(w, r, status, "incident", fmt.Sprintf("Incident #%d: %s", d.Inc.ID, d.Inc.Title), d, errMsg)
}
