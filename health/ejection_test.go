package health

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func TestTrip(t *testing.T) {
	tests := []struct {
		name      string
		open      bool          // open with failures before the Trip
		trip      time.Duration // Trip length
		probeAt   time.Duration // probe success this long after the Trip
		wantState State         // after the probe
	}{
		{"probe during cool-down ignored", false, 30 * time.Second, 10 * time.Second, Open},
		{"probe just before end ignored", false, 30 * time.Second, 30*time.Second - time.Nanosecond, Open},
		{"cool-down over: half-open then probe closes", false, 30 * time.Second, 30 * time.Second, Closed},
		{"trip lengthens an open breaker", true, time.Minute, 20 * time.Second, Open},
		{"short trip keeps longer open period, probe ignored while cooling", true, time.Second, 500 * time.Millisecond, Open},
		{"short trip over: probe closes level-0 open", true, time.Second, 2 * time.Second, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, rec := MustBreaker(t, Settings{})
			if tt.open {
				mustOpen(t, b)
			}
			start := clk.Now()
			b.Trip(tt.trip, "rate limited, Retry-After 30s")
			wantUntil := start.Add(max(tt.trip, 5*time.Second))
			if got := b.OpenUntil(); !got.Equal(wantUntil) {
				t.Errorf("OpenUntil: got %v, want %v", got, wantUntil)
			}
			if got := b.Snapshot().CoolDownUntil; !got.Equal(start.Add(tt.trip)) {
				t.Errorf("CoolDownUntil: got %v, want %v", got, start.Add(tt.trip))
			}
			clk.Advance(tt.probeAt)
			b.ProbeResult(true)
			if got := b.State(); got != tt.wantState {
				t.Errorf("state: got %s, want %s", got, tt.wantState)
			}
			ts := rec.all()
			last := ts[len(ts)-1]
			if tt.wantState == Open && last.Reason != "cool-down: rate limited, Retry-After 30s" && tt.trip > 5*time.Second {
				t.Errorf("last reason: got %q, want the cool-down", last.Reason)
			}
			if got := b.Ejections(); got != 0 {
				t.Errorf("ejections: got %d, want 0 (Trip does not eject)", got)
			}
		})
	}
}

func TestProbeResult(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*testing.T, *Breaker, *clockwork.FakeClock)
		probes    []bool
		wantState State
	}{
		{"success closes level-0 open at once", mustOpenT, []bool{true}, Closed},
		{"failure keeps open", mustOpenT, []bool{false}, Open},
		{"success closes half-open", halfOpen, []bool{true}, Closed},
		{"failure re-opens half-open", halfOpen, []bool{false}, Open},
		{"failures count while closed", nil, []bool{false, false, false, false, false}, Open},
		{"success resets run while closed", nil, []bool{false, false, false, false, true, false}, Closed},
		{"success held while ejected", ejected, []bool{true}, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{})
			if tt.setup != nil {
				tt.setup(t, b, clk)
			}
			for _, ok := range tt.probes {
				b.ProbeResult(ok)
			}
			if got := b.State(); got != tt.wantState {
				t.Errorf("state: got %s, want %s", got, tt.wantState)
			}
		})
	}
}

func mustOpenT(t *testing.T, b *Breaker, _ *clockwork.FakeClock) { mustOpen(t, b) }

func halfOpen(t *testing.T, b *Breaker, clk *clockwork.FakeClock) {
	mustOpen(t, b)
	clk.Advance(5 * time.Second)
	if got := b.State(); got != HalfOpen {
		t.Fatalf("state: got %s, want half_open", got)
	}
}

// ejected leaves b open at ejection level 1 (open for 10s).
func ejected(t *testing.T, b *Breaker, clk *clockwork.FakeClock) {
	halfOpen(t, b, clk)
	MustAllow(t, b)(false)
	if got := b.Ejections(); got != 1 {
		t.Fatalf("ejections: got %d, want 1", got)
	}
}

