// Package incident notices interruptions from live traffic and handles them
// as incidents: detectors read the gateway's attempts, outcomes and health
// (and the store's SLIs), open or update one incident per cause and set of
// affected components with the evidence attached, move it to monitoring
// when the signals go quiet and resolve it after a stable period. People
// create, update, resolve, reopen and merge incidents through the same
// engine. It also derives each component's status (with hysteresis) and
// runs scheduled maintenance: drain, under_maintenance, verify, return.
package incident

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/providerstatus"
	"github.com/understudy/understudy/slo"
	"github.com/understudy/understudy/store"
)

// Store keeps incidents, maintenance windows and timelines. *store.Store
// implements it.
type Store interface {
	CreateIncident(ctx context.Context, inc *understudy.Incident, first *understudy.IncidentUpdate, evs []understudy.Event) error
	SaveIncident(ctx context.Context, inc *understudy.Incident, upd *understudy.IncidentUpdate, evs []understudy.Event) error
	Incident(ctx context.Context, id int64) (understudy.Incident, error)
	Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.StoredEvent, error)
	CreateMaintenance(ctx context.Context, m *understudy.Maintenance, evs []understudy.Event) error
	SaveMaintenance(ctx context.Context, m *understudy.Maintenance, evs []understudy.Event) error
	Maintenance(ctx context.Context, id int64) (understudy.Maintenance, error)
	Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error)
	// For replicas (see SetLeading).
	SaveIncidentIf(ctx context.Context, inc *understudy.Incident, prev time.Time, upd *understudy.IncidentUpdate, evs []understudy.Event) error
	PutState(ctx context.Context, name string, value []byte, at time.Time) error
	State(ctx context.Context, name string) ([]byte, time.Time, error)
	slo.Querier
}

// Gateway is the live traffic's health and the levers maintenance pulls.
// *gateway.Gateway implements it.
type Gateway interface {
	Topology() gateway.Topology
	Drain(id string, on bool) error
	ProbeTarget(ctx context.Context, id string) error
}

var (
	_ Store   = (*store.Store)(nil)
	_ Gateway = (*gateway.Gateway)(nil)

	_ gateway.NoticeSource = (*Engine)(nil)
	_ gateway.Degrader     = (*Engine)(nil)
)

// Author of the engine's own changes.
const Author = "understudy"

// Options are the engine's collaborators.
type Options struct {
	Store Store // required
	// Gateway is required before Run; it may be set later with SetGateway
	// (the gateway is built with the engine as one of its event sinks).
	Gateway Gateway
	// Events receives the engine's events that belong to no incident
	// (target.down, component.changed, maintenance.*): the recorder. Nil:
	// they are only logged.
	Events gateway.EventSink
	// Status polls the providers' status pages; nil: none.
	Status *providerstatus.Poller
	// OnEvent, when set, is called with every event the engine records,
	// after it is stored: incident ones (with the incident's id) and the
	// others (id 0). It runs on the engine's goroutine and must not block
	// for long. The status page and notifications subscribe here.
	OnEvent func(incidentID int64, ev understudy.Event)
	// Shared, when set, is called after the state the leader shares with
	// the other replicas (components, notices) changed: on the leader once
	// it has written it (tell the followers to read it, ReadShared), on a
	// follower once it has read it (tell its status page's clients). It
	// must not block.
	Shared   func(leading bool)
	Clock    clockwork.Clock       // default: real clock
	Logger   *slog.Logger          // default: discard
	Registry prometheus.Registerer // default: a fresh registry
}

// Engine detects incidents and runs their lifecycle. Feed it the gateway's
// events, attempts and outcomes (it is a gateway.EventSink); call Run.
type Engine struct {
	st     Store
	gw     Gateway
	sink   gateway.EventSink
	status *providerstatus.Poller
	clk    clockwork.Clock
	log    *slog.Logger
	met    *metrics
	cfg    atomic.Pointer[config.Config]
	plan   atomic.Pointer[Plan]
	// notices are the routes not operational, rebuilt every tick; read on
	// the request path without a lock.
	notices atomic.Pointer[map[string]understudy.RouteNotice]
	notify  func(int64, understudy.Event)
	// onShared is Options.Shared.
	onShared func(leading bool)

	feed feed // live traffic windows; its own lock, taken on the request path

	// mu serialises every change: the detectors' tick and people's changes.
	mu         sync.Mutex
	loaded     bool
	open       map[int64]*tracked // open incidents
	comps      map[string]*compState
	down       map[string]bool // targets reported down
	maint      map[int64]*maintState
	slos       map[string]sloState
	lastSLO    time.Time
	lastTop    gateway.Topology
	lastSignal []signal
	// leading: this engine runs detectors, the scheduler and reminders (see
	// SetLeading); true unless a replica set says otherwise.
	leading    bool
	leadingNow atomic.Bool // leading, read without mu
	// lastShared is the shared state last written (leader) or read
	// (follower).
	lastShared []byte
	// compEvents are the component changes of the tick, sent once the
	// shared state holds them.
	compEvents []understudy.Event
}

