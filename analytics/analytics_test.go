package analytics_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/analytics"
	"github.com/understudy/understudy/slo"
	"github.com/understudy/understudy/store"
)

// The seeded history: a 7-day window ending Monday 2026-11-30 12:00 UTC,
// from Tuesday 2026-11-24 00:00 UTC (156 hours).
var (
	now  = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	from = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
)

// at is day d of the window (0 is Nov 24) at hh:mm:ss.
func at(d, hh, mm, ss int) time.Time {
	return from.AddDate(0, 0, d).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second)
}

const (
	oa = "openai/gpt-4o-mini"
	an = "anthropic/claude-haiku"
	mi = "mistral/large"
)

func MustOpen(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(tb.TempDir(), "u.db")})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func ro(t time.Time, route, target, mode string, n int64) store.Rollup {
	return store.Rollup{Minute: t, Route: route, Target: target, Class: understudy.ClassSuccess, Mode: mode, Count: n}
}

// seed writes the history whose figures TestCompute checks by hand.
func seed(tb testing.TB, s *store.Store) {
	tb.Helper()
	ctx := context.Background()
	rs := []store.Rollup{
		// assistant
		ro(at(-1, 23, 59, 0), "assistant", oa, "upstream_error", 999), // before the window
		ro(at(0, 10, 0, 0), "assistant", oa, "primary", 1000),
		ro(at(1, 10, 0, 0), "assistant", oa, "primary", 900),
		ro(at(1, 10, 1, 0), "assistant", an, "failover", 80),
		ro(at(1, 10, 1, 0), "assistant", "", "unavailable", 20),
		ro(at(2, 9, 0, 0), "assistant", oa, "primary", 990),
		ro(at(2, 9, 0, 0), "assistant", "", "degraded_faq", 10),
		// day 3: no traffic
		ro(at(4, 0, 0, 0), "assistant", an, "primary", 500),
		ro(at(4, 0, 0, 0), "assistant", oa, "upstream_error", 5),
		ro(at(4, 0, 0, 0), "assistant", oa, "client_canceled", 7),
		ro(at(5, 23, 59, 0), "assistant", oa, "primary", 1000),
		ro(at(6, 11, 59, 0), "assistant", oa, "primary", 400),
		ro(at(6, 12, 0, 0), "assistant", oa, "unavailable", 1000), // the minute of now: after the window
		// support
		ro(at(0, 8, 0, 0), "support", mi, "primary", 100),
		ro(at(2, 8, 0, 0), "support", oa, "primary", 50),
		ro(at(2, 8, 0, 0), "support", oa, "upstream_error", 50),
	}
	if err := s.AddRollups(ctx, rs); err != nil {
		tb.Fatalf("AddRollups: %v", err)
	}
	incs := []understudy.Incident{
		// 1: before the window, resolved in it: downtime only (1 h).
		{Title: "i1", Cause: understudy.CauseTechnical, Components: []string{"provider:openai"},
			StartedAt: at(-1, 23, 0, 0), DetectedAt: at(-1, 23, 2, 0), ResolvedAt: at(0, 1, 0, 0)},
		// 2: MTTD 90 s, MTTR 30 min, 10:00 to 10:31:30.
		{Title: "i2", Cause: understudy.CauseTechnical, Components: []string{"assistant", "provider:openai"},
			StartedAt: at(1, 10, 0, 0), DetectedAt: at(1, 10, 1, 30), ResolvedAt: at(1, 10, 31, 30)},
		// 3: overlaps 2; MTTD 60 s, MTTR 60 min, 10:20 to 11:21.
		{Title: "i3", Cause: understudy.CauseOverload, Components: []string{"provider:openai"},
			StartedAt: at(1, 10, 20, 0), DetectedAt: at(1, 10, 21, 0), ResolvedAt: at(1, 11, 21, 0)},
		// 4: resolved after now: open at now; MTTD 30 s; 52 h of downtime.
		{Title: "i4", Cause: understudy.CauseQuota, Components: []string{"provider:anthropic"},
			StartedAt: at(4, 8, 0, 0), DetectedAt: at(4, 8, 0, 30), ResolvedAt: now.Add(time.Hour)},
		// 5: merged into 2: not counted.
		{Title: "i5", Cause: understudy.CauseTechnical, Components: []string{"assistant"},
			StartedAt: at(1, 10, 5, 0), DetectedAt: at(1, 10, 6, 0), ResolvedAt: at(1, 10, 10, 0), MergedInto: 2},
		// 6: a person's; MTTD 10 min, MTTR 30 min, 40 min of downtime.
		{Title: "i6", Cause: understudy.CauseMisconfiguration, Components: []string{"support"},
			StartedAt: at(5, 9, 0, 0), DetectedAt: at(5, 9, 10, 0), ResolvedAt: at(5, 9, 40, 0)},
		// 7: starts at now: after the window.
		{Title: "i7", Cause: understudy.CauseTechnical, Components: []string{"assistant"}, StartedAt: now, DetectedAt: now},
	}
	for i := range incs {
		inc := &incs[i]
		inc.Status, inc.Severity, inc.UpdatedAt = understudy.IncidentResolved, understudy.SeverityMajor, inc.DetectedAt
		if inc.ResolvedAt.IsZero() {
			inc.Status = understudy.IncidentInvestigating
		}
		if err := s.CreateIncident(ctx, inc, nil, nil); err != nil {
			tb.Fatalf("CreateIncident %s: %v", inc.Title, err)
		}
	}
}

