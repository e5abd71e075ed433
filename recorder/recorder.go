// Package recorder takes what the gateway reports — events and request
// outcomes — off the request path: outcomes are aggregated in memory into
// per-minute rollups and written with the events in batches every few
// seconds. It never blocks a request: when the store is slow or down, it
// keeps aggregating, retries the failed batch at the next flush (the store
// writes a batch at most once, so nothing is counted twice), and counts what
// it had to drop beyond its bounds.
package recorder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// Sink is where batches go; *store.Store implements it.
type Sink interface {
	// WriteBatch writes b in one transaction, unless a batch with its ID
	// was written before.
	WriteBatch(ctx context.Context, b store.Batch) error
}

var _ Sink = (*store.Store)(nil)

// Options are the recorder's bounds and collaborators. Zero values get the
// defaults stated.
type Options struct {
	Clock        clockwork.Clock       // default: real clock
	FlushEvery   time.Duration         // default 5s
	WriteTimeout time.Duration         // bound of one flush's writes; default 10s
	MaxEvents    int                   // events held while the store is unavailable, besides the batch being retried; default 10,000
	MaxRollups   int                   // rollup keys held, likewise; default 50,000
	Logger       *slog.Logger          // default: discard
	Registry     prometheus.Registerer // default: a fresh registry
}

// Recorder aggregates and writes. It implements gateway.EventSink and
// gateway.OutcomeRecorder.
type Recorder struct {
	sink Sink
	o    Options
	log  *slog.Logger

	mu      sync.Mutex
	events  []understudy.Event
	rollups map[rollupKey]*store.Rollup
	// users are the end users who saw a failed or degraded answer, per
	// minute and route, bounded by MaxRollups like the rollups.
	users map[store.AffectedUser]struct{}

	flushMu sync.Mutex // one flush at a time; guards what follows
	// retry is the batch whose write failed, written again as it is (same
	// id) at the next flush before anything newer; nil when none.
	retry   *store.Batch
	id      string // this recorder's prefix of batch ids (random)
	batches int64  // batches made

	dropped *prometheus.CounterVec
	flushes *prometheus.CounterVec
	pending *prometheus.GaugeVec
}

type rollupKey struct {
	minute                     int64
	route, target, class, mode string
}

// New returns a recorder writing to sink. Call Run to flush periodically.
func New(sink Sink, o Options) *Recorder {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 5 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10000
	}
	if o.MaxRollups <= 0 {
		o.MaxRollups = 50000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	r := &Recorder{
		sink: sink, o: o, log: o.Logger, id: hex.EncodeToString(id[:]),
		rollups: make(map[rollupKey]*store.Rollup),
		users:   make(map[store.AffectedUser]struct{}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_recorder_dropped_total",
			Help: "Records the recorder had to drop because the store was unavailable longer than its bounds allow, by kind (event, outcome, user)."}, []string{"kind"}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "understudy_recorder_flushes_total",
			Help: "Flushes to the store by result (ok, failed)."}, []string{"result"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "understudy_recorder_pending",
			Help: "Records waiting for the next flush, by kind (event, rollup)."}, []string{"kind"}),
	}
	o.Registry.MustRegister(r.dropped, r.flushes, r.pending)
	return r
}

// Emit queues an event. It never blocks; beyond MaxEvents the event is
// dropped and counted.
func (r *Recorder) Emit(e understudy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) >= r.o.MaxEvents {
		r.dropped.WithLabelValues("event").Inc()
		return
	}
	r.events = append(r.events, e)
}

