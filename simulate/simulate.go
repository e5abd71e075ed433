// Package simulate is a fault-injecting fake of OpenAI-compatible LLM
// providers: the backbone of the gateway's tests, of the demo, of benchmarks
// and of drills.
//
// One Simulator serves several named providers over the real OpenAI Chat
// Completions wire format (JSON and SSE streams), at
// /{provider}/v1/chat/completions, /{provider}/v1/models and the Azure-style
// /{provider}/openai/deployments/{deployment}/chat/completions, and over
// Anthropic's Messages wire format at /{provider}/v1/messages (see
// anthropic.go for how its requests are normalised). Each provider
// can be given a Fault (a 429, a reset connection, a stream cut after three
// chunks…) directly, through a timed schedule, or through the JSON control API
// under /_sim/; the same fault answers in each wire format's own error shape.
// A provider can also be given a fixed Capacity: slots, a queue, and
// overload refusals beyond them (see Options.Capacity).
// Answers are deterministic (see Answer), and a request that continues a
// partial answer gets exactly the rest of it (see Continuation), so a
// gateway's mid-stream failover can be checked to the byte. Every delay runs
// on the injected clock, so tests need no sleeps.
package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// Sentinel errors.
var (
	ErrUnknownProvider = errors.New("unknown provider")
	ErrClosed          = errors.New("simulator closed")
)

// Outcomes recorded in Stats.Outcomes besides the fault kinds.
const (
	OutcomeOK         = "ok"              // answered normally
	OutcomeBadRequest = "bad_request"     // rejected by request validation
	OutcomeInvalidKey = "invalid_api_key" // rejected by Options.Keys
	// OutcomeOverCapacity: refused as overloaded, every slot and queue
	// place of the provider's Capacity being taken.
	OutcomeOverCapacity = "over_capacity"
	// OutcomeLeftQueue: the client went away, or the simulator was closed,
	// while the request waited for a slot; it got no answer.
	OutcomeLeftQueue = "left_queue"
)

// Options configures a Simulator. The zero value serves the providers
// "primary", "secondary" and "backup" on the real clock, without keys.
type Options struct {
	// Clock drives every delay, token pacing and schedule; nil means the real clock.
	Clock clockwork.Clock
	// Providers are the provider names served; empty means primary, secondary,
	// backup. Requests for other names get 404.
	Providers []string
	// Keys optionally maps a provider to the API key it requires, given as
	// "Authorization: Bearer KEY" or "api-key: KEY". Providers absent from the
	// map accept any key or none.
	Keys map[string]string
	// NoPrefill lists providers that reject every request ending in an
	// assistant message (prefill, "prefix": true or continue_final_message)
	// with a 400, as the reject_prefill fault does but permanently, before any
	// fault applies; the outcome counts as "reject_prefill". Absent means
	// prefill is supported.
	NoPrefill map[string]bool
	// Capacity optionally gives providers a fixed concurrency, as a real
	// inference server has. A request holds a slot for its whole service —
	// FirstTokenDelay and any fault's delay, every chunk of a stream up to
	// the last, the whole non-stream answer; a hang or stall until the client
	// goes away — and gives it back when that ends or its client goes away.
	// Beyond Slots, requests wait in a first-come-first-served queue of
	// Queue places until a slot frees, their client goes away or the
	// simulator is closed (outcome "left_queue"); beyond the queue they are
	// refused at once as overloaded, as the overloaded fault answers: 503
	// with OpenAI's error body, or 529 overloaded_error on the Anthropic
	// endpoint (outcome "over_capacity").
	//
	// As a real server admits work, capacity is checked once the key and
	// the request are found valid (NoPrefill included), and before any
	// fault applies: a refused request does not count against a fault's
	// Count, and an admitted one holds its slot while its fault plays out.
	// Model listings need no slot. Providers absent from the map, or with
	// Slots 0 or less, are unlimited; a negative Queue means 0. SetCapacity
	// and ClearCapacity change it at runtime; Reset keeps it.
	Capacity map[string]Capacity
	// AnswerWords is the number of words per answer; 0 means 24.
	AnswerWords int
	// TokenInterval is the pause between streamed content chunks; 0 means none.
	TokenInterval time.Duration
	// FirstTokenDelay is the base wait before a non-stream response's headers,
	// or before a stream's first chunk; 0 means none.
	FirstTokenDelay time.Duration
	// SameAnswers makes every provider and model answer the same messages
	// with the same text, Answer("", "", messages...), as if all served one
	// model: continuing on a backup then reproduces the primary's answer
	// exactly, which end-to-end continuation tests assert.
	SameAnswers bool
	// Logger receives fault changes (Info) and requests (Debug); nil discards.
	Logger *slog.Logger
}