func catalog() analytics.Catalog {
	return analytics.Catalog{
		Routes:    []string{"assistant", "support"},
		Providers: []string{"openai", "anthropic", "local"},
		Objectives: map[string]slo.Objective{
			"assistant": {Availability: 0.999, DegradedGood: []string{store.ModeDegradedFAQ}},
			"support":   {Availability: 0.99},
		},
	}
}

func MustCompute(tb testing.TB, s *store.Store, days int) analytics.Report {
	tb.Helper()
	r, err := analytics.Compute(context.Background(), s, days, now, catalog())
	if err != nil {
		tb.Fatalf("Compute: %v", err)
	}
	return r
}

func f(v float64) *float64             { return &v }
func d(v time.Duration) *time.Duration { return &v }

// figures are the hand-computed answers of one component.
type figures struct {
	requests, good, degraded, failed, failover, canceled int64
	availability, failoverShare, burn                    *float64
	incidents, open                                      int
	byCause                                              []analytics.CauseCount
	downtime                                             time.Duration
	mtbf, mttd, mttr                                     *time.Duration
	grade                                                analytics.Grade
	rank                                                 int
}

func TestCompute(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	r := MustCompute(t, s, 7)
	if !r.From.Equal(from) || !r.Now.Equal(now) || r.Days != 7 {
		t.Fatalf("got window %v to %v over %d days, want %v to %v over 7", r.From, r.Now, r.Days, from, now)
	}
	window := 156 * time.Hour
	cc := func(c understudy.Cause, n int) analytics.CauseCount { return analytics.CauseCount{Cause: c, Count: n} }
	want := map[string]figures{
		// good 1000+980+990+500+1000+400; failed 20+5; degraded 10 (FAQ, good for the objective).
		"assistant": {requests: 4905, good: 4870, degraded: 10, failed: 25, failover: 80, canceled: 7,
			availability: f(4870.0 / 4905), failoverShare: f(80.0 / 4870), burn: f((25.0 / 4905) / (1 - 0.999)),
			incidents: 1, byCause: []analytics.CauseCount{cc(understudy.CauseTechnical, 1)},
			downtime: 31*time.Minute + 30*time.Second, mtbf: d(window - 31*time.Minute - 30*time.Second),
			mttd: d(90 * time.Second), mttr: d(30 * time.Minute),
			// availability C (99.28%), 4.3 incidents per 30 days D, MTTR B.
			grade: analytics.Grade{Letter: "D", Reason: "4.3 incidents per 30 days"}},
		"support": {requests: 200, good: 150, failed: 50,
			availability: f(0.75), failoverShare: f(0), burn: f(0.25 / (1 - 0.99)),
			incidents: 1, byCause: []analytics.CauseCount{cc(understudy.CauseMisconfiguration, 1)},
			downtime: 40 * time.Minute, mtbf: d(window - 40*time.Minute), mttd: d(10 * time.Minute), mttr: d(30 * time.Minute),
			grade: analytics.Grade{Letter: "F", Reason: "availability 75.00%"}},
		// The requests its targets finished: 1000+900+990+5+1000+400 on assistant, 50+50 on support.
		"provider:openai": {requests: 4395, good: 4340, failed: 55, canceled: 7,
			availability: f(4340.0 / 4395), failoverShare: f(0),
			incidents: 2, byCause: []analytics.CauseCount{cc(understudy.CauseTechnical, 1), cc(understudy.CauseOverload, 1)},
			// 1 h of incident 1 in the window, and 10:00 to 11:21 of incidents 2 and 3.
			downtime: 2*time.Hour + 21*time.Minute, mtbf: d((window - 2*time.Hour - 21*time.Minute) / 2),
			mttd: d(75 * time.Second), mttr: d(45 * time.Minute),
			// availability D (98.74%), 8.6 incidents per 30 days F, MTTR C.
			grade: analytics.Grade{Letter: "F", Reason: "8.6 incidents per 30 days"}, rank: 3},
		"provider:anthropic": {requests: 580, good: 580, failover: 80,
			availability: f(1), failoverShare: f(80.0 / 580),
			incidents: 1, open: 1, byCause: []analytics.CauseCount{cc(understudy.CauseQuota, 1)},
			downtime: 52 * time.Hour, mtbf: d(window - 52*time.Hour), mttd: d(30 * time.Second),
			grade: analytics.Grade{Letter: "D", Reason: "4.3 incidents per 30 days"}, rank: 2},
		"provider:mistral": {requests: 100, good: 100, availability: f(1), failoverShare: f(0),
			grade: analytics.Grade{Letter: "A"}, rank: 1},
		"provider:local": {},
	}
	var routes, providers []string
	got := map[string]analytics.Stats{}
	for _, st := range r.Routes {
		routes = append(routes, st.Component)
		got[st.Component] = st
	}
	for _, st := range r.Providers {
		providers = append(providers, st.Component)
		got[st.Component] = st
	}
	if w := []string{"assistant", "support"}; !reflect.DeepEqual(routes, w) {
		t.Errorf("got routes %q, want %q", routes, w)
	}
	if w := []string{"provider:mistral", "provider:anthropic", "provider:openai", "provider:local"}; !reflect.DeepEqual(providers, w) {
		t.Errorf("got providers in rank order %q, want %q", providers, w)
	}
	if st := got["provider:mistral"]; st.Listed {
		t.Errorf("mistral: got Listed, want false (found in the data only)")
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			st, ok := got[name]
			if !ok {
				t.Fatalf("missing")
			}
			counts := [6]int64{st.Requests, st.Good, st.Degraded, st.Failed, st.Failover, st.Canceled}
			if wc := [6]int64{w.requests, w.good, w.degraded, w.failed, w.failover, w.canceled}; counts != wc {
				t.Errorf("got requests, good, degraded, failed, failover, canceled %v, want %v", counts, wc)
			}
			checkRatio(t, "availability", st.Availability, w.availability)
			checkRatio(t, "failover share", st.FailoverShare, w.failoverShare)
			checkRatio(t, "burn", st.Burn, w.burn)
			if st.Incidents != w.incidents || st.Open != w.open || !reflect.DeepEqual(st.ByCause, w.byCause) {
				t.Errorf("got %d incidents (%d open) %v, want %d (%d open) %v", st.Incidents, st.Open, st.ByCause, w.incidents, w.open, w.byCause)
			}
			if st.Downtime != w.downtime {
				t.Errorf("got downtime %v, want %v", st.Downtime, w.downtime)
			}
			checkDuration(t, "MTBF", st.MTBF, w.mtbf)
			checkDuration(t, "MTTD", st.MTTD, w.mttd)
			checkDuration(t, "MTTR", st.MTTR, w.mttr)
			if st.Grade != w.grade || st.Rank != w.rank {
				t.Errorf("got grade %+v rank %d, want %+v rank %d", st.Grade, st.Rank, w.grade, w.rank)
			}
		})
	}
	wantCauses := []analytics.CauseCount{cc(understudy.CauseTechnical, 1), cc(understudy.CauseOverload, 1),
		cc(understudy.CauseQuota, 1), cc(understudy.CauseMisconfiguration, 1)}
	if r.Incidents != 4 || !reflect.DeepEqual(r.Causes, wantCauses) {
		t.Errorf("got %d incidents by cause %v, want 4 %v", r.Incidents, r.Causes, wantCauses)
	}
}

