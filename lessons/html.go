package lessons

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTML fragments for the console: markup to place inside the console's own
// pages, with the console's classes (stack, narrow, badge, empty) plus
// results, snippet, similar and k-incident / k-postmortem, which its
// stylesheet may style. No script, no inline style; the search form is a
// GET form (no CSRF token needed).

//go:embed templates/*.html
var templateFS embed.FS

// Paths are the console's links. Zero fields take the defaults.
type Paths struct {
	// Incident is an incident's page. Default /console/incidents/{id}.
	Incident func(id int64) string
	// Postmortem is a postmortem's page, by the postmortem's id (its
	// Document.ID). Default /console/postmortems/{id}.
	Postmortem func(id string) string
}

func (p Paths) incident(id int64) string {
	if p.Incident != nil {
		return p.Incident(id)
	}
	return "/console/incidents/" + strconv.FormatInt(id, 10)
}

func (p Paths) postmortem(id string) string {
	if p.Postmortem != nil {
		return p.Postmortem(id)
	}
	return "/console/postmortems/" + url.PathEscape(id)
}

var tmpl = template.Must(template.New("lessons").Funcs(template.FuncMap{
	"incidentURL": func(p Paths, id int64) string { return p.incident(id) },
	"docURL": func(p Paths, d Document) string {
		if d.Kind == KindPostmortem {
			return p.postmortem(d.ID)
		}
		return p.incident(d.IncidentID)
	},
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"score": func(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) },
	"join":  strings.Join,
}).ParseFS(templateFS, "templates/*.html"))

// SearchHTML renders the search form (GET action?q=…) and, when query is
// not empty, its hits: kind, title linked to the incident or postmortem,
// date and snippet.
func SearchHTML(action, query string, hits []Hit, p Paths) (template.HTML, error) {
	return render("search", struct {
		Action, Query string
		Hits          []Hit
		Paths         Paths
	}{action, query, hits, p})
}

// SimilarHTML renders similar incidents (Links of Similar's matches, or
// Recorded from a timeline) as a list: title linked to the incident, score
// and reasons.
func SimilarHTML(links []Link, p Paths) (template.HTML, error) {
	return render("similar", struct {
		Links []Link
		Paths Paths
	}{links, p})
}

func render(name string, data any) (template.HTML, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("lessons: render %s: %w", name, err)
	}
	return template.HTML(b.String()), nil
}
