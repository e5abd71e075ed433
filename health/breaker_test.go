package health

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder keeps the transitions given to onChange.
type recorder struct {
	mu sync.Mutex
	ts []Transition
}

func (r *recorder) onChange(t Transition) {
	r.mu.Lock()
	r.ts = append(r.ts, t)
	r.mu.Unlock()
}

func (r *recorder) all() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.ts...)
}

func (r *recorder) reasons() []string {
	var out []string
	for _, t := range r.all() {
		out = append(out, t.From.String()+"->"+t.To.String()+": "+t.Reason)
	}
	return out
}

// MustBreaker returns a breaker on a fake clock and the recorder of its transitions.
func MustBreaker(tb testing.TB, s Settings) (*Breaker, *clockwork.FakeClock, *recorder) {
	tb.Helper()
	if err := s.Validate(); err != nil {
		tb.Fatalf("settings: %v", err)
	}
	// A start on a whole minute, so that window buckets (Window/10) align with it.
	clk := clockwork.NewFakeClockAt(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &recorder{}
	return NewBreaker("openai/gpt-4o-mini", s, clk, rec.onChange), clk, rec
}

// MustAllow calls Allow and fails the test if it is refused.
func MustAllow(tb testing.TB, b *Breaker) func(bool) {
	tb.Helper()
	done, err := b.Allow()
	if err != nil {
		tb.Fatalf("Allow: got %v, want nil (state %s)", err, b.State())
	}
	return done
}

// outcomes sends one request per outcome ('f' failure, 's' success).
func outcomes(tb testing.TB, b *Breaker, seq string) {
	tb.Helper()
	for _, c := range seq {
		MustAllow(tb, b)(c == 's')
	}
}

// mustOpen opens b with consecutive failures (default settings).
func mustOpen(tb testing.TB, b *Breaker) {
	tb.Helper()
	for b.State() == Closed {
		MustAllow(tb, b)(false)
	}
	if got := b.State(); got != Open {
		tb.Fatalf("state: got %s, want open", got)
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		name  string
		state State
		want  string
	}{
		{"closed", Closed, "closed"},
		{"open", Open, "open"},
		{"half open", HalfOpen, "half_open"},
		{"unknown", State(9), "State(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name    string
		s       Settings
		wantErr bool
	}{
		{"zero is defaults", Settings{}, false},
		{"defaults", DefaultSettings(), false},
		{"disabled triggers", Settings{ConsecutiveFailures: -1, FailureRate: -1}, false},
		{"rate over 1", Settings{FailureRate: 1.5}, true},
		{"negative window", Settings{Window: -time.Second}, true},
		{"max below open", Settings{OpenFor: time.Minute, MaxOpenFor: time.Second}, true},
		{"negative trials", Settings{HalfOpenRequests: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("got %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpensOnConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name   string
		s      Settings
		seq    string
		want   State
		reason string
	}{
		{"four failures stay closed", Settings{}, "ffff", Closed, ""},
		{"five failures open", Settings{}, "fffff", Open, "5 consecutive failures"},
		{"success resets the run", Settings{FailureRate: -1}, "ffffsffff", Closed, ""},
		{"custom threshold", Settings{ConsecutiveFailures: 2}, "ff", Open, "2 consecutive failures"},
		{"disabled", Settings{ConsecutiveFailures: -1, FailureRate: -1}, "ffffffffffffffff", Closed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, rec := MustBreaker(t, tt.s)
			outcomes(t, b, tt.seq)
			if got := b.State(); got != tt.want {
				t.Fatalf("state: got %s, want %s", got, tt.want)
			}
			if tt.reason == "" {
				return
			}
			ts := rec.all()
			if len(ts) != 1 || ts[0].Reason != tt.reason {
				t.Errorf("transitions: got %+v, want one with reason %q", ts, tt.reason)
			}
		})
	}
}

func TestOpensOnFailureRate(t *testing.T) {
	noRun := Settings{ConsecutiveFailures: -1}
	tests := []struct {
		name   string
		s      Settings
		seq    string
		want   State
		reason string
	}{
		{"below min requests", noRun, "sfsfsfsff", Closed, ""},
		{"min requests at half", noRun, "sfsfsfsfsf", Open, "failure rate 50% over 30s (10 requests)"},
		{"rate below threshold", noRun, "ssfsfssfsfsf", Closed, ""},
		{"rate rounded", Settings{ConsecutiveFailures: -1, MinRequests: 13}, "sssssffffffff", Open, "failure rate 62% over 30s (13 requests)"},
		{"custom rate and window", Settings{ConsecutiveFailures: -1, FailureRate: 0.25, MinRequests: 4, Window: time.Minute}, "sssf", Open, "failure rate 25% over 1m0s (4 requests)"},
		{"rate disabled", Settings{ConsecutiveFailures: -1, FailureRate: -1}, "fffffffffffffffffff", Closed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, rec := MustBreaker(t, tt.s)
			outcomes(t, b, tt.seq)
			if got := b.State(); got != tt.want {
				t.Fatalf("state: got %s, want %s", got, tt.want)
			}
			if tt.reason == "" {
				return
			}
			if ts := rec.all(); len(ts) != 1 || ts[0].Reason != tt.reason {
				t.Errorf("transitions: got %+v, want one with reason %q", ts, tt.reason)
			}
		})
	}
}

func TestWindowSlides(t *testing.T) {
	// Requests at 0s and 5s; the window is 30s in 3s buckets, so the bucket
	// [0s,3s) leaves it at 30s and the bucket [3s,6s) at 33s.
	tests := []struct {
		name       string
		at         time.Duration
		wantBefore int // requests in the window before one more failure
		wantState  State
	}{
		{"all still in window", 20 * time.Second, 8, Open},
		{"first bucket still in", 29 * time.Second, 8, Open},
		{"first bucket slid out", 30 * time.Second, 4, Closed},
		{"all slid out", 33 * time.Second, 0, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{ConsecutiveFailures: -1, MinRequests: 9})
			outcomes(t, b, "sfsf")
			clk.Advance(5 * time.Second)
			outcomes(t, b, "sfsf")
			clk.Advance(tt.at - 5*time.Second)
			if got := b.Snapshot().Requests; got != tt.wantBefore {
				t.Fatalf("requests in window: got %d, want %d", got, tt.wantBefore)
			}
			// 5 failures of 9 open; 3 of 5 or 1 of 1 are under MinRequests.
			MustAllow(t, b)(false)
			if got := b.State(); got != tt.wantState {
				t.Errorf("state: got %s, want %s (snapshot %+v)", got, tt.wantState, b.Snapshot())
			}
		})
	}
}

func TestOpenToHalfOpen(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		want    State
		wantErr error
	}{
		{"just opened", 0, Open, ErrOpen},
		{"before OpenFor", 5*time.Second - time.Nanosecond, Open, ErrOpen},
		{"at OpenFor", 5 * time.Second, HalfOpen, nil},
		{"long after", time.Hour, HalfOpen, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{})
			mustOpen(t, b)
			if got, want := b.OpenUntil(), clk.Now().Add(5*time.Second); !got.Equal(want) {
				t.Errorf("OpenUntil: got %v, want %v", got, want)
			}
			clk.Advance(tt.advance)
			_, err := b.Allow()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Allow: got %v, want %v", err, tt.wantErr)
			}
			if got := b.State(); got != tt.want {
				t.Errorf("state: got %s, want %s", got, tt.want)
			}
			if tt.want != Open && !b.OpenUntil().IsZero() {
				t.Errorf("OpenUntil: got %v, want zero", b.OpenUntil())
			}
		})
	}
}