func TestComputeDays(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	r := MustCompute(t, s, 7)
	var a analytics.Stats
	for _, st := range r.Routes {
		if st.Name == "assistant" {
			a = st
		}
	}
	type day struct {
		good, degraded, failed, failover int64
		availability                     *float64
		below                            bool
	}
	want := []day{
		{1000, 0, 0, 0, f(1), false},
		{980, 0, 20, 80, f(0.98), true},
		{990, 10, 0, 0, f(0.99), true}, // degraded answers are not available on the chart
		{0, 0, 0, 0, nil, false},
		{500, 0, 5, 0, f(500.0 / 505), true},
		{1000, 0, 0, 0, f(1), false},
		{400, 0, 0, 0, f(1), false},
	}
	if len(a.Days) != len(want) {
		t.Fatalf("got %d days, want %d", len(a.Days), len(want))
	}
	for i, w := range want {
		g := a.Days[i]
		if !g.Day.Equal(from.AddDate(0, 0, i)) {
			t.Errorf("day %d: got %v, want %v", i, g.Day, from.AddDate(0, 0, i))
		}
		if g.Good != w.good || g.Degraded != w.degraded || g.Failed != w.failed || g.Failover != w.failover || g.BelowObjective != w.below {
			t.Errorf("day %d: got %+v, want %+v", i, g, w)
		}
		checkRatio(t, "day availability", g.Availability, w.availability)
	}
}

