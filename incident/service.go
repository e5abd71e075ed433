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

// notFound maps the store's not-found to the application error.
func notFound(err error, id int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return understudy.Errorf(understudy.ENOTFOUND, "no incident %d", id)
	}
	return err
}

// Incidents lists incidents.
func (e *Engine) Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error) {
	return e.st.Incidents(ctx, f)
}

// Incident returns one incident with its updates.
func (e *Engine) Incident(ctx context.Context, id int64) (understudy.Incident, error) {
	inc, err := e.st.Incident(ctx, id)
	return inc, notFound(err, id)
}

// Timeline returns an incident's events, oldest first.
func (e *Engine) Timeline(ctx context.Context, id int64) ([]understudy.Event, error) {
	if _, err := e.st.Incident(ctx, id); err != nil {
		return nil, notFound(err, id)
	}
	evs, err := e.st.Events(ctx, store.EventQuery{IncidentID: id})
	if err != nil {
		return nil, err
	}
	out := make([]understudy.Event, len(evs))
	for i, ev := range evs {
		out[i] = ev.Event
	}
	return out, nil
}

// tracked returns the open incident id, loading it from the store when the
// engine does not follow it (resolved ones are not followed).
func (e *Engine) get(ctx context.Context, id int64) (*tracked, error) {
	if err := e.load(ctx); err != nil {
		return nil, err
	}
	if t, ok := e.open[id]; ok {
		if !t.stale {
			return t, nil
		}
		if err := e.reload(ctx, id, true); err != nil {
			return nil, err
		}
		if t, ok := e.open[id]; ok {
			return t, nil
		}
	}
	// Not followed here (resolved, or this replica follows): as stored.
	inc, err := e.st.Incident(ctx, id)
	if err != nil {
		return nil, notFound(err, id)
	}
	return &tracked{inc: inc, base: map[string]tally{}, personOwned: true}, nil
}

// validateChange checks a person's fields; empty ones are fine (kept).
func (e *Engine) validateChange(c understudy.IncidentChange) error {
	var problems []string
	if c.Status != "" && !c.Status.Valid() {
		problems = append(problems, fmt.Sprintf("status %q is not one of investigating, identified, monitoring, resolved", c.Status))
	}
	if c.Severity != "" && !c.Severity.Valid() {
		problems = append(problems, fmt.Sprintf("severity %q is not one of minor, major, critical", c.Severity))
	}
	if c.Cause != "" && !c.Cause.Valid() {
		problems = append(problems, fmt.Sprintf("cause %q is not one of technical, overload, maintenance, quota, misconfiguration, unknown", c.Cause))
	}
	if c.Components != nil {
		if bad := e.unknownComponents(e.gw.Topology(), c.Components); bad != "" {
			problems = append(problems, bad)
		}
	}
	if len(problems) > 0 {
		return understudy.Errorf(understudy.EINVALID, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// CreateIncident opens an incident on a person's word.
func (e *Engine) CreateIncident(ctx context.Context, author string, inc understudy.Incident, message string) (understudy.Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.load(ctx); err != nil {
		return understudy.Incident{}, err
	}
	now := e.clk.Now()
	if inc.Status == "" {
		inc.Status = understudy.IncidentInvestigating
	}
	if inc.Severity == "" {
		inc.Severity = understudy.SeverityMinor
	}
	if inc.Cause == "" {
		inc.Cause = understudy.CauseUnknown
	}
	c := understudy.IncidentChange{Status: inc.Status, Severity: inc.Severity, Cause: inc.Cause, Components: inc.Components}
	if c.Components == nil {
		c.Components = []string{}
	}
	if err := e.validateChange(c); err != nil {
		return understudy.Incident{}, err
	}
	if strings.TrimSpace(inc.Title) == "" {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "title is required")
	}
	if !inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "a new incident cannot be resolved already")
	}
	if strings.TrimSpace(message) == "" {
		message = "We are investigating reports of a problem."
	}
	inc.ID, inc.Key, inc.Detector, inc.MergedInto = 0, "", "", 0
	inc.Components = slices.Clone(inc.Components)
	sort.Strings(inc.Components)
	if inc.StartedAt.IsZero() || inc.StartedAt.After(now) {
		inc.StartedAt = now
	}
	inc.DetectedAt, inc.UpdatedAt, inc.LastUpdateAt, inc.ResolvedAt = now, now, now, time.Time{}
	upd := &understudy.IncidentUpdate{Status: inc.Status, Severity: inc.Severity, Message: message, ETA: inc.ETA, Components: inc.Components, Author: author, CreatedAt: now}
	ev := understudy.Event{Type: understudy.EventIncidentOpened, Time: now, Author: author, Message: "opened by " + author + ": " + inc.Title,
		Details: map[string]any{"cause": string(inc.Cause), "severity": string(inc.Severity), "components": inc.Components}}
	if err := e.st.CreateIncident(ctx, &inc, upd, []understudy.Event{ev}); err != nil {
		return understudy.Incident{}, err
	}
	e.published(inc.ID, ev)
	inc.Updates = []understudy.IncidentUpdate{*upd}
	if e.leading {
		e.open[inc.ID] = &tracked{inc: inc, lastBad: now, base: map[string]tally{}, saved: now, personOwned: true}
	}
	return inc, nil
}

