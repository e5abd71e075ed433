// Package slo turns a route's measured SLIs into error budgets and burn
// rates, and evaluates the multiwindow, multi-burn-rate alerts of the Google
// SRE workbook ("Alerting on SLOs"): a page fires when the budget burns fast
// over both a long and a short window, so it is both significant and still
// happening.
package slo

import (
	"context"
	"fmt"
	"time"

	"github.com/understudy/understudy/store"
)

// Querier reads SLIs; *store.Store implements it.
type Querier interface {
	SLI(ctx context.Context, route string, from, to time.Time, latencyObjective time.Duration) (store.SLI, error)
}

var _ Querier = (*store.Store)(nil)

// Objective is a route's SLO.
type Objective struct {
	// Availability is the target share of good requests, e.g. 0.999.
	Availability float64
	// Latency and LatencyTarget: the share LatencyTarget (e.g. 0.95) of good
	// requests must answer within Latency (e.g. 6s). Zero Latency: no
	// latency objective.
	Latency       time.Duration
	LatencyTarget float64
	// Period over which the error budget is counted. Default 30 days.
	Period time.Duration
	// DegradedGood lists the degraded serving modes (store.ModeDegradedCache,
	// …) that count as good for availability. Default none: every degraded
	// answer spends error budget.
	DegradedGood []string
}

// Window is one alerting pair: the budget burns at least Factor times the
// sustainable rate over both Long and Short.
type Window struct {
	Name        string
	Factor      float64
	Long, Short time.Duration
	Severity    string // "page" or "ticket"
}

// Workbook are the SRE workbook's recommended pairs for a 30-day period:
// 2% of the budget in 1 hour, 5% in 6 hours, 10% in 3 days.
var Workbook = []Window{
	{Name: "fast", Factor: 14.4, Long: time.Hour, Short: 5 * time.Minute, Severity: "page"},
	{Name: "medium", Factor: 6, Long: 6 * time.Hour, Short: 30 * time.Minute, Severity: "page"},
	{Name: "slow", Factor: 1, Long: 72 * time.Hour, Short: 6 * time.Hour, Severity: "ticket"},
}

// BurnRate is how fast errors consume the budget: the error rate divided by
// the rate the objective allows. 1 spends the budget exactly over the
// period; 14.4 spends 2% of a 30-day budget in an hour. 0 without traffic.
func BurnRate(errorRate, objective float64) float64 {
	allowed := 1 - objective
	if allowed <= 0 {
		if errorRate > 0 {
			return inf
		}
		return 0
	}
	return errorRate / allowed
}

const inf = 1e9

// errorRate of availability: requests that users saw fail or that were
// served degraded (except in the modes degradedGood), over all requests.
func availabilityErrors(s store.SLI, degradedGood []string) float64 {
	if s.Total == 0 {
		return 0
	}
	good := s.Good
	for _, m := range degradedGood {
		good += s.DegradedByMode[m]
	}
	return float64(s.Total-good) / float64(s.Total)
}

// latencyErrors: good requests slower than the objective, over good requests.
func latencyErrors(s store.SLI) float64 {
	if s.Good == 0 {
		return 0
	}
	return float64(s.Good-s.FastEnough) / float64(s.Good)
}

// Alert is a window whose burn rate is over its factor on both sides.
type Alert struct {
	Window    Window
	SLI       string // "availability" or "latency"
	LongBurn  float64
	ShortBurn float64
}

func (a Alert) String() string {
	return fmt.Sprintf("%s %s burn: %.1f× over %s and %.1f× over %s (threshold %.1f×)",
		a.Window.Name, a.SLI, a.LongBurn, a.Window.Long, a.ShortBurn, a.Window.Short, a.Window.Factor)
}

// Status is a route's SLO state now.
type Status struct {
	Route string
	// BudgetRemaining is the share of the period's error budget left (can go
	// below 0 when overspent), for availability and for latency.
	BudgetRemaining, LatencyBudgetRemaining float64
	// Burn rates over each window's long side.
	Burn   map[string]float64
	Alerts []Alert
}

// Evaluate measures route against o at now over windows (Workbook when nil).
func Evaluate(ctx context.Context, q Querier, route string, o Objective, windows []Window, now time.Time) (Status, error) {
	if windows == nil {
		windows = Workbook
	}
	if o.Period <= 0 {
		o.Period = 30 * 24 * time.Hour
	}
	st := Status{Route: route, Burn: make(map[string]float64)}
	period, err := q.SLI(ctx, route, now.Add(-o.Period), now, o.Latency)
	if err != nil {
		return st, fmt.Errorf("slo %s: %w", route, err)
	}
	st.BudgetRemaining = 1 - BurnRate(availabilityErrors(period, o.DegradedGood), o.Availability)
	st.LatencyBudgetRemaining = 1
	if o.Latency > 0 {
		st.LatencyBudgetRemaining = 1 - BurnRate(latencyErrors(period), o.LatencyTarget)
	}
	for _, w := range windows {
		long, err := q.SLI(ctx, route, now.Add(-w.Long), now, o.Latency)
		if err != nil {
			return st, fmt.Errorf("slo %s: %w", route, err)
		}
		short, err := q.SLI(ctx, route, now.Add(-w.Short), now, o.Latency)
		if err != nil {
			return st, fmt.Errorf("slo %s: %w", route, err)
		}
		lb, sb := BurnRate(availabilityErrors(long, o.DegradedGood), o.Availability), BurnRate(availabilityErrors(short, o.DegradedGood), o.Availability)
		st.Burn[w.Name] = lb
		if lb >= w.Factor && sb >= w.Factor && long.Total > 0 {
			st.Alerts = append(st.Alerts, Alert{Window: w, SLI: "availability", LongBurn: lb, ShortBurn: sb})
		}
		if o.Latency > 0 {
			lb, sb := BurnRate(latencyErrors(long), o.LatencyTarget), BurnRate(latencyErrors(short), o.LatencyTarget)
			if lb >= w.Factor && sb >= w.Factor && long.Good > 0 {
				st.Alerts = append(st.Alerts, Alert{Window: w, SLI: "latency", LongBurn: lb, ShortBurn: sb})
			}
		}
	}
	return st, nil
}

// Report is one route's objective and its state now, as the admin API and
// the console show it.
type Report struct {
	Route     string
	Objective Objective
	Status    Status
}
