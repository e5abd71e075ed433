package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Dispatcher.
type Options struct {
	// Store keeps subscribers and the delivery outbox. Required.
	Store Store
	// Channels deliver by subscriber kind (KindWebhook → *Webhook, …).
	// Subscribers of a kind with no channel are not notified.
	Channels map[string]Channel
	// Clock decides when deliveries are due. Default the real clock.
	Clock clockwork.Clock
	// Logger receives delivery failures and store errors. Default: discard.
	Logger *slog.Logger
	// MaxAttempts is how many times a delivery is tried before it fails for
	// good. Default (0) 8.
	MaxAttempts int
	// Backoff spaces the attempts. Zero fields take their defaults.
	Backoff Backoff
	// Workers is how many deliveries run at once. Default (0) 4.
	Workers int
	// Poll is how often Run looks for due deliveries when nothing wakes it.
	// Default (0) 1s.
	Poll time.Duration
	// Timeout bounds one attempt. Default (0) 30s.
	Timeout time.Duration
	// Registry receives the metrics. Nil: not registered.
	Registry prometheus.Registerer
	// IsNotFound reports whether a Store error means "no such row" (404 in
	// the admin API). Default errors.Is(err, ErrNotFound).
	IsNotFound func(error) bool
	// IsExists reports whether a Store error from CreateSubscriber means the
	// kind and address are taken (409). Default errors.Is(err, ErrExists).
	IsExists func(error) bool
}

// Backoff is exponential backoff with jitter: attempt n (from 1) failed
// waits min(Base × Factor^(n−1), Max) × (1 − Jitter × r), r uniform in
// [0, 1).
type Backoff struct {
	Base   time.Duration // default (0) 1s
	Max    time.Duration // default (0) 10m
	Factor float64       // default (0) 2
	// Jitter is the fraction of each delay drawn at random. Default (0)
	// 0.2; negative: none.
	Jitter float64
	// Rand returns r. Default math/rand/v2.Float64.
	Rand func() float64
}

// Delay is the wait after the attempt-th failed attempt.
func (b Backoff) Delay(attempt int) time.Duration {
	base, maxD, factor, jitter := b.Base, b.Max, b.Factor, b.Jitter
	if base <= 0 {
		base = time.Second
	}
	if maxD <= 0 {
		maxD = 10 * time.Minute
	}
	if factor <= 0 {
		factor = 2
	}
	if jitter == 0 {
		jitter = 0.2
	}
	d := float64(base) * math.Pow(factor, float64(max(attempt, 1)-1))
	d = min(d, float64(maxD))
	if jitter > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d *= 1 - min(jitter, 1)*r()
	}
	return time.Duration(d)
}

// Dispatcher turns notifications into deliveries (Notify) and delivers them
// with retries (Run). Notify may run on every replica: a notification is
// queued once per subscriber whoever queues it. Run belongs on one replica
// at a time (the one holding the leader lock).
type Dispatcher struct {
	store       Store
	channels    map[string]Channel
	clock       clockwork.Clock
	log         *slog.Logger
	maxAttempts int
	backoff     Backoff
	workers     int
	poll        time.Duration
	timeout     time.Duration
	isNotFound  func(error) bool
	isExists    func(error) bool

	wake chan struct{} // a delivery was queued: look now

	sent     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a Dispatcher.
func New(o Options) (*Dispatcher, error) {
	if o.Store == nil {
		return nil, errors.New("notify: Options.Store is required")
	}
	d := &Dispatcher{store: o.Store, channels: o.Channels, clock: o.Clock, log: o.Logger,
		maxAttempts: o.MaxAttempts, backoff: o.Backoff, workers: o.Workers, poll: o.Poll, timeout: o.Timeout,
		isNotFound: o.IsNotFound, isExists: o.IsExists, wake: make(chan struct{}, 1)}
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.maxAttempts <= 0 {
		d.maxAttempts = 8
	}
	if d.workers <= 0 {
		d.workers = 4
	}
	if d.poll <= 0 {
		d.poll = time.Second
	}
	if d.timeout <= 0 {
		d.timeout = 30 * time.Second
	}
	if d.isNotFound == nil {
		d.isNotFound = func(err error) bool { return errors.Is(err, ErrNotFound) }
	}
	if d.isExists == nil {
		d.isExists = func(err error) bool { return errors.Is(err, ErrExists) }
	}
	for kind, ch := range d.channels {
		if ch == nil || ch.Kind() != kind {
			return nil, fmt.Errorf("notify: Options.Channels[%q] is not a %s channel", kind, kind)
		}
	}
	d.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "understudy_notifications_total",
		Help: "Delivery attempts by subscriber kind and result (delivered, retry, failed).",
	}, []string{"kind", "result"})
	d.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "understudy_notification_delivery_seconds",
		Help:    "Time of one delivery attempt, by subscriber kind.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"kind"})
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{d.sent, d.duration} {
			if err := o.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("notify: register metrics: %w", err)
			}
		}
	}
	return d, nil
}

