package drill

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/gateway"
)

// Result is what a drill measured, and its verdict.
type Result struct {
	Title      string
	PlanPath   string
	ConfigPath string
	// Started is the start of the warm-up; T0 its end, the steps' clock;
	// End the end of the load; Ended when the last answer came in.
	Started, T0, End, Ended time.Time
	Load                    string   // the load in words
	Setup                   []string // what the drill replaced in the team's configuration
	Warmup                  Counts   // requests sent during the warm-up
	Counts                  Counts   // requests sent after it: what the objectives judge
	Answers                 []Count  // by what the client received, most first
	ServedBy                []Count  // answered by a model: by target (and continuation)
	Modes                   []Count  // X-Understudy-Mode values
	Retried                 int      // answered by a model after more than one attempt
	Latency                 Latency  // whole requests
	TTFT                    Latency  // streams, to their first content
	Steps                   []StepResult
	// FirstFault is when the first fault or capacity step was applied;
	// zero when the plan has none.
	FirstFault time.Time
	Incidents  []IncidentResult
	// FirstIncident is the first incident detected at or after FirstFault.
	FirstIncident     *IncidentResult
	TimeToIncident    *time.Duration
	TimeToFirstUpdate *time.Duration
	Timeline          []TimelineEntry
	TimelineDropped   int
	EventCounts       []Count
	Warnings          []string // the engine's warnings
	Objectives        []ObjectiveResult
	Passed            bool
}

// Counts are requests by outcome as their clients saw them.
type Counts struct {
	Sent, OK, Degraded, Failed int
}

// Count is a labelled number.
type Count struct {
	Name string
	N    int
}

// Latency are percentiles (nearest rank) of N durations; zero when N is 0.
type Latency struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

// StepResult is one step and what it did to the traffic.
type StepResult struct {
	Number  int // from 1
	Label   string
	Where   string
	Change  string
	At      time.Duration  // planned, from T0
	For     *time.Duration // planned; nil: until the end
	Applied time.Time      // zero when it never started
	Ended   time.Time      // when it was undone, or the drill's end
	Err     string
	Targets []string // the targets it affects
	// Sent and Failed count the requests sent while it was in force.
	Sent, Failed int
	// Failover is the failover time (see FailoverState).
	Failover *time.Duration
	// FailoverState: "measured"; "not needed" (every request sent while it
	// was in force succeeded on its own targets); "none" (some failed and
	// none succeeded on another target).
	FailoverState string
	FailoverBy    string // who answered that first request
	// Recovery is the time from the step's end to the first moment a
	// request sent since then was answered whole by one of its targets
	// again (see RecoveryState).
	Recovery *time.Duration
	// RecoveryState: "measured"; "none" (traffic had not come back by the
	// end of the drill); "" when the step lasted to the end of the drill,
	// failed, or its targets served nothing before it.
	RecoveryState string
	Maintenance   string // a window's final status
}

// Failover states.
const (
	FailoverMeasured  = "measured"
	FailoverNotNeeded = "not needed"
	FailoverNone      = "none"
)

// IncidentResult is one incident of the drill as it stood at the end.
type IncidentResult struct {
	ID                     int64
	Title, Detector, Cause string
	Severity, Status       string
	Components             []string
	DetectedAt             time.Time
	FirstUpdateAt          time.Time // zero when none
	FirstUpdate            string
	DuringWarmup           bool // a false alarm: opened before T0
}

// ObjectiveResult is one objective judged.
type ObjectiveResult struct {
	Name string // as written in the plan
	Want string // e.g. "≥ 99%"
	Got  string // e.g. "99.6% (249/250)", "none"
	Pass bool
	Note string // why, when it is not obvious
}

// measurement holds what a run gathered.
type measurement struct {
	plan                    *Plan
	team                    *team
	top                     gateway.Topology
	started, t0, end, ended time.Time
	samples                 []sample
	steps                   []stepRun
	incidents               []understudy.Incident
	maintenances            []understudy.Maintenance
	timeline                []TimelineEntry
	eventCounts             map[string]int
	timelineDropped         int
	warnings                []string
}