func TestHalfOpenTrials(t *testing.T) {
	tests := []struct {
		name     string
		trials   int
		outcomes []bool // results of the trials, in order
		want     State
	}{
		{"one trial succeeds", 1, []bool{true}, Closed},
		{"one trial fails", 1, []bool{false}, Open},
		{"three trials succeed", 3, []bool{true, true, true}, Closed},
		{"two of three succeed so far", 3, []bool{true, true}, HalfOpen},
		{"last of three fails", 3, []bool{true, true, false}, Open},
		{"first of three fails", 3, []bool{false}, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{HalfOpenRequests: tt.trials})
			mustOpen(t, b)
			clk.Advance(5 * time.Second)
			dones := make([]func(bool), tt.trials)
			for i := range dones {
				dones[i] = MustAllow(t, b)
			}
			if _, err := b.Allow(); !errors.Is(err, ErrHalfOpenBusy) {
				t.Fatalf("Allow past %d trials: got %v, want ErrHalfOpenBusy", tt.trials, err)
			}
			for i, ok := range tt.outcomes {
				dones[i](ok)
			}
			if got := b.State(); got != tt.want {
				t.Errorf("state: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestStaleDone(t *testing.T) {
	tests := []struct {
		name    string
		outcome bool
	}{
		{"stale failure", false},
		{"stale success", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := MustBreaker(t, Settings{HalfOpenRequests: 2})
			stale := MustAllow(t, b) // issued while closed, still in flight
			mustOpen(t, b)
			clk.Advance(5 * time.Second)
			trial := MustAllow(t, b)
			stale(tt.outcome) // must neither close nor re-open the half-open breaker
			if got := b.State(); got != HalfOpen {
				t.Fatalf("state after stale done: got %s, want half_open", got)
			}
			trial(true)
			MustAllow(t, b)(true)
			if got := b.State(); got != Closed {
				t.Fatalf("state after two trials: got %s, want closed", got)
			}
			if snap := b.Snapshot(); snap.Requests != 0 || snap.ConsecutiveFailures != 0 {
				t.Errorf("counts after close: got %+v, want zero", snap)
			}
		})
	}
}

func TestDoubleDone(t *testing.T) {
	tests := []struct {
		name  string
		first bool
		then  []bool
		want  Snapshot
	}{
		{"failure twice", false, []bool{false}, Snapshot{Requests: 1, Failures: 1, ConsecutiveFailures: 1}},
		{"failure many times", false, []bool{false, false, false, false, false}, Snapshot{Requests: 1, Failures: 1, ConsecutiveFailures: 1}},
		{"success then failure", true, []bool{false}, Snapshot{Requests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, _ := MustBreaker(t, Settings{})
			done := MustAllow(t, b)
			done(tt.first)
			for _, ok := range tt.then {
				done(ok)
			}
			got := b.Snapshot()
			if got.State != Closed || got.Requests != tt.want.Requests || got.Failures != tt.want.Failures ||
				got.ConsecutiveFailures != tt.want.ConsecutiveFailures {
				t.Errorf("got %+v, want closed with %+v", got, tt.want)
			}
		})
	}
}

func TestOnChangeReasons(t *testing.T) {
	b, clk, rec := MustBreaker(t, Settings{})
	start := clk.Now()
	outcomes(t, b, "fffff")
	clk.Advance(5 * time.Second)
	MustAllow(t, b)(false)
	clk.Advance(10 * time.Second)
	MustAllow(t, b)(true)
	b.Trip(30*time.Second, "rate limited, Retry-After 30s")
	clk.Advance(30 * time.Second)
	b.ProbeResult(false)
	clk.Advance(20 * time.Second)
	b.ProbeResult(true)
	want := []string{
		"closed->open: 5 consecutive failures",
		"open->half_open: open period over",
		"half_open->open: trial failed; ejection level 1, open 10s",
		"open->half_open: open period over",
		"half_open->closed: trial succeeded",
		"closed->open: cool-down: rate limited, Retry-After 30s",
		"open->half_open: open period over",
		"half_open->open: probe failed; ejection level 2, open 20s",
		"open->half_open: open period over",
		"half_open->closed: probe succeeded",
	}
	got := rec.reasons()
	if len(got) != len(want) {
		t.Fatalf("got %d transitions %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("transition %d: got %q, want %q", i, got[i], want[i])
		}
	}
	ts := rec.all()
	if !ts[0].At.Equal(start) || !ts[0].OpenUntil.Equal(start.Add(5*time.Second)) || ts[0].Target != "openai/gpt-4o-mini" {
		t.Errorf("first transition: got %+v", ts[0])
	}
	if !ts[1].OpenUntil.IsZero() {
		t.Errorf("OpenUntil of a half-open transition: got %v, want zero", ts[1].OpenUntil)
	}
}

func TestChanged(t *testing.T) {
	b, _, _ := MustBreaker(t, Settings{})
	ch := b.Changed()
	outcomes(t, b, "ffff")
	select {
	case <-ch:
		t.Fatal("Changed closed without a transition")
	default:
	}
	outcomes(t, b, "f")
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed after the breaker opened")
	}
	if b.Changed() == ch {
		t.Error("Changed: got the closed channel again, want a new one")
	}
}

func TestConcurrentAllowDone(t *testing.T) {
	b, clk, rec := MustBreaker(t, Settings{HalfOpenRequests: 3, MinRequests: 20})
	const workers, each = 16, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				done, err := b.Allow()
				if err != nil {
					continue
				}
				ok := (i+w)%3 != 0
				done(ok)
				done(!ok) // ignored
			}
		})
	}
	wg.Go(func() {
		for i := range each {
			clk.Advance(100 * time.Millisecond)
			b.ProbeResult(i%4 != 0)
			if s := b.Snapshot(); s.Trials > 3 {
				t.Errorf("trials: got %d, want at most 3", s.Trials)
			}
			if i%100 == 0 {
				b.Trip(time.Second, "drill")
			}
		}
	})
	wg.Wait()
	ts := rec.all()
	if len(ts) == 0 {
		t.Fatal("got no transitions, want some")
	}
	for i := 1; i < len(ts); i++ {
		if ts[i].From != ts[i-1].To {
			t.Fatalf("transition %d: got from %s after a transition to %s, want in order", i, ts[i].From, ts[i-1].To)
		}
	}
}