// EncodeNotification is n as stored in a delivery's payload.
func EncodeNotification(n Notification) ([]byte, error) { return json.Marshal(n) }

// DecodeNotification reads a delivery's payload.
func DecodeNotification(b []byte) (Notification, error) {
	var n Notification
	err := json.Unmarshal(b, &n)
	return n, err
}

// Matches reports whether s wants to hear about n: its component filter is
// empty, or shares a component with n.Components.
func Matches(s Subscriber, n Notification) bool {
	if len(s.Components) == 0 {
		return true
	}
	for _, c := range n.Components {
		if slices.Contains(s.Components, c) {
			return true
		}
	}
	return false
}

// Notify queues n for every active or failing subscriber that wants it
// (see Matches) and has a channel, once: a subscriber that already has a
// delivery of n.ID is skipped, so calling Notify again with the same n.ID
// (a retry, another replica) sends nothing twice.
func (d *Dispatcher) Notify(ctx context.Context, n Notification) error {
	return d.notify(ctx, n, false)
}

// NotifyAgain is Notify for a notification that may have been queued
// already (a catch-up after a replica died): the subscribers who already
// have it are skipped as always, and so are those who subscribed after
// n.Time — they were not subscribers when it happened.
func (d *Dispatcher) NotifyAgain(ctx context.Context, n Notification) error {
	return d.notify(ctx, n, true)
}

