package incident

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/health"
)

// Detector names, as recorded on incidents.
const (
	DetectTargetDown  = "target_down"
	DetectRouteErrors = "route_errors"
	DetectOverload    = "overload"
	DetectSLOBurn     = "slo_burn"
)

// signal is one detector's finding at one tick.
type signal struct {
	detector   string
	cause      understudy.Cause
	severity   understudy.Severity
	components []string // sorted
	routes     []string
	targets    []string
	firstBad   time.Time
	samples    []string
	text       string // the reading in words
	// feeds whose cumulative tallies count toward the incident's classes:
	// "r:NAME" for routes, "t:ID" for targets.
	feeds []string
	// status a route signal implies for its component (route_errors only).
	compStatus understudy.ComponentStatus
}

// quietSet is what maintenance silences: targets and components.
type quietSet struct {
	targets    map[string]bool
	components map[string]bool
}

// detect runs every enabled detector over the live windows.
func (e *Engine) detect(cfg *config.Config, now time.Time, top gateway.Topology, quiet quietSet) []signal {
	in := cfg.Incidents
	var out []signal
	f := &e.feed
	f.mu.Lock()
	if !in.TargetDown.Disabled {
		out = append(out, e.detectTargetsDown(now, top, quiet)...)
	}
	if !in.RouteErrors.Disabled {
		out = append(out, e.detectRouteErrors(in.RouteErrors, now, top, quiet)...)
	}
	if !in.Overload.Disabled {
		out = append(out, e.detectOverload(in.Overload, now, top, quiet)...)
	}
	f.mu.Unlock()
	if !in.SLOBurn.Disabled {
		out = append(out, e.sloSignals(top, quiet)...)
	}
	return out
}

// detectTargetsDown: a target whose breaker is open (or half-open, still
// unproven) is down; the provider's component is affected. It also emits
// target.down / target.up events on each change.
func (e *Engine) detectTargetsDown(now time.Time, top gateway.Topology, quiet quietSet) []signal {
	var out []signal
	for _, id := range top.Order {
		st := top.Targets[id]
		isDown := st.Breaker.State != health.Closed && !quiet.targets[id]
		if isDown != e.down[id] {
			e.down[id] = isDown
			ev := understudy.Event{Type: understudy.EventTargetUp, Target: id, Time: now, Message: "target " + id + " is up again"}
			if isDown {
				ev.Type, ev.Message = understudy.EventTargetDown, fmt.Sprintf("target %s is down: circuit %s since %s", id, st.Breaker.State, st.Breaker.Since.UTC().Format("15:04:05"))
				ev.Details = map[string]any{"breaker": st.Breaker.State.String(), "probe_error": st.ProbeError}
			}
			e.emit(ev)
		}
		if !isDown {
			continue
		}
		t := e.feed.target(id)
		win := t.win.sum(now, 2*time.Minute)
		cause := understudy.CauseTechnical
		if c := win.dominant(); c != "" {
			if cc := understudy.CauseOf(c); cc != understudy.CauseUnknown {
				cause = cc
			}
		}
		text := fmt.Sprintf("target %s down: circuit %s", id, st.Breaker.State)
		if st.ProbeError != "" {
			text += ", last probe failed: " + Redact(st.ProbeError)
		}
		if win.total > 0 {
			text += fmt.Sprintf(", %d of %d attempts failed over 2m", win.bad, win.total)
		}
		first := t.win.firstBad(now, 2*time.Minute)
		if first.IsZero() {
			first = st.Breaker.Since
		}
		out = append(out, signal{
			detector: DetectTargetDown, cause: cause, severity: understudy.SeverityMinor,
			components: []string{understudy.ProviderComponent(st.Provider)},
			routes:     top.RoutesOf[id], targets: []string{id}, firstBad: first,
			samples: t.samples.read(id + ": "), text: text, feeds: []string{"t:" + id},
		})
	}
	return out
}

// detectRouteErrors: the share of a route's requests that users saw fail or
// that were served degraded, over the window.
func (e *Engine) detectRouteErrors(d config.Detector, now time.Time, top gateway.Topology, quiet quietSet) []signal {
	var out []signal
	for _, r := range top.Routes {
		if quiet.components[r.Name] {
			continue
		}
		rf, ok := e.feed.routes[r.Name]
		if !ok {
			continue
		}
		win := rf.win.sum(now, d.Window.D())
		if win.total < int64(d.MinRequests) || win.share() < d.Threshold {
			continue
		}
		sev, status := understudy.SeverityMajor, understudy.ComponentPartialOutage
		if win.share() >= 0.8 || !anyAvailable(r, top) {
			// Most users fail, or nothing can answer now (the window may
			// still hold the minutes before the outage).
			sev, status = understudy.SeverityCritical, understudy.ComponentMajorOutage
		}
		cause := understudy.CauseOf(win.dominant())
		var targets []string
		for _, tier := range r.Tiers {
			targets = append(targets, tier...)
		}
		out = append(out, signal{
			detector: DetectRouteErrors, cause: cause, severity: sev, compStatus: status,
			components: []string{r.Name}, routes: []string{r.Name}, targets: targets,
			firstBad: rf.win.firstBad(now, d.Window.D()), samples: rf.samples.read(r.Name + ": requests failed with "),
			text:  fmt.Sprintf("route %s: %d of %d requests (%.0f%%) failed or degraded over %s", r.Name, win.bad, win.total, 100*win.share(), d.Window),
			feeds: []string{"r:" + r.Name},
		})
	}
	return out
}

