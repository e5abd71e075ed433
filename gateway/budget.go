package gateway

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// retryBudget lets retries be at most ratio × requests over a sliding window,
// plus a floor of minPerSecond, so an outage never multiplies the load sent to
// a failing provider (the Finagle/Linkerd retry budget).
type retryBudget struct {
	clk          clockwork.Clock
	ratio        float64
	minPerSecond float64

	mu      sync.Mutex
	buckets [10]budgetBucket // one per second
}

type budgetBucket struct {
	sec               int64
	requests, retries float64
}

const budgetWindow = 10 // seconds

func newRetryBudget(clk clockwork.Clock, ratio, minPerSecond float64) *retryBudget {
	return &retryBudget{clk: clk, ratio: ratio, minPerSecond: minPerSecond}
}

func (b *retryBudget) bucket() *budgetBucket {
	sec := b.clk.Now().Unix()
	bk := &b.buckets[sec%budgetWindow]
	if bk.sec != sec {
		*bk = budgetBucket{sec: sec}
	}
	return bk
}

// request records one request.
func (b *retryBudget) request() {
	b.mu.Lock()
	b.bucket().requests++
	b.mu.Unlock()
}

// tryRetry takes one retry from the budget; false when it is spent.
func (b *retryBudget) tryRetry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now().Unix()
	var requests, retries float64
	for _, bk := range b.buckets {
		if now-bk.sec < budgetWindow {
			requests += bk.requests
			retries += bk.retries
		}
	}
	if retries+1 > b.ratio*requests+b.minPerSecond*budgetWindow {
		return false
	}
	b.bucket().retries++
	return true
}

// jitter returns d scaled by a factor in [0.5, 1.5).
func jitter(d time.Duration, rnd func() float64) time.Duration {
	return time.Duration(float64(d) * (0.5 + rnd()))
}

// sleep waits d on clk or until ctx is done; false when ctx ended first.
func sleep(ctx interface{ Done() <-chan struct{} }, clk clockwork.Clock, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		return false
	}
}