func (m measurement) result() *Result {
	p := m.plan
	res := &Result{Title: p.Title(), PlanPath: p.Path(), ConfigPath: p.ConfigPath(),
		Started: m.started, T0: m.t0, End: m.end, Ended: m.ended, Setup: m.team.notes,
		Timeline: m.timeline, TimelineDropped: m.timelineDropped, Warnings: m.warnings}
	res.Load = loadWords(p, m.team)
	var after []sample
	answers, served, modes := map[string]int{}, map[string]int{}, map[string]int{}
	var lat, ttft []time.Duration
	for _, s := range m.samples {
		if s.sent.Before(m.t0) {
			res.Warmup.add(s)
			continue
		}
		after = append(after, s)
		res.Counts.add(s)
		answers[s.class()]++
		if s.mode != "" {
			modes[s.mode]++
		}
		if s.outcome() == outcomeOK {
			switch {
			case s.continued():
				served[fmt.Sprintf("%s, continued by %s", s.target, strings.Join(s.models[1:], ", "))]++
			case s.target != "":
				served[s.target]++
			default:
				served["("+s.mode+")"]++
			}
			if s.attempts > 1 {
				res.Retried++
			}
		}
		lat = append(lat, s.latency())
		if s.stream && s.ttft > 0 {
			ttft = append(ttft, s.ttft)
		}
	}
	res.Answers, res.ServedBy, res.Modes = sortedCounts(answers), sortedCounts(served), sortedCounts(modes)
	res.Latency, res.TTFT = percentiles(lat), percentiles(ttft)
	res.EventCounts = sortedCounts(m.eventCounts)

	for i, st := range p.Steps {
		res.Steps = append(res.Steps, m.step(i, st, after))
		if run := m.steps[i]; st.isFault() && !run.applied.IsZero() && run.err == "" &&
			(res.FirstFault.IsZero() || run.applied.Before(res.FirstFault)) {
			res.FirstFault = run.applied
		}
	}
	for _, inc := range m.incidents {
		ir := IncidentResult{ID: inc.ID, Title: inc.Title, Detector: inc.Detector, Cause: string(inc.Cause),
			Severity: string(inc.Severity), Status: string(inc.Status), Components: inc.Components,
			DetectedAt: inc.DetectedAt, DuringWarmup: inc.DetectedAt.Before(m.t0)}
		if len(inc.Updates) > 0 {
			ir.FirstUpdateAt, ir.FirstUpdate = inc.Updates[0].CreatedAt, inc.Updates[0].Message
		}
		res.Incidents = append(res.Incidents, ir)
	}
	if !res.FirstFault.IsZero() {
		for i := range res.Incidents {
			inc := &res.Incidents[i]
			if inc.DetectedAt.Before(res.FirstFault) {
				continue
			}
			if res.FirstIncident == nil || inc.DetectedAt.Before(res.FirstIncident.DetectedAt) {
				res.FirstIncident = inc
			}
		}
	}
	if inc := res.FirstIncident; inc != nil {
		tti := inc.DetectedAt.Sub(res.FirstFault)
		res.TimeToIncident = &tti
		if !inc.FirstUpdateAt.IsZero() {
			ttu := inc.FirstUpdateAt.Sub(res.FirstFault)
			res.TimeToFirstUpdate = &ttu
		}
	}
	res.Objectives = judge(p.Objectives, res)
	res.Passed = true
	for _, o := range res.Objectives {
		res.Passed = res.Passed && o.Pass
	}
	return res
}

func (c *Counts) add(s sample) {
	c.Sent++
	switch s.outcome() {
	case outcomeOK:
		c.OK++
	case outcomeDegraded:
		c.Degraded++
	default:
		c.Failed++
	}
}

