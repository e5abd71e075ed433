// Package health keeps per-target health for the gateway: a two-step circuit
// breaker fed by live traffic, and active probes that let a breaker notice a
// recovery (or an idle target's death) on their own.
//
// # Breaker states
//
//   - Closed: every request is allowed. Each request reports its outcome through
//     the done func returned by Allow. The breaker opens after
//     Settings.ConsecutiveFailures failures in a row, or when at least
//     Settings.MinRequests requests ended within Settings.Window and the share of
//     failures among them reaches Settings.FailureRate (checked on failures only).
//   - Open: Allow returns ErrOpen until OpenUntil. The first call after that
//     moves it to HalfOpen (lazily, from the clock: there are no timers).
//   - HalfOpen: up to Settings.HalfOpenRequests trial requests are let through;
//     a failed trial re-opens, HalfOpenRequests successful trials close it.
//
// Counts (window, consecutive failures, trials) restart at every transition,
// and a done issued before a transition is ignored (generations, as in
// sony/gobreaker).
//
// # Exponential ejection
//
// A breaker keeps an ejection level L (Ejections). Each failure-driven open
// lasts min(OpenFor×2^L, MaxOpenFor), and that length is remembered as the
// last open period P. When the breaker opens:
//
//   - from HalfOpen (a trial or a probe failed right after an open period): L+1;
//   - from Closed, if it had been closed for less than 2×P: L+1 (flapping);
//   - from Closed, after at least 2×P closed: L = 0 (decay).
//
// So the level decays back to 0 once the breaker has stayed closed for twice
// its last open period; Ejections reports 0 from that moment on. L stops
// growing once OpenFor×2^L reaches MaxOpenFor. Trip neither raises nor lowers
// the level.
//
// # Probes and cool-downs
//
// ProbeResult(true) closes an Open breaker at once when L is 0 and no Trip
// cool-down is running. During a cool-down it is ignored. With L ≥ 1 it is
// remembered (until a failed probe) and, when the open period ends, the
// breaker moves straight to Closed instead of HalfOpen. ProbeResult(true)
// while HalfOpen closes. ProbeResult(false) keeps an Open breaker as it is,
// re-opens a HalfOpen one, and counts as an ordinary failure while Closed (so
// that probes every HealthyInterval can find a dead idle target); likewise
// ProbeResult(true) counts as a success while Closed.
package health

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// State is a breaker's state.
type State int

// Breaker states.
const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MarshalText makes a State read as its name in JSON and YAML.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Errors returned by Allow.
var (
	ErrOpen         = errors.New("health: circuit breaker is open")
	ErrHalfOpenBusy = errors.New("health: circuit breaker is half-open and its trial requests are taken")
)

// Settings configures a Breaker. A zero field takes its default.
type Settings struct {
	// ConsecutiveFailures in a row open the breaker. Default 5; negative disables.
	ConsecutiveFailures int
	// FailureRate (0..1] of failures among the requests that ended within Window
	// opens the breaker once MinRequests ended there. Default 0.5; negative disables.
	FailureRate float64
	// MinRequests that must end within Window before FailureRate applies. Default 10.
	MinRequests int
	// Window is the sliding window of FailureRate, kept in 10 time buckets (so it
	// covers between 0.9×Window and Window). Default 30s.
	Window time.Duration
	// OpenFor is the first open period, before a trial. Default 5s.
	OpenFor time.Duration
	// MaxOpenFor caps the open period of exponential ejection. Default 5m;
	// raised to OpenFor when smaller.
	MaxOpenFor time.Duration
	// HalfOpenRequests is the number of concurrent trial requests while
	// half-open, and the number of successful trials that close it. Default 1.
	HalfOpenRequests int
}

// DefaultSettings returns the settings a zero Settings stands for.
func DefaultSettings() Settings {
	return Settings{
		ConsecutiveFailures: 5,
		FailureRate:         0.5,
		MinRequests:         10,
		Window:              30 * time.Second,
		OpenFor:             5 * time.Second,
		MaxOpenFor:          5 * time.Minute,
		HalfOpenRequests:    1,
	}
}

// Validate reports the first field whose value makes no sense.
func (s Settings) Validate() error {
	switch {
	case s.FailureRate > 1:
		return fmt.Errorf("health: FailureRate %v: want at most 1", s.FailureRate)
	case s.MinRequests < 0:
		return fmt.Errorf("health: MinRequests %d: want 0 (default) or more", s.MinRequests)
	case s.Window < 0:
		return fmt.Errorf("health: Window %s: want 0 (default) or more", s.Window)
	case s.OpenFor < 0:
		return fmt.Errorf("health: OpenFor %s: want 0 (default) or more", s.OpenFor)
	case s.MaxOpenFor < 0:
		return fmt.Errorf("health: MaxOpenFor %s: want 0 (default) or more", s.MaxOpenFor)
	case s.HalfOpenRequests < 0:
		return fmt.Errorf("health: HalfOpenRequests %d: want 0 (default) or more", s.HalfOpenRequests)
	}
	d := s.withDefaults()
	if s.MaxOpenFor > 0 && s.MaxOpenFor < d.OpenFor {
		return fmt.Errorf("health: MaxOpenFor %s: want at least OpenFor (%s)", s.MaxOpenFor, d.OpenFor)
	}
	return nil
}