func TestComputeWindows(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	tests := []struct {
		name      string
		days      int
		from      time.Time
		incidents int
		requests  int64 // assistant
	}{
		// Today only: 400 requests, no incident started today before noon.
		{"one day", 1, at(6, 0, 0, 0), 0, 400},
		// 30 days: incident 1 now counts; the 999 failures of Nov 23 too.
		{"thirty days", 30, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 5, 4905 + 999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustCompute(t, s, tt.days)
			if !r.From.Equal(tt.from) || r.Incidents != tt.incidents || r.Routes[0].Requests != tt.requests || len(r.Routes[0].Days) != tt.days {
				t.Errorf("got from %v, %d incidents, %d requests, %d days; want %v, %d, %d, %d", r.From, r.Incidents,
					r.Routes[0].Requests, len(r.Routes[0].Days), tt.from, tt.incidents, tt.requests, tt.days)
			}
		})
	}
	for _, days := range []int{0, -1, analytics.MaxDays + 1} {
		_, err := analytics.Compute(context.Background(), s, days, now, catalog())
		var e *understudy.Error
		if !errors.As(err, &e) || e.Code != understudy.EINVALID {
			t.Errorf("days %d: got %v, want EINVALID", days, err)
		}
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", 30, true}, {"7", 7, true}, {"90", 90, true}, {"0", 0, false}, {"401", 0, false}, {"7d", 0, false},
	}
	for _, tt := range tests {
		got, err := analytics.ParseDays(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseDays(%q): got %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{analytics.Percent(1), "100%"},
		{analytics.Percent(0), "0%"},
		{analytics.Percent(0.99999), "99.999%"},
		{analytics.Percent(0.999), "99.90%"},
		{analytics.Percent(0.98999), "98.99%"},
		{analytics.Percent(4340.0 / 4395), "98.74%"},
		{analytics.Duration(45 * time.Second), "45 s"},
		{analytics.Duration(4*time.Minute + 30*time.Second), "4 min 30 s"},
		{analytics.Duration(30 * time.Minute), "30 min"},
		{analytics.Duration(2*time.Hour + 5*time.Minute), "2 h 05 min"},
		{analytics.Duration(76*time.Hour + 49*time.Minute), "3 d 4 h"},
		{analytics.Count(1234567), "1,234,567"},
		{analytics.Count(999), "999"},
		{analytics.Burn(5.0968), "5.10×"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestNewCatalog(t *testing.T) {
	comps := []understudy.Component{{Name: "assistant", Kind: "route"}, {Name: "provider:openai", Kind: "provider"}, {Name: "support", Kind: "route"}}
	reports := []slo.Report{{Route: "assistant", Objective: slo.Objective{Availability: 0.999}}}
	c := analytics.NewCatalog(comps, reports)
	if !reflect.DeepEqual(c.Routes, []string{"assistant", "support"}) || !reflect.DeepEqual(c.Providers, []string{"openai"}) ||
		c.Objectives["assistant"].Availability != 0.999 || len(c.Objectives) != 1 {
		t.Errorf("got %+v", c)
	}
}

func checkRatio(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s: got %v, want %v", what, fmtPtr(got), fmtPtr(want))
	case math.Abs(*got-*want) > 1e-12:
		t.Errorf("%s: got %v, want %v", what, *got, *want)
	}
}

func checkDuration(t *testing.T, what string, got, want *time.Duration) {
	t.Helper()
	if (got == nil) != (want == nil) || (got != nil && *got != *want) {
		t.Errorf("%s: got %v, want %v", what, fmtPtr(got), fmtPtr(want))
	}
}

func fmtPtr[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}
