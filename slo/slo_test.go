package slo_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/slo"
	"github.com/understudy/understudy/store"
)

func TestBurnRate(t *testing.T) {
	tests := []struct {
		name              string
		errors, objective float64
		want              float64
	}{
		{"no errors", 0, 0.999, 0},
		{"exactly the budget", 0.001, 0.999, 1},
		{"fast burn", 0.0144, 0.999, 14.4},
		{"all failing", 1, 0.99, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slo.BurnRate(tt.errors, tt.objective); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// MustStore is a real SQLite store with per-minute traffic written by add.
func MustStore(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(tb.TempDir(), "u.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// add writes good and failed requests for each minute in [from, to).
func add(tb testing.TB, s *store.Store, from, to time.Time, good, failed int64, latency time.Duration) {
	tb.Helper()
	var rs []store.Rollup
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		r := store.Rollup{Minute: m, Route: "assistant", Target: "p/m", Class: understudy.ClassSuccess, Mode: "primary", Count: good}
		for i := int64(0); i < good; i++ {
			r.Latency.Observe(latency)
		}
		rs = append(rs, r)
		if failed > 0 {
			rs = append(rs, store.Rollup{Minute: m, Route: "assistant", Class: understudy.ClassServer, Mode: "unavailable", Count: failed})
		}
	}
	if err := s.AddRollups(context.Background(), rs); err != nil {
		tb.Fatal(err)
	}
}

func TestEvaluate(t *testing.T) {
	obj := slo.Objective{Availability: 0.999, Latency: 6 * time.Second, LatencyTarget: 0.95}
	tests := []struct {
		name       string
		traffic    func(tb testing.TB, s *store.Store)
		wantAlerts []string // window/SLI pairs
		wantBudget float64  // availability budget remaining, ±0.01
	}{
		{"healthy", func(tb testing.TB, s *store.Store) {
			add(tb, s, now.Add(-6*time.Hour), now, 100, 0, time.Second)
		}, nil, 1},
		{"hard outage for the last 10 minutes", func(tb testing.TB, s *store.Store) {
			add(tb, s, now.Add(-6*time.Hour), now.Add(-10*time.Minute), 100, 0, time.Second)
			add(tb, s, now.Add(-10*time.Minute), now, 0, 100, 0)
		}, []string{"fast/availability", "medium/availability"}, 1 - (1000.0/(35000.0+1000.0))/0.001},
		{"outage that ended an hour ago: short window is clean", func(tb testing.TB, s *store.Store) {
			add(tb, s, now.Add(-6*time.Hour), now, 100, 0, time.Second)
			add(tb, s, now.Add(-90*time.Minute), now.Add(-70*time.Minute), 0, 100, 0)
		}, nil, -999},
		{"slow answers", func(tb testing.TB, s *store.Store) {
			add(tb, s, now.Add(-6*time.Hour), now, 100, 0, 20*time.Second)
		}, []string{"fast/latency", "medium/latency"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustStore(t)
			tt.traffic(t, s)
			st, err := slo.Evaluate(context.Background(), s, "assistant", obj, slo.Workbook[:2], now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range st.Alerts {
				got = append(got, a.Window.Name+"/"+a.SLI)
			}
			if len(got) != len(tt.wantAlerts) {
				t.Fatalf("got alerts %v, want %v (burn %v)", got, tt.wantAlerts, st.Burn)
			}
			for i := range got {
				if got[i] != tt.wantAlerts[i] {
					t.Errorf("got alerts %v, want %v", got, tt.wantAlerts)
				}
			}
			if tt.wantBudget != -999 && math.Abs(st.BudgetRemaining-tt.wantBudget) > 0.01 {
				t.Errorf("got budget remaining %v, want %v", st.BudgetRemaining, tt.wantBudget)
			}
		})
	}
}

// Degraded answers spend error budget unless the objective counts their
// mode as good.
func TestDegradedGood(t *testing.T) {
	s := MustStore(t)
	add(t, s, now.Add(-6*time.Hour), now, 100, 0, time.Second)
	var rs []store.Rollup
	for m := now.Add(-10 * time.Minute); m.Before(now); m = m.Add(time.Minute) {
		rs = append(rs,
			store.Rollup{Minute: m, Route: "assistant", Class: understudy.ClassServer, Mode: store.ModeDegradedFAQ, Count: 60},
			store.Rollup{Minute: m, Route: "assistant", Class: understudy.ClassServer, Mode: store.ModeNotice, Count: 40})
	}
	if err := s.AddRollups(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	total := 36000.0 + 1000.0
	for _, tt := range []struct {
		good []string
		bad  float64 // requests spending budget
	}{
		{nil, 1000},
		{[]string{store.ModeDegradedFAQ}, 400},
		{[]string{store.ModeDegradedFAQ, store.ModeNotice}, 0},
	} {
		obj := slo.Objective{Availability: 0.999, DegradedGood: tt.good}
		st, err := slo.Evaluate(context.Background(), s, "assistant", obj, slo.Workbook[:1], now)
		if err != nil {
			t.Fatal(err)
		}
		want := 1 - (tt.bad/total)/0.001
		if math.Abs(st.BudgetRemaining-want) > 0.01 {
			t.Errorf("degraded_good %v: budget remaining %v, want %v", tt.good, st.BudgetRemaining, want)
		}
	}
}
