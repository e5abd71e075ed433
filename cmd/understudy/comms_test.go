package main

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
)

type updatesSource struct{ incs []understudy.Incident }

func (s updatesSource) Incident(context.Context, int64) (understudy.Incident, error) {
	return understudy.Incident{}, nil
}
func (s updatesSource) Incidents(context.Context, understudy.IncidentFilter) ([]understudy.Incident, error) {
	return s.incs, nil
}
func (s updatesSource) Components(context.Context) ([]understudy.Component, error) { return nil, nil }
func (s updatesSource) Maintenances(context.Context, understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	return nil, nil
}

// TestCatchUp: the leader's catch-up queues, as possibly queued already
// (NotifyAgain), every public update posted in its window, keyed by update,
// and nothing older.
func TestCatchUp(t *testing.T) {
	now := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	src := updatesSource{incs: []understudy.Incident{
		{ID: 1, Updates: []understudy.IncidentUpdate{{ID: 10, CreatedAt: now.Add(-time.Hour)}, {ID: 11, CreatedAt: now.Add(-5 * time.Minute)}}},
		{ID: 2, Updates: []understudy.IncidentUpdate{{ID: 20, CreatedAt: now.Add(-time.Minute)}}},
	}}
	var fresh, again []string
	r := newRelay(src, func(_ context.Context, n notify.Notification) error { fresh = append(fresh, n.ID); return nil },
		func() string { return "https://status.example.com/" }, slog.New(slog.DiscardHandler))
	var urls []string
	r.again = func(_ context.Context, n notify.Notification) error {
		again = append(again, n.ID)
		urls = append(urls, n.URL)
		return nil
	}
	n, err := r.catchUp(context.Background(), now.Add(-catchUpWindow))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"incident-update:11", "incident-update:20"}; n != 2 || !slices.Equal(again, want) || len(fresh) != 0 {
		t.Errorf("caught up %d: again %v, fresh %v; want %v through NotifyAgain only", n, again, fresh, want)
	}
	if want := []string{"https://status.example.com/incidents/1", "https://status.example.com/incidents/2"}; !slices.Equal(urls, want) {
		t.Errorf("urls %v, want %v", urls, want)
	}
}