// Simulator serves fake providers. It is an http.Handler; all methods are
// safe for concurrent use.
type Simulator struct {
	clock       clockwork.Clock
	log         *slog.Logger
	words       int
	interval    time.Duration
	firstDelay  time.Duration
	keys        map[string]string
	noPrefill   map[string]bool
	names       []string             // served providers, in Options order
	providers   map[string]*provider // read-only after New
	mux         *http.ServeMux
	seq         atomic.Uint64 // completion and request ids
	done        chan struct{} // closed by Close
	closeOnce   sync.Once
	sameAnswers bool // Options.SameAnswers
}

var _ http.Handler = (*Simulator)(nil)

// Stats counts what one provider received.
type Stats struct {
	// Requests counts chat completion and Anthropic Messages requests,
	// rejected ones included.
	Requests int `json:"requests"`
	// Streams counts the requests that asked for "stream": true.
	Streams int `json:"streams"`
	// Listings counts GET /v1/models requests.
	Listings int `json:"listings"`
	// Outcomes counts requests by outcome: "ok", a fault kind,
	// "bad_request", "invalid_api_key", "over_capacity" or "left_queue".
	Outcomes map[string]int `json:"outcomes"`
	// Models lists the distinct models requested, in first-seen order.
	Models []string `json:"models"`
	// ModelRequests counts requests per model.
	ModelRequests map[string]int `json:"model_requests"`
	// LastRequest is the raw body of the last request that was valid JSON.
	LastRequest json.RawMessage `json:"last_request,omitempty"`
	// Busy is how many requests are being answered now, each holding a
	// slot (see Options.Capacity); counted with or without a Capacity.
	// Busy and Queued are the state now: Reset leaves them.
	Busy int `json:"busy"`
	// Queued is how many requests wait for a slot now.
	Queued int `json:"queued"`
}

// provider is the state of one served provider, guarded by mu.
type provider struct {
	name    string
	mu      sync.Mutex
	manual  *active       // set by SetFault; nil while a schedule runs
	sched   *schedule     // set by Schedule
	stats   Stats         // Busy and Queued are filled in by snapshot
	gate    gate          // slots and queue
	changed chan struct{} // closed and replaced when stats, slots or queue change
}

// active is a fault in force with what remains of its Count.
type active struct {
	fault Fault
	left  int // requests still to affect; -1 means until cleared, 0 means spent
}

func newActive(f *Fault) *active {
	if f == nil {
		return nil
	}
	a := &active{fault: *f, left: -1}
	if f.Count > 0 {
		a.left = f.Count
	}
	return a
}

// view returns the fault as it stands, Count being what is left of it.
func (a *active) view() *Fault {
	if a == nil || a.left == 0 {
		return nil
	}
	f := a.fault
	f.Count = max(a.left, 0)
	return &f
}

type schedule struct {
	start time.Time
	steps []Step
	state []*active // one per step
	step  int       // the step last seen in force, to log transitions
}