// step measures one step. Its failover time runs from the moment it was
// applied to the first moment a request sent since then completed whole,
// answered by a model on a target the step does not affect (or continued
// by another model); degraded answers do not count.
func (m measurement) step(i int, st Step, after []sample) StepResult {
	run := m.steps[i]
	sr := StepResult{Number: i + 1, Label: st.Label(), Where: st.Where(), Change: st.Change(), At: st.At.D(),
		Applied: run.applied, Ended: run.ended, Err: run.err}
	if st.For != nil {
		d := st.For.D()
		sr.For = &d
	}
	if st.Target != "" {
		sr.Targets = []string{st.Target}
	} else {
		sr.Targets = slices.Clone(m.top.Providers[st.Provider])
	}
	if run.maintenance != 0 {
		for _, w := range m.maintenances {
			if w.ID == run.maintenance {
				sr.Maintenance = string(w.Status)
			}
		}
	}
	if run.applied.IsZero() || run.err != "" {
		return sr
	}
	until := run.ended
	if until.IsZero() {
		until = m.end
		if st.For != nil && st.Maintenance != nil {
			until = run.applied.Add(st.For.D())
		}
		sr.Ended = until
	}
	var first *sample
	for k := range after {
		s := &after[k]
		if s.sent.Before(run.applied) {
			continue
		}
		if s.sent.Before(until) {
			sr.Sent++
			if s.outcome() == outcomeFailed {
				sr.Failed++
			}
		}
		if s.outcome() != outcomeOK {
			continue
		}
		elsewhere := (s.target != "" && !slices.Contains(sr.Targets, s.target)) || s.continued()
		if elsewhere && (first == nil || s.done.Before(first.done)) {
			first = s
		}
	}
	switch {
	case first != nil:
		d := first.done.Sub(run.applied)
		sr.Failover, sr.FailoverState, sr.FailoverBy = &d, FailoverMeasured, first.target
		if first.continued() {
			sr.FailoverBy += " (continued by " + strings.Join(first.models[1:], ", ") + ")"
		}
	case sr.Failed == 0:
		sr.FailoverState = FailoverNotNeeded
	default:
		sr.FailoverState = FailoverNone
	}
	m.recovery(&sr, run.applied, until)
	return sr
}

// recovery measures how long after the step's end traffic came back to
// its targets, when the step ended before the drill and its targets
// served requests before it.
func (m measurement) recovery(sr *StepResult, applied, over time.Time) {
	if !over.Before(m.end) {
		return
	}
	servedBefore := slices.ContainsFunc(m.samples, func(s sample) bool {
		return s.sent.Before(applied) && s.outcome() == outcomeOK && slices.Contains(sr.Targets, s.target)
	})
	if !servedBefore {
		return
	}
	var back *sample
	for k := range m.samples {
		s := &m.samples[k]
		if s.sent.Before(over) || s.outcome() != outcomeOK || s.continued() || !slices.Contains(sr.Targets, s.target) {
			continue
		}
		if back == nil || s.done.Before(back.done) {
			back = s
		}
	}
	if back == nil {
		sr.RecoveryState = FailoverNone
		return
	}
	d := back.done.Sub(over)
	sr.Recovery, sr.RecoveryState = &d, FailoverMeasured
}

func loadWords(p *Plan, t *team) string {
	routes := p.Load.Routes
	if len(routes) == 0 {
		for _, r := range t.cfg.Routes {
			routes = append(routes, r.Name)
		}
	}
	s := fmt.Sprintf("%v requests/s open loop, %s streamed, route(s) %s", p.Load.Rate, p.Load.StreamShare, strings.Join(routes, ", "))
	if len(p.Load.Priorities) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(p.Load.Priorities)) {
			parts = append(parts, k+" "+p.Load.Priorities[k].String())
		}
		s += ", priorities " + strings.Join(parts, ", ")
	}
	return s + fmt.Sprintf("; %s warm-up, then %s", p.Load.Warmup, p.Duration)
}

func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// percentiles by nearest rank.
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(float64(len(s))*q+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Latency{N: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: s[len(s)-1]}
}
