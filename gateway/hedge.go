package gateway

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/health"
	"github.com/understudy/understudy/provider"
)

// Hedged requests. When the first attempt has produced nothing after the
// hedge delay, a second attempt starts on the next target the route would
// fail over to. The first to answer — the whole answer for a non-stream, the
// first token for a stream — takes the response; the other is cancelled.
// If one fails before answering, the other simply goes on, as the failover
// attempt started early. Hedges come out of the retry budget.

// errHedgeLost cancels the attempt that lost a hedge.
var errHedgeLost = errors.New("lost the hedge to another target")

// race is a hedge in progress.
type race struct {
	cancels map[*target]context.CancelCauseFunc
	winner  *target
}

// attemptCount is the number of attempts made so far.
func (x *exchange) attemptCount() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.attempts
}

// claim is called by an attempt about to send its answer: true when it may
// (no race, or it is the first), and then every other racer is cancelled.
func (x *exchange) claim(t *target) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	r := x.race
	if r == nil {
		return true
	}
	if r.winner != nil {
		return r.winner == t
	}
	r.winner = t
	for other, cancel := range r.cancels {
		if other != t {
			cancel(errHedgeLost)
		}
	}
	return true
}

// lost reports whether a failure is the cancellation of a hedge's loser.
func lost(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errHedgeLost) }

// hedgeDelay is how long the first attempt at t may stay silent before a
// hedge starts.
func (x *exchange) hedgeDelay(t routeTarget) time.Duration {
	if d := x.route.hedge.Delay.D(); d > 0 {
		return d
	}
	if p95, ok := t.p95(); ok {
		return p95
	}
	return x.route.timeouts.FirstToken.D() / 2
}

type racer struct {
	t       routeTarget
	done    func(health.Outcome)
	started time.Time
	cancel  context.CancelCauseFunc
	results chan result
}

// launch starts an attempt at t as a racer; nil when another racer has
// already won (checked and registered atomically with claim).
func (x *exchange) launch(ctx context.Context, t routeTarget, done func(health.Outcome)) *racer {
	rctx, cancel := context.WithCancelCause(ctx)
	r := &racer{t: t, done: done, started: x.g.clk.Now(), cancel: cancel, results: make(chan result, 1)}
	x.mu.Lock()
	if x.race.winner != nil {
		x.mu.Unlock()
		cancel(errHedgeLost)
		return nil
	}
	x.race.cancels[t.target] = cancel
	x.mu.Unlock()
	go func() {
		var res result
		defer func() {
			// A panic here (a bug) must not take the process down: net/http
			// only recovers panics on the handler's goroutine.
			if p := recover(); p != nil {
				x.g.log.Error("panic in a hedged attempt", "panic", p, "stack", string(debug.Stack()))
				res = result{fail: &provider.Failure{Class: understudy.ClassServer, Message: "internal error"}}
			}
			r.results <- res
		}()
		res = x.attemptSafely(rctx, t, done, false)
		if res.fail != nil && lost(rctx) {
			res.fail = &provider.Failure{Class: understudy.ClassCanceled, Message: errHedgeLost.Error()}
			res.lost = true
		}
	}()
	return r
}

