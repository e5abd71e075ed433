package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// Replicas. Several engines may share one store, one per replica. One of
// them leads (SetLeading): it runs the detectors, the maintenance scheduler
// and the reminders, and writes the state it derives — components and the
// routes' notices — to the store for the others. The followers forward
// their live traffic to it as summaries (TakeSummary, Absorb), show the
// shared state, drain what maintenance drains, and take people's changes
// like the leader does: every save of an incident is conditional on the
// version read (store.SaveIncidentIf), so no replica overwrites another's.
// A single engine leads from the start.

// sharedStateName is the shared state document's name in the store.
const sharedStateName = "components"

// shared is what the leader shares: each component and the routes' notices.
type shared struct {
	Components []sharedComponent                 `json:"components"`
	Notices    map[string]understudy.RouteNotice `json:"notices"`
}

type sharedComponent struct {
	Name     string                     `json:"name"`
	Kind     string                     `json:"kind"`
	Status   understudy.ComponentStatus `json:"status"`
	Since    time.Time                  `json:"since"`
	Reason   string                     `json:"reason,omitempty"`
	Incident int64                      `json:"incident,omitempty"`
	Better   [5]time.Time               `json:"better"` // hysteresis, so that a new leader carries on
}

// SetLeading makes the engine lead (run detectors, the scheduler and
// reminders; share its state) or follow. A new leader reloads the open
// incidents, the maintenance windows and the shared component state at its
// next tick; a follower stops following incidents.
func (e *Engine) SetLeading(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading == on {
		return
	}
	e.leading = on
	e.leadingNow.Store(on)
	e.loaded = false
	e.open = map[int64]*tracked{}
	e.lastShared = nil
	e.feed.mu.Lock()
	e.feed.forward = !on
	e.feed.pending = map[feedKey]*pendingFeed{}
	e.feed.mu.Unlock()
	e.log.Info("incident engine", "leading", on)
}

// Leading reports whether the engine leads. It never blocks.
func (e *Engine) Leading() bool { return e.leadingNow.Load() }

// follow is a follower's tick: the maintenance windows (for drains), the
// shared state, the SLOs (for this replica's API and metrics).
func (e *Engine) follow(ctx context.Context) error {
	cfg := e.cfg.Load()
	now := e.clk.Now()
	e.lastTop = e.gw.Topology()
	errM := e.syncMaintenance(ctx)
	errS := e.readShared(ctx)
	if cfg.Incidents.SLOBurn.Disabled || now.Sub(e.lastSLO) >= cfg.Incidents.SLOBurn.Window.D() {
		e.evaluateSLOs(ctx, cfg, now)
		e.lastSLO = now
	}
	e.loaded = true
	e.met.observe(e)
	return errors.Join(errM, errS)
}

// ReadShared reads the shared state now (a follower does at every tick;
// call it when the leader says it changed). It does nothing on the leader.
func (e *Engine) ReadShared(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading {
		return nil
	}
	return e.readShared(ctx)
}

// readShared adopts the leader's shared state when it changed, and calls
// Options.Shared.
func (e *Engine) readShared(ctx context.Context) error {
	s, b, err := e.fetchShared(ctx)
	if err != nil || b == nil || bytes.Equal(b, e.lastShared) {
		return err
	}
	e.adopt(s)
	e.lastShared = b
	notices := s.Notices
	if notices == nil {
		notices = map[string]understudy.RouteNotice{}
	}
	e.notices.Store(&notices)
	if e.onShared != nil {
		e.onShared(false)
	}
	return nil
}

// fetchShared reads the shared state; b is nil when no leader has shared
// anything yet.
func (e *Engine) fetchShared(ctx context.Context) (s shared, b []byte, err error) {
	b, _, err = e.st.State(ctx, sharedStateName)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil, nil
	}
	if err != nil {
		return s, nil, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, nil, err
	}
	return s, b, nil
}

// adopt replaces the components with s's.
func (e *Engine) adopt(s shared) {
	for name := range e.comps {
		if !slices.ContainsFunc(s.Components, func(c sharedComponent) bool { return c.Name == name }) {
			delete(e.comps, name)
			e.met.component.DeleteLabelValues(name)
		}
	}
	for _, c := range s.Components {
		e.comps[c.Name] = &compState{kind: c.Kind, status: c.Status, since: c.Since, reason: c.Reason, inc: c.Incident, better: c.Better}
	}
}

