package main

import (
	"context"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/analytics"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/lessons"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/store"
)

// insights serve the console's analytics and lessons pages.
type insights struct {
	st     *store.Store
	engine *incident.Engine
	lib    *lessons.Library
	// configured are the routes and providers of the running configuration:
	// reported even before the engine has seen them.
	configured func() (routes, providers []string)
}

var _ admin.Insights = insights{}

func (i insights) Analytics(ctx context.Context, days string) (template.HTML, error) {
	d, err := analytics.ParseDays(days)
	if err != nil {
		return "", err
	}
	components, err := i.engine.Components(ctx)
	if err != nil {
		return "", err
	}
	known := map[string]bool{}
	for _, c := range components {
		known[c.Name] = true
	}
	routes, providers := i.configured()
	for _, r := range routes {
		if !known[r] {
			components = append(components, understudy.Component{Name: r, Kind: analytics.KindRoute})
		}
	}
	for _, p := range providers {
		if name := store.ProviderPrefix + p; !known[name] {
			components = append(components, understudy.Component{Name: name, Kind: analytics.KindProvider})
		}
	}
	slos, err := i.engine.SLOs(ctx)
	if err != nil {
		return "", err
	}
	rep, err := analytics.Compute(ctx, i.st, d, time.Now(), analytics.NewCatalog(components, slos))
	if err != nil {
		return "", err
	}
	return analytics.HTML(rep, "/console/analytics")
}

func (i insights) Search(ctx context.Context, q string) (template.HTML, error) {
	var hits []lessons.Hit
	if strings.TrimSpace(q) != "" {
		var err error
		if hits, err = i.lib.Search(ctx, q, lessons.SearchOptions{}); err != nil {
			return "", err
		}
	}
	return lessons.SearchHTML("/console/lessons", q, hits, lessons.Paths{})
}

func (i insights) Similar(ctx context.Context, id int64) (template.HTML, error) {
	inc, err := i.engine.Incident(ctx, id)
	if err != nil {
		return "", err
	}
	ms := i.lib.Similar(ctx, inc)
	if len(ms) == 0 {
		return "", nil
	}
	return lessons.SimilarHTML(lessons.Links(ms), lessons.Paths{})
}

// postmortemDocument is what the lessons library indexes of a postmortem.
func postmortemDocument(p postmortem.Postmortem) lessons.Document {
	lines := []string{p.Summary, p.Trigger, p.RootCause, p.ContributingFactors, p.WentWell, p.WentBadly, p.Lucky}
	for _, a := range p.ActionItems {
		lines = append(lines, a.Title)
	}
	when := p.PublishedAt
	if when.IsZero() {
		when = p.UpdatedAt
	}
	return lessons.Document{Kind: lessons.KindPostmortem, ID: strconv.FormatInt(p.ID, 10), IncidentID: p.IncidentID,
		Title: "Postmortem: " + p.Title, Text: strings.Join(lines, "\n"), When: when}
}

// postmortemSource lists every postmortem for the library's first load.
func postmortemSource(pms *postmortem.Service) lessons.Source {
	return lessons.SourceFunc(func(ctx context.Context) ([]lessons.Document, error) {
		ps, err := pms.List(ctx, postmortem.Filter{Limit: 10000})
		if err != nil {
			return nil, err
		}
		docs := make([]lessons.Document, len(ps))
		for i, p := range ps {
			docs[i] = postmortemDocument(p)
		}
		return docs, nil
	})
}
