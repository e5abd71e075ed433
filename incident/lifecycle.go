package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/store"
)

// tracked is an open incident and what the engine knows about it beyond
// the store.
type tracked struct {
	inc understudy.Incident
	// lastBad is the last tick a signal attached to it.
	lastBad         time.Time
	monitoringSince time.Time
	lastReminder    time.Time
	// detectedCause is the cause the detectors gave before an update or a
	// maintenance explained it; signals match on it. "" when the same.
	detectedCause understudy.Cause
	// personOwned: a person set its status, so the engine no longer moves it
	// to monitoring or resolved by itself (it still attaches evidence).
	personOwned bool
	// base holds, per feed ("r:route", "t:target"), the cumulative tally at
	// the point the incident started counting it.
	base    map[string]tally
	signals map[string]string // detector/component → latest reading
	related map[string]bool   // related gateway events already on the timeline
	dirty   bool              // evidence changed since the last save
	saved   time.Time
	// stale: a save found that another replica had changed it; it is read
	// again before the next change.
	stale bool
}

func (t *tracked) auto() bool { return t.inc.Detector != "" && !t.personOwned }

// incidentKey is the deduplication key: cause and sorted components.
func incidentKey(c understudy.Cause, components []string) string {
	return string(c) + ":" + strings.Join(components, ",")
}

// scope is a component set widened to the components it shares traffic
// with: a provider's routes, a route's providers.
func (e *Engine) scope(components []string) map[string]bool {
	out := map[string]bool{}
	top := e.lastTop
	for _, c := range components {
		out[c] = true
		if p, ok := strings.CutPrefix(c, "provider:"); ok {
			for _, id := range top.Providers[p] {
				for _, r := range top.RoutesOf[id] {
					out[r] = true
				}
			}
			continue
		}
		for _, r := range top.Routes {
			if r.Name != c {
				continue
			}
			for _, tier := range r.Tiers {
				for _, id := range tier {
					out[understudy.ProviderComponent(top.Targets[id].Provider)] = true
				}
			}
		}
	}
	return out
}