// detectOverload: per provider, the share of its targets' attempts refused
// with 429 or overloaded; requests the gateway shed on a route; latency
// far above the target's baseline.
func (e *Engine) detectOverload(d config.Detector, now time.Time, top gateway.Topology, quiet quietSet) []signal {
	var out []signal
	provs := make([]string, 0, len(top.Providers))
	for p := range top.Providers {
		provs = append(provs, p)
	}
	sort.Strings(provs)
	for _, p := range provs {
		var (
			win     tally
			reasons []string
			targets []string
			feeds   []string
			first   time.Time
			smp     []string
		)
		for _, id := range top.Providers[p] {
			if quiet.targets[id] {
				continue
			}
			t, ok := e.feed.targets[id]
			if !ok {
				continue
			}
			w := t.win.sum(now, d.Window.D())
			win.add(w)
			over := w.byClass[classIndex[understudy.ClassRateLimit]] + w.byClass[classIndex[understudy.ClassOverloaded]]
			if w.total >= int64(d.MinRequests) && float64(over)/float64(w.total) >= d.Threshold {
				reasons = append(reasons, fmt.Sprintf("%s: %d of %d attempts refused as overloaded or rate limited over %s", id, over, w.total, d.Window))
				targets, feeds = append(targets, id), append(feeds, "t:"+id)
				if fb := t.win.firstBad(now, d.Window.D()); first.IsZero() || (!fb.IsZero() && fb.Before(first)) {
					first = fb
				}
				smp = append(smp, t.samples.read(id+": ")...)
				continue
			}
			cur := t.lat.between(now.Add(-d.Window.D()), now.Add(time.Minute))
			base := t.lat.between(now.Add(-time.Hour), now.Add(-d.Window.D()))
			if cur.n() >= int64(d.MinRequests) && base.n() >= 5*int64(d.MinRequests) {
				cm, bm := cur.median(), base.median()
				if cm >= 200*time.Millisecond && float64(cm) >= d.LatencyFactor*float64(bm) {
					reasons = append(reasons, fmt.Sprintf("%s: median answer time %s, about %.0f× its baseline of %s over the previous hour", id, bucketRange(cm), float64(cm)/float64(bm), bucketRange(bm)))
					targets, feeds = append(targets, id), append(feeds, "t:"+id)
					if first.IsZero() {
						first = now.Add(-d.Window.D())
					}
				}
			}
		}
		if len(reasons) == 0 {
			continue
		}
		var routes []string
		for _, id := range targets {
			for _, r := range top.RoutesOf[id] {
				if !slices.Contains(routes, r) {
					routes = append(routes, r)
				}
			}
		}
		out = append(out, signal{
			detector: DetectOverload, cause: understudy.CauseOverload, severity: understudy.SeverityMinor,
			components: []string{understudy.ProviderComponent(p)}, routes: routes, targets: targets,
			firstBad: first, samples: smp, text: strings.Join(reasons, "; "), feeds: feeds,
		})
	}
	// Shedding: the gateway itself refused requests for lack of capacity.
	for _, r := range top.Routes {
		rf, ok := e.feed.routes[r.Name]
		if !ok || quiet.components[r.Name] {
			continue
		}
		w := rf.win.sum(now, d.Window.D())
		shed := w.byClass[classIndex[understudy.ClassOverloaded]]
		if shed >= int64(d.MinRequests) {
			out = append(out, signal{
				detector: DetectOverload, cause: understudy.CauseOverload, severity: understudy.SeverityMinor,
				components: []string{r.Name}, routes: []string{r.Name}, firstBad: rf.win.firstBad(now, d.Window.D()),
				text:  fmt.Sprintf("route %s: %d requests refused as overloaded (shed or every target overloaded) over %s", r.Name, shed, d.Window),
				feeds: []string{"r:" + r.Name},
			})
		}
	}
	return out
}

// anyAvailable reports whether some target of the route may take requests.
func anyAvailable(r gateway.RouteTopology, top gateway.Topology) bool {
	for _, tier := range r.Tiers {
		for _, id := range tier {
			if top.Targets[id].Available() {
				return true
			}
		}
	}
	return false
}
