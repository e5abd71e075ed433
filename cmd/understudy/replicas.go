package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/cluster"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/lessons"
	"github.com/understudy/understudy/live"
)

// breakerHints shares breaker openings between replicas over the cluster
// bus: when a target's breaker opens here, the other replicas open theirs
// until the same time (gateway.HintDown), so that they stop sending it
// traffic without each paying the failures that opened it. Openings caused
// by a hint are not hinted on again. The replication publishes and
// receives the messages.
type breakerHints struct {
	gw   *gateway.Gateway // set before messages arrive
	log  *slog.Logger
	send func(cluster.Message) // never blocks
}

// hintKind is the bus message kind of a breaker opening.
const hintKind = "target_down"

type hint struct {
	Target string    `json:"target"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Emit takes the gateway's events; it never blocks (a full queue drops the
// hint: the other replicas' own breakers still work).
func (h *breakerHints) Emit(e understudy.Event) {
	if h == nil || e.Type != understudy.EventBreakerChanged || e.Details["to"] != "open" {
		return
	}
	reason, _ := e.Details["reason"].(string)
	if strings.Contains(reason, gateway.HintReason) {
		return
	}
	until, _ := e.Details["open_until"].(time.Time)
	data, _ := json.Marshal(hint{Target: e.Target, Until: until, Reason: reason})
	h.send(cluster.Message{Kind: hintKind, Data: data})
}

// apply opens the breaker another replica's hint names.
func (h *breakerHints) apply(m cluster.Message) {
	var x hint
	if err := json.Unmarshal(m.Data, &x); err != nil {
		h.log.Warn("breaker hint unreadable", "err", err)
		return
	}
	if h.gw.HintDown(x.Target, x.Until, x.Reason) {
		h.log.Info("breaker opened on another replica's hint", "target", x.Target, "until", x.Until, "reason", x.Reason)
	}
}

// Bus message kinds of replication (breaker hints are hintKind).
const (
	changeKind  = "change"  // an incident or maintenance change made here
	pageKind    = "page"    // a status page change not from an engine event
	stateKind   = "state"   // the leader wrote new shared state
	summaryKind = "summary" // a follower's traffic, for the leader
	handoffKind = "handoff" // a handoff conversation changed here
)

// summaryEvery paces followers' traffic summaries to the leader.
const summaryEvery = 250 * time.Millisecond

// replication keeps replicas sharing one PostgreSQL in step over the bus:
// what one changes (incidents, maintenance, postmortems) reaches the
// others' engines, status page clients and lessons library; followers send
// their traffic to the leader; the leader tells followers when the shared
// component state changed. Every replica runs one.
type replication struct {
	bus    *cluster.Bus
	engine *incident.Engine
	hub    *live.Hub
	lib    func() *lessons.Library // may return nil
	// handoff is the handoff queue, whose other replicas' changes this
	// one's consoles and users' streams must see; nil: none.
	handoff *handoff.Service
	hints   *breakerHints
	log     *slog.Logger
	out     chan cluster.Message // to publish, bounded
}

type change struct {
	Incident    int64  `json:"incident,omitempty"`
	Maintenance int64  `json:"maintenance,omitempty"`
	Type        string `json:"type"`
	Author      string `json:"author,omitempty"`
}

func newReplication(bus *cluster.Bus, log *slog.Logger) *replication {
	r := &replication{bus: bus, log: log, out: make(chan cluster.Message, 1024)}
	r.hints = &breakerHints{log: log, send: r.send}
	return r
}

// send queues m; it never blocks (a full queue drops m: every replica
// re-reads the shared state each tick, and a page missing a change gets
// the next one).
func (r *replication) send(m cluster.Message) {
	if r == nil {
		return
	}
	select {
	case r.out <- m:
	default:
		r.log.Warn("replication: queue full, message dropped", "kind", m.Kind)
	}
}

// OnEvent takes this replica's engine events.
func (r *replication) OnEvent(id int64, ev understudy.Event) {
	if r == nil || ev.Type == understudy.EventComponentChanged || ev.Type == understudy.EventIncidentEvidence || ev.Type == understudy.EventIncidentReminder {
		return // components travel as shared state; evidence and reminders change nothing others show
	}
	c := change{Incident: id, Type: ev.Type, Author: ev.Author}
	c.Maintenance, _ = ev.Details["maintenance_id"].(int64)
	if id == 0 && !strings.HasPrefix(ev.Type, "maintenance.") {
		return
	}
	data, _ := json.Marshal(c)
	r.send(cluster.Message{Kind: changeKind, ID: id, Data: data})
}

type handoffChange struct {
	Type    handoff.EventType `json:"type"`
	Message int64             `json:"message,omitempty"`
}

// Handoff takes this replica's handoff events. Only ids travel: the
// others read the conversation from the store.
func (r *replication) Handoff(e handoff.Event) {
	if r == nil {
		return
	}
	c := handoffChange{Type: e.Type}
	if e.Message != nil {
		c.Message = e.Message.ID
	}
	data, _ := json.Marshal(c)
	r.send(cluster.Message{Kind: handoffKind, ID: e.Conversation.ID, Data: data})
}

// Page tells this replica's status page clients and the others' of a
// change that is no engine event (a postmortem published).
func (r *replication) Page(kind string, id int64) {
	r.hub.Publish(kind, id)
	r.send(cluster.Message{Kind: pageKind, ID: id, Data: json.RawMessage(strconv.Quote(kind))})
}

// Shared is the engine's Options.Shared.
func (r *replication) Shared(leading bool) {
	if leading {
		r.send(cluster.Message{Kind: stateKind})
		return
	}
	r.hub.Publish("component", 0)
}

// Run publishes, applies the others' messages and sends this replica's
// traffic summaries while it follows, until ctx ends.
func (r *replication) Run(ctx context.Context) {
	in, cancel := r.bus.Subscribe()
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.publish(ctx) })
	tick := time.NewTicker(summaryEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !r.engine.Leading() {
				r.summarise()
			}
		case m, ok := <-in:
			if !ok {
				return
			}
			if m.Origin != r.bus.Origin() {
				r.apply(ctx, m)
			}
		}
	}
}

func (r *replication) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.out:
			pctx, stop := context.WithTimeout(ctx, 5*time.Second)
			if err := r.bus.Publish(pctx, m); err != nil && ctx.Err() == nil {
				r.log.Warn("replication: not published", "kind", m.Kind, "err", err)
			}
			stop()
		}
	}
}

// maxSummaryBytes keeps each summary message under NOTIFY's payload limit
// with room for the envelope.
const maxSummaryBytes = 6000

// summarise sends the traffic seen since the last summary, split into
// messages that fit NOTIFY.
func (r *replication) summarise() {
	s := r.engine.TakeSummary()
	var part incident.Summary
	size := 0
	flush := func() {
		if len(part.Feeds) == 0 {
			return
		}
		data, _ := json.Marshal(part)
		r.send(cluster.Message{Kind: summaryKind, Data: data})
		part, size = incident.Summary{}, 0
	}
	for _, f := range s.Feeds {
		b, _ := json.Marshal(f)
		if len(b) > maxSummaryBytes {
			// One feed too large (many seconds held back): keep its newest
			// seconds, the ones the detectors read first.
			for len(b) > maxSummaryBytes && len(f.Seconds) > 1 {
				f.Seconds = f.Seconds[len(f.Seconds)/2:]
				f.Samples, f.Latency = nil, nil
				b, _ = json.Marshal(f)
			}
		}
		if size+len(b) > maxSummaryBytes {
			flush()
		}
		part.Feeds = append(part.Feeds, f)
		size += len(b) + 1
	}
	flush()
}

// apply takes another replica's message.
func (r *replication) apply(ctx context.Context, m cluster.Message) {
	switch m.Kind {
	case hintKind:
		r.hints.apply(m)
	case summaryKind:
		if !r.engine.Leading() {
			return
		}
		var s incident.Summary
		if err := json.Unmarshal(m.Data, &s); err != nil {
			r.log.Warn("replication: summary unreadable", "err", err)
			return
		}
		r.engine.Absorb(s)
	case stateKind:
		if err := r.engine.ReadShared(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: shared state", "err", err)
		}
	case changeKind:
		var c change
		if err := json.Unmarshal(m.Data, &c); err != nil {
			r.log.Warn("replication: change unreadable", "err", err)
			return
		}
		if err := r.engine.Refresh(ctx, c.Incident, c.Maintenance, c.Author != incident.Author); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: refresh", "incident", c.Incident, "maintenance", c.Maintenance, "err", err)
		}
		ev := understudy.Event{Type: c.Type, Author: c.Author}
		if c.Maintenance != 0 {
			ev.Details = map[string]any{"maintenance_id": c.Maintenance}
		}
		publishChange(r.hub, c.Incident, ev)
		if lib := r.lib(); lib != nil && c.Incident != 0 {
			if ev.Type == understudy.EventIncidentOpened {
				// The replica that opened it links similar ones; here it
				// is only indexed.
				ev.Type = understudy.EventIncidentUpdated
			}
			lib.OnIncidentEvent(c.Incident, ev)
		}
	case handoffKind:
		var c handoffChange
		if err := json.Unmarshal(m.Data, &c); err != nil || r.handoff == nil {
			return
		}
		if err := r.handoff.Replay(ctx, c.Type, m.ID, c.Message); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: handoff", "conversation", m.ID, "err", err)
		}
	case pageKind:
		var kind string
		if err := json.Unmarshal(m.Data, &kind); err == nil {
			r.hub.Publish(kind, m.ID)
		}
	case cluster.KindResync:
		// Messages may have been missed: read the shared state again and
		// have open pages refresh.
		if err := r.engine.ReadShared(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: shared state", "err", err)
		}
		if err := r.engine.Refresh(ctx, 0, -1, false); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: maintenance", "err", err)
		}
		r.hub.Publish("component", 0)
		r.hub.Publish("incident", 0)
	}
}
