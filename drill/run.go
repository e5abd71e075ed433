package drill

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

// Options are a run's collaborators.
type Options struct {
	// Progress receives a progress line every ProgressEvery and a line for
	// each step and incident as it happens; nil means none.
	Progress io.Writer
	// ProgressEvery is the pace of progress lines. Default 1s.
	ProgressEvery time.Duration
}

// Run plays the plan on a fresh rig and measures it. The error is for a
// drill that could not run (a bad configuration, an interruption); a drill
// whose objectives fail returns a Result with Passed false.
func Run(ctx context.Context, p *Plan, o Options) (*Result, error) {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	pr := &progress{w: o.Progress}
	r, err := newRig(ctx, p, pr.engineEvent)
	if err != nil {
		return nil, err
	}
	defer r.close()

	started := time.Now()
	t0 := started.Add(p.Warmup())
	end := t0.Add(p.Duration.D())
	pr.begin(p, started, t0, end)

	routes := p.Load.Routes
	if len(routes) == 0 {
		for _, rt := range r.team.cfg.Routes {
			routes = append(routes, rt.Name)
		}
	}
	// A client that outlives the longest route deadline: the gateway
	// answers first, whatever happens upstream.
	var longest time.Duration
	for _, rt := range r.team.cfg.Routes {
		longest = max(longest, rt.Timeouts.Total.D())
	}
	client := &http.Client{Timeout: longest + 10*time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	gen := &loadGen{client: client, url: r.gwSrv.URL + "/v1/chat/completions", plan: p, routes: routes, team: r.team}

	loadDone := make(chan struct{})
	go func() { defer close(loadDone); gen.run(ctx, started, end) }()
	pl := newPlayer(r, p, t0, end, pr)
	stepsCtx, stopSteps := context.WithCancel(ctx)
	playerDone := make(chan struct{})
	go func() { defer close(playerDone); pl.run(stepsCtx) }()

	tick := time.NewTicker(o.ProgressEvery)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-loadDone:
			waiting = false
		case <-tick.C:
			pr.line(gen, pl, false)
		}
	}
	stopSteps()
	<-playerDone
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("drill interrupted: %w", err)
	}
	ended := time.Now()
	pr.line(gen, pl, true)

	incidents, err := r.incidents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	maint, err := r.eng.Maintenances(ctx, understudy.MaintenanceFilter{Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("read maintenance windows: %w", err)
	}
	timeline, counts, dropped := r.events.snapshot()
	m := measurement{plan: p, team: r.team, top: r.gw.Topology(), started: started, t0: t0, end: end, ended: ended,
		samples: gen.result(), steps: pl.results(), incidents: incidents, maintenances: maint,
		timeline: timeline, eventCounts: counts, timelineDropped: dropped, warnings: r.engineWarnings()}
	return m.result(), nil
}

