package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// The analytics queries' contract (DailyCounts, IncidentsDuring), run on SQLite and, when a DSN is set, on PostgreSQL.

func TestAnalyticsSQLite(t *testing.T) {
	testAnalytics(t, func(t *testing.T) *store.Store { return OpenSQLite(t) })
}

func TestAnalyticsPostgres(t *testing.T) {
	open := PostgresOpener(t)
	testAnalytics(t, func(t *testing.T) *store.Store { return open(t) })
}

func testAnalytics(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *store.Store)
	}{
		{"DailyCounts", testDailyCounts},
		{"IncidentsDuring", testIncidentsDuring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

const minutesPerDay = 24 * 60

func testDailyCounts(t *testing.T, s *store.Store) {
	const (
		oa = "openai/gpt-4o-mini"
		an = "anthropic/claude"
	)
	MustAddRollups(t, s,
		ro(-1, "assistant", oa, "primary", 100, time.Second),               // the day before t0
		ro(0, "assistant", oa, "primary", 10, time.Second),                 // day 0, first minute
		ro(5, "assistant", oa, "primary", 5, time.Second),                  // same day, same key: summed
		ro(5, "assistant", an, "failover", 3, time.Second),                 // another target
		ro(6, "assistant", "", "unavailable", 2, 0),                        // no target
		ro(7, "support", oa, "client_canceled", 1, 0),                      // canceled: still a row
		ro(minutesPerDay-1, "assistant", oa, "upstream_error", 4, 0),       // day 0, last minute
		ro(minutesPerDay, "assistant", oa, "primary", 7, time.Second),      // day 1
		ro(2*minutesPerDay+30, "assistant", oa, "degraded_faq", 6, 0),      // day 2
		ro(3*minutesPerDay, "assistant", oa, "primary", 1000, time.Second), // day 3: outside [t0, day 3)
	)
	// Same key, another class: one more row in rollups, one sum here.
	other := ro(5, "assistant", oa, "primary", 2, time.Second)
	other.Class = understudy.ClassContentFilter
	MustAddRollups(t, s, other)

	d := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	all := []store.DayCount{
		{d(-1), "assistant", oa, "primary", 100},
		{d(0), "assistant", "", "unavailable", 2},
		{d(0), "assistant", an, "failover", 3},
		{d(0), "assistant", oa, "primary", 17},
		{d(0), "assistant", oa, "upstream_error", 4},
		{d(0), "support", oa, "client_canceled", 1},
		{d(1), "assistant", oa, "primary", 7},
		{d(2), "assistant", oa, "degraded_faq", 6},
		{d(3), "assistant", oa, "primary", 1000},
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []store.DayCount
	}{
		{"three days", t0, d(3), all[1:8]},
		{"unbounded", time.Time{}, time.Time{}, all},
		{"from is inclusive, to exclusive", at(5), at(minutesPerDay - 1), []store.DayCount{all[1], all[2],
			{d(0), "assistant", oa, "primary", 7}, all[5]}},
		{"part of a day", at(minutesPerDay - 1), at(minutesPerDay + 1), []store.DayCount{{d(0), "assistant", oa, "upstream_error", 4}, all[6]}},
		{"empty", d(10), d(11), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DailyCounts(context.Background(), tt.from, tt.to)
			if err != nil {
				t.Fatalf("DailyCounts: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func testIncidentsDuring(t *testing.T, s *store.Store) {
	// a: [10, 20]; b: [30, open); c: [50, 60] merged into b; d: [100, 200].
	a := newIncident("a", "", 10, "provider:openai")
	a.Status, a.ResolvedAt = understudy.IncidentResolved, at(20)
	a.Evidence = understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 3}, Samples: []string{"500 boom"}}
	MustCreateIncident(t, s, a, &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Message: "Looking.", CreatedAt: at(11)})
	b := newIncident("b", "k", 30, "assistant")
	MustCreateIncident(t, s, b, nil)
	c := newIncident("c", "", 50, "assistant")
	c.Status, c.ResolvedAt, c.MergedInto = understudy.IncidentResolved, at(60), b.ID
	MustCreateIncident(t, s, c, nil)
	d := newIncident("d", "", 100, "provider:anthropic")
	d.Status, d.ResolvedAt = understudy.IncidentResolved, at(200)
	MustCreateIncident(t, s, d, nil)

	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"everything", time.Time{}, time.Time{}, []string{"a", "b", "c", "d"}},
		{"resolved before from is out", at(21), time.Time{}, []string{"b", "c", "d"}},
		{"resolved at from is in", at(20), at(31), []string{"a", "b"}},
		{"started at to is out", at(0), at(30), []string{"a"}},
		{"open incidents last forever", at(1000), at(2000), []string{"b"}},
		{"inside one incident", at(150), at(160), []string{"b", "d"}},
		{"before everything", at(0), at(10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.IncidentsDuring(context.Background(), tt.from, tt.to)
			if err != nil {
				t.Fatalf("IncidentsDuring: %v", err)
			}
			var titles []string
			for _, inc := range got {
				titles = append(titles, inc.Title)
			}
			if !reflect.DeepEqual(titles, tt.want) {
				t.Errorf("got %q, want %q", titles, tt.want)
			}
		})
	}
	// Incidents come back whole: evidence, merge, times and updates.
	got, err := s.IncidentsDuring(context.Background(), at(0), at(15))
	if err != nil {
		t.Fatalf("IncidentsDuring: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d incidents, want 1", len(got))
	}
	if g := got[0]; g.ID != a.ID || !g.ResolvedAt.Equal(at(20)) || !g.DetectedAt.Equal(at(11)) ||
		g.Evidence.Classes[understudy.ClassServer] != 3 || len(g.Updates) != 1 || g.Updates[0].Message != "Looking." {
		t.Errorf("got %+v, want incident a with its evidence and its update", g)
	}
	all, err := s.IncidentsDuring(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("IncidentsDuring: %v", err)
	}
	if all[2].MergedInto != b.ID {
		t.Errorf("c: got MergedInto %d, want %d", all[2].MergedInto, b.ID)
	}
}