// New returns an engine for cfg. It does nothing until Run.
func New(cfg *config.Config, o Options) *Engine {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	e := &Engine{
		st: o.Store, gw: o.Gateway, sink: o.Events, status: o.Status, clk: o.Clock, log: o.Logger,
		met:      newMetrics(o.Registry),
		notify:   o.OnEvent,
		onShared: o.Shared,
		leading:  true,
		open:     map[int64]*tracked{},
		comps:    map[string]*compState{},
		down:     map[string]bool{},
		maint:    map[int64]*maintState{},
		slos:     map[string]sloState{},
	}
	e.leadingNow.Store(true)
	e.feed.init()
	e.notices.Store(&map[string]understudy.RouteNotice{})
	e.Apply(cfg)
	return e
}

// SetGateway sets the gateway whose health the engine reads.
func (e *Engine) SetGateway(g Gateway) {
	e.mu.Lock()
	e.gw = g
	e.mu.Unlock()
}

// Apply switches to a new configuration (on reload).
func (e *Engine) Apply(cfg *config.Config) {
	e.plan.Store(NewPlan(cfg.Communication))
	e.cfg.Store(cfg)
	if e.status != nil {
		for _, p := range cfg.Providers {
			if p.StatusPage != "" {
				if err := e.status.Watch(p.Name, p.StatusPage); err == nil {
					e.log.Info("watching provider status page", "provider", p.Name, "url", p.StatusPage)
				}
			}
		}
	}
}

// Run evaluates the detectors every incidents.every until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	every := e.cfg.Load().Incidents.Every.D()
	t := e.clk.NewTicker(every)
	defer t.Stop()
	var last string // the last error logged
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			err := e.Tick(ctx)
			switch {
			case err == nil || ctx.Err() != nil:
				last = ""
			case err.Error() != last:
				e.log.Warn("incident detectors", "err", err)
				last = err.Error()
			default: // the same again (a database down): once at Warn is enough
				e.log.Debug("incident detectors", "err", err)
			}
		}
	}
}

// Tick runs every detector once at the clock's now: maintenance, signals,
// incidents, reminders, component statuses. Run calls it; tests may too.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading {
		return e.follow(ctx)
	}
	if err := e.load(ctx); err != nil {
		return err
	}
	now := e.clk.Now()
	cfg := e.cfg.Load()
	top := e.gw.Topology()
	e.lastTop = top
	staleErr := e.reloadStale(ctx)
	e.maintenanceStep(ctx, now, top)
	quiet := e.maintained()
	if cfg.Incidents.SLOBurn.Disabled || now.Sub(e.lastSLO) >= cfg.Incidents.SLOBurn.Window.D() {
		e.evaluateSLOs(ctx, cfg, now)
		e.lastSLO = now
	}
	var sigs []signal
	if !cfg.Incidents.Disabled {
		sigs = e.detect(cfg, now, top, quiet)
	}
	e.lastSignal = sigs
	err := e.applySignals(ctx, cfg, now, sigs)
	e.remind(ctx, cfg, now)
	e.updateComponents(cfg, now, top, quiet, sigs)
	e.publishNotices()
	shareErr := e.share(ctx, now)
	// Component changes go out once the shared state holds them, so that a
	// replica told of one reads it.
	evs := e.compEvents
	e.compEvents = nil
	for _, ev := range evs {
		e.emit(ev)
	}
	e.met.observe(e)
	return errors.Join(err, staleErr, shareErr)
}

// load reads the open incidents and active maintenance windows once.
func (e *Engine) load(ctx context.Context) error {
	if e.loaded {
		return nil
	}
	if !e.leading {
		if err := e.syncMaintenance(ctx); err != nil {
			return err
		}
		e.loaded = true
		return nil
	}
	incs, err := e.st.Incidents(ctx, understudy.IncidentFilter{Open: true, Limit: 1000})
	if err != nil {
		return err
	}
	now := e.clk.Now()
	e.open = map[int64]*tracked{}
	for _, inc := range incs {
		// One not opened by a detector is a person's (a restart or a
		// takeover does not hand it to the detectors).
		e.open[inc.ID] = &tracked{inc: inc, lastBad: now, base: map[string]tally{}, personOwned: inc.Detector == ""}
	}
	if err := e.syncMaintenance(ctx); err != nil {
		return err
	}
	if err := e.loadShared(ctx); err != nil {
		return err
	}
	e.loaded = true
	return nil
}

// emit sends an event that belongs to no incident to the sink.
func (e *Engine) emit(ev understudy.Event) {
	if ev.Time.IsZero() {
		ev.Time = e.clk.Now()
	}
	if ev.Author == "" {
		ev.Author = Author
	}
	e.log.Info("event", "type", ev.Type, "route", ev.Route, "target", ev.Target, "msg", ev.Message, "needs_person", ev.NeedsPerson)
	if e.sink != nil {
		e.sink.Emit(ev)
	}
	e.published(0, ev)
}

// published hands stored events to OnEvent.
func (e *Engine) published(id int64, evs ...understudy.Event) {
	if e.notify == nil {
		return
	}
	for _, ev := range evs {
		e.notify(id, ev)
	}
}
