package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/slo"
)

// sloState is a route's SLO as last evaluated.
type sloState struct {
	objective slo.Objective
	status    slo.Status
	err       error
}

// Objective turns a route's configured SLO into the slo package's.
func Objective(o config.SLO) slo.Objective {
	good := make([]string, 0, len(o.DegradedGood))
	for _, step := range o.DegradedGood {
		good = append(good, config.DegradeMode(step))
	}
	return slo.Objective{Availability: o.Availability, Latency: o.Latency.D(), LatencyTarget: o.LatencyTarget, Period: o.Period.D(), DegradedGood: good}
}

// evaluateSLOs measures every route against its SLO from the stored rollups.
func (e *Engine) evaluateSLOs(ctx context.Context, cfg *config.Config, now time.Time) {
	next := make(map[string]sloState, len(cfg.Routes))
	for _, r := range cfg.Routes {
		o := Objective(r.SLO)
		st, err := slo.Evaluate(ctx, e.st, r.Name, o, nil, now)
		if err != nil {
			e.log.Warn("slo evaluation", "route", r.Name, "err", err)
			if prev, ok := e.slos[r.Name]; ok {
				st = prev.status // keep the last good reading
			}
		}
		next[r.Name] = sloState{objective: o, status: st, err: err}
	}
	e.slos = next
}

// sloSignals turns burn-rate alerts into signals on the route's component.
func (e *Engine) sloSignals(top gateway.Topology, quiet quietSet) []signal {
	var out []signal
	for _, r := range top.Routes {
		st, ok := e.slos[r.Name]
		if !ok || len(st.status.Alerts) == 0 || quiet.components[r.Name] {
			continue
		}
		sev := understudy.SeverityMinor
		text := ""
		for i, a := range st.status.Alerts {
			if a.Window.Severity == "page" {
				sev = understudy.SeverityMajor
			}
			if i > 0 {
				text += "; "
			}
			text += a.String()
		}
		cause := understudy.CauseUnknown
		if rf, ok := e.feed.routes[r.Name]; ok {
			e.feed.mu.Lock()
			cause = understudy.CauseOf(rf.win.sum(e.clk.Now(), feedSpan).dominant())
			e.feed.mu.Unlock()
		}
		out = append(out, signal{detector: DetectSLOBurn, cause: cause, severity: sev,
			components: []string{r.Name}, routes: []string{r.Name}, text: fmt.Sprintf("route %s: %s", r.Name, text),
			feeds: []string{"r:" + r.Name}})
	}
	return out
}

// SLOs returns every route's objective and state as last evaluated.
func (e *Engine) SLOs(ctx context.Context) ([]slo.Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.cfg.Load()
	if len(e.slos) == 0 {
		e.evaluateSLOs(ctx, cfg, e.clk.Now())
	}
	var out []slo.Report
	for _, r := range cfg.Routes {
		st, ok := e.slos[r.Name]
		if !ok {
			continue
		}
		out = append(out, slo.Report{Route: r.Name, Objective: st.objective, Status: st.status})
	}
	return out, nil
}

type metrics struct {
	opened      *prometheus.CounterVec
	open        *prometheus.GaugeVec
	component   *prometheus.GaugeVec
	budget      *prometheus.GaugeVec
	burn        *prometheus.GaugeVec
	maintActive prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_incidents_opened_total",
			Help: "Incidents opened by the detectors, by detector and cause."}, []string{"detector", "cause"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_incidents_open",
			Help: "Open incidents by cause."}, []string{"cause"}),
		component: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_component_status",
			Help: "Component status: 0 operational, 1 under maintenance, 2 degraded performance, 3 partial outage, 4 major outage."}, []string{"component"}),
		budget: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_slo_error_budget_remaining",
			Help: "Share of the route's error budget left over its SLO period (below 0 when overspent), by SLI (availability, latency)."}, []string{"route", "sli"}),
		burn: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_slo_burn_rate",
			Help: "Availability burn rate over each alerting window's long side (1 = spending the budget exactly over the period)."}, []string{"route", "window"}),
		maintActive: prometheus.NewGauge(prometheus.GaugeOpts{Name: "understudy_maintenance_active",
			Help: "Maintenance windows in progress or verifying."}),
	}
	reg.MustRegister(m.opened, m.open, m.component, m.budget, m.burn, m.maintActive)
	return m
}

// observe refreshes the gauges. e.mu is held.
func (m *metrics) observe(e *Engine) {
	m.open.Reset()
	for _, c := range []understudy.Cause{understudy.CauseTechnical, understudy.CauseOverload, understudy.CauseMaintenance,
		understudy.CauseQuota, understudy.CauseMisconfiguration, understudy.CauseUnknown} {
		m.open.WithLabelValues(string(c)).Set(0)
	}
	for _, t := range e.open {
		m.open.WithLabelValues(string(t.inc.Cause)).Inc()
	}
	for name, c := range e.comps {
		m.component.WithLabelValues(name).Set(float64(c.status.Rank()))
	}
	for route, s := range e.slos {
		m.budget.WithLabelValues(route, "availability").Set(s.status.BudgetRemaining)
		if s.objective.Latency > 0 {
			m.budget.WithLabelValues(route, "latency").Set(s.status.LatencyBudgetRemaining)
		}
		for w, b := range s.status.Burn {
			m.burn.WithLabelValues(route, w).Set(b)
		}
	}
	active := 0
	for _, ms := range e.maint {
		if ms.m.Status == understudy.MaintenanceInProgress || ms.m.Status == understudy.MaintenanceVerifying {
			active++
		}
	}
	m.maintActive.Set(float64(active))
}