func TestProbeWhileEjected(t *testing.T) {
	tests := []struct {
		name   string
		probes []bool // during the 10s ejection period, in order
		want   State  // once the period is over
	}{
		{"success remembered: closes when period ends", []bool{true}, Closed},
		{"later failure forgets it: half-open", []bool{true, false}, HalfOpen},
		{"no probe: half-open", nil, HalfOpen},
		{"failure then success: closes", []bool{false, true}, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, rec := MustBreaker(t, Settings{})
			ejected(t, b, clk)
			for _, ok := range tt.probes {
				clk.Advance(time.Second)
				b.ProbeResult(ok)
				if got := b.State(); got != Open {
					t.Fatalf("state during ejection: got %s, want open", got)
				}
			}
			clk.Advance(10 * time.Second)
			if got := b.State(); got != tt.want {
				t.Errorf("state: got %s, want %s", got, tt.want)
			}
			ts := rec.all()
			if tt.want == Closed && ts[len(ts)-1].Reason != "open period over, probe had succeeded" {
				t.Errorf("reason: got %q", ts[len(ts)-1].Reason)
			}
		})
	}
}

func TestEjectionDoubling(t *testing.T) {
	tests := []struct {
		name    string
		s       Settings
		periods []time.Duration // open periods after each failed trial, starting with the first open
	}{
		{"defaults double to the cap", Settings{}, []time.Duration{
			5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
			160 * time.Second, 5 * time.Minute, 5 * time.Minute,
		}},
		{"small cap", Settings{OpenFor: time.Second, MaxOpenFor: 3 * time.Second}, []time.Duration{
			time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second,
		}},
		{"cap equals OpenFor", Settings{OpenFor: time.Second, MaxOpenFor: time.Second}, []time.Duration{
			time.Second, time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, tt.s)
			mustOpen(t, b)
			for i, want := range tt.periods {
				if got := b.OpenUntil().Sub(clk.Now()); got != want {
					t.Fatalf("open period %d: got %s, want %s", i, got, want)
				}
				clk.Advance(want)
				MustAllow(t, b)(false) // the trial fails
			}
		})
	}
}

func TestEjectionDecay(t *testing.T) {
	// Level 2 (20s open), then closed by a trial: 2×20s = 40s closed decays it.
	tests := []struct {
		name       string
		closedFor  time.Duration
		wantLevel  int // Ejections() after closedFor
		wantPeriod time.Duration
	}{
		{"reopens at once", 0, 2, 40 * time.Second},
		{"reopens just before decay", 40*time.Second - time.Nanosecond, 2, 40 * time.Second},
		{"decayed", 40 * time.Second, 0, 5 * time.Second},
		{"long after", time.Hour, 0, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{})
			mustOpen(t, b)
			for _, p := range []time.Duration{5 * time.Second, 10 * time.Second} {
				clk.Advance(p)
				MustAllow(t, b)(false)
			}
			clk.Advance(20 * time.Second)
			MustAllow(t, b)(true)
			if got := b.State(); got != Closed {
				t.Fatalf("state: got %s, want closed", got)
			}
			clk.Advance(tt.closedFor)
			if got := b.Ejections(); got != tt.wantLevel {
				t.Errorf("ejections: got %d, want %d", got, tt.wantLevel)
			}
			mustOpen(t, b)
			if got := b.OpenUntil().Sub(clk.Now()); got != tt.wantPeriod {
				t.Errorf("open period: got %s, want %s", got, tt.wantPeriod)
			}
		})
	}
}

func TestFlappingAfterProbeClose(t *testing.T) {
	tests := []struct {
		name       string
		closedFor  time.Duration
		wantPeriod time.Duration
	}{
		{"re-opens within 2×5s: ejected", 9 * time.Second, 10 * time.Second},
		{"re-opens after 2×5s: not ejected", 10 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{})
			mustOpen(t, b)
			clk.Advance(time.Second)
			b.ProbeResult(true) // level 0: closes at once
			clk.Advance(tt.closedFor)
			mustOpen(t, b)
			if got := b.OpenUntil().Sub(clk.Now()); got != tt.wantPeriod {
				t.Errorf("open period: got %s, want %s", got, tt.wantPeriod)
			}
		})
	}
}
