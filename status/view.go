package status

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

// Limits of the lists.
const (
	// listLimit is how many incidents or maintenances the history lists
	// and the feeds hold (Statuspage's incidents.json holds 50).
	listLimit = 50
	// maintenanceScan is how many windows are read to find the most recent
	// ones: MaintenanceFilter lists oldest first.
	maintenanceScan = 1000
)

// snapshot is what one response is built from: the current state (always
// read, it dates the page) and the lists the endpoint needs.
type snapshot struct {
	h       *Handler
	comps   []understudy.Component
	byName  map[string]componentJSON
	open    []understudy.Incident
	active  []understudy.Maintenance // scheduled, in_progress, verifying
	updated time.Time                // latest change seen, page.updated_at

	// published are the published postmortems of the incidents listed, by
	// incident id (recentIncidents reads them).
	published map[int64]postmortem.Postmortem
}

// load reads the components, the open incidents and the active windows.
func (h *Handler) load(ctx context.Context) (*snapshot, error) {
	s, err := h.componentsOnly(ctx)
	if err != nil {
		return nil, err
	}
	open, err := h.src.Incidents(ctx, understudy.IncidentFilter{Open: true})
	if err != nil {
		return nil, fmt.Errorf("status: open incidents: %w", err)
	}
	active, err := h.src.Maintenances(ctx, understudy.MaintenanceFilter{Active: true})
	if err != nil {
		return nil, fmt.Errorf("status: active maintenances: %w", err)
	}
	s.open = s.incidentsNewestFirst(open)
	s.active = s.maintenancesBySchedule(active)
	for _, c := range s.comps {
		s.seen(c.Since)
	}
	return s, nil
}

func (s *snapshot) seen(t time.Time) {
	if t.After(s.updated) {
		s.updated = t
	}
}

func (s *snapshot) page() pageJSON {
	p := s.h.page
	updated := s.updated
	if updated.IsZero() {
		updated = s.h.clk.Now()
	}
	return pageJSON{ID: p.ID, Name: p.Name, URL: p.URL, TimeZone: p.TimeZone, UpdatedAt: stamp(updated)}
}

// incidentsNewestFirst sorts by started_at then id, newest first, and
// dates the page.
func (s *snapshot) incidentsNewestFirst(incs []understudy.Incident) []understudy.Incident {
	incs = slices.Clone(incs)
	slices.SortStableFunc(incs, func(a, b understudy.Incident) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	for _, inc := range incs {
		s.seen(inc.UpdatedAt)
	}
	return incs
}

// maintenancesBySchedule sorts by scheduled_for then id, soonest first (the
// order of Statuspage's summary), and dates the page.
func (s *snapshot) maintenancesBySchedule(ms []understudy.Maintenance) []understudy.Maintenance {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b understudy.Maintenance) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	for _, m := range ms {
		s.seen(m.UpdatedAt)
	}
	return ms
}

// recentIncidents reads the listLimit most recent incidents.
func (s *snapshot) recentIncidents(ctx context.Context) ([]understudy.Incident, error) {
	incs, err := s.h.src.Incidents(ctx, understudy.IncidentFilter{Limit: listLimit})
	if err != nil {
		return nil, fmt.Errorf("status: incidents: %w", err)
	}
	incs = s.incidentsNewestFirst(incs)
	incs = incs[:min(len(incs), listLimit)]
	if s.h.pms != nil {
		var ids []int64
		for _, inc := range incs {
			if !inc.Status.Open() {
				ids = append(ids, inc.ID)
			}
		}
		if len(ids) > 0 {
			if s.published, err = s.h.pms.Published(ctx, ids); err != nil {
				return nil, fmt.Errorf("status: postmortems: %w", err)
			}
		}
		for _, p := range s.published {
			s.seen(p.PublishedAt)
		}
	}
	return incs, nil
}

// recentMaintenances reads the listLimit most recent windows (by
// scheduled_for), newest first, canceled ones included.
func (s *snapshot) recentMaintenances(ctx context.Context) ([]understudy.Maintenance, error) {
	ms, err := s.h.src.Maintenances(ctx, understudy.MaintenanceFilter{Limit: maintenanceScan})
	if err != nil {
		return nil, fmt.Errorf("status: maintenances: %w", err)
	}
	ms = s.maintenancesBySchedule(ms)
	slices.Reverse(ms)
	return ms[:min(len(ms), listLimit)], nil
}

func (s *snapshot) components() []componentJSON {
	out := make([]componentJSON, 0, len(s.comps))
	for _, c := range s.comps {
		out = append(out, s.byName[c.Name])
	}
	return out
}

