// Package gateway is the OpenAI-compatible front door: it authenticates
// clients, admits or sheds requests, and runs each request over its route's
// tiers of targets with breakers, timeouts, retries and failover.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/health"
)

// EventSink receives events. It must not block: the request path calls it.
type EventSink interface {
	Emit(understudy.Event)
}

// AttemptRecorder receives every attempt's record. An EventSink that also
// implements it gets them. It must not block.
type AttemptRecorder interface {
	RecordAttempt(understudy.Attempt)
}

// OutcomeRecorder receives every request's outcome (what rollups count). An
// EventSink that also implements it gets them. It must not block.
type OutcomeRecorder interface {
	RecordOutcome(understudy.Outcome)
}

// NoticeSource tells whether a route is not operational now (the incident
// engine). It is called on the request path: it must not block.
type NoticeSource interface {
	RouteNotice(route string) (understudy.RouteNotice, bool)
}

// Options are the gateway's collaborators. Zero values get sane defaults.
type Options struct {
	Clock    clockwork.Clock       // default: real clock
	Logger   *slog.Logger          // default: discard
	Registry prometheus.Registerer // default: a fresh registry
	Events   EventSink             // default: events are only logged
	// Transport for upstream calls. Default: a pooled transport whose dials
	// are bounded by each route's connect timeout.
	Transport http.RoundTripper
	// Rand returns numbers in [0,1) for selection and jitter. Default math/rand/v2.
	Rand func() float64
	// Notices, when set, adds the route's status to responses while it is
	// not operational (X-Understudy-Status, -Incident, -Status-Page).
	Notices NoticeSource
	// Degrader writes degraded answers for routes with a degradation
	// ladder. Nil: a route no target can serve answers 503.
	Degrader Degrader
	// FAQ answers the ladder's "faq" step. Nil: the step is skipped.
	FAQ FAQ
	// Handoff queues conversations for the ladder's "handoff" step. Nil:
	// the step is skipped.
	Handoff Handoff
	// HandoffTimeout bounds the handoff step (it writes to the database,
	// which may be unreachable); past it the ladder goes on to its next
	// step. Default 2s.
	HandoffTimeout time.Duration
}