func (s Settings) withDefaults() Settings {
	d := DefaultSettings()
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = d.ConsecutiveFailures
	}
	if s.FailureRate == 0 {
		s.FailureRate = d.FailureRate
	}
	if s.MinRequests <= 0 {
		s.MinRequests = d.MinRequests
	}
	if s.Window <= 0 {
		s.Window = d.Window
	}
	if s.OpenFor <= 0 {
		s.OpenFor = d.OpenFor
	}
	if s.MaxOpenFor <= 0 {
		s.MaxOpenFor = d.MaxOpenFor
	}
	if s.MaxOpenFor < s.OpenFor {
		s.MaxOpenFor = s.OpenFor
	}
	if s.HalfOpenRequests <= 0 {
		s.HalfOpenRequests = d.HalfOpenRequests
	}
	return s
}

// Transition is one change of a breaker's state, given to onChange.
// From == To == Open when a Trip lengthens an open period.
type Transition struct {
	Target    string
	From, To  State
	Reason    string // human-readable, e.g. "5 consecutive failures"
	At        time.Time
	OpenUntil time.Time // end of the open period when To is Open; zero otherwise
	Ejections int       // ejection level after the transition
}

// Snapshot is a breaker's state for metrics and status pages.
type Snapshot struct {
	Target string
	State  State
	Since  time.Time // when the current state began
	// Requests and Failures ended within Window since the current state began.
	Requests, Failures  int
	ConsecutiveFailures int
	OpenUntil           time.Time // zero unless Open
	CoolDownUntil       time.Time // end of a running Trip cool-down; zero when none
	Ejections           int
	Trials              int // trial requests let through in the current half-open state
}

// Breaker is one target's circuit breaker. It is safe for concurrent use.
type Breaker struct {
	target   string
	s        Settings
	clk      clockwork.Clock
	onChange func(Transition)
	maxLevel int // ejection level at which OpenFor×2^level reaches MaxOpenFor

	mu          sync.Mutex
	state       State
	gen         uint64 // bumped at each transition; stale dones are ignored
	since       time.Time
	consecutive int
	win         window
	openUntil   time.Time
	coolUntil   time.Time     // end of the Trip cool-down
	level       int           // ejection level
	lastPeriod  time.Duration // last failure-driven open period; 0 before the first
	closedAt    time.Time     // when it last closed
	probeOK     bool          // a probe succeeded during an ejection period (level ≥ 1)
	trials      int           // half-open trials let through (in flight + succeeded)
	trialsOK    int
	changed     chan struct{}
	queue       []Transition // transitions waiting to be given to onChange
	notifying   bool         // a goroutine is draining queue
}

// NewBreaker returns a closed breaker for target. clk nil means the real
// clock. onChange, when not nil, is called for every transition, outside the
// breaker's lock, one call at a time and in order; it may run on whichever
// goroutine is delivering at that moment, so a method may return before the
// transition it caused has been delivered by another goroutine.
func NewBreaker(target string, s Settings, clk clockwork.Clock, onChange func(Transition)) *Breaker {
	if clk == nil {
		clk = clockwork.NewRealClock()
	}
	s = s.withDefaults()
	b := &Breaker{
		target:   target,
		s:        s,
		clk:      clk,
		onChange: onChange,
		win:      newWindow(s.Window),
		changed:  make(chan struct{}),
	}
	for b.period(b.maxLevel) < s.MaxOpenFor {
		b.maxLevel++
	}
	now := clk.Now()
	b.since, b.closedAt = now, now
	return b
}

// Target returns the target name the breaker was made for.
func (b *Breaker) Target() string { return b.target }

// Outcome is how an allowed request ended, for the breaker.
type Outcome int

const (
	// Success counts for the target.
	Success Outcome = iota
	// Failure counts against the target.
	Failure
	// Ignore counts nothing (the client left, the request's own deadline ran
	// out) and frees a half-open trial slot for another trial.
	Ignore
)