// component is the public object of the component named name; one no
// longer configured is shown operational, without a position.
func (s *snapshot) component(name string) componentJSON {
	if c, ok := s.byName[name]; ok {
		return c
	}
	return componentJSON{ID: ComponentID(name), Name: ComponentName(name), Status: string(understudy.ComponentOperational), PageID: s.h.page.ID}
}

func (s *snapshot) componentsOf(names []string) []componentJSON {
	out := make([]componentJSON, 0, len(names))
	for _, n := range names {
		out = append(out, s.component(n))
	}
	return out
}

// link is the public page of incident or maintenance id.
func (h *Handler) link(id string) string { return h.page.URL + "/incidents/" + id }

// shownStatus is the status an incident in status st with severity sev
// gives its components (what the engine shows).
func shownStatus(st understudy.IncidentStatus, sev understudy.Severity) understudy.ComponentStatus {
	if st != understudy.IncidentInvestigating && st != understudy.IncidentIdentified {
		return understudy.ComponentOperational
	}
	switch sev {
	case understudy.SeverityCritical:
		return understudy.ComponentMajorOutage
	case understudy.SeverityMajor:
		return understudy.ComponentPartialOutage
	}
	return understudy.ComponentDegradedPerformance
}

// changes lists the components whose status differs between before and
// after (missing: operational), by name; nil when none does.
func (s *snapshot) changes(before, after map[string]understudy.ComponentStatus) []affectedJSON {
	names := make([]string, 0, len(before)+len(after))
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []affectedJSON
	for _, n := range names {
		from, to := cmp.Or(before[n], understudy.ComponentOperational), cmp.Or(after[n], understudy.ComponentOperational)
		if from != to {
			out = append(out, affectedJSON{Code: ComponentID(n), Name: ComponentName(n), OldStatus: string(from), NewStatus: string(to)})
		}
	}
	return out
}

// incident is the public object of inc.
func (s *snapshot) incident(inc understudy.Incident) incidentJSON {
	id := strconv.FormatInt(inc.ID, 10)
	ups := slices.Clone(inc.Updates)
	slices.SortStableFunc(ups, func(a, b understudy.IncidentUpdate) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	out := incidentJSON{
		ID: id, Name: inc.Title, Status: string(inc.Status),
		CreatedAt: stamp(inc.DetectedAt), UpdatedAt: stamp(inc.UpdatedAt), ResolvedAt: stamp(inc.ResolvedAt),
		Impact: impact(inc.Severity), Shortlink: s.h.link(id), StartedAt: stamp(inc.StartedAt), PageID: s.h.page.ID,
		IncidentUpdates: make([]updateJSON, 0, len(ups)), Components: s.componentsOf(inc.Components),
	}
	if inc.DetectedAt.IsZero() {
		out.CreatedAt = stamp(inc.StartedAt)
	}
	var (
		shown      map[string]understudy.ComponentStatus
		prevStatus understudy.IncidentStatus
	)
	for i, u := range ups {
		sev := cmp.Or(u.Severity, inc.Severity)
		now := make(map[string]understudy.ComponentStatus, len(u.Components))
		if st := shownStatus(u.Status, sev); st != understudy.ComponentOperational {
			for _, c := range u.Components {
				now[c] = st
			}
		}
		if u.Status == understudy.IncidentMonitoring && prevStatus != understudy.IncidentMonitoring {
			out.MonitoringAt = stamp(u.CreatedAt)
		}
		body := u.Message
		if u.Status.Open() && !u.ETA.IsZero() {
			body = strings.TrimRight(body, "\n") + "\n\nEstimated resolution: " + s.h.human(u.ETA) + "."
		}
		uid := strconv.FormatInt(u.ID, 10)
		if u.ID == 0 {
			uid = fmt.Sprintf("%s-%d", id, i+1)
		}
		out.IncidentUpdates = append(out.IncidentUpdates, updateJSON{
			ID: uid, Status: string(u.Status), Body: body, IncidentID: id,
			CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.CreatedAt), DisplayAt: stamp(u.CreatedAt),
			AffectedComponents: s.changes(shown, now), DeliverNotifications: true,
		})
		shown, prevStatus = now, u.Status
	}
	if p, ok := s.published[inc.ID]; ok && !inc.Status.Open() {
		out.Status = statusPostmortem
		body := strings.TrimSpace(p.Summary)
		if body != "" {
			body += "\n\n"
		}
		body += "Postmortem: " + out.Shortlink + "#postmortem"
		out.IncidentUpdates = append(out.IncidentUpdates, updateJSON{
			ID: id + "-postmortem", Status: statusPostmortem, Body: body, IncidentID: id,
			CreatedAt: stamp(p.PublishedAt), UpdatedAt: stamp(p.PublishedAt), DisplayAt: stamp(p.PublishedAt),
			DeliverNotifications: true,
		})
		if p.PublishedAt.After(inc.UpdatedAt) {
			out.UpdatedAt = stamp(p.PublishedAt)
		}
	}
	slices.Reverse(out.IncidentUpdates)
	return out
}

