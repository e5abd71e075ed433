package web

import (
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

// funcs are the templates' functions, formatting in loc's language.
func funcs(loc *locale) template.FuncMap {
	return template.FuncMap{
		"t":        loc.T,
		"datetime": loc.DateTime,
		"duration": loc.Duration,
		"pct":      loc.Pct,
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"deref":     func(f *float64) float64 { return *f },
		"component": displayName,
		"components": func(names []string) string {
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = displayName(n)
			}
			return strings.Join(out, loc.T("list.separator"))
		},
		"icon": icon,
		// markdown renders a postmortem's text (a safe subset).
		"markdown": postmortem.RenderMarkdown,
		"degraded": func(t postmortem.Traffic) int64 { return t.DegradedTotal() + t.HandedOff },
		// text is an update's message in the page's language when it was
		// written from the communication plan, else as written.
		"text": func(u understudy.IncidentUpdate) string { return u.Text(loc.lang) },
		"newest": func(us []understudy.IncidentUpdate) []understudy.IncidentUpdate {
			out := slices.Clone(us)
			slices.Reverse(out)
			return out
		},
	}
}

// icon is a status's symbol: a shape as well as a colour, beside the text
// that always says it.
func icon(s understudy.ComponentStatus) string {
	switch s {
	case understudy.ComponentOperational:
		return "✓"
	case understudy.ComponentUnderMaintenance:
		return "⚙"
	case understudy.ComponentDegradedPerformance:
		return "▲"
	case understudy.ComponentPartialOutage:
		return "◆"
	case understudy.ComponentMajorOutage:
		return "✕"
	}
	return "?"
}
