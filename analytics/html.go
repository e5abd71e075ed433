package analytics

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// HTML fragments for the console. Each returns markup to place inside the
// console's own page (layout, navigation and CSS are the console's): the
// classes are the console's (scroll, num, badge, empty, facts, bad,
// visually-hidden) plus windows, charts and grade-A … grade-F, which the
// console's stylesheet may style. No script, no inline style.

//go:embed templates/*.html
var templateFS embed.FS

var tmpl = template.Must(template.New("analytics").Funcs(template.FuncMap{
	"pct": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return Percent(*v)
	},
	"pctv":  Percent,
	"count": Count,
	"burn":  func(b *float64) string { return Burn(*b) },
	// overspent: the window's error budget is spent (burn ≥ 1).
	"overspent": func(b *float64) bool { return *b >= 1 },
	"dur": func(d *time.Duration) string {
		if d == nil {
			return "—"
		}
		return Duration(*d)
	},
	"durv": Duration,
	"mtbf": func(d *time.Duration, days int) string {
		if d == nil {
			return fmt.Sprintf("none in %d days", days)
		}
		return Duration(*d)
	},
	"causes": func(cs []CauseCount) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = fmt.Sprintf("%s %d", c.Cause, c.Count)
		}
		return strings.Join(parts, ", ")
	},
	"day":          func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"stamp":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"availability": AvailabilitySVG,
	"causesChart":  CausesSVG,
}).ParseFS(templateFS, "templates/*.html"))

// DefaultPath is the console page the window links point at.
const DefaultPath = "/console/analytics"

// page is what the "analytics" and "windows" templates render.
type page struct {
	Report  Report
	Path    string
	Windows []int
}

// HTML renders the whole analytics page body: links to the other windows
// (GET path?days=N; DefaultPath when path is ""), the routes table, the
// provider scorecard, incidents by cause, one daily availability chart per
// route and provider, and what the figures mean.
func HTML(r Report, path string) (template.HTML, error) {
	if path == "" {
		path = DefaultPath
	}
	return render("analytics", page{Report: r, Path: path, Windows: Windows})
}

// RoutesHTML renders the routes table.
func RoutesHTML(r Report) (template.HTML, error) { return render("routes", r) }

// ScorecardHTML renders the provider scorecard: providers by rank, with
// grade, availability, incidents, MTBF, MTTD, MTTR, and how grades are given.
func ScorecardHTML(r Report) (template.HTML, error) { return render("scorecard", r) }

// CausesHTML renders the incidents-by-cause chart of the whole report.
func CausesHTML(r Report) (template.HTML, error) { return render("causes", r) }

// ChartsHTML renders the daily availability charts, routes then providers.
func ChartsHTML(r Report) (template.HTML, error) { return render("charts", r) }

func render(name string, data any) (template.HTML, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("analytics: render %s: %w", name, err)
	}
	return template.HTML(b.String()), nil
}

// ParseDays reads the days query parameter: "" is 30; otherwise a whole
// number from 1 to MaxDays (an EINVALID error otherwise).
func ParseDays(s string) (int, error) {
	if s == "" {
		return 30, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxDays {
		return 0, understudy.Errorf(understudy.EINVALID, "days must be a whole number from 1 to %d", MaxDays)
	}
	return n, nil
}