// RecordOutcome adds a request outcome to its minute's rollup. It never
// blocks; a new rollup key beyond MaxRollups is dropped and counted.
func (r *Recorder) RecordOutcome(o understudy.Outcome) {
	minute := o.Time.UTC().Truncate(time.Minute)
	k := rollupKey{minute.Unix(), o.Route, o.Target, string(o.Class), o.Mode}
	r.mu.Lock()
	defer r.mu.Unlock()
	ru, ok := r.rollups[k]
	if !ok {
		if len(r.rollups) >= r.o.MaxRollups {
			r.dropped.WithLabelValues("outcome").Inc()
			return
		}
		ru = &store.Rollup{Minute: minute, Route: o.Route, Target: o.Target, Class: o.Class, Mode: o.Mode}
		r.rollups[k] = ru
	}
	addOutcome(ru, o)
	if o.User != "" {
		if kind := store.OutcomeOf(o.Mode); kind == store.OutcomeFailed || kind == store.OutcomeDegraded {
			u := store.AffectedUser{Minute: minute, Route: o.Route, UserHash: o.User}
			if _, seen := r.users[u]; !seen && len(r.users) >= r.o.MaxRollups {
				r.dropped.WithLabelValues("user").Inc()
				return
			}
			r.users[u] = struct{}{}
		}
	}
}

func addOutcome(ru *store.Rollup, o understudy.Outcome) {
	ru.Count++
	ru.LatencySum += o.Latency
	ru.Latency.Observe(o.Latency)
	if o.TTFT > 0 {
		ru.TTFT.Observe(o.TTFT)
	}
	ru.PromptTokens += int64(o.PromptTokens)
	ru.CompletionTokens += int64(o.CompletionTokens)
}

// Flush writes what is pending as one batch. On failure the batch is kept as
// it is and written first at the next flush, under the same id: the store
// writes a batch once, so a failure that hid a commit (the connection broke
// after COMMIT was sent) is not counted twice. What arrives meanwhile waits
// within the bounds, and goes in a batch of its own once the kept one is
// written.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
	defer cancel()
	var err error
	for {
		b, retried := r.retry, r.retry != nil
		if b == nil {
			if b = r.take(); b == nil {
				break
			}
		}
		if err = r.sink.WriteBatch(ctx, *b); err != nil {
			r.retry = b
			break
		}
		r.retry = nil
		if !retried {
			break // what arrived meanwhile waits for the next flush
		}
	}
	if err != nil {
		r.flushes.WithLabelValues("failed").Inc()
		r.log.Warn("recorder: store unavailable, keeping records for the next flush", "err", err,
			"events", len(r.retry.Events), "rollups", len(r.retry.Rollups))
	} else {
		r.flushes.WithLabelValues("ok").Inc()
	}
	r.mu.Lock()
	events, rollups := len(r.events), len(r.rollups)
	r.mu.Unlock()
	if r.retry != nil {
		events, rollups = events+len(r.retry.Events), rollups+len(r.retry.Rollups)
	}
	r.pending.WithLabelValues("event").Set(float64(events))
	r.pending.WithLabelValues("rollup").Set(float64(rollups))
	return err
}

// take turns what was recorded since the last batch into a new batch; nil
// when there is nothing.
func (r *Recorder) take() *store.Batch {
	r.mu.Lock()
	events, rollups, users := r.events, r.rollups, r.users
	r.events, r.rollups, r.users = nil, make(map[rollupKey]*store.Rollup, len(rollups)), make(map[store.AffectedUser]struct{})
	r.mu.Unlock()
	if len(events) == 0 && len(rollups) == 0 && len(users) == 0 {
		return nil
	}
	r.batches++
	b := &store.Batch{ID: fmt.Sprintf("%s-%d", r.id, r.batches), At: r.o.Clock.Now(), Events: events,
		Rollups: make([]store.Rollup, 0, len(rollups)), Users: make([]store.AffectedUser, 0, len(users))}
	for _, ru := range rollups {
		b.Rollups = append(b.Rollups, *ru)
	}
	for u := range users {
		b.Users = append(b.Users, u)
	}
	return b
}

// Run flushes every FlushEvery until ctx is done, then flushes once more
// (bounded by WriteTimeout) so that a graceful shutdown loses nothing.
func (r *Recorder) Run(ctx context.Context) {
	t := r.o.Clock.NewTicker(r.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.Chan():
			_ = r.Flush(ctx)
		case <-ctx.Done():
			if err := r.Flush(context.WithoutCancel(ctx)); err != nil {
				r.log.Error("recorder: final flush failed; records lost", "err", err)
			}
			return
		}
	}
}
