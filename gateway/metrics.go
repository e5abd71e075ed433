package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy/health"
)

// metrics are the gateway's Prometheus series. They live in the registry given
// to New, never in the global default one.
type metrics struct {
	requests    *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	failovers   *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	ttft        *prometheus.HistogramVec
	breaker     *prometheus.GaugeVec
	malformed   *prometheus.CounterVec
	missingDone *prometheus.CounterVec
	shed        *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	inflight    prometheus.Gauge
	reloads     *prometheus.CounterVec
	probes      *prometheus.CounterVec
	hedges      *prometheus.CounterVec
	cache       *prometheus.CounterVec
	limit       *prometheus.GaugeVec
	queued      *prometheus.GaugeVec
	admission   *prometheus.CounterVec
}

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 40, 80, 120}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_cache_lookups_total",
			Help: "Answer cache lookups of the degradation ladder, by route and result (hit, miss)."}, []string{"route", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_requests_total",
			Help: "Client requests by route, serving target and outcome (primary, failover, stream_broken, upstream_error, unavailable, deadline, client_canceled, rejected)."},
			[]string{"route", "target", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_attempts_total",
			Help: "Upstream attempts by route, target and outcome class."}, []string{"route", "target", "class"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_failovers_total",
			Help: "Attempts that failed over to the next target, by route, failed target and class."}, []string{"route", "target", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "understudy_request_duration_seconds",
			Help: "Whole request duration by route and outcome.", Buckets: latencyBuckets}, []string{"route", "outcome"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "understudy_time_to_first_token_seconds",
			Help: "Time from sending an attempt to its first token (streams) or whole answer (non-streams).", Buckets: latencyBuckets}, []string{"route", "target"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_breaker_state",
			Help: "Circuit breaker state per target: 0 closed, 1 half-open, 2 open."}, []string{"target"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_malformed_chunks_total",
			Help: "Stream chunks skipped because they were not valid JSON."}, []string{"target"}),
		missingDone: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_streams_missing_done_total",
			Help: "Complete streams that ended without [DONE] and were finalised by the gateway."}, []string{"target"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_shed_total",
			Help: "Requests refused before routing, by reason (inflight_limit, key_rate_limit)."}, []string{"reason"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_tokens_total",
			Help: "Tokens reported by upstream usage, by route, target and kind."}, []string{"route", "target", "kind"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "understudy_inflight_requests",
			Help: "Client requests being served."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_config_reloads_total",
			Help: "Configuration reloads by result (applied, rejected)."}, []string{"result"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_probes_total",
			Help: "Active probes by target and result (ok, failed)."}, []string{"target", "result"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_adaptive_limit",
			Help: "Current adaptive concurrency limit per target."}, []string{"target"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_admission_queued",
			Help: "Requests waiting in a target's admission queue."}, []string{"target"}),
		admission: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_admission_total",
			Help: "Admission decisions under adaptive concurrency limits, by target, priority and result (admitted, at_limit, queue_full, queue_wait, evicted, canceled)."},
			[]string{"target", "priority", "result"}),
		hedges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_hedges_total",
			Help: "Hedged attempts started, by route and hedge target."}, []string{"route", "target"}),
	}
	reg.MustRegister(m.cache, m.requests, m.attempts, m.failovers, m.duration, m.ttft, m.breaker, m.malformed,
		m.missingDone, m.shed, m.tokens, m.inflight, m.reloads, m.probes, m.hedges, m.limit, m.queued, m.admission)
	return m
}

func breakerValue(s health.State) float64 {
	switch s {
	case health.HalfOpen:
		return 1
	case health.Open:
		return 2
	}
	return 0
}