// Allow asks to send one request. When allowed, done must be called once with
// the request's outcome (for a stream, when it ends); later calls are ignored,
// and so is a done issued before the breaker changed state. A HalfOpen trial
// whose done is never called holds its slot until a probe result or Trip
// moves the breaker on.
func (b *Breaker) Allow() (done func(success bool), err error) {
	d, err := b.AllowOutcome()
	if err != nil {
		return nil, err
	}
	return func(success bool) {
		if success {
			d(Success)
		} else {
			d(Failure)
		}
	}, nil
}

// AllowOutcome is Allow with a three-way outcome, so that a request that
// tells nothing about the target (Ignore) neither counts nor keeps a slot.
func (b *Breaker) AllowOutcome() (done func(Outcome), err error) {
	b.mu.Lock()
	b.refresh(b.clk.Now())
	switch b.state {
	case Open:
		b.unlock()
		return nil, ErrOpen
	case HalfOpen:
		if b.trials >= b.s.HalfOpenRequests {
			b.unlock()
			return nil, ErrHalfOpenBusy
		}
		b.trials++
	}
	gen := b.gen
	b.unlock()
	called := false // guarded by b.mu
	return func(o Outcome) {
		b.mu.Lock()
		if !called {
			called = true
			if o == Ignore {
				if gen == b.gen && b.state == HalfOpen && b.trials > 0 {
					b.trials--
				}
			} else {
				b.finish(gen, o == Success)
			}
		}
		b.unlock()
	}, nil
}

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	b.refresh(b.clk.Now())
	s := b.state
	b.unlock()
	return s
}

// OpenUntil returns the end of the current open period, zero unless Open.
func (b *Breaker) OpenUntil() time.Time {
	b.mu.Lock()
	b.refresh(b.clk.Now())
	var t time.Time
	if b.state == Open {
		t = b.openUntil
	}
	b.unlock()
	return t
}

// Ejections returns the current exponential ejection level (0 = not ejected).
func (b *Breaker) Ejections() int {
	b.mu.Lock()
	b.refresh(b.clk.Now())
	l := b.level
	b.unlock()
	return l
}

// Changed returns a channel closed at the next transition.
func (b *Breaker) Changed() <-chan struct{} {
	_, ch := b.stateChanged()
	return ch
}

// stateChanged returns the state and the channel closed when it changes, together.
func (b *Breaker) stateChanged() (State, <-chan struct{}) {
	b.mu.Lock()
	b.refresh(b.clk.Now())
	s, ch := b.state, b.changed
	b.unlock()
	return s, ch
}

// Snapshot returns the breaker's state and counts.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	now := b.clk.Now()
	b.refresh(now)
	req, fail := b.win.counts(now)
	s := Snapshot{
		Target:              b.target,
		State:               b.state,
		Since:               b.since,
		Requests:            req,
		Failures:            fail,
		ConsecutiveFailures: b.consecutive,
		Ejections:           b.level,
		Trials:              b.trials,
	}
	if b.state == Open {
		s.OpenUntil = b.openUntil
	}
	if now.Before(b.coolUntil) {
		s.CoolDownUntil = b.coolUntil
	}
	b.unlock()
	return s
}

// Trip forces the breaker open for at least d (d ≤ 0 means OpenFor): a
// cool-down after a long Retry-After, an exhausted quota, a bad key. Probe
// successes are ignored until the cool-down is over. An open period already
// longer than d is kept. reason is reported as "cool-down: "+reason.
func (b *Breaker) Trip(d time.Duration, reason string) {
	if d <= 0 {
		d = b.s.OpenFor
	}
	b.mu.Lock()
	now := b.clk.Now()
	b.refresh(now)
	until := now.Add(d)
	b.probeOK = false
	if until.After(b.coolUntil) {
		b.coolUntil = until
	}
	if b.state != Open || until.After(b.openUntil) {
		b.openUntil = until
		b.setState(now, Open, "cool-down: "+reason)
	}
	b.unlock()
}

// ProbeResult feeds the result of an active probe (see the package comment).
func (b *Breaker) ProbeResult(ok bool) {
	b.mu.Lock()
	now := b.clk.Now()
	b.refresh(now)
	switch b.state {
	case Closed:
		b.record(now, ok)
	case Open:
		switch {
		case !ok:
			b.probeOK = false
		case now.Before(b.coolUntil):
			// Cool-down: probes cannot close it.
		case b.level > 0:
			b.probeOK = true // closes when the open period ends
		default:
			b.setState(now, Closed, "probe succeeded")
		}
	case HalfOpen:
		if ok {
			b.setState(now, Closed, "probe succeeded")
		} else {
			b.open(now, "probe failed")
		}
	}
	b.unlock()
}

