package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"
)

// ProbeFunc checks one target, e.g. with a tiny chat completion. It must
// return soon after ctx is done.
type ProbeFunc func(ctx context.Context) error

// ErrProbeTimeout is wrapped by the error of a probe that ran past
// ProbeSettings.Timeout. It wraps context.DeadlineExceeded.
var ErrProbeTimeout = fmt.Errorf("health: probe timed out: %w", context.DeadlineExceeded)

// ProbeSettings configures RunProbes. A zero field takes its default.
type ProbeSettings struct {
	// Interval between probes while the breaker is Open or HalfOpen, counted
	// from the end of the previous probe, or from the moment the breaker left
	// Closed. Default 2s.
	Interval time.Duration
	// HealthyInterval between probes while the breaker is Closed, counted the
	// same way. Default 0: no probes while Closed.
	HealthyInterval time.Duration
	// Timeout of one probe. Default 5s.
	Timeout time.Duration
}

func (s ProbeSettings) withDefaults() ProbeSettings {
	if s.Interval <= 0 {
		s.Interval = 2 * time.Second
	}
	if s.HealthyInterval < 0 {
		s.HealthyInterval = 0
	}
	if s.Timeout <= 0 {
		s.Timeout = 5 * time.Second
	}
	return s
}

// interval returns the wait between probes in state st; 0 means no probes.
func (s ProbeSettings) interval(st State) time.Duration {
	if st == Closed {
		return s.HealthyInterval
	}
	return s.Interval
}

// RunProbes probes b's target until ctx is done, feeding each result to
// b.ProbeResult and then to onResult (which may be nil). It waits on
// b.Changed, so a breaker that leaves Closed is probed Interval later without
// any polling.
//
// Each probe gets a child of ctx cancelled after Timeout on clk (so fake
// clocks drive it): its ctx.Err() is then context.Canceled, with
// context.Cause ErrProbeTimeout, and the error reported wraps ErrProbeTimeout.
// The ctx has no Deadline. A probe cut short because ctx itself is done is
// not reported.
func RunProbes(ctx context.Context, clk clockwork.Clock, b *Breaker, s ProbeSettings, probe ProbeFunc, onResult func(err error, latency time.Duration)) {
	if clk == nil {
		clk = clockwork.NewRealClock()
	}
	s = s.withDefaults()
	st, changed := b.stateChanged()
	last := clk.Now() // end of the last probe, or when the breaker entered or left Closed
	for {
		due := s.interval(st)
		if due > 0 {
			// Never probe a target that is cooling down (a long Retry-After,
			// exhausted quota, a refused key): its result would be ignored
			// and the provider asked us to stay away.
			if cool := b.Snapshot().CoolDownUntil; cool.After(last.Add(due)) {
				due = cool.Sub(last)
			}
		}
		if !wait(ctx, clk, due, last, changed) {
			if ctx.Err() != nil {
				return
			}
			prev := st
			st, changed = b.stateChanged()
			if (prev == Closed) != (st == Closed) {
				last = clk.Now()
			}
			continue
		}
		latency, err := runProbe(ctx, clk, s.Timeout, probe)
		if ctx.Err() != nil {
			return
		}
		b.ProbeResult(err == nil)
		if onResult != nil {
			onResult(err, latency)
		}
		last = clk.Now()
		st, changed = b.stateChanged()
	}
}

// wait waits until last+interval and reports true then; it reports false
// early when ctx is done or changed is closed. interval 0 waits for those only.
func wait(ctx context.Context, clk clockwork.Clock, interval time.Duration, last time.Time, changed <-chan struct{}) bool {
	var due <-chan time.Time
	if interval > 0 {
		d := interval - clk.Since(last)
		if d <= 0 {
			return ctx.Err() == nil
		}
		t := clk.NewTimer(d)
		defer t.Stop()
		due = t.Chan()
	}
	select {
	case <-ctx.Done():
		return false
	case <-changed:
		return false
	case <-due:
		return true
	}
}

// runProbe runs one probe with a timeout on clk.
func runProbe(ctx context.Context, clk clockwork.Clock, timeout time.Duration, probe ProbeFunc) (time.Duration, error) {
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := clk.AfterFunc(timeout, func() { cancel(ErrProbeTimeout) })
	start := clk.Now()
	err := probe(pctx)
	latency := clk.Since(start)
	timer.Stop()
	if err != nil && !errors.Is(err, ErrProbeTimeout) && errors.Is(context.Cause(pctx), ErrProbeTimeout) {
		err = fmt.Errorf("%w after %s: %w", ErrProbeTimeout, timeout, err)
	}
	return latency, err
}