// share writes the leader's state when it changed, then calls
// Options.Shared. A failed write is retried at the next tick.
func (e *Engine) share(ctx context.Context, now time.Time) error {
	s := shared{Notices: *e.notices.Load()}
	for name, c := range e.comps {
		s.Components = append(s.Components, sharedComponent{Name: name, Kind: c.kind, Status: c.status, Since: c.since, Reason: c.reason, Incident: c.inc, Better: c.better})
	}
	sort.Slice(s.Components, func(i, j int) bool { return s.Components[i].Name < s.Components[j].Name })
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if bytes.Equal(b, e.lastShared) {
		return nil
	}
	if err := e.st.PutState(ctx, sharedStateName, b, now); err != nil {
		return err
	}
	e.lastShared = b
	if e.onShared != nil {
		e.onShared(true)
	}
	return nil
}

// loadShared starts a new leader from the shared state, so that component
// statuses and their hysteresis carry over a takeover.
func (e *Engine) loadShared(ctx context.Context) error {
	s, b, err := e.fetchShared(ctx)
	if err != nil || b == nil {
		return err
	}
	e.adopt(s)
	e.lastShared = b
	return nil
}

// syncMaintenance follows the store's active maintenance windows: a window
// that started is drained here, one that ended is no longer. The leader's
// own state of a window (probes) is kept.
func (e *Engine) syncMaintenance(ctx context.Context) error {
	ms, err := e.st.Maintenances(ctx, understudy.MaintenanceFilter{Active: true, Limit: 1000})
	if err != nil {
		return err
	}
	active := map[int64]bool{}
	for _, m := range ms {
		active[m.ID] = true
		st, ok := e.maint[m.ID]
		was := ok && draining(st.m)
		if !ok {
			st = &maintState{}
			e.maint[m.ID] = st
		}
		st.m = m
		if now := draining(m); now != was {
			e.drain(m, now)
		}
	}
	for id, st := range e.maint {
		if !active[id] {
			if draining(st.m) {
				e.drain(st.m, false)
			}
			delete(e.maint, id)
		}
	}
	return nil
}

func draining(m understudy.Maintenance) bool {
	return m.Status == understudy.MaintenanceInProgress || m.Status == understudy.MaintenanceVerifying
}

// Refresh takes a change another replica made: to incident incidentID
// (person tells whether a person made it) and/or maintenance window
// maintenanceID (0: none; any other value re-reads every active window).
// The leader re-reads them so that its detectors and scheduler carry on
// from there; a follower re-reads the windows, for drains.
func (e *Engine) Refresh(ctx context.Context, incidentID, maintenanceID int64, person bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	if maintenanceID != 0 && e.loaded {
		errs = append(errs, e.syncMaintenance(ctx))
	}
	if incidentID != 0 && e.leading && e.loaded {
		errs = append(errs, e.reload(ctx, incidentID, person))
	}
	return errors.Join(errs...)
}

// reload re-reads incident id into the leader's open incidents.
func (e *Engine) reload(ctx context.Context, id int64, person bool) error {
	inc, err := e.st.Incident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		delete(e.open, id)
		return nil
	}
	if err != nil {
		return err
	}
	t, ok := e.open[id]
	switch {
	case !inc.Status.Open():
		delete(e.open, id)
	case ok:
		if person && inc.Status != t.inc.Status {
			t.personOwned = true // a person set its status elsewhere
		}
		t.inc, t.stale = inc, false
	default: // opened or reopened elsewhere
		e.open[id] = &tracked{inc: inc, lastBad: e.clk.Now(), base: map[string]tally{}, personOwned: person || inc.Detector == ""}
	}
	return nil
}

// reloadStale re-reads the leader's incidents whose save found that another
// replica had changed them.
func (e *Engine) reloadStale(ctx context.Context) error {
	var errs []error
	for _, id := range e.sortedOpen() {
		if e.open[id].stale {
			errs = append(errs, e.reload(ctx, id, true))
		}
	}
	return errors.Join(errs...)
}

// Summary is a follower's live traffic since its previous summary, for the
// leader's detectors: per route (outcomes) and target (attempts), counts per
// second, successful latencies per minute, and a few redacted failure
// messages.
type Summary struct {
	Feeds []FeedSummary `json:"feeds"`
}

// FeedSummary is one route's or target's share of a Summary.
type FeedSummary struct {
	Route   string          `json:"route,omitempty"`
	Target  string          `json:"target,omitempty"`
	Seconds []SecondSummary `json:"seconds,omitempty"`
	Latency []MinuteLatency `json:"latency,omitempty"`
	Samples []string        `json:"samples,omitempty"`
}

// SecondSummary counts one second: requests (or attempts), the bad ones,
// and the bad ones by class.
type SecondSummary struct {
	Unix    int64                      `json:"t"`
	Total   int64                      `json:"n"`
	Bad     int64                      `json:"bad,omitempty"`
	Classes map[understudy.Class]int64 `json:"classes,omitempty"`
}