func BenchmarkAllowDone(b *testing.B) {
	b.Run("baseline-mutex", func(b *testing.B) {
		var mu sync.Mutex
		n := 0
		for b.Loop() {
			mu.Lock()
			n++
			mu.Unlock()
			done := func(bool) { mu.Lock(); n--; mu.Unlock() }
			done(true)
		}
	})
	b.Run("breaker", func(b *testing.B) {
		br := NewBreaker("t", Settings{}, clockwork.NewFakeClock(), nil)
		b.ReportAllocs()
		for b.Loop() {
			done, err := br.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(true)
		}
	})
	b.Run("breaker-parallel", func(b *testing.B) {
		br := NewBreaker("t", Settings{}, clockwork.NewRealClock(), nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				done, err := br.Allow()
				if err != nil {
					b.Fatal(err)
				}
				done(true)
			}
		})
	})
}

// TestIgnoreOutcome: an ignored outcome counts nothing and frees a half-open
// trial slot, so a client that leaves can neither close nor hold the breaker.
func TestIgnoreOutcome(t *testing.T) {
	b, clk, _ := MustBreaker(t, Settings{ConsecutiveFailures: 2, OpenFor: time.Second})
	for i := 0; i < 2; i++ {
		d, err := b.AllowOutcome()
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			// An ignored outcome between two failures does not reset the count.
			d2, _ := b.AllowOutcome()
			d2(Ignore)
		}
		d(Failure)
	}
	if got := b.State(); got != Open {
		t.Fatalf("got %s, want open after 2 failures around an ignored outcome", got)
	}
	clk.Advance(time.Second)
	d, err := b.AllowOutcome()
	if err != nil || b.State() != HalfOpen {
		t.Fatalf("got %v in %s, want a half-open trial", err, b.State())
	}
	d(Ignore)
	if got := b.State(); got != HalfOpen {
		t.Errorf("got %s after an ignored trial, want still half-open", got)
	}
	if _, err := b.AllowOutcome(); err != nil {
		t.Errorf("got %v, want the freed trial slot", err)
	}
}
