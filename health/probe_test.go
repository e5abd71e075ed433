package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// probeResult is one call of RunProbes' onResult.
type probeResult struct {
	err     error
	latency time.Duration
}

// prober runs RunProbes in a goroutine for one test.
type prober struct {
	t       *testing.T
	clk     *clockwork.FakeClock
	b       *Breaker
	ctx     context.Context // the test's own deadline for waits
	cancel  context.CancelFunc
	stopped chan struct{}
	results chan probeResult
	calls   chan struct{} // one value per probe call, sent when it starts
}

// startProber starts RunProbes on b; probe answers each call.
func startProber(t *testing.T, clk *clockwork.FakeClock, b *Breaker, s ProbeSettings, probe ProbeFunc) *prober {
	t.Helper()
	wait, waitCancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(waitCancel)
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{
		t: t, clk: clk, b: b, ctx: wait, cancel: cancel,
		stopped: make(chan struct{}),
		results: make(chan probeResult, 100),
		calls:   make(chan struct{}, 100),
	}
	counted := func(ctx context.Context) error {
		p.calls <- struct{}{}
		return probe(ctx)
	}
	go func() {
		defer close(p.stopped)
		RunProbes(ctx, clk, b, s, counted, func(err error, latency time.Duration) {
			p.results <- probeResult{err, latency}
		})
	}()
	t.Cleanup(p.stop)
	return p
}

// waitTimers waits until n timers wait on the fake clock.
func (p *prober) waitTimers(n int) {
	p.t.Helper()
	if err := p.clk.BlockUntilContext(p.ctx, n); err != nil {
		p.t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

// result waits for the next probe result.
func (p *prober) result() probeResult {
	p.t.Helper()
	select {
	case r := <-p.results:
		return r
	case <-p.ctx.Done():
		p.t.Fatal("no probe result")
		return probeResult{}
	}
}

// call waits for the next probe call to start.
func (p *prober) call() {
	p.t.Helper()
	select {
	case <-p.calls:
	case <-p.ctx.Done():
		p.t.Fatal("probe not called")
	}
}

// noCall fails the test if a probe was called.
func (p *prober) noCall(when string) {
	p.t.Helper()
	select {
	case <-p.calls:
		p.t.Fatalf("probe called %s, want none", when)
	default:
	}
}

// stop cancels RunProbes and waits for it to return.
func (p *prober) stop() {
	p.cancel()
	select {
	case <-p.stopped:
	case <-time.After(10 * time.Second):
		p.t.Fatal("RunProbes did not return after cancel")
	}
}

func TestRunProbesOpenedBreaker(t *testing.T) {
	tests := []struct {
		name      string
		probeErr  error
		wantState State
	}{
		{"probe success closes", nil, Closed},
		{"probe failure keeps open", errors.New("connection refused"), Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{})
			p := startProber(t, clk, b, ProbeSettings{Interval: 2 * time.Second},
				func(context.Context) error { return tt.probeErr })
			clk.Advance(time.Hour)
			p.noCall("while closed with HealthyInterval 0")

			mustOpen(t, b)
			p.waitTimers(1) // the loop woke on Changed and waits Interval
			clk.Advance(2*time.Second - time.Nanosecond)
			p.noCall("before Interval")
			clk.Advance(time.Nanosecond)
			r := p.result()
			if !errors.Is(r.err, tt.probeErr) {
				t.Errorf("probe error: got %v, want %v", r.err, tt.probeErr)
			}
			if got := b.State(); got != tt.wantState {
				t.Errorf("state: got %s, want %s", got, tt.wantState)
			}
		})
	}
}

func TestRunProbesHealthyInterval(t *testing.T) {
	b, clk, rec := MustBreaker(t, Settings{})
	dead := errors.New("502 bad gateway")
	p := startProber(t, clk, b, ProbeSettings{Interval: 2 * time.Second, HealthyInterval: 10 * time.Second},
		func(context.Context) error { return dead })
	for i := range 5 {
		p.waitTimers(1)
		clk.Advance(10 * time.Second)
		if r := p.result(); !errors.Is(r.err, dead) {
			t.Fatalf("probe %d: got %v, want %v", i, r.err, dead)
		}
	}
	if got := b.State(); got != Open {
		t.Fatalf("state after 5 failed probes: got %s, want open", got)
	}
	if ts := rec.all(); len(ts) != 1 || ts[0].Reason != "5 consecutive failures" {
		t.Errorf("transitions: got %+v, want one: 5 consecutive failures", ts)
	}
	// Now open: the next probe comes Interval later, not HealthyInterval.
	p.waitTimers(1)
	clk.Advance(2 * time.Second)
	p.result()
	if got := b.State(); got != Open {
		t.Errorf("state: got %s, want open", got)
	}
}

func TestRunProbesTimeout(t *testing.T) {
	b, clk, _ := MustBreaker(t, Settings{})
	p := startProber(t, clk, b, ProbeSettings{Interval: time.Second, Timeout: 3 * time.Second},
		func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
	mustOpen(t, b)
	p.waitTimers(1)
	clk.Advance(time.Second) // the probe starts and hangs
	p.call()
	p.waitTimers(1) // its timeout
	clk.Advance(3 * time.Second)
	r := p.result()
	if !errors.Is(r.err, ErrProbeTimeout) || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("error: got %v, want ErrProbeTimeout", r.err)
	}
	if r.latency != 3*time.Second {
		t.Errorf("latency: got %s, want 3s", r.latency)
	}
	if got := b.State(); got != Open {
		t.Errorf("state: got %s, want open", got)
	}
}

func TestRunProbesCancel(t *testing.T) {
	tests := []struct {
		name    string
		inProbe bool // cancel while a probe runs, or while waiting
	}{
		{"while waiting", false},
		{"during a probe", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{})
			p := startProber(t, clk, b, ProbeSettings{Interval: time.Second},
				func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				})
			mustOpen(t, b)
			if tt.inProbe {
				p.waitTimers(1)
				clk.Advance(time.Second)
				p.call()
			}
			p.stop()
			select {
			case r := <-p.results:
				t.Errorf("got result %+v after cancel, want none", r)
			default:
			}
			if got := b.State(); got != Open {
				t.Errorf("state: got %s, want open (a cancelled probe is not a result)", got)
			}
		})
	}
}

// TestRunProbesTrip: a target cooling down is not probed at all (the
// provider asked us to stay away); the first probe comes when the cool-down
// ends, and its success closes the breaker.
func TestRunProbesTrip(t *testing.T) {
	b, clk, _ := MustBreaker(t, Settings{})
	p := startProber(t, clk, b, ProbeSettings{Interval: 2 * time.Second},
		func(context.Context) error { return nil })
	b.Trip(5*time.Second, "insufficient_quota")
	p.waitTimers(1)
	clk.Advance(4 * time.Second) // 2s and 4s: inside the cool-down, no probe
	select {
	case r := <-p.results:
		t.Fatalf("got a probe at %s inside the cool-down: %+v", 4*time.Second, r)
	default:
	}
	if got := b.State(); got != Open {
		t.Fatalf("state in cool-down: got %s, want open", got)
	}
	clk.Advance(time.Second) // 5s: cool-down over
	p.result()
	if got := b.State(); got != Closed {
		t.Errorf("state after cool-down: got %s, want closed", got)
	}
}