// incidents reads every incident with its updates.
func (r *rig) incidents(ctx context.Context) ([]understudy.Incident, error) {
	list, err := r.eng.Incidents(ctx, understudy.IncidentFilter{Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := make([]understudy.Incident, 0, len(list))
	for _, inc := range list {
		full, err := r.eng.Incident(ctx, inc.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// stepRun is what became of one step.
type stepRun struct {
	applied, ended time.Time // zero when it never started / never ended before the drill's end
	err            string
	maintenance    int64 // the window's id
}

// player applies the plan's steps at their times.
type player struct {
	r      *rig
	p      *Plan
	t0     time.Time
	end    time.Time
	pr     *progress
	mu     sync.Mutex
	runs   []stepRun
	active map[int]bool
}

func newPlayer(r *rig, p *Plan, t0, end time.Time, pr *progress) *player {
	return &player{r: r, p: p, t0: t0, end: end, pr: pr, runs: make([]stepRun, len(p.Steps)), active: map[int]bool{}}
}

type stepEvent struct {
	at     time.Time
	step   int
	revert bool
}

func (pl *player) run(ctx context.Context) {
	var evs []stepEvent
	for i, st := range pl.p.Steps {
		at := pl.t0.Add(st.At.D())
		evs = append(evs, stepEvent{at: at, step: i})
		if st.For != nil && st.Maintenance == nil && at.Add(st.For.D()).Before(pl.end) {
			evs = append(evs, stepEvent{at: at.Add(st.For.D()), step: i, revert: true})
		}
	}
	// In time order; at the same time, a step ends before the next begins.
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].at.Equal(evs[j].at) {
			return evs[i].at.Before(evs[j].at)
		}
		return evs[i].revert && !evs[j].revert
	})
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for _, ev := range evs {
		timer.Reset(time.Until(ev.at))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if ev.revert {
			pl.revert(ev.step)
		} else {
			pl.apply(ctx, ev.step)
		}
	}
}

func (pl *player) apply(ctx context.Context, i int) {
	st := pl.p.Steps[i]
	sim := pl.r.sim
	var err error
	var maintID int64
	switch {
	case st.Fault != nil:
		err = sim.SetFault(st.provider(), st.Fault.Sim(st.model()))
	case st.Capacity != nil:
		err = sim.SetCapacity(st.provider(), simulate.Capacity{Slots: st.Capacity.Slots, Queue: st.Capacity.Queue})
	case st.Maintenance != nil:
		now := time.Now()
		m := understudy.Maintenance{Title: st.Maintenance.Title, Message: st.Maintenance.Message, StartsAt: now, EndsAt: now.Add(st.For.D())}
		if st.Target != "" {
			m.Targets = []string{st.Target}
		} else {
			m.Components = []string{understudy.ProviderComponent(st.Provider)}
		}
		m, err = pl.r.eng.ScheduleMaintenance(ctx, "drill", m)
		maintID = m.ID
	}
	now := time.Now()
	pl.mu.Lock()
	pl.runs[i].applied, pl.runs[i].maintenance = now, maintID
	if err != nil {
		pl.runs[i].err = err.Error()
	} else {
		pl.active[i] = true
	}
	pl.mu.Unlock()
	length := "until the end"
	if st.For != nil {
		length = "for " + st.For.String()
	}
	if err != nil {
		pl.pr.event(now, "✗ step %d (%s) could not start: %v", i+1, st.Label(), err)
		return
	}
	pl.pr.event(now, "▶ step %d: %s, %s", i+1, st.Label(), length)
}

func (pl *player) revert(i int) {
	st := pl.p.Steps[i]
	var err error
	switch {
	case st.Fault != nil:
		err = pl.r.sim.ClearFault(st.provider())
	case st.Capacity != nil:
		err = pl.r.sim.ClearCapacity(st.provider())
	}
	now := time.Now()
	pl.mu.Lock()
	pl.runs[i].ended = now
	delete(pl.active, i)
	pl.mu.Unlock()
	if err != nil {
		pl.pr.event(now, "✗ step %d could not end: %v", i+1, err)
		return
	}
	pl.pr.event(now, "◀ step %d over: %s healthy again", i+1, st.Where())
}

// current names the steps in force, with the time they have left.
func (pl *player) current(now time.Time) string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var parts []string
	for i, st := range pl.p.Steps {
		if !pl.active[i] {
			continue
		}
		s := fmt.Sprintf("step %d %s", i+1, st.Label())
		if st.For != nil {
			left := pl.runs[i].applied.Add(st.For.D()).Sub(now)
			if left > 0 {
				s += fmt.Sprintf(" (%s left)", left.Round(time.Second))
			} else if st.Maintenance != nil {
				s += " (verifying)"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func (pl *player) results() []stepRun {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return append([]stepRun(nil), pl.runs...)
}

// progress writes the progress lines, one writer at a time.
type progress struct {
	w                io.Writer
	mu               sync.Mutex
	started, t0, end time.Time
	begun            bool
}

func (pr *progress) begin(p *Plan, started, t0, end time.Time) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.started, pr.t0, pr.end, pr.begun = started, t0, end, true
	if pr.w == nil {
		return
	}
	fmt.Fprintf(pr.w, "drill %q: %v req/s, %s streamed, %s warm-up then %s; %d step(s)\n",
		p.Title(), p.Load.Rate, p.Load.StreamShare, p.Load.Warmup, p.Duration, len(p.Steps))
}

// rel is t against the steps' clock: T+1.5s, or T-2.0s in the warm-up.
func rel(t, t0 time.Time) string {
	d := t.Sub(t0)
	if d < 0 {
		return fmt.Sprintf("T-%.1fs", -d.Seconds())
	}
	return fmt.Sprintf("T+%.1fs", d.Seconds())
}

func (pr *progress) event(at time.Time, format string, args ...any) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.w == nil {
		return
	}
	fmt.Fprintf(pr.w, "%-8s %s\n", rel(at, pr.t0), fmt.Sprintf(format, args...))
}

// engineEvent prints the incident lifecycle and maintenance steps as they
// happen.
func (pr *progress) engineEvent(id int64, ev understudy.Event) {
	pr.mu.Lock()
	begun := pr.begun
	pr.mu.Unlock()
	if !begun {
		return
	}
	switch ev.Type {
	case understudy.EventIncidentOpened, understudy.EventIncidentMonitoring, understudy.EventIncidentResolved,
		understudy.EventIncidentReopened:
		pr.event(ev.Time, "⚑ incident #%d %s: %s", id, strings.TrimPrefix(ev.Type, "incident."), ev.Message)
	case understudy.EventMaintenanceStarted, understudy.EventMaintenanceVerify, understudy.EventMaintenanceDone:
		pr.event(ev.Time, "⚒ %s", ev.Message)
	}
}

// line is the progress line: where the drill is, what the clients saw;
// final once every answer is in.
func (pr *progress) line(g *loadGen, pl *player, final bool) {
	now := time.Now()
	var phase string
	pr.mu.Lock()
	switch {
	case final:
		phase = "done"
	case now.Before(pr.t0):
		phase = fmt.Sprintf("warm-up %s/%s", now.Sub(pr.started).Round(time.Second), pr.t0.Sub(pr.started).Round(time.Second))
	case now.Before(pr.end):
		phase = fmt.Sprintf("%s/%s", now.Sub(pr.t0).Round(time.Second), pr.end.Sub(pr.t0).Round(time.Second))
	default:
		phase = "finishing"
	}
	pr.mu.Unlock()
	msg := fmt.Sprintf("%-14s sent %d  ok %d  degraded %d  failed %d  in flight %d",
		phase, g.sent.Load(), g.ok.Load(), g.degraded.Load(), g.failed.Load(), g.inflight.Load())
	if cur := pl.current(now); cur != "" {
		msg += "  | " + cur
	}
	pr.event(now, "%s", msg)
}