// UpdateIncident posts a person's update: a message, and any of status,
// severity, components, ETA, title, cause. Setting a status hands the
// incident to people: the engine stops moving it by itself.
func (e *Engine) UpdateIncident(ctx context.Context, author string, id int64, c understudy.IncidentChange) (understudy.Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.validateChange(c); err != nil {
		return understudy.Incident{}, err
	}
	if strings.TrimSpace(c.Message) == "" {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "message is required: an update tells users something")
	}
	t, err := e.get(ctx, id)
	if err != nil {
		return understudy.Incident{}, err
	}
	now := e.clk.Now()
	if !t.inc.Status.Open() {
		if c.Status != "" && c.Status.Open() {
			return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident %d is resolved: reopen it to change its status", id)
		}
	}
	var changes []string
	if c.Status == understudy.IncidentResolved && t.inc.Status.Open() {
		e.applyChange(t, c, &changes)
		return e.resolve(ctx, t, author, c.Message, nil, now, e.changeEvent(author, now, changes)...)
	}
	if c.Status != "" && c.Status != t.inc.Status {
		changes = append(changes, fmt.Sprintf("status %s → %s", t.inc.Status, c.Status))
		t.inc.Status = c.Status
		t.personOwned = true
	}
	e.applyChange(t, c, &changes)
	upd := &understudy.IncidentUpdate{Status: t.inc.Status, Severity: t.inc.Severity, Message: c.Message, ETA: t.inc.ETA, Components: t.inc.Components, Author: author, CreatedAt: now}
	evs := e.changeEvent(author, now, changes)
	if len(evs) == 0 {
		evs = []understudy.Event{{Type: understudy.EventIncidentUpdated, Time: now, Author: author, Message: "update posted by " + author}}
	}
	if err := e.save(ctx, t, upd, evs, now); err != nil {
		return understudy.Incident{}, err
	}
	return t.inc, nil
}

// applyChange copies the non-status fields of c onto t, listing what changed.
func (e *Engine) applyChange(t *tracked, c understudy.IncidentChange, changes *[]string) {
	if c.Severity != "" && c.Severity != t.inc.Severity {
		*changes = append(*changes, fmt.Sprintf("severity %s → %s", t.inc.Severity, c.Severity))
		t.inc.Severity = c.Severity
	}
	if c.Cause != "" && c.Cause != t.inc.Cause {
		*changes = append(*changes, fmt.Sprintf("cause %s → %s", t.inc.Cause, c.Cause))
		t.inc.Cause = c.Cause
	}
	if c.Title != "" && c.Title != t.inc.Title {
		*changes = append(*changes, fmt.Sprintf("title %q", c.Title))
		t.inc.Title = c.Title
	}
	if c.Components != nil {
		cs := slices.Clone(c.Components)
		sort.Strings(cs)
		if !slices.Equal(cs, t.inc.Components) {
			*changes = append(*changes, "components "+strings.Join(cs, ", "))
			t.inc.Components = cs
		}
	}
	if c.ETA != nil && !c.ETA.Equal(t.inc.ETA) {
		if c.ETA.IsZero() {
			*changes = append(*changes, "ETA cleared")
		} else {
			*changes = append(*changes, "ETA "+c.ETA.UTC().Format(time.RFC3339))
		}
		t.inc.ETA = *c.ETA
	}
}