// hedged runs the attempt at t, and a hedge on the next target if t stays
// silent past the hedge delay.
func (x *exchange) hedged(ctx context.Context, t routeTarget, done func(health.Outcome), started time.Time) (action, time.Duration) {
	x.race = &race{cancels: make(map[*target]context.CancelCauseFunc)}
	defer func() {
		x.mu.Lock()
		x.race = nil
		x.mu.Unlock()
	}()
	first := x.launch(ctx, t, done)
	first.started = started
	timer := x.g.clk.NewTimer(x.hedgeDelay(t))
	defer timer.Stop()
	pending := []*racer{first}
	fire := timer.Chan()
	for {
		var a, b chan result
		a = pending[0].results
		if len(pending) > 1 {
			b = pending[1].results
		}
		select {
		case <-fire:
			fire = nil
			x.mu.Lock()
			answered := x.race.winner != nil
			x.mu.Unlock()
			if answered {
				continue // the first attempt is already answering
			}
			if u, ok := x.hedgeTarget(t); ok {
				second := x.launch(ctx, u.rt, u.done)
				if second == nil { // the first attempt won meanwhile
					u.rt.release()
					u.done(health.Ignore)
					x.mu.Lock()
					x.attempts--
					x.mu.Unlock()
					continue
				}
				pending = append(pending, second)
				x.g.metrics.hedges.WithLabelValues(x.route.name, u.rt.id).Inc()
			}
		case res := <-a:
			if act, wait, over := x.raceResult(ctx, pending[0], res, len(pending) > 1, pending[0] == first); over {
				x.finishRace(pending[1:])
				return act, wait
			}
			pending = pending[1:]
		case res := <-b:
			if act, wait, over := x.raceResult(ctx, pending[1], res, true, false); over {
				x.finishRace(pending[:1])
				return act, wait
			}
			pending = pending[:1]
		}
	}
}

// raceResult handles one racer's result. over is true when the exchange's
// next step is decided; false when the other racer goes on alone.
func (x *exchange) raceResult(ctx context.Context, r *racer, res result, othersRunning, isFirst bool) (action, time.Duration, bool) {
	if res.lost {
		x.account(r.t, res, r.done, r.started)
		return 0, 0, false
	}
	if res.fail == nil || res.committed || !othersRunning {
		act, wait := x.settle(ctx, r.t, res, r.done, r.started)
		if act == actRetrySame && (othersRunning || !isFirst) {
			// Only the loop's own target can be retried in place.
			act = actNext
		}
		return act, wait, true
	}
	// Failed before answering while the other racer still runs: it goes on
	// as the failover attempt.
	x.account(r.t, res, r.done, r.started)
	x.failed = true
	x.notes = append(x.notes, r.t.id+": "+describe(res.fail))
	return 0, 0, false
}

// finishRace cancels and accounts for racers still running once the
// exchange's next step is decided.
func (x *exchange) finishRace(rest []*racer) {
	for _, r := range rest {
		r.cancel(errHedgeLost)
		res := <-r.results
		res.lost = true
		if res.fail == nil {
			// It finished before hearing of the cancel but could not claim.
			res.fail = &provider.Failure{Class: understudy.ClassCanceled, Message: errHedgeLost.Error()}
		}
		x.account(r.t, res, r.done, r.started)
	}
}

type admitted struct {
	rt   routeTarget
	done func(health.Outcome)
}

// hedgeTarget admits the next target the route would fail over to after t,
// within the retry budget.
func (x *exchange) hedgeTarget(t routeTarget) (admitted, bool) {
	next := false
	for _, tier := range x.route.tiers {
		for _, u := range tier {
			if u.target == t.target {
				next = true
				continue
			}
			if !next || x.raced[u.target] || x.excludedModels[u.model] {
				continue
			}
			done, ok := x.admit(context.Background(), u, false)
			if !ok {
				continue
			}
			if !x.route.budget.tryRetry() {
				// No budget: undo the admission, no hedge.
				u.release()
				done(health.Ignore)
				x.mu.Lock()
				x.attempts--
				x.mu.Unlock()
				return admitted{}, false
			}
			if x.raced == nil {
				x.raced = make(map[*target]bool)
			}
			x.raced[u.target] = true
			return admitted{u, done}, true
		}
	}
	return admitted{}, false
}

// latencyRing keeps a target's recent times to first token for its p95.
type latencyRing struct {
	mu   sync.Mutex
	buf  [128]time.Duration
	n, i int
}

func (r *latencyRing) add(d time.Duration) {
	r.mu.Lock()
	r.buf[r.i] = d
	r.i = (r.i + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
	r.mu.Unlock()
}

// p95 of the recent samples; false with fewer than 20.
func (r *latencyRing) p95() (time.Duration, bool) {
	r.mu.Lock()
	s := slices.Clone(r.buf[:r.n])
	r.mu.Unlock()
	if len(s) < 20 {
		return 0, false
	}
	slices.Sort(s)
	return s[len(s)*95/100], true
}
