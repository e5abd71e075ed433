package lessons

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// EventSimilar is the timeline event listing a new incident's similar past
// incidents. Details: {"similar": [{"incident": 12, "title": "…",
// "score": 0.82, "reasons": ["same cause: overload", …]}, …]}.
const EventSimilar = "incident.similar"

type queued struct {
	id int64
	ev understudy.Event
}

// OnIncidentEvent takes one of the incident engine's events
// (incident.Options.OnEvent): it only queues it, never blocks, and drops it
// (logged) when the queue is full. Run handles the queue.
func (l *Library) OnIncidentEvent(id int64, ev understudy.Event) {
	if id == 0 || ev.Type == EventSimilar {
		return
	}
	select {
	case l.queue <- queued{id, ev}:
	default:
		l.o.Logger.Warn("lessons: queue full, incident event dropped", "incident", id, "type", ev.Type)
	}
}

// Run handles queued events until ctx ends, and every second compares the
// incidents opened more than Wait ago that are still waiting for evidence.
func (l *Library) Run(ctx context.Context) {
	tick := l.o.Clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-l.queue:
			if err := l.Handle(ctx, q.id, q.ev); err != nil && ctx.Err() == nil {
				l.o.Logger.Warn("lessons", "incident", q.id, "event", q.ev.Type, "err", err)
			}
		case <-tick.Chan():
			if err := l.CompareWaiting(ctx); err != nil && ctx.Err() == nil {
				l.o.Logger.Warn("lessons", "err", err)
			}
		}
	}
}

// Handle takes one incident event at once (Run calls it for queued ones):
// it re-reads incident id into the library, and links similar past
// incidents to a newly opened one. A detector opens an incident and attaches
// its first evidence in the next event of the same tick, so the comparison
// waits for the first event with evidence (or Wait, see CompareWaiting); an
// incident opened by a person (no detector) is compared at once.
func (l *Library) Handle(ctx context.Context, id int64, ev understudy.Event) error {
	if id == 0 || ev.Type == EventSimilar {
		return nil
	}
	inc, err := l.o.Incidents.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("lessons: incident %d: %w", id, err)
	}
	l.PutIncident(inc)
	now := l.o.Clock.Now()
	l.pmu.Lock()
	if ev.Type == understudy.EventIncidentOpened {
		l.pending[id] = now
	}
	since, waiting := l.pending[id]
	due := waiting && (ready(inc) || now.Sub(since) >= l.o.Wait)
	if due {
		delete(l.pending, id)
	}
	l.pmu.Unlock()
	if !due {
		return nil
	}
	return l.link(ctx, inc)
}

// CompareWaiting compares the incidents that have waited Wait for their evidence.
func (l *Library) CompareWaiting(ctx context.Context) error {
	now := l.o.Clock.Now()
	var ids []int64
	l.pmu.Lock()
	for id, since := range l.pending {
		if now.Sub(since) >= l.o.Wait {
			ids = append(ids, id)
			delete(l.pending, id)
		}
	}
	l.pmu.Unlock()
	var errs []string
	for _, id := range ids {
		inc, err := l.o.Incidents.Incident(ctx, id)
		if err == nil {
			l.PutIncident(inc)
			err = l.link(ctx, inc)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("incident %d: %v", id, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lessons: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ready reports whether inc can be compared: a person's incident, or a
// detector's with evidence attached.
func ready(inc understudy.Incident) bool {
	ev := inc.Evidence
	return inc.Detector == "" || len(ev.Classes) > 0 || len(ev.Samples) > 0 || len(ev.Signals) > 0 || len(ev.Targets) > 0
}

// link records inc's similar incidents on its timeline, if any.
func (l *Library) link(ctx context.Context, inc understudy.Incident) error {
	ms := l.Similar(ctx, inc)
	if len(ms) == 0 || l.o.Recorder == nil {
		return nil
	}
	ev := SimilarEvent(ms, l.o.Clock.Now())
	if err := l.o.Recorder.AppendIncidentEvents(ctx, inc.ID, []understudy.Event{ev}); err != nil {
		return fmt.Errorf("lessons: record similar incidents of %d: %w", inc.ID, err)
	}
	return nil
}

// SimilarEvent is the EventSimilar event listing ms, at now.
func SimilarEvent(ms []Match, now time.Time) understudy.Event {
	var list []any
	var words []string
	for _, m := range ms {
		score := math.Round(m.Score*100) / 100
		list = append(list, map[string]any{"incident": m.Incident.ID, "title": m.Incident.Title, "score": score,
			"reasons": m.Reasons})
		words = append(words, fmt.Sprintf("#%d %s (%.2f)", m.Incident.ID, m.Incident.Title, score))
	}
	return understudy.Event{Type: EventSimilar, Time: now, Author: "understudy",
		Message: "similar past incidents: " + strings.Join(words, "; "), Details: map[string]any{"similar": list}}
}

// Link is a similar incident as recorded on a timeline or shown on a page.
type Link struct {
	IncidentID int64
	Title      string
	Score      float64
	Reasons    []string
}

// Links turns matches into links.
func Links(ms []Match) []Link {
	out := make([]Link, len(ms))
	for i, m := range ms {
		out[i] = Link{IncidentID: m.Incident.ID, Title: m.Incident.Title, Score: m.Score, Reasons: m.Reasons}
	}
	return out
}

// Recorded returns the similar incidents of the last EventSimilar event of
// a timeline (as read back from the store: JSON numbers are float64), nil
// when there is none.
func Recorded(timeline []understudy.Event) []Link {
	for i := len(timeline) - 1; i >= 0; i-- {
		ev := timeline[i]
		if ev.Type != EventSimilar {
			continue
		}
		list, _ := ev.Details["similar"].([]any)
		var out []Link
		for _, x := range list {
			m, _ := x.(map[string]any)
			var lk Link
			switch id := m["incident"].(type) {
			case float64:
				lk.IncidentID = int64(id)
			case int64:
				lk.IncidentID = id
			}
			if lk.IncidentID == 0 {
				continue
			}
			lk.Title, _ = m["title"].(string)
			lk.Score, _ = m["score"].(float64)
			switch rs := m["reasons"].(type) {
			case []any:
				for _, r := range rs {
					if s, ok := r.(string); ok {
						lk.Reasons = append(lk.Reasons, s)
					}
				}
			case []string:
				lk.Reasons = rs
			}
			out = append(out, lk)
		}
		return out
	}
	return nil
}
