package incident

import (
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// feedSpan is the longest detector window the rings cover.
const feedSpan = 10 * time.Minute

// feed holds the live traffic windows. The gateway writes to it on the
// request path, so every method is a short critical section.
type feed struct {
	mu      sync.Mutex
	routes  map[string]*routeFeed
	targets map[string]*targetFeed
	related []understudy.Event // recent notable gateway events, oldest first
	// forward: a follower keeps its traffic in pending too, for the leader
	// (see TakeSummary).
	forward bool
	pending map[feedKey]*pendingFeed
}

type routeFeed struct {
	win     *seconds // outcomes: bad = failed or degraded as users saw it
	total   tally    // cumulative since start
	samples samples
}

type targetFeed struct {
	win     *seconds // attempts: bad = the target's fault
	total   tally
	lat     minutes // successful attempts' durations, per minute
	samples samples
}

func (f *feed) init() {
	f.routes = map[string]*routeFeed{}
	f.targets = map[string]*targetFeed{}
	f.pending = map[feedKey]*pendingFeed{}
}

func (f *feed) route(name string) *routeFeed {
	r, ok := f.routes[name]
	if !ok {
		r = &routeFeed{win: newSeconds(feedSpan)}
		f.routes[name] = r
	}
	return r
}

func (f *feed) target(id string) *targetFeed {
	t, ok := f.targets[id]
	if !ok {
		t = &targetFeed{win: newSeconds(feedSpan)}
		f.targets[id] = t
	}
	return t
}

// targetFault: the attempt failed because of the target (not the request,
// not the client).
func targetFault(c understudy.Class) bool { return c.Retryable() }

// RecordAttempt feeds one attempt. It never blocks for long.
func (e *Engine) RecordAttempt(a understudy.Attempt) {
	if a.Class == understudy.ClassCanceled || a.Class == understudy.ClassDeadline {
		return
	}
	bad := targetFault(a.Class)
	f := &e.feed
	f.mu.Lock()
	t := f.target(a.Target)
	t.win.at(a.Time).count(bad, a.Class)
	t.total.count(bad, a.Class)
	var p *pendingFeed
	if f.forward {
		p = f.pend(feedKey{name: a.Target})
		p.second(a.Time).count(bad, a.Class)
	}
	if bad {
		msg := a.Message
		if msg == "" {
			msg = string(a.Class)
		}
		t.samples.add(msg)
		if p != nil {
			p.samples.add(msg)
		}
	} else if a.Class == understudy.ClassSuccess {
		t.lat.at(a.Time).observe(a.Duration)
		if p != nil {
			p.minute(a.Time).observe(a.Duration)
		}
	}
	f.mu.Unlock()
}

// RecordOutcome feeds one request's outcome. It never blocks for long.
func (e *Engine) RecordOutcome(o understudy.Outcome) {
	kind := store.OutcomeOf(o.Mode)
	if kind == store.OutcomeCanceled {
		return
	}
	bad := kind != store.OutcomeGood
	f := &e.feed
	f.mu.Lock()
	r := f.route(o.Route)
	r.win.at(o.Time).count(bad, o.Class)
	r.total.count(bad, o.Class)
	if bad && o.Class != "" {
		r.samples.add(string(o.Class)) // the attempts carry the messages
	}
	if f.forward {
		p := f.pend(feedKey{route: true, name: o.Route})
		p.second(o.Time).count(bad, o.Class)
		if bad && o.Class != "" {
			p.samples.add(string(o.Class))
		}
	}
	f.mu.Unlock()
}

// relatedTypes are the gateway events kept as evidence.
var relatedTypes = map[string]bool{
	understudy.EventBreakerChanged: true, understudy.EventTargetCooled: true,
	understudy.EventConfigReloaded: true, understudy.EventConfigRejected: true,
	understudy.EventRouteExhausted: true,
}

// Emit receives the gateway's events; notable ones are kept as related
// evidence for the incidents they touch.
func (e *Engine) Emit(ev understudy.Event) {
	if !relatedTypes[ev.Type] {
		return
	}
	f := &e.feed
	f.mu.Lock()
	if len(f.related) == 100 {
		f.related = f.related[1:]
	}
	f.related = append(f.related, ev)
	f.mu.Unlock()
}