// Gateway serves /v1/chat/completions and /v1/models.
type Gateway struct {
	clk      clockwork.Clock
	log      *slog.Logger
	events   EventSink
	notices  NoticeSource
	degrader Degrader
	faq      FAQ
	handoff  Handoff
	// handoffTimeout bounds the handoff step.
	handoffTimeout time.Duration
	rnd            func() float64
	client         *http.Client
	metrics        *metrics

	rt       atomic.Pointer[runtime]
	inflight atomic.Int64
	// drained are the target ids taking no new requests (maintenance);
	// replaced whole under mu.
	drained atomic.Pointer[map[string]bool]

	ctx    context.Context // lives until Close; probes run under it
	cancel context.CancelFunc
	mu     sync.Mutex // guards probes and reloads
	probes map[*target]context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a gateway for cfg, which must be valid. Probes start at once and
// run until Close.
func New(cfg *config.Config, o Options) (*Gateway, error) {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Transport == nil {
		o.Transport = NewTransport()
	}
	if o.HandoffTimeout <= 0 {
		o.HandoffTimeout = 2 * time.Second
	}
	g := &Gateway{
		clk: o.Clock, log: o.Logger, events: o.Events, rnd: o.Rand, notices: o.Notices, degrader: o.Degrader, faq: o.FAQ, handoff: o.Handoff,
		handoffTimeout: o.HandoffTimeout,
		client:         &http.Client{Transport: o.Transport, CheckRedirect: noRedirects},
		metrics:        newMetrics(o.Registry),
		probes:         make(map[*target]context.CancelFunc),
	}
	g.drained.Store(&map[string]bool{})
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if err := g.Apply(cfg); err != nil {
		g.cancel()
		return nil, err
	}
	return g, nil
}

// NewTransport is the default upstream transport: keep-alive pools sized for
// a gateway, dials bounded by the route's connect timeout, no proxy from the
// environment (upstream URLs come only from the config).
func NewTransport() *http.Transport {
	return &http.Transport{
		DialContext:         dialer(&net.Dialer{KeepAlive: 30 * time.Second}),
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// noRedirects: an upstream must not send our key elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Apply switches to a new valid config. Targets whose definition did not
// change keep their breakers and statistics; requests in flight finish on the
// config they started with.
func (g *Gateway) Apply(cfg *config.Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	prev := g.rt.Load()
	rt, err := g.build(cfg, prev)
	if err != nil {
		if prev != nil {
			g.ConfigRejected(err)
		}
		return err
	}
	g.rt.Store(rt)
	g.syncProbes(rt)
	if prev != nil {
		g.metrics.reloads.WithLabelValues("applied").Inc()
		g.emit(understudy.Event{Type: understudy.EventConfigReloaded, Message: fmt.Sprintf("configuration reloaded: %d routes, %d targets", len(rt.routes), len(rt.targets))})
	}
	return nil
}

// ConfigRejected records a new configuration that could not be applied; the
// running one stays.
func (g *Gateway) ConfigRejected(err error) {
	g.metrics.reloads.WithLabelValues("rejected").Inc()
	g.emit(understudy.Event{Type: understudy.EventConfigRejected, NeedsPerson: true, Message: "configuration rejected, running one kept: " + err.Error()})
}

// syncProbes starts probes for new targets and stops those of removed ones.
func (g *Gateway) syncProbes(rt *runtime) {
	live := make(map[*target]bool, len(rt.targets))
	for _, t := range rt.targets {
		live[t] = true
		g.metrics.breaker.WithLabelValues(t.id).Set(breakerValue(t.breaker.State()))
		if _, running := g.probes[t]; running || t.probe.Disabled {
			continue
		}
		ctx, cancel := context.WithCancel(g.ctx)
		g.probes[t] = cancel
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			health.RunProbes(ctx, g.clk, t.breaker, health.ProbeSettings{
				Interval: t.probe.Interval.D(), HealthyInterval: t.probe.HealthyInterval.D(), Timeout: t.probe.Timeout.D(),
			}, g.prober(t), func(err error, _ time.Duration) { g.probeDone(t, err) })
		}()
	}
	for t, cancel := range g.probes {
		if !live[t] {
			cancel()
			delete(g.probes, t)
			if _, same := rt.targets[t.id]; !same {
				g.metrics.breaker.DeleteLabelValues(t.id)
			}
		}
	}
}

// Close stops probes and waits for them.
func (g *Gateway) Close() {
	g.cancel()
	g.wg.Wait()
	g.client.CloseIdleConnections()
}

func (g *Gateway) emit(e understudy.Event) {
	if e.Time.IsZero() {
		e.Time = g.clk.Now()
	}
	g.log.Info("event", "type", e.Type, "route", e.Route, "target", e.Target, "msg", e.Message, "needs_person", e.NeedsPerson)
	if g.events != nil {
		g.events.Emit(e)
	}
}

func (g *Gateway) recordOutcome(o understudy.Outcome) {
	if r, ok := g.events.(OutcomeRecorder); ok {
		r.RecordOutcome(o)
	}
}

func (g *Gateway) recordAttempt(a understudy.Attempt) {
	if r, ok := g.events.(AttemptRecorder); ok {
		r.RecordAttempt(a)
	}
}

func (g *Gateway) onBreakerChange(t *target, tr health.Transition) {
	// A target replaced by a reload may still see requests in flight; only
	// the current one drives the gauge.
	if cur, ok := g.rt.Load().targets[t.id]; !ok || cur == t {
		g.metrics.breaker.WithLabelValues(tr.Target).Set(breakerValue(tr.To))
	}
	details := map[string]any{"from": tr.From.String(), "to": tr.To.String(), "reason": tr.Reason}
	if tr.To == health.Open {
		details["open_until"] = tr.OpenUntil
	}
	g.emit(understudy.Event{Type: understudy.EventBreakerChanged, Target: tr.Target, Time: tr.At,
		Message: "circuit " + tr.From.String() + " → " + tr.To.String() + ": " + tr.Reason, Details: details})
}

// HintReason starts the reason of a breaker opened by another replica's
// hint (see HintDown): such openings are not hinted on again.
const HintReason = "another replica"

// HintDown opens target's breaker until until, because another replica
// found it down (reason says why): local breakers stay the fast path, the
// hint makes the replicas agree sooner. It reports whether the target is
// known here and the hint not already over.
func (g *Gateway) HintDown(target string, until time.Time, reason string) bool {
	t, ok := g.rt.Load().targets[target]
	if !ok {
		return false
	}
	d := until.Sub(g.clk.Now())
	if d <= 0 {
		return false
	}
	t.breaker.Trip(d, HintReason+": "+reason)
	return true
}
