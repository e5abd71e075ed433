package admin

import (
	"context"
	"html/template"
	"net/http"

	"github.com/understudy/understudy"
)

// Insights are the console's reliability analytics and lessons library,
// rendered by their own packages (analytics, lessons) as HTML fragments.
type Insights interface {
	// Analytics is the analytics page's body for a window of days ("7",
	// "30" or "90"; "" means 30); a bad value is EINVALID.
	Analytics(ctx context.Context, days string) (template.HTML, error)
	// Search is the lessons library's search form and results for q.
	Search(ctx context.Context, q string) (template.HTML, error)
	// Similar lists the past incidents like incident id ("" when none).
	Similar(ctx context.Context, id int64) (template.HTML, error)
}

// registerInsights adds the analytics and lessons pages (agent scope: read
// only) when they exist.
func (h *Handler) registerInsights() {
	if h.insights == nil {
		return
	}
	agent := understudy.ScopeAgent
	h.route("GET", "/console/analytics", agent, http.HandlerFunc(h.consoleAnalytics))
	h.route("GET", "/console/lessons", agent, http.HandlerFunc(h.consoleLessons))
}

func (h *Handler) consoleAnalytics(w http.ResponseWriter, r *http.Request) {
	body, err := h.insights.Analytics(r.Context(), r.URL.Query().Get("days"))
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "insight", "Reliability analytics", body, "")
}

func (h *Handler) consoleLessons(w http.ResponseWriter, r *http.Request) {
	body, err := h.insights.Search(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "insight", "Lessons: past incidents and postmortems", body, "")
}

// incidentSimilar is the similar past incidents of incident id for its
// page; a failure is logged and shows nothing.
func (h *Handler) incidentSimilar(r *http.Request, id int64) template.HTML {
	if h.insights == nil {
		return ""
	}
	html, err := h.insights.Similar(r.Context(), id)
	if err != nil {
		h.log.Warn("admin: similar incidents", "incident", id, "err", err)
		return ""
	}
	return html
}