// match finds the open incident a signal belongs to: the one with the same
// key, else one with the same cause (any, for an unknown cause) whose
// components share traffic with the signal's. Ties go to the oldest.
func (e *Engine) match(s signal) *tracked {
	key := incidentKey(s.cause, s.components)
	ids := make([]int64, 0, len(e.open))
	for id := range e.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if e.open[id].inc.Key == key {
			return e.open[id]
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sc := e.scope(s.components)
	for _, id := range ids {
		t := e.open[id]
		cause := t.inc.Cause
		if t.detectedCause != "" {
			cause = t.detectedCause
		}
		if s.cause != understudy.CauseUnknown && cause != s.cause && cause != understudy.CauseUnknown {
			continue
		}
		// Two component sets share traffic when their scopes meet: two
		// providers serving one route, a route and its providers.
		for c := range e.scope(append(slices.Clone(t.inc.Components), t.inc.Evidence.Routes...)) {
			if sc[c] {
				return t
			}
		}
	}
	return nil
}

// applySignals opens, updates, recovers and resolves the detectors'
// incidents.
func (e *Engine) applySignals(ctx context.Context, cfg *config.Config, now time.Time, sigs []signal) error {
	var errs []error
	attached := map[int64]bool{}
	for _, s := range sigs {
		t := e.match(s)
		if t == nil {
			var err error
			if t, err = e.openFromSignal(ctx, now, s); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		attached[t.inc.ID] = true
		if err := e.attach(ctx, t, s, now); err != nil {
			errs = append(errs, err)
		}
	}
	in := cfg.Incidents
	for _, id := range e.sortedOpen() {
		t := e.open[id]
		if !attached[id] && t.auto() {
			switch {
			case t.inc.Status == understudy.IncidentMonitoring && now.Sub(t.monitoringSince) >= in.ResolveAfter.D():
				if _, err := e.resolveFromPlan(ctx, t, now); err != nil {
					errs = append(errs, err)
				}
				continue
			case t.inc.Status != understudy.IncidentMonitoring && now.Sub(t.lastBad) >= in.RecoverAfter.D():
				if err := e.transition(ctx, t, understudy.IncidentMonitoring, understudy.EventIncidentMonitoring, now); err != nil {
					errs = append(errs, err)
				}
				continue
			}
		}
		e.refreshProvider(ctx, cfg, t, now)
		if t.dirty && now.Sub(t.saved) >= 5*time.Second {
			if err := e.save(ctx, t, nil, nil, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) sortedOpen() []int64 {
	ids := make([]int64, 0, len(e.open))
	for id := range e.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// title names an incident after its cause (and, for failures, the
// detector that saw them).
func title(detector string, cause understudy.Cause, names string) string {
	switch cause {
	case understudy.CauseOverload:
		return names + " overloaded"
	case understudy.CauseQuota:
		return "Quota exhausted at " + names
	case understudy.CauseMisconfiguration:
		return "Configuration problem with " + names
	case understudy.CauseMaintenance:
		return "Maintenance on " + names
	}
	switch detector {
	case DetectRouteErrors:
		return "Requests to " + names + " failing"
	case DetectSLOBurn:
		return "Error budget of " + names + " burning fast"
	}
	return "Errors from " + names
}

// openFromSignal opens a new incident for s, with its first public update.
func (e *Engine) openFromSignal(ctx context.Context, now time.Time, s signal) (*tracked, error) {
	names := strings.Join(displayNames(s.components), ", ")
	inc := understudy.Incident{
		Title:    title(s.detector, s.cause, names),
		Status:   understudy.IncidentInvestigating,
		Severity: s.severity, Cause: s.cause, Components: slices.Clone(s.components),
		Key: incidentKey(s.cause, s.components), Detector: s.detector,
		StartedAt: s.firstBad, DetectedAt: now, UpdatedAt: now, LastUpdateAt: now,
	}
	if inc.StartedAt.IsZero() || inc.StartedAt.After(now) {
		inc.StartedAt = now
	}
	detected := s.cause
	why := e.explainedByUpdate(s, now)
	if why != "" {
		inc.Cause = understudy.CauseMaintenance
		inc.Title = title(s.detector, inc.Cause, names)
		s.text += "; " + why
	}
	msg, tr := e.plan.Load().Update(inc.Cause, inc.Status, Vars{Title: inc.Title, Components: inc.Components, Start: inc.StartedAt})
	upd := &understudy.IncidentUpdate{Status: inc.Status, Severity: inc.Severity, Message: msg, Translations: tr, Components: inc.Components, Author: Author, CreatedAt: now}
	ev := understudy.Event{Type: understudy.EventIncidentOpened, Time: now, Author: Author,
		Message: fmt.Sprintf("opened by detector %s: %s", s.detector, s.text),
		Details: map[string]any{"detector": s.detector, "cause": string(s.cause), "severity": string(s.severity), "components": s.components}}
	if err := e.st.CreateIncident(ctx, &inc, upd, []understudy.Event{ev}); err != nil {
		return nil, fmt.Errorf("open incident %q: %w", inc.Title, err)
	}
	e.published(inc.ID, ev)
	inc.Updates = []understudy.IncidentUpdate{*upd}
	t := &tracked{inc: inc, lastBad: now, base: map[string]tally{}, saved: now}
	if detected != inc.Cause {
		t.detectedCause = detected
		t.signals = map[string]string{"cause": now.UTC().Format("15:04:05") + " cause: " + why}
	}
	e.open[inc.ID] = t
	e.met.opened.WithLabelValues(s.detector, string(s.cause)).Inc()
	e.log.Info("incident opened", "id", inc.ID, "title", inc.Title, "cause", inc.Cause, "severity", inc.Severity, "detector", s.detector)
	return t, nil
}

// updateWindow: failures that begin this soon after a configuration reload
// are attributed to that update.
const updateWindow = 2 * time.Minute

// explainedByUpdate tells why a technical (or unknown) failure is an update
// or maintenance rather than an outage: one of the providers declares a
// maintenance in progress on its status page, or our own configuration was
// reloaded shortly before the first failure. "" when neither.
func (e *Engine) explainedByUpdate(s signal, now time.Time) string {
	if s.cause != understudy.CauseTechnical && s.cause != understudy.CauseUnknown {
		return ""
	}
	if e.status != nil {
		for _, c := range s.components {
			if p, ok := strings.CutPrefix(c, "provider:"); ok {
				if rep, ok := e.status.Snapshot(p); ok && len(rep.Maintenances) > 0 {
					return fmt.Sprintf("provider %s declares a maintenance in progress: %q", p, rep.Maintenances[0].Name)
				}
			}
		}
	}
	first := s.firstBad
	if first.IsZero() {
		first = now
	}
	e.feed.mu.Lock()
	defer e.feed.mu.Unlock()
	for i := len(e.feed.related) - 1; i >= 0; i-- {
		ev := e.feed.related[i]
		// first is whole seconds: a reload within its second counts.
		if ev.Type == understudy.EventConfigReloaded && ev.Time.Before(first.Add(time.Second)) && first.Sub(ev.Time) <= updateWindow {
			return fmt.Sprintf("failures began within %s of a configuration reload (%s)", max(first.Sub(ev.Time), 0).Round(time.Second)+time.Second, ev.Message)
		}
	}
	return ""
}

// displayNames renders component names for people: "provider primary".
func displayNames(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		if p, ok := strings.CutPrefix(c, "provider:"); ok {
			out[i] = "provider " + p
		} else {
			out[i] = c
		}
	}
	return out
}

// attach adds a signal's evidence to t and keeps it investigating.
func (e *Engine) attach(ctx context.Context, t *tracked, s signal, now time.Time) error {
	t.lastBad = now
	ev := &t.inc.Evidence
	var events []understudy.Event
	// People's incidents keep the components people chose.
	if t.inc.Detector != "" {
		grown := false
		for _, c := range s.components {
			if !slices.Contains(t.inc.Components, c) {
				t.inc.Components = append(t.inc.Components, c)
				grown = true
			}
		}
		if grown {
			sort.Strings(t.inc.Components)
			if t.inc.Key != "" {
				t.inc.Key = incidentKey(t.inc.Cause, t.inc.Components)
			}
			t.dirty = true
			events = append(events, understudy.Event{Type: understudy.EventIncidentEvidence, Time: now, Author: Author,
				Message: "now affects " + strings.Join(displayNames(t.inc.Components), ", ")})
		}
		if s.severity.Rank() > t.inc.Severity.Rank() {
			events = append(events, understudy.Event{Type: understudy.EventIncidentUpdated, Time: now, Author: Author,
				Message: fmt.Sprintf("severity raised from %s to %s: %s", t.inc.Severity, s.severity, s.text)})
			t.inc.Severity = s.severity
		}
	}
	for _, r := range s.routes {
		if !slices.Contains(ev.Routes, r) {
			ev.Routes = append(ev.Routes, r)
			t.dirty = true
		}
	}
	for _, id := range s.targets {
		if !slices.Contains(ev.Targets, id) {
			ev.Targets = append(ev.Targets, id)
			t.dirty = true
		}
	}
	if !s.firstBad.IsZero() && (ev.FirstBad.IsZero() || s.firstBad.Before(ev.FirstBad)) {
		ev.FirstBad = s.firstBad.UTC().Truncate(time.Minute)
		t.dirty = true
	}
	for _, m := range s.samples {
		if !slices.Contains(ev.Samples, m) {
			ev.Samples = append(ev.Samples, m)
			if len(ev.Samples) > maxSamples {
				ev.Samples = ev.Samples[len(ev.Samples)-maxSamples:]
			}
			t.dirty = true
		}
	}
	if t.signals == nil {
		t.signals = map[string]string{}
	}
	key := s.detector + "/" + strings.Join(s.components, ",")
	if _, seen := t.signals[key]; !seen {
		events = append(events, understudy.Event{Type: understudy.EventIncidentEvidence, Time: now, Author: Author,
			Message: "detector " + s.detector + ": " + s.text})
	}
	t.signals[key] = now.UTC().Format("15:04:05") + " " + s.detector + ": " + s.text
	e.countClasses(t, s.feeds, now)
	events = append(events, e.relatedEvents(t, now)...)
	if t.inc.Status == understudy.IncidentMonitoring && t.auto() {
		return e.transition(ctx, t, understudy.IncidentInvestigating, understudy.EventIncidentUpdated, now, events...)
	}
	if len(events) > 0 {
		return e.save(ctx, t, nil, events, now)
	}
	return nil
}

// countClasses sets the evidence's class counts: failures seen on the
// incident's feeds since it started counting them (including the window
// that made the detector fire).
func (e *Engine) countClasses(t *tracked, feeds []string, now time.Time) {
	f := &e.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range feeds {
		if _, ok := t.base[k]; ok {
			continue
		}
		cum, win := e.feedTallies(k, now)
		base := cum
		base.total -= win.total
		base.bad -= win.bad
		for i := range base.byClass {
			base.byClass[i] -= win.byClass[i]
		}
		t.base[k] = base
	}
	counts := map[understudy.Class]int64{}
	for k, base := range t.base {
		// Route outcomes and target attempts would count the same failure
		// twice: attempts are the finer grain, so routes count only when
		// the incident follows no target.
		if strings.HasPrefix(k, "r:") && hasTargetFeed(t.base) {
			continue
		}
		cum, _ := e.feedTallies(k, now)
		for i, n := range cum.byClass {
			if d := n - base.byClass[i]; d > 0 {
				counts[classes[i]] += d
			}
		}
	}
	if !equalCounts(counts, t.inc.Evidence.Classes) {
		t.inc.Evidence.Classes = counts
		t.dirty = true
	}
}

func hasTargetFeed(m map[string]tally) bool {
	for k := range m {
		if strings.HasPrefix(k, "t:") {
			return true
		}
	}
	return false
}

func equalCounts(a, b map[understudy.Class]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// feedTallies returns a feed's cumulative tally and its last two minutes.
// The feed lock is held.
func (e *Engine) feedTallies(k string, now time.Time) (cum, win tally) {
	if name, ok := strings.CutPrefix(k, "r:"); ok {
		if r := e.feed.routes[name]; r != nil {
			return r.total, r.win.sum(now, 2*time.Minute)
		}
		return
	}
	if t := e.feed.targets[strings.TrimPrefix(k, "t:")]; t != nil {
		return t.total, t.win.sum(now, 2*time.Minute)
	}
	return
}

// relatedEvents returns the gateway events about the incident's routes and
// targets (and config changes) since ten minutes before its first bad
// minute that are not on its timeline yet.
func (e *Engine) relatedEvents(t *tracked, now time.Time) []understudy.Event {
	if t.related == nil {
		t.related = map[string]bool{}
	}
	from := t.inc.StartedAt.Add(-10 * time.Minute)
	f := &e.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []understudy.Event
	for _, ev := range f.related {
		if ev.Time.Before(from) {
			continue
		}
		about := ev.Target == "" && ev.Route == "" ||
			slices.Contains(t.inc.Evidence.Targets, ev.Target) || slices.Contains(t.inc.Evidence.Routes, ev.Route)
		k := ev.Time.String() + ev.Type + ev.Target + ev.Route + ev.Message
		if ev.Type == understudy.EventRouteExhausted {
			// One per minute: every failed request raises one.
			k = ev.Type + ev.Route + ev.Time.Truncate(time.Minute).String()
		}
		if !about || t.related[k] {
			continue
		}
		t.related[k] = true
		out = append(out, understudy.Event{Type: understudy.EventIncidentEvidence, Time: ev.Time, Route: ev.Route, Target: ev.Target,
			Author: Author, NeedsPerson: ev.NeedsPerson, Message: "related: " + ev.Message, Details: map[string]any{"type": ev.Type}})
	}
	return out
}

// renderSignals writes the latest readings into the evidence.
func (t *tracked) renderSignals() {
	keys := make([]string, 0, len(t.signals))
	for k := range t.signals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, t.signals[k])
	}
	t.inc.Evidence.Signals = out
}

// save writes t's incident with an optional public update and events.
func (e *Engine) save(ctx context.Context, t *tracked, upd *understudy.IncidentUpdate, evs []understudy.Event, now time.Time) error {
	t.renderSignals()
	prev, prevLast := t.inc.UpdatedAt, t.inc.LastUpdateAt
	t.inc.UpdatedAt = now
	if upd != nil {
		t.inc.LastUpdateAt = now
	}
	// Conditional on the version read: another replica may have saved it.
	saveFn := func() error { return e.st.SaveIncidentIf(ctx, &t.inc, prev, upd, evs) }
	if prev.IsZero() {
		saveFn = func() error { return e.st.SaveIncident(ctx, &t.inc, upd, evs) }
	}
	err := saveFn()
	if errors.Is(err, store.ErrOpenIncidentExists) && t.inc.Key != "" && t.inc.Status.Open() {
		// Its grown component set is another open incident's: keep both,
		// this one without a key (people can merge them).
		t.inc.Key = ""
		err = saveFn()
	}
	if errors.Is(err, store.ErrChanged) {
		t.inc.UpdatedAt, t.inc.LastUpdateAt, t.stale = prev, prevLast, true
		return understudy.Errorf(understudy.ECONFLICT, "incident %d was changed meanwhile (by another replica): try again", t.inc.ID)
	}
	if err != nil {
		t.inc.UpdatedAt, t.inc.LastUpdateAt = prev, prevLast
		return fmt.Errorf("save incident %d: %w", t.inc.ID, err)
	}
	e.published(t.inc.ID, evs...)
	if upd != nil {
		t.inc.Updates = append(t.inc.Updates, *upd)
	}
	t.dirty, t.saved = false, now
	return nil
}

// vars are the placeholders' values for t.
func (t *tracked) vars() Vars {
	return Vars{Title: t.inc.Title, Components: t.inc.Components, ETA: t.inc.ETA, Start: t.inc.StartedAt}
}

// transition moves t to status with a public update written from the plan.
func (e *Engine) transition(ctx context.Context, t *tracked, to understudy.IncidentStatus, evType string, now time.Time, extra ...understudy.Event) error {
	from := t.inc.Status
	t.inc.Status = to
	if to == understudy.IncidentMonitoring {
		t.monitoringSince = now
	}
	msg, tr := e.plan.Load().Update(t.inc.Cause, to, t.vars())
	upd := &understudy.IncidentUpdate{Status: to, Severity: t.inc.Severity, Message: msg, Translations: tr, Components: t.inc.Components, Author: Author, CreatedAt: now}
	evs := append(extra, understudy.Event{Type: evType, Time: now, Author: Author,
		Message: fmt.Sprintf("%s → %s: %s", from, to, msg), Details: map[string]any{"from": string(from), "to": string(to)}})
	return e.save(ctx, t, upd, evs, now)
}

// resolveFromPlan closes t with the plan's resolved message.
func (e *Engine) resolveFromPlan(ctx context.Context, t *tracked, now time.Time) (understudy.Incident, error) {
	msg, tr := e.plan.Load().Update(t.inc.Cause, understudy.IncidentResolved, t.vars())
	return e.resolve(ctx, t, Author, msg, tr, now)
}

// resolve closes t.
func (e *Engine) resolve(ctx context.Context, t *tracked, author, msg string, translations map[string]string, now time.Time, extra ...understudy.Event) (understudy.Incident, error) {
	from := t.inc.Status
	t.inc.Status = understudy.IncidentResolved
	t.inc.ResolvedAt = now
	t.inc.ETA = time.Time{}
	upd := &understudy.IncidentUpdate{Status: understudy.IncidentResolved, Severity: t.inc.Severity, Message: msg, Translations: translations, Components: t.inc.Components, Author: author, CreatedAt: now}
	evs := append(extra, understudy.Event{Type: understudy.EventIncidentResolved, Time: now, Author: author,
		Message: fmt.Sprintf("%s → resolved: %s", from, msg), Details: map[string]any{"from": string(from), "to": "resolved"}})
	if err := e.save(ctx, t, upd, evs, now); err != nil {
		t.inc.Status, t.inc.ResolvedAt = from, time.Time{}
		return understudy.Incident{}, err
	}
	delete(e.open, t.inc.ID)
	e.log.Info("incident resolved", "id", t.inc.ID, "by", author)
	return t.inc, nil
}