// finish records the outcome of a request allowed in generation gen.
// Called with b.mu held.
func (b *Breaker) finish(gen uint64, success bool) {
	if gen != b.gen {
		return
	}
	now := b.clk.Now()
	switch b.state {
	case Closed:
		b.record(now, success)
	case HalfOpen:
		if !success {
			b.open(now, "trial failed")
			return
		}
		b.trialsOK++
		if b.trialsOK >= b.s.HalfOpenRequests {
			reason := "trial succeeded"
			if b.trialsOK > 1 {
				reason = fmt.Sprintf("%d trials succeeded", b.trialsOK)
			}
			b.setState(now, Closed, reason)
		}
	}
}

// record counts one outcome while Closed and opens when a threshold is met.
// Called with b.mu held.
func (b *Breaker) record(now time.Time, success bool) {
	b.win.record(now, !success)
	if success {
		b.consecutive = 0
		return
	}
	b.consecutive++
	if n := b.s.ConsecutiveFailures; n > 0 && b.consecutive >= n {
		b.open(now, fmt.Sprintf("%d consecutive failures", b.consecutive))
		return
	}
	if b.s.FailureRate < 0 {
		return
	}
	req, fail := b.win.counts(now)
	if req < b.s.MinRequests {
		return
	}
	if rate := float64(fail) / float64(req); rate >= b.s.FailureRate {
		b.open(now, fmt.Sprintf("failure rate %.0f%% over %s (%d requests)", 100*rate, b.s.Window, req))
	}
}

// refresh applies what the passing of time changes: the end of an open
// period, the decay of the ejection level. Called with b.mu held.
func (b *Breaker) refresh(now time.Time) {
	switch b.state {
	case Open:
		if now.Before(b.openUntil) {
			return
		}
		if b.probeOK {
			b.setState(now, Closed, "open period over, probe had succeeded")
		} else {
			b.setState(now, HalfOpen, "open period over")
		}
	case Closed:
		if b.level > 0 && now.Sub(b.closedAt) >= 2*b.lastPeriod {
			b.level = 0
		}
	}
}

// open opens the breaker after failures, applying exponential ejection.
// Called with b.mu held.
func (b *Breaker) open(now time.Time, reason string) {
	flapping := b.state == HalfOpen || (b.lastPeriod > 0 && now.Sub(b.closedAt) < 2*b.lastPeriod)
	switch {
	case !flapping:
		b.level = 0
	case b.level < b.maxLevel:
		b.level++
	}
	p := b.period(b.level)
	b.lastPeriod = p
	b.openUntil = now.Add(p)
	if b.openUntil.Before(b.coolUntil) {
		b.openUntil = b.coolUntil
	}
	if b.level > 0 {
		reason = fmt.Sprintf("%s; ejection level %d, open %s", reason, b.level, p)
	}
	b.setState(now, Open, reason)
}

// period returns min(OpenFor×2^level, MaxOpenFor) without overflowing.
func (b *Breaker) period(level int) time.Duration {
	p := b.s.OpenFor
	for range level {
		if p > b.s.MaxOpenFor/2 {
			return b.s.MaxOpenFor
		}
		p *= 2
	}
	return min(p, b.s.MaxOpenFor)
}

// setState moves to state to, restarting counts and waking Changed waiters.
// b.openUntil must already be set when to is Open. Called with b.mu held.
func (b *Breaker) setState(now time.Time, to State, reason string) {
	from := b.state
	b.state = to
	b.gen++
	b.since = now
	b.consecutive = 0
	b.win.reset()
	b.trials, b.trialsOK = 0, 0
	b.probeOK = false
	if to == Closed {
		b.closedAt = now
	}
	close(b.changed)
	b.changed = make(chan struct{})
	if b.onChange == nil {
		return
	}
	t := Transition{Target: b.target, From: from, To: to, Reason: reason, At: now, Ejections: b.level}
	if to == Open {
		t.OpenUntil = b.openUntil
	}
	b.queue = append(b.queue, t)
}

// unlock releases b.mu, first giving queued transitions to onChange outside
// the lock, unless another goroutine is already doing so.
func (b *Breaker) unlock() {
	if len(b.queue) == 0 || b.notifying {
		b.mu.Unlock()
		return
	}
	b.notifying = true
	for len(b.queue) > 0 {
		q := b.queue
		b.queue = nil
		b.mu.Unlock()
		b.deliver(q)
		b.mu.Lock()
	}
	b.notifying = false
	b.mu.Unlock()
}

// deliver calls onChange for each transition; if onChange panics, the next
// unlock takes over delivery.
func (b *Breaker) deliver(q []Transition) {
	delivered := false
	defer func() {
		if !delivered {
			b.mu.Lock()
			b.notifying = false
			b.mu.Unlock()
		}
	}()
	for _, t := range q {
		b.onChange(t)
	}
	delivered = true
}
