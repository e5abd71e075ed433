// Package admintest holds in-memory implementations of admin.Service and
// admin.Tokens for tests. They keep the engine's rules (ENOTFOUND for
// unknown ids, ECONFLICT for changes that do not fit the state) so tests of
// the admin API and the CLI exercise real error paths; end-to-end tests use
// the real engine and store instead.
package admintest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
)

// Service is an in-memory incident engine. Seed it with AddIncident,
// AddMaintenance, Components and SLOList before use; it is safe for
// concurrent use.
type Service struct {
	// Now is the service's clock. Default time.Now.
	Now func() time.Time
	// Err, when set, is returned by every method (to test internal errors).
	Err error

	mu           sync.Mutex
	incidents    map[int64]*understudy.Incident
	events       map[int64][]understudy.Event
	maintenances map[int64]*understudy.Maintenance
	components   []understudy.Component
	slos         []admin.SLO
	nextID       int64
}

var _ admin.Service = (*Service)(nil)

// NewService returns an empty service.
func NewService() *Service {
	return &Service{Now: time.Now, incidents: map[int64]*understudy.Incident{}, events: map[int64][]understudy.Event{},
		maintenances: map[int64]*understudy.Maintenance{}}
}

// AddIncident stores inc as is (an ID is given when zero) and returns it.
func (s *Service) AddIncident(inc understudy.Incident) understudy.Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inc.ID == 0 {
		inc.ID = s.id()
	} else {
		s.nextID = max(s.nextID, inc.ID)
	}
	c := clone(inc)
	s.incidents[inc.ID] = &c
	return inc
}

// AddEvent appends e to incident id's timeline.
func (s *Service) AddEvent(id int64, e understudy.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[id] = append(s.events[id], e)
}

// AddMaintenance stores m as is (an ID is given when zero) and returns it.
func (s *Service) AddMaintenance(m understudy.Maintenance) understudy.Maintenance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.ID == 0 {
		m.ID = s.id()
	} else {
		s.nextID = max(s.nextID, m.ID)
	}
	s.maintenances[m.ID] = &m
	return m
}

// SetComponents sets what Components returns.
func (s *Service) SetComponents(c []understudy.Component) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.components = slices.Clone(c)
}

// SetSLOs sets what SLOs returns.
func (s *Service) SetSLOs(l []admin.SLO) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slos = slices.Clone(l)
}

func (s *Service) id() int64 { s.nextID++; return s.nextID }

func (s *Service) now() time.Time { return s.Now().UTC() }

func clone(inc understudy.Incident) understudy.Incident {
	inc.Components = slices.Clone(inc.Components)
	inc.Updates = slices.Clone(inc.Updates)
	return inc
}

func notFound(what string, id int64) error {
	return understudy.Errorf(understudy.ENOTFOUND, "no %s #%d", what, id)
}

func (s *Service) get(id int64) (*understudy.Incident, error) {
	inc, ok := s.incidents[id]
	if !ok {
		return nil, notFound("incident", id)
	}
	return inc, nil
}

func (s *Service) Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	var out []understudy.Incident
	for _, inc := range s.incidents {
		if (f.Open && !inc.Status.Open()) || (f.Component != "" && !slices.Contains(inc.Components, f.Component)) ||
			(!f.Since.IsZero() && inc.StartedAt.Before(f.Since)) {
			continue
		}
		c := clone(*inc)
		c.Updates = nil
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b understudy.Incident) int { return cmp.Compare(b.ID, a.ID) })
	limit := cmp.Or(f.Limit, 100)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Service) Incident(ctx context.Context, id int64) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Incident{}, s.Err
	}
	inc, err := s.get(id)
	if err != nil {
		return understudy.Incident{}, err
	}
	return clone(*inc), nil
}

func (s *Service) Timeline(ctx context.Context, id int64) ([]understudy.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	if _, err := s.get(id); err != nil {
		return nil, err
	}
	return slices.Clone(s.events[id]), nil
}

// post appends an update and a timeline event; the caller holds mu.
func (s *Service) post(inc *understudy.Incident, author, typ, message string) {
	now := s.now()
	inc.UpdatedAt = now
	if message != "" {
		inc.LastUpdateAt = now
		inc.Updates = append(inc.Updates, understudy.IncidentUpdate{ID: s.id(), IncidentID: inc.ID, Status: inc.Status,
			Severity: inc.Severity, Message: message, ETA: inc.ETA, Components: slices.Clone(inc.Components), Author: author, CreatedAt: now})
	}
	s.events[inc.ID] = append(s.events[inc.ID], understudy.Event{Time: now, Type: typ, Author: author,
		Message: cmp.Or(message, strings.TrimPrefix(typ, "incident.")), Details: map[string]any{"incident": inc.ID}})
}

func (s *Service) CreateIncident(ctx context.Context, author string, inc understudy.Incident, message string) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Incident{}, s.Err
	}
	switch {
	case strings.TrimSpace(inc.Title) == "":
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "title is required")
	case !inc.Severity.Valid():
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "severity is required")
	case strings.TrimSpace(message) == "":
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "message is required")
	case inc.Status == understudy.IncidentResolved:
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "a new incident cannot be resolved")
	}
	inc.Status = cmp.Or(inc.Status, understudy.IncidentInvestigating)
	inc.Cause = cmp.Or(inc.Cause, understudy.CauseUnknown)
	now := s.now()
	inc.ID, inc.StartedAt, inc.DetectedAt = s.id(), cmp.Or(inc.StartedAt, now), now
	c := clone(inc)
	s.incidents[inc.ID] = &c
	s.post(&c, author, understudy.EventIncidentOpened, message)
	return clone(c), nil
}