// New returns a Simulator; it starts nothing until it serves a request.
func New(o Options) *Simulator {
	s := &Simulator{
		clock:       o.Clock,
		log:         o.Logger,
		words:       o.AnswerWords,
		interval:    o.TokenInterval,
		firstDelay:  o.FirstTokenDelay,
		keys:        maps.Clone(o.Keys),
		sameAnswers: o.SameAnswers,
		noPrefill:   maps.Clone(o.NoPrefill),
		providers:   map[string]*provider{},
		done:        make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.words <= 0 {
		s.words = DefaultAnswerWords
	}
	names := o.Providers
	if len(names) == 0 {
		names = []string{"primary", "secondary", "backup"}
	}
	for _, n := range names {
		if _, dup := s.providers[n]; dup || n == "" {
			continue
		}
		s.names = append(s.names, n)
		s.providers[n] = &provider{name: n, stats: emptyStats(), changed: make(chan struct{})}
	}
	for name, c := range o.Capacity {
		if p, ok := s.providers[name]; ok && c.Slots > 0 {
			c.Queue = max(c.Queue, 0)
			p.gate.limit = &c
		}
	}
	s.mux = s.routes()
	return s
}

func emptyStats() Stats {
	return Stats{Outcomes: map[string]int{}, ModelRequests: map[string]int{}, Models: []string{}}
}

// ServeHTTP serves the provider endpoints and the control API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Providers returns the names served, in Options order.
func (s *Simulator) Providers() []string { return slices.Clone(s.names) }

func (s *Simulator) provider(name string) (*provider, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownProvider, name)
	}
	return p, nil
}

// SetFault makes provider misbehave as f until ClearFault, until f.Count
// requests were affected, or until a Schedule replaces it. It stops any
// running schedule of that provider.
func (s *Simulator) SetFault(provider string, f Fault) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.sched, p.manual = nil, newActive(&f)
	p.mu.Unlock()
	s.log.Info("fault set", "provider", provider, "kind", f.Kind, "count", f.Count, "model", f.Model)
	return nil
}

// ClearFault makes provider healthy and stops its schedule.
func (s *Simulator) ClearFault(provider string) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sched, p.manual = nil, nil
	p.mu.Unlock()
	s.log.Info("fault cleared", "provider", provider)
	return nil
}

// Schedule runs steps in order from now on the Clock: each step's fault (nil
// means healthy) holds for its For, and the provider is healthy after the
// last. A step's Count limits that step only. Schedule replaces the current
// fault and any earlier schedule.
func (s *Simulator) Schedule(provider string, steps []Step) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		return &ValidationError{Field: "steps", Reason: "at least one step is required"}
	}
	sc := &schedule{start: s.clock.Now(), step: -1}
	for i, st := range steps {
		prefix := fmt.Sprintf("steps[%d]", i)
		if st.For <= 0 {
			return &ValidationError{Field: prefix + ".for", Reason: fmt.Sprintf("%s: want a positive duration such as \"30s\"", st.For)}
		}
		if st.Fault != nil {
			if err := st.Fault.validate(); err != nil {
				return err.within(prefix + ".fault")
			}
			f := *st.Fault
			st.Fault = &f
		}
		sc.steps = append(sc.steps, st)
		sc.state = append(sc.state, newActive(st.Fault))
	}
	p.mu.Lock()
	p.manual, p.sched = nil, sc
	p.mu.Unlock()
	s.log.Info("schedule set", "provider", provider, "steps", len(steps))
	return nil
}

// current returns the fault in force at now, or nil. p.mu must be held.
func (s *Simulator) current(p *provider, now time.Time) *active {
	sc := p.sched
	if sc == nil {
		return p.manual
	}
	elapsed := now.Sub(sc.start)
	var end time.Duration
	for i, st := range sc.steps {
		end += time.Duration(st.For)
		if elapsed < end {
			if i != sc.step {
				sc.step = i
				kind := "healthy"
				if st.Fault != nil {
					kind = st.Fault.Kind
				}
				s.log.Info("schedule step", "provider", p.name, "step", i, "kind", kind, "for", st.For)
			}
			return sc.state[i]
		}
	}
	p.sched = nil
	s.log.Info("schedule finished", "provider", p.name)
	return nil
}

// pick returns the fault that applies to t, if any; when consume is set it
// counts against the fault's Count.
func (s *Simulator) pick(p *provider, t target, consume bool) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := s.current(p, s.clock.Now())
	if a == nil || a.left == 0 || !a.fault.appliesTo(t) {
		return Fault{}, false
	}
	if consume && a.left > 0 {
		a.left--
		if a.left == 0 && a == p.manual {
			p.manual = nil
			s.log.Info("fault spent", "provider", p.name, "kind", a.fault.Kind)
		}
	}
	return a.fault, true
}