func (e *Engine) changeEvent(author string, now time.Time, changes []string) []understudy.Event {
	if len(changes) == 0 {
		return nil
	}
	return []understudy.Event{{Type: understudy.EventIncidentUpdated, Time: now, Author: author,
		Message: author + ": " + strings.Join(changes, "; "), Details: map[string]any{"changes": changes}}}
}

// ResolveIncident resolves an open incident.
func (e *Engine) ResolveIncident(ctx context.Context, author string, id int64, message string) (understudy.Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.get(ctx, id)
	if err != nil {
		return understudy.Incident{}, err
	}
	if !t.inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident %d is already resolved", id)
	}
	if strings.TrimSpace(message) == "" {
		message = "This incident has been resolved."
	}
	return e.resolve(ctx, t, author, message, nil, e.clk.Now())
}

// ReopenIncident reopens a resolved incident (investigating). People own it
// from then on: the engine attaches evidence but does not resolve it.
func (e *Engine) ReopenIncident(ctx context.Context, author string, id int64, message string) (understudy.Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.get(ctx, id)
	if err != nil {
		return understudy.Incident{}, err
	}
	if t.inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident %d is open", id)
	}
	if t.inc.MergedInto != 0 {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident %d was merged into %d: reopen that one", id, t.inc.MergedInto)
	}
	now := e.clk.Now()
	if strings.TrimSpace(message) == "" {
		message = "We are investigating again."
	}
	t.inc.Status, t.inc.ResolvedAt = understudy.IncidentInvestigating, time.Time{}
	upd := &understudy.IncidentUpdate{Status: t.inc.Status, Severity: t.inc.Severity, Message: message, ETA: t.inc.ETA, Components: t.inc.Components, Author: author, CreatedAt: now}
	ev := understudy.Event{Type: understudy.EventIncidentReopened, Time: now, Author: author, Message: "reopened by " + author}
	if err := e.save(ctx, t, upd, []understudy.Event{ev}, now); err != nil {
		t.inc.Status = understudy.IncidentResolved
		return understudy.Incident{}, err
	}
	t.personOwned, t.lastBad = true, now
	if e.leading {
		e.open[id] = t
	}
	return t.inc, nil
}

// MergeIncident folds incident id into into: into gains id's components
// and evidence; id is resolved, pointing at into.
func (e *Engine) MergeIncident(ctx context.Context, author string, id, into int64) (understudy.Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id == into {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "an incident cannot be merged into itself")
	}
	src, err := e.get(ctx, id)
	if err != nil {
		return understudy.Incident{}, err
	}
	dst, err := e.get(ctx, into)
	if err != nil {
		return understudy.Incident{}, err
	}
	if !src.inc.Status.Open() || !dst.inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "both incidents must be open to merge (%d is %s, %d is %s)", id, src.inc.Status, into, dst.inc.Status)
	}
	now := e.clk.Now()
	for _, c := range src.inc.Components {
		if !slices.Contains(dst.inc.Components, c) {
			dst.inc.Components = append(dst.inc.Components, c)
		}
	}
	sort.Strings(dst.inc.Components)
	mergeEvidence(&dst.inc.Evidence, src.inc.Evidence)
	if src.inc.StartedAt.Before(dst.inc.StartedAt) {
		dst.inc.StartedAt = src.inc.StartedAt
	}
	if src.inc.Severity.Rank() > dst.inc.Severity.Rank() {
		dst.inc.Severity = src.inc.Severity
	}
	for k, v := range src.base {
		if _, ok := dst.base[k]; !ok {
			dst.base[k] = v
		}
	}
	for k, v := range src.signals {
		if dst.signals == nil {
			dst.signals = map[string]string{}
		}
		dst.signals[k] = v
	}
	if src.lastBad.After(dst.lastBad) {
		dst.lastBad = src.lastBad
	}
	dst.inc.Key = "" // its component set changed: detectors match it by scope
	evInto := understudy.Event{Type: understudy.EventIncidentMerged, Time: now, Author: author,
		Message: fmt.Sprintf("incident %d (%s) merged into this one by %s", id, src.inc.Title, author), Details: map[string]any{"from": id}}
	if err := e.save(ctx, dst, nil, []understudy.Event{evInto}, now); err != nil {
		return understudy.Incident{}, err
	}
	src.inc.MergedInto = into
	evFrom := understudy.Event{Type: understudy.EventIncidentMerged, Time: now, Author: author,
		Message: fmt.Sprintf("merged into incident %d by %s", into, author), Details: map[string]any{"into": into}}
	if _, err := e.resolve(ctx, src, author, fmt.Sprintf("This incident is followed in incident #%d.", into), nil, now, evFrom); err != nil {
		return understudy.Incident{}, err
	}
	return dst.inc, nil
}

