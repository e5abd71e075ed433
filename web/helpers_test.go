package web_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/live"
	"github.com/understudy/understudy/store"
	"github.com/understudy/understudy/web"
)

// now is the fixed time of every page test.
var now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// at is a time on the fixed day.
func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", "2026-03-15 "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

// fakeSource is a Source whose contents tests change at will.
type fakeSource struct {
	mu           sync.Mutex
	components   []understudy.Component
	incidents    []understudy.Incident
	maintenances []understudy.Maintenance
	err          error // returned by every method when set
}

var _ web.Source = (*fakeSource)(nil)

func (s *fakeSource) Components(context.Context) ([]understudy.Component, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.components), s.err
}

func (s *fakeSource) Incidents(_ context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []understudy.Incident
	for _, inc := range s.incidents {
		if f.Open && !inc.Status.Open() {
			continue
		}
		if f.Component != "" && !slices.Contains(inc.Components, f.Component) {
			continue
		}
		if !f.Since.IsZero() && inc.StartedAt.Before(f.Since) {
			continue
		}
		out = append(out, inc)
	}
	// The store's order: newest first.
	slices.SortFunc(out, func(a, b understudy.Incident) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	limit := f.Limit
	if limit == 0 {
		limit = store.DefaultListLimit
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *fakeSource) Incident(_ context.Context, id int64) (understudy.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return understudy.Incident{}, s.err
	}
	for _, inc := range s.incidents {
		if inc.ID == id {
			return inc, nil
		}
	}
	return understudy.Incident{}, understudy.Errorf(understudy.ENOTFOUND, "no incident %d", id)
}

func (s *fakeSource) Maintenances(_ context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []understudy.Maintenance
	for _, m := range s.maintenances {
		if f.Active && m.Status.Done() {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// setComponent changes one component's status.
func (s *fakeSource) setComponent(name string, st understudy.ComponentStatus, incident int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.components {
		if s.components[i].Name == name {
			s.components[i].Status, s.components[i].Incident = st, incident
		}
	}
}

func (s *fakeSource) addIncident(inc understudy.Incident) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incidents = append(s.incidents, inc)
}

// fakeUptime gives each component's days from a function of the day's
// index (0 is the oldest); a nil Uptime in the result is a day without
// traffic.
type fakeUptime struct {
	days map[string]func(i int) (good, total int64)
}

var _ web.Uptime = (*fakeUptime)(nil)

func (u *fakeUptime) DailyUptime(_ context.Context, component string, days int, now time.Time) ([]store.DayUptime, error) {
	first := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	out := make([]store.DayUptime, days)
	fn := u.days[component]
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i)
		if fn == nil {
			continue
		}
		out[i].Good, out[i].Total = fn(i)
		if out[i].Total > 0 {
			v := float64(out[i].Good) / float64(out[i].Total)
			out[i].Uptime = &v
		}
	}
	return out, nil
}

// operationalComponents are two routes and three providers, all fine.
func operationalComponents() []understudy.Component {
	since := now.Add(-72 * time.Hour)
	return []understudy.Component{
		{Name: "assistant", Kind: "route", Status: understudy.ComponentOperational, Since: since},
		{Name: "support-bot", Kind: "route", Status: understudy.ComponentOperational, Since: since},
		{Name: "provider:anthropic", Kind: "provider", Status: understudy.ComponentOperational, Since: since},
		{Name: "provider:local", Kind: "provider", Status: understudy.ComponentOperational, Since: since},
		{Name: "provider:openai", Kind: "provider", Status: understudy.ComponentOperational, Since: since},
	}
}

// pastIncident was resolved five days before now.
func pastIncident() understudy.Incident {
	start := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	return understudy.Incident{
		ID: 5, Title: "Slow answers from the assistant", Status: understudy.IncidentResolved,
		Severity: understudy.SeverityMinor, Cause: understudy.CauseOverload,
		Components: []string{"assistant"}, StartedAt: start, DetectedAt: start.Add(2 * time.Minute),
		ResolvedAt: start.Add(95 * time.Minute),
		Updates: []understudy.IncidentUpdate{
			{ID: 10, IncidentID: 5, Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMinor,
				Message: "Answers are slower than usual.", CreatedAt: start.Add(2 * time.Minute)},
			{ID: 11, IncidentID: 5, Status: understudy.IncidentResolved, Severity: understudy.SeverityMinor,
				Message: "Answers are back to their usual speed.", CreatedAt: start.Add(95 * time.Minute)},
		},
	}
}

// majorIncident is open, identified, with two updates and an ETA.
func majorIncident() understudy.Incident {
	return understudy.Incident{
		ID: 7, Title: "Errors from OpenAI", Status: understudy.IncidentIdentified,
		Severity: understudy.SeverityMajor, Cause: understudy.CauseTechnical,
		Components: []string{"assistant", "provider:openai"}, StartedAt: at("10:30"), DetectedAt: at("10:32"),
		ETA: at("13:30"),
		Updates: []understudy.IncidentUpdate{
			{ID: 20, IncidentID: 7, Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMajor,
				Message: "We are investigating errors on the assistant.", CreatedAt: at("10:32")},
			{ID: 21, IncidentID: 7, Status: understudy.IncidentIdentified, Severity: understudy.SeverityMajor,
				Message: "OpenAI is returning errors.\nAnswers come from Anthropic meanwhile; they may be slower.",
				ETA:     at("13:30"), CreatedAt: at("11:05")},
		},
	}
}

// localMaintenance is in progress on the local provider.
func localMaintenance() understudy.Maintenance {
	return understudy.Maintenance{
		ID: 3, Title: "Upgrading the local model server", Message: "Answers come from the cloud providers meanwhile.",
		Status: understudy.MaintenanceInProgress, Components: []string{"provider:local"}, Targets: []string{"local/llama3.1:8b"},
		StartsAt: at("11:00"), EndsAt: at("13:00"), StartedAt: at("11:00"),
	}
}

// plannedMaintenance is scheduled five days after now.
func plannedMaintenance() understudy.Maintenance {
	start := time.Date(2026, 3, 20, 22, 0, 0, 0, time.UTC)
	return understudy.Maintenance{
		ID: 4, Title: "Moving the support bot to a new region", Status: understudy.MaintenanceScheduled,
		Components: []string{"support-bot"}, StartsAt: start, EndsAt: start.Add(2 * time.Hour),
	}
}

// operationalSource: everything fine, one incident in the past.
func operationalSource() *fakeSource {
	return &fakeSource{components: operationalComponents(), incidents: []understudy.Incident{pastIncident()}}
}

// incidentSource: a major incident on the assistant and OpenAI, the local
// provider under maintenance, another window planned.
func incidentSource() *fakeSource {
	s := operationalSource()
	s.setComponent("assistant", understudy.ComponentPartialOutage, 7)
	s.setComponent("provider:openai", understudy.ComponentMajorOutage, 7)
	s.setComponent("provider:local", understudy.ComponentUnderMaintenance, 0)
	s.incidents = append(s.incidents, majorIncident())
	s.maintenances = []understudy.Maintenance{localMaintenance(), plannedMaintenance()}
	return s
}

// testUptime: the assistant has traffic only for its last 60 days (one
// bad day five days ago, some imperfect ones), support-bot none at all,
// providers every day.
func testUptime() *fakeUptime {
	return &fakeUptime{days: map[string]func(int) (int64, int64){
		"assistant": func(i int) (int64, int64) {
			switch {
			case i < 30:
				return 0, 0
			case i == 84: // March 10
				return 1900, 2000
			case i%7 == 0:
				return 9995, 10000
			}
			return 1200 + int64(i), 1200 + int64(i)
		},
		"provider:openai":    func(i int) (int64, int64) { return 5000, 5000 },
		"provider:anthropic": func(i int) (int64, int64) { return 1000 - int64(i%3), 1000 },
		"provider:local":     func(i int) (int64, int64) { return 1, 1 },
	}}
}

// newHandler is the handler over src with the test uptime and the fixed
// clock.
func newHandler(tb testing.TB, src web.Source, hub *live.Hub) *web.Handler {
	tb.Helper()
	return web.New(web.Options{
		Source: src, Uptime: testUptime(), Hub: hub,
		Page:  web.Page{Name: "Acme Assistant", URL: "https://status.example.com"},
		Clock: clockwork.NewFakeClockAt(now),
	})
}
