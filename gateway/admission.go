package gateway

import (
	"container/list"
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/config"
)

// Why a request was not admitted to a target under its adaptive limit.
var (
	errAtLimit   = errors.New("every slot taken")
	errQueueFull = errors.New("admission queue full")
	errQueueWait = errors.New("no slot within the queue wait")
	errEvicted   = errors.New("queue place given to higher-priority traffic")
)

// admission is a target's adaptive concurrency limit and its admission
// queue.
//
// The limit itself is failsafe-go's adaptive limiter: a gradient limiter
// that compares recent latencies (p90 over a window) with a slow-moving
// baseline and lowers the limit when latency rises with concurrency, raises
// it while it does not. Permits are only ever taken with TryAcquirePermit;
// the waiting is ours, so that it is ordered by priority (critical, then
// default, then batch; first come first served within one), bounded (queue
// × the current limit), and timed on the gateway's clock. Every permit comes
// back through release, which then hands free slots to the waiters, so no
// wake-up is missed.
type admission struct {
	lim   adaptivelimiter.AdaptiveLimiter[any]
	clk   clockwork.Clock
	queue float64 // bound, × the current limit

	// onQueue, when set, gets the queue's length after each change (under mu).
	onQueue func(int)

	mu      sync.Mutex
	waiters [numRanks]*list.List // of *waiter, by rank
	queued  int
}

// setQueued moves the queue length by d. Called with mu held.
func (a *admission) setQueued(d int) {
	a.queued += d
	if a.onQueue != nil {
		a.onQueue(a.queued)
	}
}

const numRanks = 3

// rank orders priorities: 0 is served first.
func rank(priority string) int {
	switch priority {
	case config.PriorityCritical:
		return 0
	case config.PriorityBatch:
		return 2
	}
	return 1
}

type waiter struct {
	rank int
	elem *list.Element // nil once granted, evicted or abandoned (under mu)
	// got receives the permit, or nil when the waiter is evicted.
	got chan adaptivelimiter.Permit
}

func newAdmission(c config.AdaptiveConcurrency, clk clockwork.Clock, onLimit, onQueue func(int)) *admission {
	b := adaptivelimiter.NewBuilder[any]().
		WithLimits(uint(c.Min), uint(c.Max), uint(c.Initial)).
		// Shorter windows than the library's defaults (1 s–30 s, 50
		// samples): model answers take seconds, and a provider's capacity
		// changes within a minute.
		WithRecentWindow(time.Second, 10*time.Second, 20).
		WithBaselineWindow(60)
	if onLimit != nil {
		b = b.OnLimitChanged(func(e adaptivelimiter.LimitChangedEvent) { onLimit(int(e.NewLimit)) })
	}
	a := &admission{lim: b.Build(), clk: clk, queue: c.Queue, onQueue: onQueue}
	for i := range a.waiters {
		a.waiters[i] = list.New()
	}
	return a
}

// permit is one admitted attempt's slot; release gives it back.
type permit struct {
	a *admission
	p adaptivelimiter.Permit
}

// release returns the slot. measured: the attempt's duration says something
// about the target's latency (it answered); failures and cancellations are
// dropped so that fast errors do not look like spare capacity.
func (p permit) release(measured bool) {
	if measured {
		p.p.Record()
	} else {
		p.p.Drop()
	}
	p.a.dispatch()
}

// acquire admits a request of priority, waiting up to wait for a slot. It
// fails with errAtLimit (wait is 0), errQueueFull, errQueueWait, errEvicted
// or the context's cause.
func (a *admission) acquire(ctx context.Context, priority string, wait time.Duration) (permit, error) {
	r := rank(priority)
	a.mu.Lock()
	if !a.waitingAtOrAbove(r) {
		if p, ok := a.lim.TryAcquirePermit(); ok {
			a.mu.Unlock()
			return permit{a, p}, nil
		}
	}
	if wait <= 0 {
		a.mu.Unlock()
		return permit{}, errAtLimit
	}
	if a.queued >= a.bound() && !a.evictBelow(r) {
		a.mu.Unlock()
		return permit{}, errQueueFull
	}
	w := &waiter{rank: r, got: make(chan adaptivelimiter.Permit, 1)}
	w.elem = a.waiters[r].PushBack(w)
	a.setQueued(1)
	a.mu.Unlock()

	timer := a.clk.NewTimer(wait)
	defer timer.Stop()
	select {
	case p := <-w.got:
		if p == nil {
			return permit{}, errEvicted
		}
		return permit{a, p}, nil
	case <-timer.Chan():
		return a.abandon(w, errQueueWait)
	case <-ctx.Done():
		return a.abandon(w, context.Cause(ctx))
	}
}

// abandon takes w out of the queue after its wait ended. If a slot was
// handed to it meanwhile, the slot goes back (unmeasured) and the next
// waiter gets it.
func (a *admission) abandon(w *waiter, err error) (permit, error) {
	a.mu.Lock()
	if w.elem != nil {
		a.waiters[w.rank].Remove(w.elem)
		w.elem = nil
		a.setQueued(-1)
		a.mu.Unlock()
		return permit{}, err
	}
	a.mu.Unlock()
	if p := <-w.got; p != nil {
		permit{a, p}.release(false)
	}
	return permit{}, err
}

// dispatch hands free slots to waiters, highest priority first.
func (a *admission) dispatch() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for r := range a.waiters {
		for e := a.waiters[r].Front(); e != nil; e = a.waiters[r].Front() {
			p, ok := a.lim.TryAcquirePermit()
			if !ok {
				return
			}
			w := a.waiters[r].Remove(e).(*waiter)
			w.elem = nil
			a.setQueued(-1)
			w.got <- p
		}
	}
}

// waitingAtOrAbove reports whether a request of rank r or a more important
// one is queued: a newcomer of rank r must not pass it.
func (a *admission) waitingAtOrAbove(r int) bool {
	for i := 0; i <= r; i++ {
		if a.waiters[i].Len() > 0 {
			return true
		}
	}
	return false
}

// bound is the most requests the queue holds: queue × the current limit.
func (a *admission) bound() int {
	return int(math.Ceil(a.queue * float64(a.lim.Limit())))
}

// evictBelow makes room for a request of rank r by evicting the newest
// waiter of the least important rank below r; false when there is none.
func (a *admission) evictBelow(r int) bool {
	for low := numRanks - 1; low > r; low-- {
		if e := a.waiters[low].Back(); e != nil {
			w := a.waiters[low].Remove(e).(*waiter)
			w.elem = nil
			a.setQueued(-1)
			w.got <- nil
			return true
		}
	}
	return false
}

// state is the limit, in flight and queued, for notes and metrics.
func (a *admission) state() (limit, inflight, queued int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lim.Limit(), a.lim.Inflight(), a.queued
}