// CurrentFault returns the fault in force on provider now, Count being what
// is left of it.
func (s *Simulator) CurrentFault(provider string) (Fault, bool) {
	p, err := s.provider(provider)
	if err != nil {
		return Fault{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := s.current(p, s.clock.Now()).view()
	if f == nil {
		return Fault{}, false
	}
	return *f, true
}

// Stats returns a copy of what provider received; zero for an unknown provider.
func (s *Simulator) Stats(provider string) Stats {
	p, err := s.provider(provider)
	if err != nil {
		return emptyStats()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snapshot()
}

// snapshot returns a copy of p's stats with the state of its slots. p.mu
// must be held.
func (p *provider) snapshot() Stats {
	st := p.stats.clone()
	st.Busy, st.Queued = p.gate.busy, len(p.gate.waiters)
	return st
}

// notify wakes the waits on p's stats. p.mu must be held.
func (p *provider) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (st Stats) clone() Stats {
	c := st
	c.Outcomes = maps.Clone(st.Outcomes)
	c.ModelRequests = maps.Clone(st.ModelRequests)
	c.Models = slices.Clone(st.Models)
	c.LastRequest = slices.Clone(st.LastRequest)
	return c
}

// arrive records a chat completion request before it is answered.
func (p *provider) arrive(body []byte, valid bool, req chatRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	if valid {
		p.stats.LastRequest = body
	}
	if req.Stream {
		p.stats.Streams++
	}
	if req.Model != "" {
		if p.stats.ModelRequests[req.Model] == 0 {
			p.stats.Models = append(p.stats.Models, req.Model)
		}
		p.stats.ModelRequests[req.Model]++
	}
	p.notify()
}

func (p *provider) outcome(o string) {
	p.mu.Lock()
	p.stats.Outcomes[o]++
	p.notify()
	p.mu.Unlock()
}

func (p *provider) listed() {
	p.mu.Lock()
	p.stats.Listings++
	p.notify()
	p.mu.Unlock()
}

// WaitRequests blocks until provider has received at least n chat completion
// requests (counted on arrival, before they are answered), ctx is done or the
// simulator is closed.
func (s *Simulator) WaitRequests(ctx context.Context, provider string, n int) error {
	st, err := s.waitStats(ctx, provider, func(st Stats) bool { return st.Requests >= n })
	if err != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("waiting for %d requests to %s (got %d): %w", n, provider, st.Requests, err)
	}
	return err
}

// WaitStats blocks until cond holds for provider's Stats, ctx is done or the
// simulator is closed. cond is checked at once and after every change: a
// request's arrival or outcome, a listing, a slot or queue place taken or
// given back (Busy, Queued).
func (s *Simulator) WaitStats(ctx context.Context, provider string, cond func(Stats) bool) error {
	st, err := s.waitStats(ctx, provider, cond)
	if err != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("waiting on the stats of %s (last: %d requests, %d busy, %d queued, outcomes %v): %w",
			provider, st.Requests, st.Busy, st.Queued, st.Outcomes, err)
	}
	return err
}

// waitStats is WaitStats; it returns the last Stats seen.
func (s *Simulator) waitStats(ctx context.Context, provider string, cond func(Stats) bool) (Stats, error) {
	p, err := s.provider(provider)
	if err != nil {
		return emptyStats(), err
	}
	for {
		p.mu.Lock()
		st, changed := p.snapshot(), p.changed
		p.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return st, ctx.Err()
		case <-s.done:
			return st, ErrClosed
		}
	}
}

// Reset clears every provider's fault, schedule and stats. Capacity, and the
// requests holding or waiting for a slot, are kept.
func (s *Simulator) Reset() {
	for _, name := range s.names {
		p := s.providers[name]
		p.mu.Lock()
		p.manual, p.sched, p.stats = nil, nil, emptyStats()
		p.notify()
		p.mu.Unlock()
	}
	s.log.Info("reset")
}

// Close releases every hanging or stalled handler at once: their connections
// are aborted. Later waits end immediately. Close starts no goroutine and is
// idempotent; the Simulator keeps answering requests that need no wait.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// wait pauses for d on the clock. It returns false if ctx ended or the
// simulator was closed first.
func (s *Simulator) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// block holds the request until ctx ends or the simulator is closed, then
// aborts the connection.
func (s *Simulator) block(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	panic(http.ErrAbortHandler)
}