// MinuteLatency is one minute's histogram of successful attempts'
// durations (the engine's buckets: 10 ms doubling, then overflow).
type MinuteLatency struct {
	Minute  int64   `json:"m"`
	Buckets []int64 `json:"h"`
}

// pendingFeed is a follower's traffic on one feed not yet summarised.
type pendingFeed struct {
	seconds map[int64]*tally
	lat     map[int64]*latHist
	samples samples
}

// maxPendingSeconds bounds what a follower holds per feed when nobody takes
// its summaries.
const maxPendingSeconds = int(feedSpan / time.Second)

// feedKey names a route's feed (route) or a target's.
type feedKey struct {
	route bool
	name  string
}

func (f *feed) pend(key feedKey) *pendingFeed {
	p, ok := f.pending[key]
	if !ok {
		p = &pendingFeed{seconds: map[int64]*tally{}, lat: map[int64]*latHist{}}
		f.pending[key] = p
	}
	return p
}

func (p *pendingFeed) second(t time.Time) *tally {
	sec := t.Unix()
	c, ok := p.seconds[sec]
	if !ok {
		if len(p.seconds) >= maxPendingSeconds {
			return &tally{} // counted nowhere: nobody reads the summaries
		}
		c = &tally{}
		p.seconds[sec] = c
	}
	return c
}

func (p *pendingFeed) minute(t time.Time) *latHist {
	m := t.Unix() / 60
	h, ok := p.lat[m]
	if !ok {
		h = &latHist{}
		p.lat[m] = h
	}
	return h
}

// TakeSummary returns the traffic this follower saw since the previous
// call, and forgets it; empty on the leader.
func (e *Engine) TakeSummary() Summary {
	f := &e.feed
	f.mu.Lock()
	pending := f.pending
	f.pending = map[feedKey]*pendingFeed{}
	f.mu.Unlock()
	var s Summary
	keys := make([]feedKey, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route
		}
		return keys[i].name < keys[j].name
	})
	for _, k := range keys {
		p := pending[k]
		fs := FeedSummary{}
		if k.route {
			fs.Route = k.name
		} else {
			fs.Target = k.name
		}
		for sec, t := range p.seconds {
			ss := SecondSummary{Unix: sec, Total: t.total, Bad: t.bad}
			for i, n := range t.byClass {
				if n > 0 {
					if ss.Classes == nil {
						ss.Classes = map[understudy.Class]int64{}
					}
					ss.Classes[classes[i]] = n
				}
			}
			fs.Seconds = append(fs.Seconds, ss)
		}
		sort.Slice(fs.Seconds, func(i, j int) bool { return fs.Seconds[i].Unix < fs.Seconds[j].Unix })
		for m, h := range p.lat {
			fs.Latency = append(fs.Latency, MinuteLatency{Minute: m, Buckets: h[:]})
		}
		sort.Slice(fs.Latency, func(i, j int) bool { return fs.Latency[i].Minute < fs.Latency[j].Minute })
		for _, msg := range p.samples.list {
			if r := Redact(msg); r != "" {
				fs.Samples = append(fs.Samples, r)
			}
		}
		s.Feeds = append(s.Feeds, fs)
	}
	return s
}

// Absorb adds a follower's summary to the leader's live traffic, as if the
// requests had come here. Seconds older than the detectors' windows are
// ignored. A follower ignores summaries.
func (e *Engine) Absorb(s Summary) {
	now := e.clk.Now().Unix()
	f := &e.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forward {
		return
	}
	for _, fs := range s.Feeds {
		var win *seconds
		var total *tally
		var smp *samples
		var lat *minutes
		switch {
		case fs.Route != "":
			r := f.route(fs.Route)
			win, total, smp = r.win, &r.total, &r.samples
		case fs.Target != "":
			t := f.target(fs.Target)
			win, total, smp, lat = t.win, &t.total, &t.samples, &t.lat
		default:
			continue
		}
		for _, ss := range fs.Seconds {
			if ss.Unix > now+1 || now-ss.Unix >= int64(len(win.buckets))-1 {
				continue // outside the window (or a clock far ahead)
			}
			d := tally{total: ss.Total, bad: ss.Bad}
			for c, n := range ss.Classes {
				if i, ok := classIndex[c]; ok {
					d.byClass[i] = n
				}
			}
			win.at(time.Unix(ss.Unix, 0)).add(d)
			total.add(d)
		}
		if lat != nil {
			for _, ml := range fs.Latency {
				if now/60-ml.Minute >= int64(len(lat.buckets))-1 || ml.Minute > now/60 {
					continue
				}
				var h latHist
				copy(h[:], ml.Buckets)
				lat.at(time.Unix(ml.Minute*60, 0)).add(h)
			}
		}
		for _, msg := range fs.Samples {
			smp.add(msg)
		}
	}
}