func (s *Service) UpdateIncident(ctx context.Context, author string, id int64, ch understudy.IncidentChange) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Incident{}, s.Err
	}
	inc, err := s.get(id)
	if err != nil {
		return understudy.Incident{}, err
	}
	if strings.TrimSpace(ch.Message) == "" {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "message is required")
	}
	if !inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident #%d is resolved: reopen it first", id)
	}
	inc.Status = cmp.Or(ch.Status, inc.Status)
	inc.Severity = cmp.Or(ch.Severity, inc.Severity)
	inc.Cause = cmp.Or(ch.Cause, inc.Cause)
	inc.Title = cmp.Or(ch.Title, inc.Title)
	if ch.Components != nil {
		inc.Components = slices.Clone(ch.Components)
	}
	if ch.ETA != nil {
		inc.ETA = *ch.ETA
	}
	typ := understudy.EventIncidentUpdated
	if inc.Status == understudy.IncidentResolved {
		inc.ResolvedAt, typ = s.now(), understudy.EventIncidentResolved
	}
	s.post(inc, author, typ, ch.Message)
	return clone(*inc), nil
}

func (s *Service) ResolveIncident(ctx context.Context, author string, id int64, message string) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Incident{}, s.Err
	}
	inc, err := s.get(id)
	if err != nil {
		return understudy.Incident{}, err
	}
	if !inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident #%d is already resolved", id)
	}
	inc.Status, inc.ResolvedAt, inc.ETA = understudy.IncidentResolved, s.now(), time.Time{}
	s.post(inc, author, understudy.EventIncidentResolved, cmp.Or(message, "This incident has been resolved."))
	return clone(*inc), nil
}

func (s *Service) ReopenIncident(ctx context.Context, author string, id int64, message string) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Incident{}, s.Err
	}
	inc, err := s.get(id)
	if err != nil {
		return understudy.Incident{}, err
	}
	if inc.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident #%d is open", id)
	}
	if inc.MergedInto != 0 {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident #%d was merged into #%d: reopen that one", id, inc.MergedInto)
	}
	inc.Status, inc.ResolvedAt = understudy.IncidentInvestigating, time.Time{}
	s.post(inc, author, understudy.EventIncidentReopened, cmp.Or(message, "We are investigating again."))
	return clone(*inc), nil
}

func (s *Service) MergeIncident(ctx context.Context, author string, id, into int64) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Incident{}, s.Err
	}
	if id == into {
		return understudy.Incident{}, understudy.Errorf(understudy.EINVALID, "an incident cannot be merged into itself")
	}
	from, err := s.get(id)
	if err != nil {
		return understudy.Incident{}, err
	}
	to, err := s.get(into)
	if err != nil {
		return understudy.Incident{}, err
	}
	if !from.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident #%d is resolved", id)
	}
	if !to.Status.Open() {
		return understudy.Incident{}, understudy.Errorf(understudy.ECONFLICT, "incident #%d is resolved: reopen it or merge the other way", into)
	}
	from.Status, from.ResolvedAt, from.MergedInto = understudy.IncidentResolved, s.now(), into
	s.post(from, author, understudy.EventIncidentMerged, fmt.Sprintf("Merged into incident #%d.", into))
	to.Components = sortedUnion(to.Components, from.Components)
	if from.Severity.Rank() > to.Severity.Rank() {
		to.Severity = from.Severity
	}
	s.post(to, author, understudy.EventIncidentMerged, "")
	return clone(*to), nil
}

func sortedUnion(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *Service) Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	var out []understudy.Maintenance
	for _, m := range s.maintenances {
		if f.Active && m.Status.Done() {
			continue
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b understudy.Maintenance) int { return cmp.Compare(b.ID, a.ID) })
	if limit := cmp.Or(f.Limit, 100); len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Service) ScheduleMaintenance(ctx context.Context, author string, m understudy.Maintenance) (understudy.Maintenance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Maintenance{}, s.Err
	}
	switch {
	case strings.TrimSpace(m.Title) == "":
		return m, understudy.Errorf(understudy.EINVALID, "title is required")
	case !m.EndsAt.After(m.StartsAt):
		return m, understudy.Errorf(understudy.EINVALID, "ends_at must be after starts_at")
	case len(m.Components) == 0 && len(m.Targets) == 0:
		return m, understudy.Errorf(understudy.EINVALID, "name the components or targets under maintenance")
	}
	now := s.now()
	m.ID, m.Status, m.Author, m.CreatedAt, m.UpdatedAt = s.id(), understudy.MaintenanceScheduled, author, now, now
	s.maintenances[m.ID] = &m
	return m, nil
}

func (s *Service) CancelMaintenance(ctx context.Context, author string, id int64) (understudy.Maintenance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return understudy.Maintenance{}, s.Err
	}
	m, ok := s.maintenances[id]
	if !ok {
		return understudy.Maintenance{}, notFound("maintenance", id)
	}
	if m.Status.Done() {
		return understudy.Maintenance{}, understudy.Errorf(understudy.ECONFLICT, "maintenance #%d is already %s", id, m.Status)
	}
	now := s.now()
	m.Status, m.EndedAt, m.UpdatedAt = understudy.MaintenanceCanceled, now, now
	return *m, nil
}

func (s *Service) Components(ctx context.Context) ([]understudy.Component, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	return slices.Clone(s.components), nil
}

func (s *Service) SLOs(ctx context.Context) ([]admin.SLO, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	return slices.Clone(s.slos), nil
}
