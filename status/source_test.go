package status_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/status"
)

var (
	_ status.Source = (*incident.Engine)(nil)
	_ status.Source = (*fakeSource)(nil)
)

// fakeSource serves fixed data and honours the filters as the store does.
type fakeSource struct {
	comps        []understudy.Component
	incidents    []understudy.Incident
	maintenances []understudy.Maintenance
	err          error // returned by every method when set
}

func (f *fakeSource) Components(ctx context.Context) ([]understudy.Component, error) {
	if f.err != nil {
		return nil, f.err
	}
	return slices.Clone(f.comps), nil
}

func (f *fakeSource) Incidents(ctx context.Context, flt understudy.IncidentFilter) ([]understudy.Incident, error) {
	if f.err != nil {
		return nil, f.err
	}
	limit := flt.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []understudy.Incident
	for _, inc := range f.incidents {
		if flt.Open && !inc.Status.Open() {
			continue
		}
		if flt.Component != "" && !slices.Contains(inc.Components, flt.Component) {
			continue
		}
		inc.Updates = slices.Clone(inc.Updates)
		out = append(out, inc)
	}
	// The store's order: newest StartedAt first.
	slices.SortStableFunc(out, func(a, b understudy.Incident) int { return b.StartedAt.Compare(a.StartedAt) })
	return out[:min(len(out), limit)], nil
}

func (f *fakeSource) Maintenances(ctx context.Context, flt understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	if f.err != nil {
		return nil, f.err
	}
	limit := flt.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []understudy.Maintenance
	for _, m := range f.maintenances {
		if flt.Active && m.Status.Done() {
			continue
		}
		out = append(out, m)
	}
	// The store's order: StartsAt, oldest first.
	slices.SortStableFunc(out, func(a, b understudy.Maintenance) int { return a.StartsAt.Compare(b.StartsAt) })
	return out[:min(len(out), limit)], nil
}

// now is the fixed clock of every test.
var now = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Strings that need escaping in JSON, XML and HTML.
const (
	majorTitle = `Erreurs élevées sur "assistant" <gpt-4.1> & streaming`
	etaBody    = "Cause identifiée : OpenAI renvoie des 5xx ; le trafic bascule vers <backup> & réessaie. « Résolution » en cours — l'équipe d'astreinte est dessus."
	maintTitle = "Mise à niveau de la base — été 2026"
	maintBody  = `Base de données en lecture seule pendant 10 min. Les requêtes "stream" <SSE> & co. ne sont pas affectées.`
)

// Components of the scenarios, in page order (routes, then providers).
func components(assistant, anthropic, openai understudy.ComponentStatus) []understudy.Component {
	return []understudy.Component{
		{Name: "assistant", Kind: "route", Status: assistant, Since: at("2026-11-23T14:40:00Z")},
		{Name: "embeddings", Kind: "route", Status: understudy.ComponentOperational, Since: at("2026-11-20T09:45:00Z")},
		{Name: "team/assistant:v2", Kind: "route", Status: understudy.ComponentOperational, Since: at("2026-11-01T00:00:00Z")},
		{Name: "provider:anthropic", Kind: "provider", Status: anthropic, Since: at("2026-11-23T14:30:00.250Z")},
		{Name: "provider:openai", Kind: "provider", Status: openai, Since: at("2026-11-23T14:20:00Z")},
	}
}

// majorIncident: investigating → identified with an ETA → monitoring.
func majorIncident() understudy.Incident {
	comps := []string{"assistant", "provider:openai"}
	return understudy.Incident{
		ID: 7, Title: majorTitle, Status: understudy.IncidentMonitoring, Severity: understudy.SeverityMajor,
		Cause: understudy.CauseTechnical, Components: comps, Detector: "route_errors",
		StartedAt: at("2026-11-23T14:01:00Z"), DetectedAt: at("2026-11-23T14:03:12.345Z"),
		UpdatedAt: at("2026-11-23T14:40:00Z"), LastUpdateAt: at("2026-11-23T14:40:00Z"), ETA: at("2026-11-23T15:30:00Z"),
		Updates: []understudy.IncidentUpdate{
			{ID: 11, IncidentID: 7, Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMajor,
				Message: "We are investigating elevated error rates on assistant.", Components: comps,
				Author: "understudy", CreatedAt: at("2026-11-23T14:03:12.345Z")},
			{ID: 12, IncidentID: 7, Status: understudy.IncidentIdentified, Severity: understudy.SeverityMajor,
				Message: etaBody, ETA: at("2026-11-23T15:30:00Z"), Components: comps,
				Author: "alice", CreatedAt: at("2026-11-23T14:20:00Z")},
			{ID: 13, IncidentID: 7, Status: understudy.IncidentMonitoring, Severity: understudy.SeverityMajor,
				Message: "A fix is in place and traffic is back on OpenAI. We are monitoring.", ETA: at("2026-11-23T15:30:00Z"),
				Components: comps, Author: "alice", CreatedAt: at("2026-11-23T14:40:00Z")},
		},
	}
}