// statusPostmortem is Statuspage's status of an incident whose postmortem
// is published.
const statusPostmortem = "postmortem"

// Default bodies of the synthesized maintenance updates (Statuspage's own
// wording where it has one).
const (
	bodyInProgress = "Scheduled maintenance is currently in progress. We will provide updates as necessary."
	bodyVerifying  = "Verification is currently underway for the maintenance items."
	bodyCompleted  = "The scheduled maintenance has been completed."
	bodyCanceled   = "This scheduled maintenance has been canceled."
)

// maintenanceComponents are the components a window shows under
// maintenance: its components and the providers of its targets.
func maintenanceComponents(m understudy.Maintenance) []string {
	out := slices.Clone(m.Components)
	for _, t := range m.Targets {
		p, _, ok := strings.Cut(t, "/")
		if !ok || p == "" {
			continue
		}
		if c := understudy.ProviderComponent(p); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// maintenance is the public object of m. A canceled window keeps the
// status "canceled": callers of the API leave it out.
func (s *snapshot) maintenance(m understudy.Maintenance) maintenanceJSON {
	id := "m" + strconv.FormatInt(m.ID, 10)
	names := maintenanceComponents(m)
	under := make(map[string]understudy.ComponentStatus, len(names))
	for _, n := range names {
		under[n] = understudy.ComponentUnderMaintenance
	}
	var ups []updateJSON
	add := func(st, body string, at time.Time, affected []affectedJSON) {
		ups = append(ups, updateJSON{
			ID: id + "-" + strings.ReplaceAll(st, "_", "-"), Status: st, Body: body, IncidentID: id,
			CreatedAt: stamp(at), UpdatedAt: stamp(at), DisplayAt: stamp(at),
			AffectedComponents: affected, DeliverNotifications: true,
		})
	}
	scheduled := strings.TrimSpace(m.Message)
	if scheduled == "" {
		scheduled = fmt.Sprintf("Scheduled maintenance from %s to %s.", s.h.human(m.StartsAt), s.h.human(m.EndsAt))
	}
	add(string(understudy.MaintenanceScheduled), scheduled, m.CreatedAt, nil)
	started := !m.StartedAt.IsZero()
	if started {
		add(string(understudy.MaintenanceInProgress), bodyInProgress, m.StartedAt, s.changes(nil, under))
	}
	verified := m.Status == understudy.MaintenanceVerifying ||
		(m.Status == understudy.MaintenanceCompleted && m.EndedAt.After(m.EndsAt))
	if started && verified {
		add(string(understudy.MaintenanceVerifying), bodyVerifying, m.EndsAt, nil)
	}
	switch m.Status {
	case understudy.MaintenanceCompleted:
		add(string(understudy.MaintenanceCompleted), bodyCompleted, m.EndedAt, s.changes(under, nil))
	case understudy.MaintenanceCanceled:
		add(string(understudy.MaintenanceCanceled), bodyCanceled, m.EndedAt, nil)
	}
	slices.Reverse(ups)
	out := maintenanceJSON{
		incidentJSON: incidentJSON{
			ID: id, Name: m.Title, Status: string(m.Status),
			CreatedAt: stamp(m.CreatedAt), UpdatedAt: stamp(m.UpdatedAt),
			Impact: indicatorMaintenance, Shortlink: s.h.page.URL + "/#maintenance-" + strconv.FormatInt(m.ID, 10), StartedAt: stamp(m.CreatedAt), PageID: s.h.page.ID,
			IncidentUpdates: ups, Components: s.componentsOf(names),
		},
		ScheduledFor: stamp(m.StartsAt), ScheduledUntil: stamp(m.EndsAt),
	}
	if m.Status == understudy.MaintenanceCompleted {
		out.ResolvedAt = stamp(m.EndedAt)
	}
	return out
}

// human formats t for people, in the page time zone, e.g.
// "2026-11-23 15:30 UTC".
func (h *Handler) human(t time.Time) string {
	return t.In(h.loc).Format("2006-01-02 15:04 MST")
}
