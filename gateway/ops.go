package gateway

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/health"
)

// TargetState is one target's live health, for the incident engine and
// status pages.
type TargetState struct {
	ID       string // provider/model
	Provider string
	Breaker  health.Snapshot
	// Drained targets take no new requests (maintenance).
	Drained bool
	// LastProbe is when the last active probe ended (zero when none ran);
	// ProbeError is its failure, "" when it passed.
	LastProbe  time.Time
	ProbeError string
}

// Available reports whether the target may take requests now.
func (s TargetState) Available() bool { return !s.Drained && s.Breaker.State != health.Open }

// RouteTopology is a route's tiers of target ids.
type RouteTopology struct {
	Name  string
	Tiers [][]string
}

// Topology is the gateway's routes and targets as configured now.
type Topology struct {
	Routes    []RouteTopology        // sorted by name
	Targets   map[string]TargetState // by id
	RoutesOf  map[string][]string    // target id → routes using it, in route order
	Providers map[string][]string    // provider name → its target ids, sorted
	Order     []string               // target ids, sorted
}

// Topology returns the current routes and every target's health.
func (g *Gateway) Topology() Topology {
	rt := g.rt.Load()
	top := Topology{Targets: make(map[string]TargetState, len(rt.targets)), RoutesOf: map[string][]string{}, Providers: map[string][]string{}}
	for _, name := range rt.routeNames {
		r := rt.routes[name]
		rtop := RouteTopology{Name: name}
		for _, tier := range r.tiers {
			ids := make([]string, len(tier))
			for i, t := range tier {
				ids[i] = t.id
				if !contains(top.RoutesOf[t.id], name) {
					top.RoutesOf[t.id] = append(top.RoutesOf[t.id], name)
				}
			}
			rtop.Tiers = append(rtop.Tiers, ids)
		}
		top.Routes = append(top.Routes, rtop)
	}
	for id, t := range rt.targets {
		st := TargetState{ID: id, Provider: t.provider, Breaker: t.breaker.Snapshot(), Drained: g.isDrained(id)}
		if p := t.lastProbe.Load(); p != nil {
			st.LastProbe, st.ProbeError = p.at, p.err
		}
		top.Targets[id] = st
		top.Providers[t.provider] = append(top.Providers[t.provider], id)
		top.Order = append(top.Order, id)
	}
	sort.Strings(top.Order)
	for _, ids := range top.Providers {
		sort.Strings(ids)
	}
	return top
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// probeResult is a target's last active probe.
type probeResult struct {
	at  time.Time
	err string
}

// Drain stops (on) or resumes (off) sending new requests to target id;
// requests in flight finish. The state is kept across config reloads. An
// unknown id is an error.
func (g *Gateway) Drain(id string, on bool) error {
	if _, ok := g.rt.Load().targets[id]; !ok {
		return understudy.Errorf(understudy.ENOTFOUND, "no target %q", id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	next := make(map[string]bool, len(*g.drained.Load())+1)
	for k := range *g.drained.Load() {
		next[k] = true
	}
	if on {
		next[id] = true
	} else {
		delete(next, id)
	}
	g.drained.Store(&next)
	return nil
}

func (g *Gateway) isDrained(id string) bool { return (*g.drained.Load())[id] }

// ProbeTarget sends one probe to target id now and returns its result; a
// pass also closes an open breaker.
func (g *Gateway) ProbeTarget(ctx context.Context, id string) error {
	t, ok := g.rt.Load().targets[id]
	if !ok {
		return understudy.Errorf(understudy.ENOTFOUND, "no target %q", id)
	}
	timeout := t.probe.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := g.prober(t)(ctx)
	g.probeDone(t, err)
	if err != nil {
		return fmt.Errorf("probe %s: %w", id, err)
	}
	if t.breaker.State() != health.Closed {
		t.breaker.ProbeResult(true)
	}
	return nil
}

// probeDone records a probe's result on the target and in metrics.
func (g *Gateway) probeDone(t *target, err error) {
	result, msg := "ok", ""
	if err != nil {
		result, msg = "failed", err.Error()
	}
	t.lastProbe.Store(&probeResult{at: g.clk.Now(), err: msg})
	g.metrics.probes.WithLabelValues(t.id, result).Inc()
}

// Sinks fans events, attempts and outcomes out to several receivers (e.g.
// the recorder and the incident engine). Nil receivers are skipped.
func Sinks(sinks ...EventSink) EventSink {
	var m multiSink
	for _, s := range sinks {
		if s != nil {
			m = append(m, s)
		}
	}
	return m
}

type multiSink []EventSink

func (m multiSink) Emit(e understudy.Event) {
	for _, s := range m {
		s.Emit(e)
	}
}

func (m multiSink) RecordAttempt(a understudy.Attempt) {
	for _, s := range m {
		if r, ok := s.(AttemptRecorder); ok {
			r.RecordAttempt(a)
		}
	}
}

func (m multiSink) RecordOutcome(o understudy.Outcome) {
	for _, s := range m {
		if r, ok := s.(OutcomeRecorder); ok {
			r.RecordOutcome(o)
		}
	}
}

var (
	_ AttemptRecorder = multiSink(nil)
	_ OutcomeRecorder = multiSink(nil)
)