func resolvedIncident() understudy.Incident {
	comps := []string{"embeddings"}
	return understudy.Incident{
		ID: 5, Title: "Latency on embeddings", Status: understudy.IncidentResolved, Severity: understudy.SeverityMinor,
		Cause: understudy.CauseOverload, Components: comps,
		StartedAt: at("2026-11-20T09:00:00Z"), DetectedAt: at("2026-11-20T09:02:00Z"),
		ResolvedAt: at("2026-11-20T09:45:00Z"), UpdatedAt: at("2026-11-20T09:45:00Z"),
		Updates: []understudy.IncidentUpdate{
			{ID: 8, IncidentID: 5, Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMinor,
				Message: "Embeddings answer slowly.", Components: comps, CreatedAt: at("2026-11-20T09:02:00Z")},
			{ID: 9, IncidentID: 5, Status: understudy.IncidentResolved, Severity: understudy.SeverityMinor,
				Message: "This incident has been resolved.", Components: comps, CreatedAt: at("2026-11-20T09:45:00Z")},
		},
	}
}

func maintenances() []understudy.Maintenance {
	return []understudy.Maintenance{
		{ID: 1, Title: maintTitle, Message: maintBody, Status: understudy.MaintenanceCompleted,
			Components: []string{"embeddings"}, StartsAt: at("2026-11-21T02:00:00Z"), EndsAt: at("2026-11-21T03:00:00Z"),
			StartedAt: at("2026-11-21T02:00:00Z"), EndedAt: at("2026-11-21T03:02:00Z"), Author: "bob",
			CreatedAt: at("2026-11-18T10:00:00Z"), UpdatedAt: at("2026-11-21T03:02:00Z")},
		{ID: 2, Title: "Anthropic key rotation", Message: "Anthropic targets are drained while keys rotate.",
			Status: understudy.MaintenanceInProgress, Targets: []string{"anthropic/claude-sonnet-4"},
			StartsAt: at("2026-11-23T14:30:00Z"), EndsAt: at("2026-11-23T15:30:00Z"), StartedAt: at("2026-11-23T14:30:00.250Z"),
			Author: "bob", CreatedAt: at("2026-11-22T12:00:00Z"), UpdatedAt: at("2026-11-23T14:30:00.250Z")},
		{ID: 3, Title: "OpenAI region move", Status: understudy.MaintenanceScheduled, Components: []string{"provider:openai"},
			StartsAt: at("2026-11-25T02:00:00Z"), EndsAt: at("2026-11-25T04:00:00Z"), Author: "bob",
			CreatedAt: at("2026-11-23T09:00:00Z"), UpdatedAt: at("2026-11-23T09:00:00Z")},
		{ID: 4, Title: "Window canceled before it began", Message: "Never happened.", Status: understudy.MaintenanceCanceled,
			Components: []string{"assistant"}, StartsAt: at("2026-11-24T02:00:00Z"), EndsAt: at("2026-11-24T03:00:00Z"),
			EndedAt: at("2026-11-22T18:00:00Z"), Author: "bob",
			CreatedAt: at("2026-11-22T08:00:00Z"), UpdatedAt: at("2026-11-22T18:00:00Z")},
	}
}

// scenarios are the golden-file sources, by directory name.
func scenarios() map[string]*fakeSource {
	op := understudy.ComponentOperational
	return map[string]*fakeSource{
		// Nothing wrong, nothing planned.
		"operational": {comps: components(op, op, op)},
		// A major incident being monitored, a resolved one, and every kind
		// of window: completed, in progress, scheduled, canceled.
		"incident": {
			comps:        components(understudy.ComponentDegradedPerformance, understudy.ComponentUnderMaintenance, understudy.ComponentPartialOutage),
			incidents:    []understudy.Incident{resolvedIncident(), majorIncident()},
			maintenances: maintenances(),
		},
		// Only a window in progress: the page says "maintenance".
		"maintenance": {
			comps:        components(op, understudy.ComponentUnderMaintenance, op),
			incidents:    []understudy.Incident{resolvedIncident()},
			maintenances: maintenances(),
		},
	}
}

// mustHandler returns a Handler over src with the fixed clock.
func mustHandler(tb testing.TB, src status.Source) *status.Handler {
	tb.Helper()
	return status.New(status.Options{
		Source: src,
		Page:   status.Page{ID: "us7x2k9q0abc", Name: "Acme AI", URL: "https://status.acme.test/"},
		Clock:  clockwork.NewFakeClockAt(now),
	})
}

var errBroken = errors.New("database is locked")