func (d *Dispatcher) notify(ctx context.Context, n Notification, again bool) error {
	if n.ID == "" {
		return errors.New("notify: notification without an ID")
	}
	subs, err := d.store.Subscribers(ctx, SubscriberFilter{Statuses: []string{StatusActive, StatusFailing}})
	if err != nil {
		return fmt.Errorf("notify: %s: %w", n.ID, err)
	}
	var ids []int64
	for _, s := range subs {
		if n.Kind == NoteHandoff && s.Kind != KindWebhook {
			continue // handoff.created is for the chat backends' webhooks
		}
		if again && s.CreatedAt.After(n.Time) {
			continue
		}
		if d.channels[s.Kind] != nil && Matches(s, n) {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	payload, err := EncodeNotification(n)
	if err != nil {
		return fmt.Errorf("notify: %s: encode: %w", n.ID, err)
	}
	queued, err := d.store.EnqueueDeliveries(ctx, n.ID, payload, ids, d.clock.Now())
	if err != nil {
		return fmt.Errorf("notify: %s: %w", n.ID, err)
	}
	d.log.Debug("notify: queued", "notification", n.ID, "deliveries", queued, "subscribers", len(ids))
	if queued > 0 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Run delivers due deliveries until ctx is done, then waits for the
// attempts under way (which are cut short and retried after a restart,
// without counting) and returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	jobs := make(chan Delivery)
	done := make(chan int64, d.workers)
	var wg sync.WaitGroup
	for range d.workers {
		wg.Go(func() {
			for dl := range jobs {
				d.attempt(ctx, dl)
				done <- dl.ID
			}
		})
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()
	inFlight := map[int64]bool{}
	for {
		polled := d.clock.Now()
		if free := d.workers - len(inFlight); free > 0 && ctx.Err() == nil {
			due, err := d.store.DueDeliveries(ctx, polled, free+len(inFlight))
			if err != nil && ctx.Err() == nil {
				d.log.Error("notify: due deliveries", "err", err)
			}
			for _, dl := range due {
				if inFlight[dl.ID] || len(inFlight) == d.workers {
					continue
				}
				inFlight[dl.ID] = true
				jobs <- dl // a worker is free: inFlight < workers
			}
		}
		// Counted from the poll, not from now: when the clock moved past a
		// due time meanwhile, look again at once.
		timer := d.clock.NewTimer(d.poll - d.clock.Since(polled))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case id := <-done:
			delete(inFlight, id)
		case <-d.wake:
		case <-timer.Chan():
		}
		timer.Stop()
	}
}

// recordTimeout bounds the store writes recording one attempt.
const recordTimeout = 10 * time.Second

// maxErrorLen bounds the error text kept on deliveries and subscribers.
const maxErrorLen = 500

// attempt tries delivery dl once and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, dl Delivery) {
	start := d.clock.Now()
	kind := "unknown"
	fail := func(sub *Subscriber, err error) { d.finish(ctx, dl, sub, kind, start, err, true) }

	n, err := DecodeNotification(dl.Payload)
	if err != nil {
		fail(nil, fmt.Errorf("notify: undecodable payload: %w", err))
		return
	}
	sub, err := d.store.Subscriber(ctx, dl.SubscriberID)
	switch {
	case d.isNotFound(err):
		fail(nil, errors.New("notify: the subscriber no longer exists"))
		return
	case err != nil:
		if ctx.Err() == nil {
			d.log.Error("notify: read subscriber", "subscriber", dl.SubscriberID, "err", err)
		}
		return // still pending: tried again at the next poll
	}
	kind = sub.Kind
	if sub.Status != StatusActive && sub.Status != StatusFailing {
		fail(nil, fmt.Errorf("notify: the subscriber is %s", sub.Status))
		return
	}
	ch := d.channels[sub.Kind]
	if ch == nil {
		fail(nil, fmt.Errorf("notify: no channel delivers %q", sub.Kind))
		return
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	err = ch.Deliver(actx, sub, n)
	cancel()
	d.duration.WithLabelValues(kind).Observe(d.clock.Since(start).Seconds())
	if err != nil && ctx.Err() != nil {
		return // cut short by shutting down: not an attempt, tried again after the restart
	}
	d.finish(ctx, dl, &sub, kind, start, err, errors.Is(err, ErrPermanent))
}

// finish records the outcome of an attempt of dl started at start: err nil
// is a delivery; a permanent error or the last attempt fails it; anything
// else is retried after the backoff. sub, when not nil, is the subscriber:
// its status and last error follow.
func (d *Dispatcher) finish(ctx context.Context, dl Delivery, sub *Subscriber, kind string, start time.Time, err error, permanent bool) {
	// What happened is recorded even when Run is stopping meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := d.clock.Now()
	attempts := dl.Attempts + 1
	var (
		result  string
		markErr error
		upd     *SubscriberUpdate
	)
	msg := ""
	if err != nil {
		msg = clip(err.Error(), maxErrorLen)
	}
	switch {
	case err == nil:
		result = "delivered"
		markErr = d.store.MarkDelivered(ctx, dl.ID, now)
		if sub.Status == StatusFailing || sub.LastError != "" {
			upd = &SubscriberUpdate{Status: StatusActive, LastError: &msg}
		}
	case permanent || attempts >= d.maxAttempts:
		result = "failed"
		markErr = d.store.MarkFailed(ctx, dl.ID, msg, now)
		if sub != nil {
			upd = &SubscriberUpdate{Status: StatusFailing, LastError: &msg}
		}
		d.log.Warn("notify: delivery failed", "delivery", dl.ID, "subscriber", dl.SubscriberID, "kind", kind,
			"notification", dl.NotificationID, "attempts", attempts, "err", msg)
	default:
		result = "retry"
		next := start.Add(d.backoff.Delay(attempts))
		markErr = d.store.MarkRetry(ctx, dl.ID, next, msg, now)
		if sub != nil {
			upd = &SubscriberUpdate{LastError: &msg}
		}
		d.log.Info("notify: delivery will be retried", "delivery", dl.ID, "subscriber", dl.SubscriberID,
			"kind", kind, "attempts", attempts, "next", next, "err", msg)
	}
	d.sent.WithLabelValues(kind, result).Inc()
	if markErr != nil {
		d.log.Error("notify: record delivery", "delivery", dl.ID, "result", result, "err", markErr)
		return
	}
	if upd != nil {
		// Only active and failing subscribers change: one disabled in the
		// meantime stays disabled.
		upd.IfStatus, upd.At = []string{StatusActive, StatusFailing}, now
		if _, err := d.store.UpdateSubscriber(ctx, sub.ID, *upd); err != nil && !d.isNotFound(err) {
			d.log.Error("notify: update subscriber", "subscriber", sub.ID, "err", err)
		}
	}
}