func mergeEvidence(dst *understudy.Evidence, src understudy.Evidence) {
	if dst.Classes == nil && len(src.Classes) > 0 {
		dst.Classes = map[understudy.Class]int64{}
	}
	for c, n := range src.Classes {
		dst.Classes[c] += n
	}
	union := func(a, b []string) []string {
		for _, s := range b {
			if !slices.Contains(a, s) {
				a = append(a, s)
			}
		}
		return a
	}
	dst.Routes = union(dst.Routes, src.Routes)
	dst.Targets = union(dst.Targets, src.Targets)
	dst.Samples = union(dst.Samples, src.Samples)
	dst.Signals = union(dst.Signals, src.Signals)
	dst.Provider = union(dst.Provider, src.Provider)
	if !src.FirstBad.IsZero() && (dst.FirstBad.IsZero() || src.FirstBad.Before(dst.FirstBad)) {
		dst.FirstBad = src.FirstBad
	}
}

// remind raises a reminder for open incidents without an update for
// incidents.remind_after.
func (e *Engine) remind(ctx context.Context, cfg *config.Config, now time.Time) {
	after := cfg.Incidents.RemindAfter.D()
	for _, id := range e.sortedOpen() {
		t := e.open[id]
		last := t.inc.LastUpdateAt
		if t.lastReminder.After(last) {
			last = t.lastReminder
		}
		if now.Sub(last) < after {
			continue
		}
		t.lastReminder = now
		ev := understudy.Event{Type: understudy.EventIncidentReminder, Time: now, Author: Author, NeedsPerson: true,
			Message: fmt.Sprintf("incident %d (%s) has had no update for %s: post one", id, t.inc.Title, now.Sub(t.inc.LastUpdateAt).Round(time.Minute))}
		if err := e.save(ctx, t, nil, []understudy.Event{ev}, now); err != nil {
			e.log.Warn("incident reminder", "id", id, "err", err)
		}
		e.log.Warn("incident needs an update", "id", id, "title", t.inc.Title)
	}
}

// refreshProvider attaches what the providers' own status pages say about
// the incident's provider components.
func (e *Engine) refreshProvider(ctx context.Context, cfg *config.Config, t *tracked, now time.Time) {
	if e.status == nil {
		return
	}
	var lines []string
	for _, c := range t.inc.Components {
		name, ok := strings.CutPrefix(c, "provider:")
		if !ok {
			continue
		}
		rep, ok := e.status.Snapshot(name)
		if !ok {
			continue
		}
		var hints []string
		for _, p := range cfg.Providers {
			if p.Name == name {
				hints = p.StatusComponents
			}
		}
		for _, l := range rep.Evidence(hints...) {
			lines = append(lines, name+": "+l)
		}
	}
	var fresh []string
	for _, l := range lines {
		if !slices.Contains(t.inc.Evidence.Provider, l) {
			fresh = append(fresh, l)
		}
	}
	if len(fresh) == 0 {
		return
	}
	t.inc.Evidence.Provider = append(t.inc.Evidence.Provider, fresh...)
	evs := []understudy.Event{{Type: understudy.EventIncidentEvidence, Time: now, Author: Author, Message: strings.Join(fresh, "; ")}}
	var upd *understudy.IncidentUpdate
	if cfg.Incidents.PublishProviderStatus {
		upd = &understudy.IncidentUpdate{Status: t.inc.Status, Severity: t.inc.Severity, Components: t.inc.Components, Author: Author, CreatedAt: now,
			Message: "The provider's own status page reports: " + strings.Join(fresh, "; ")}
	}
	if err := e.save(ctx, t, upd, evs, now); err != nil {
		e.log.Warn("provider evidence", "id", t.inc.ID, "err", err)
	}
}
