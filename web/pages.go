package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/store"
)

// homeData is the main page. The live fragment is rendered from the same
// data without the uptime bars.
type homeData struct {
	Overall    understudy.ComponentStatus
	Groups     []componentGroup
	Incidents  []understudy.Incident // open ones, worst first
	InProgress []understudy.Maintenance
	Upcoming   []understudy.Maintenance
	Now        time.Time
	Days       int
}

// componentGroup is the routes or the providers.
type componentGroup struct {
	Heading    string // catalogue key
	Components []componentView
}

type componentView struct {
	understudy.Component
	Display string // what the page calls it
	ID      string // the id of its status element
	Days    []dayView
	Uptime  *float64 // over the days with traffic; nil when none had any
}

// dayView is one bar of an uptime bar.
type dayView struct {
	Class string // up-good, up-minor, up-partial, up-major or up-none
	Tip   string // the tooltip: date, uptime, requests, incidents
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fragment := r.URL.Query().Get("fragment") == "live"
	var lang string
	if fragment {
		// The script names the page's language; the fragment never sets
		// the cookie.
		lang, _ = negotiate(r)
	} else {
		lang = h.language(w, r)
	}
	d, err := h.homeData(ctx, newLocale(lang), !fragment)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	v := h.newView(r, lang, "home", "", d)
	v.Heading = v.Title
	if fragment {
		var buf strings.Builder
		if err := h.pages[lang]["home"].ExecuteTemplate(&buf, "fragment", d); err != nil {
			h.log.Error("web: rendering the live fragment", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h.write(w, http.StatusOK, "text/html; charset=utf-8", []byte(buf.String()))
		return
	}
	if h.hub != nil {
		v.Live = "/live"
		v.Fragment = "/?" + url.Values{"fragment": {"live"}, "lang": {lang}}.Encode()
	}
	h.render(w, r, http.StatusOK, "home", v)
}

// homeData gathers the main page; bars adds the uptime bars.
func (h *Handler) homeData(ctx context.Context, loc *locale, bars bool) (*homeData, error) {
	now := h.clk.Now()
	d := &homeData{Now: now, Days: UptimeDays, Overall: understudy.ComponentOperational}
	comps, err := h.src.Components(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: components: %w", err)
	}
	open, err := h.src.Incidents(ctx, understudy.IncidentFilter{Open: true})
	if err != nil {
		return nil, fmt.Errorf("web: open incidents: %w", err)
	}
	d.Incidents = open
	slices.SortStableFunc(d.Incidents, func(a, b understudy.Incident) int {
		return cmp.Or(cmp.Compare(b.Severity.Rank(), a.Severity.Rank()), b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	ms, err := h.src.Maintenances(ctx, understudy.MaintenanceFilter{Active: true})
	if err != nil {
		return nil, fmt.Errorf("web: maintenance: %w", err)
	}
	for _, m := range ms {
		switch m.Status {
		case understudy.MaintenanceInProgress, understudy.MaintenanceVerifying:
			d.InProgress = append(d.InProgress, m)
		case understudy.MaintenanceScheduled:
			d.Upcoming = append(d.Upcoming, m)
		}
	}
	byStart := func(a, b understudy.Maintenance) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	}
	slices.SortStableFunc(d.InProgress, byStart)
	slices.SortStableFunc(d.Upcoming, byStart)

	for _, c := range comps {
		if c.Status.Rank() > d.Overall.Rank() {
			d.Overall = c.Status
		}
	}
	for _, inc := range open {
		if s := severityStatus(inc.Severity); s.Rank() > d.Overall.Rank() {
			d.Overall = s
		}
	}

	var recent []understudy.Incident
	if bars {
		if recent, err = h.recentIncidents(ctx, now, open); err != nil {
			return nil, err
		}
	}
	routes := componentGroup{Heading: "components.routes"}
	providers := componentGroup{Heading: "components.providers"}
	for _, c := range comps {
		cv := componentView{Component: c, Display: displayName(c.Name), ID: statusID(c.Name)}
		if bars {
			if err := h.fillBars(ctx, loc, &cv, now, recent); err != nil {
				return nil, err
			}
		}
		if c.Kind == "provider" || (c.Kind == "" && strings.HasPrefix(c.Name, store.ProviderPrefix)) {
			providers.Components = append(providers.Components, cv)
		} else {
			routes.Components = append(routes.Components, cv)
		}
	}
	for _, g := range []componentGroup{routes, providers} {
		if len(g.Components) > 0 {
			d.Groups = append(d.Groups, g)
		}
	}
	return d, nil
}

// recentIncidents are the incidents that may touch the uptime bars' days:
// those started in the window (and a month before it, for long ones) and
// the open ones.
func (h *Handler) recentIncidents(ctx context.Context, now time.Time, open []understudy.Incident) ([]understudy.Incident, error) {
	since := firstDay(now).AddDate(0, 0, -30)
	list, err := h.src.Incidents(ctx, understudy.IncidentFilter{Since: since, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("web: recent incidents: %w", err)
	}
	seen := map[int64]bool{}
	for _, inc := range list {
		seen[inc.ID] = true
	}
	for _, inc := range open {
		if !seen[inc.ID] {
			list = append(list, inc)
		}
	}
	slices.SortStableFunc(list, func(a, b understudy.Incident) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// firstDay is the start of the oldest day of the uptime bars.
func firstDay(now time.Time) time.Time {
	return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(UptimeDays - 1))
}

// fillBars reads c's daily uptime and writes its bars with their tooltips.
func (h *Handler) fillBars(ctx context.Context, loc *locale, c *componentView, now time.Time, recent []understudy.Incident) error {
	var days []store.DayUptime
	if h.uptime != nil {
		var err error
		if days, err = h.uptime.DailyUptime(ctx, c.Name, UptimeDays, now); err != nil {
			return fmt.Errorf("web: uptime of %s: %w", c.Name, err)
		}
	}
	if len(days) != UptimeDays {
		// No store, or one that answered oddly: every day without data.
		days = make([]store.DayUptime, UptimeDays)
		for i := range days {
			days[i].Day = firstDay(now).AddDate(0, 0, i)
		}
	}
	var good, total int64
	for _, du := range days {
		lines := []string{loc.Day(du.Day)}
		class := "up-none"
		if du.Uptime != nil {
			good, total = good+du.Good, total+du.Total
			class = uptimeClass(*du.Uptime)
			lines = append(lines, loc.T("uptime.day", loc.Pct(*du.Uptime), loc.N("uptime.requests", du.Total)))
		} else {
			lines = append(lines, loc.T("uptime.no_data"))
		}
		var titles []string
		for _, inc := range recent {
			if slices.Contains(inc.Components, c.Name) && touches(inc, du.Day, now) {
				titles = append(titles, inc.Title)
			}
		}
		if len(titles) == 0 {
			lines = append(lines, loc.T("uptime.no_incidents"))
		} else {
			for _, t := range titles {
				lines = append(lines, loc.T("uptime.incident", t))
			}
		}
		c.Days = append(c.Days, dayView{Class: class, Tip: strings.Join(lines, "\n")})
	}
	if total > 0 {
		u := float64(good) / float64(total)
		c.Uptime = &u
	}
	return nil
}

// touches reports whether inc was going on at some time of the UTC day
// starting at day.
func touches(inc understudy.Incident, day, now time.Time) bool {
	end := inc.ResolvedAt
	if end.IsZero() {
		end = now
	}
	next := day.Add(24 * time.Hour)
	return inc.StartedAt.Before(next) && !end.Before(day)
}

// uptimeClass colours a day's bar; its text says the same.
func uptimeClass(u float64) string {
	switch {
	case u >= 0.999:
		return "up-good"
	case u >= 0.99:
		return "up-minor"
	case u >= 0.95:
		return "up-partial"
	}
	return "up-major"
}

// severityStatus is the component status an open incident of severity s
// means, as the incident engine derives it.
func severityStatus(s understudy.Severity) understudy.ComponentStatus {
	switch s {
	case understudy.SeverityCritical:
		return understudy.ComponentMajorOutage
	case understudy.SeverityMajor:
		return understudy.ComponentPartialOutage
	case understudy.SeverityMinor:
		return understudy.ComponentDegradedPerformance
	}
	return understudy.ComponentOperational
}

// displayName is how the page calls a component: a provider by its name,
// a route by its own.
func displayName(name string) string {
	if p, ok := strings.CutPrefix(name, store.ProviderPrefix); ok {
		return p
	}
	return name
}

// statusID is the element id of a component's status: "cs-" and the name,
// with every byte outside [A-Za-z0-9-] written as "_XX".
func statusID(name string) string {
	var b strings.Builder
	b.WriteString("cs-")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

// incidentData is an incident's page.
type incidentData struct {
	Inc      understudy.Incident
	Duration time.Duration // from start to resolution, or to now while open
	// Postmortem is the incident's published postmortem (its page only);
	// nil when there is none.
	Postmortem *postmortem.Postmortem
}

func (h *Handler) incident(w http.ResponseWriter, r *http.Request) {
	lang := h.language(w, r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.errorPage(w, r, lang, http.StatusNotFound)
		return
	}
	inc, err := h.src.Incident(r.Context(), id)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	d := incidentData{Inc: inc, Duration: duration(inc, h.clk.Now())}
	if h.pms != nil && !inc.Status.Open() {
		pms, err := h.pms.Published(r.Context(), []int64{inc.ID})
		if err != nil {
			h.fail(w, r, lang, fmt.Errorf("web: postmortem of incident %d: %w", inc.ID, err))
			return
		}
		if p, ok := pms[inc.ID]; ok {
			d.Postmortem = &p
		}
	}
	v := h.newView(r, lang, "", "", d)
	v.Title = inc.Title + " · " + v.Title
	h.render(w, r, http.StatusOK, "incident", v)
}

func duration(inc understudy.Incident, now time.Time) time.Duration {
	end := inc.ResolvedAt
	if end.IsZero() {
		end = now
	}
	return max(end.Sub(inc.StartedAt), 0)
}

// historyData is a page of past incidents grouped by month.
type historyData struct {
	Months     []monthView
	Page       int
	Prev, Next string // links to the neighbouring pages, empty at an end
}

type monthView struct {
	ID, Name  string // "2026-03", "March 2026"
	Incidents []incidentData
}

// maxHistoryPage bounds how far back /history pages (its store reads
// page×20 rows).
const maxHistoryPage = 250

func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	lang := h.language(w, r)
	loc := newLocale(lang)
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > maxHistoryPage {
			h.errorPage(w, r, lang, http.StatusNotFound)
			return
		}
		page = n
	}
	list, err := h.src.Incidents(r.Context(), understudy.IncidentFilter{Limit: page*HistoryPageSize + 1})
	if err != nil {
		h.fail(w, r, lang, fmt.Errorf("web: history: %w", err))
		return
	}
	slices.SortStableFunc(list, func(a, b understudy.Incident) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	from := (page - 1) * HistoryPageSize
	if from >= len(list) && page > 1 {
		h.errorPage(w, r, lang, http.StatusNotFound)
		return
	}
	d := historyData{Page: page}
	if page > 1 {
		d.Prev = pageURL("/history", pageQuery(r, page-1))
	}
	if len(list) > page*HistoryPageSize {
		d.Next = pageURL("/history", pageQuery(r, page+1))
		list = list[:page*HistoryPageSize]
	}
	now := h.clk.Now()
	for _, inc := range list[from:] {
		id := inc.StartedAt.UTC().Format("2006-01")
		if len(d.Months) == 0 || d.Months[len(d.Months)-1].ID != id {
			d.Months = append(d.Months, monthView{ID: id, Name: loc.Month(inc.StartedAt)})
		}
		m := &d.Months[len(d.Months)-1]
		m.Incidents = append(m.Incidents, incidentData{Inc: inc, Duration: duration(inc, now)})
	}
	h.render(w, r, http.StatusOK, "history", h.newView(r, lang, "history", loc.T("history.title"), d))
}

// pageQuery is r's query for another page: "page" set (dropped for the
// first), "lang" kept when given.
func pageQuery(r *http.Request, page int) url.Values {
	q := url.Values{}
	if l := r.URL.Query().Get("lang"); supported(l) {
		q.Set("lang", l)
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	return q
}
