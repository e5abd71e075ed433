package incident

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/health"
	"github.com/understudy/understudy/notice"
)

// compState is a component's shown status and its hysteresis.
type compState struct {
	kind   string
	status understudy.ComponentStatus
	since  time.Time
	reason string
	inc    int64
	// better[r] is since when the raw status has stayed at rank r or
	// better, for ranks below the current one; zero when it has not.
	better [5]time.Time
}

// statusOfRank inverts ComponentStatus.Rank.
var statusOfRank = [5]understudy.ComponentStatus{
	understudy.ComponentOperational, understudy.ComponentUnderMaintenance, understudy.ComponentDegradedPerformance,
	understudy.ComponentPartialOutage, understudy.ComponentMajorOutage,
}

// severityStatus is the status an open incident's severity shows.
func severityStatus(s understudy.Severity) understudy.ComponentStatus {
	switch s {
	case understudy.SeverityCritical:
		return understudy.ComponentMajorOutage
	case understudy.SeverityMajor:
		return understudy.ComponentPartialOutage
	}
	return understudy.ComponentDegradedPerformance
}

// rawStatus derives each component's status now, before hysteresis.
func (e *Engine) rawStatus(cfg *config.Config, top gateway.Topology, quiet quietSet, sigs []signal) map[string]raw {
	out := map[string]raw{}
	worse := func(name string, s understudy.ComponentStatus, why string, inc int64) {
		r := out[name]
		if s.Rank() > r.status.Rank() || (s == r.status && r.inc == 0 && inc != 0) {
			out[name] = raw{kind: r.kind, status: s, why: why, inc: inc}
		}
	}
	for _, r := range top.Routes {
		out[r.Name] = raw{kind: "route", status: understudy.ComponentOperational}
		avail, firstDown := 0, 0
		for i, tier := range r.Tiers {
			for _, id := range tier {
				switch {
				case top.Targets[id].Available():
					avail++
				case i == 0 && !quiet.targets[id]:
					firstDown++
				}
			}
		}
		switch {
		case avail == 0:
			worse(r.Name, understudy.ComponentMajorOutage, "no target can answer", 0)
		case firstDown > 0 && firstDown == len(r.Tiers[0]):
			worse(r.Name, understudy.ComponentDegradedPerformance, "served by backup targets", 0)
		}
	}
	provs := make([]string, 0, len(top.Providers))
	for p := range top.Providers {
		provs = append(provs, p)
	}
	sort.Strings(provs)
	for _, p := range provs {
		name := understudy.ProviderComponent(p)
		out[name] = raw{kind: "provider", status: understudy.ComponentOperational}
		down, all := 0, 0
		for _, id := range top.Providers[p] {
			if quiet.targets[id] {
				continue
			}
			all++
			if top.Targets[id].Breaker.State != health.Closed {
				down++
			}
		}
		switch {
		case all > 0 && down == all:
			worse(name, understudy.ComponentMajorOutage, fmt.Sprintf("all %d targets down", all), 0)
		case down > 0:
			worse(name, understudy.ComponentPartialOutage, fmt.Sprintf("%d of %d targets down", down, all), 0)
		}
	}
	for _, s := range sigs {
		for _, c := range s.components {
			st := understudy.ComponentDegradedPerformance
			if s.compStatus != "" {
				st = s.compStatus
			}
			worse(c, st, s.text, 0)
		}
	}
	for _, id := range e.sortedOpen() {
		t := e.open[id]
		if t.inc.Status != understudy.IncidentInvestigating && t.inc.Status != understudy.IncidentIdentified {
			continue
		}
		for _, c := range t.inc.Components {
			worse(c, severityStatus(t.inc.Severity), fmt.Sprintf("incident #%d: %s", id, t.inc.Title), id)
		}
	}
	for c := range quiet.components {
		if r, ok := out[c]; ok {
			out[c] = raw{kind: r.kind, status: understudy.ComponentUnderMaintenance, why: "scheduled maintenance"}
		}
	}
	return out
}

type raw struct {
	kind   string
	status understudy.ComponentStatus
	why    string
	inc    int64
}

// updateComponents applies hysteresis: worse at once, better only after the
// better status held for incidents.component_hold. Entering and leaving
// maintenance are immediate.
func (e *Engine) updateComponents(cfg *config.Config, now time.Time, top gateway.Topology, quiet quietSet, sigs []signal) {
	hold := cfg.Incidents.ComponentHold.D()
	raws := e.rawStatus(cfg, top, quiet, sigs)
	for name := range e.comps {
		if _, ok := raws[name]; !ok {
			delete(e.comps, name) // removed by a reload
			e.met.component.DeleteLabelValues(name)
		}
	}
	names := make([]string, 0, len(raws))
	for n := range raws {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := raws[name]
		c, ok := e.comps[name]
		if !ok {
			e.comps[name] = &compState{kind: r.kind, status: r.status, since: now, reason: r.why, inc: r.inc}
			continue
		}
		c.inc = r.inc
		maint := r.status == understudy.ComponentUnderMaintenance || c.status == understudy.ComponentUnderMaintenance
		if r.status.Rank() >= c.status.Rank() || maint {
			if r.status != c.status {
				e.setComponent(name, c, r.status, r.why, now)
			} else {
				c.reason = r.why
			}
			c.better = [5]time.Time{}
			continue
		}
		// Better: switch to the best rank the raw status has held for the
		// whole hold.
		for rank := 0; rank < c.status.Rank(); rank++ {
			switch {
			case r.status.Rank() > rank:
				c.better[rank] = time.Time{}
			case c.better[rank].IsZero():
				c.better[rank] = now
			}
		}
		for rank := 0; rank < c.status.Rank(); rank++ {
			if rank == 1 {
				continue // maintenance is never reached by improvement
			}
			if !c.better[rank].IsZero() && now.Sub(c.better[rank]) >= hold {
				why := r.why
				if r.status.Rank() != rank {
					why = "recovered"
				}
				e.setComponent(name, c, statusOfRank[rank], why, now)
				for r := rank; r < len(c.better); r++ {
					c.better[r] = time.Time{} // ranks below keep counting
				}
				break
			}
		}
	}
}

func (e *Engine) setComponent(name string, c *compState, to understudy.ComponentStatus, why string, now time.Time) {
	from := c.status
	c.status, c.since, c.reason = to, now, why
	msg := fmt.Sprintf("%s: %s → %s", name, from, to)
	if why != "" {
		msg += " (" + why + ")"
	}
	ev := understudy.Event{Type: understudy.EventComponentChanged, Time: now, Message: msg,
		Details: map[string]any{"component": name, "from": string(from), "to": string(to)}}
	if !strings.HasPrefix(name, "provider:") {
		ev.Route = name
	}
	e.compEvents = append(e.compEvents, ev) // sent by Tick once shared
}

// publishNotices rebuilds the routes' notices from the components.
func (e *Engine) publishNotices() {
	m := map[string]understudy.RouteNotice{}
	for name, c := range e.comps {
		if c.kind != "route" || c.status == understudy.ComponentOperational {
			continue
		}
		n := understudy.RouteNotice{Route: name, Status: c.status, Since: c.since, Components: []string{name}}
		id := c.inc
		if id == 0 { // an incident on one of its providers explains it
			for _, oid := range e.sortedOpen() {
				if slices.Contains(e.open[oid].inc.Evidence.Routes, name) || slices.Contains(e.open[oid].inc.Components, name) {
					id = oid
					break
				}
			}
		}
		if t, ok := e.open[id]; ok {
			n.Incident, n.Title, n.ETA, n.Cause, n.Components = t.inc.ID, t.inc.Title, t.inc.ETA, t.inc.Cause, t.inc.Components
		}
		m[name] = n
	}
	e.notices.Store(&m)
}

// RouteNotice returns what users of route are told now: ok is false while
// it is operational. It never blocks (the gateway calls it per request).
func (e *Engine) RouteNotice(route string) (understudy.RouteNotice, bool) {
	n, ok := (*e.notices.Load())[route]
	return n, ok
}

// Components returns every component's status as of the last tick, routes
// first, then providers, each sorted by name.
func (e *Engine) Components(ctx context.Context) ([]understudy.Component, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]understudy.Component, 0, len(e.comps))
	for name, c := range e.comps {
		out = append(out, understudy.Component{Name: name, Kind: c.kind, Status: c.status, Since: c.since, Incident: c.inc, Reason: c.reason})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == "route"
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Notice returns the route's notice and its text in lang (the plan's
// default language when lang has no text); ok is false while the route is
// operational.
func (e *Engine) Notice(route, lang string) (understudy.RouteNotice, string, bool) {
	n, ok := e.RouteNotice(route)
	if !ok {
		return n, "", false
	}
	custom := e.routeNotice(route)
	plan := e.plan.Load()
	text, ok := plan.Notice(custom, n, lang)
	if !ok && len(plan.Languages) > 0 {
		text, _ = plan.Notice(custom, n, plan.Languages[0])
	}
	return n, text, true
}

// routeNotice is the route's own notice text per language (routes[].notice).
func (e *Engine) routeNotice(route string) map[string]string {
	for _, r := range e.cfg.Load().Routes {
		if r.Name == route {
			return r.Notice
		}
	}
	return nil
}

// Languages are the communication plan's languages, the default first.
func (e *Engine) Languages() []string { return e.plan.Load().Languages }

var statusWord = map[string]string{"en": " Status: ", "fr": " État du service : "}

// NoticeAnswer is the honest answer a route gives when no target can serve
// it (its "notice" degradation step): the route's notice in the language
// acceptLanguage prefers, with the status page link. It never blocks.
func (e *Engine) NoticeAnswer(route, acceptLanguage string) (string, string) {
	plan := e.plan.Load()
	cfg := e.cfg.Load()
	lang := notice.Negotiate("", acceptLanguage, plan.Languages)
	n, ok := e.RouteNotice(route)
	if !ok { // no incident yet: the route itself is the news
		n = understudy.RouteNotice{Route: route, Status: understudy.ComponentMajorOutage, Components: []string{route}, Since: e.clk.Now()}
	}
	text, ok := plan.Notice(e.routeNotice(route), n, lang)
	if !ok {
		return "", lang
	}
	if page := strings.TrimRight(cfg.PublicURL, "/"); page != "" {
		if n.Incident != 0 {
			page += "/incidents/" + strconv.FormatInt(n.Incident, 10)
		}
		w := statusWord[lang]
		if w == "" {
			w = statusWord["en"]
		}
		text += w + page
	}
	return text, lang
}
