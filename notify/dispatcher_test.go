package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/store"
)

var _ notify.Store = (*watchedStore)(nil)

// mark is one outcome the dispatcher recorded.
type mark struct {
	what string // delivered, retry, failed
	id   int64
	next time.Time
}

// watchedStore is the real SQLite store, telling the test each time the
// dispatcher records an attempt's outcome (its subscriber update may follow).
type watchedStore struct {
	*store.Store
	marks chan mark
}

func (w *watchedStore) MarkDelivered(ctx context.Context, id int64, at time.Time) error {
	return w.record(mark{"delivered", id, time.Time{}}, w.Store.MarkDelivered(ctx, id, at))
}

func (w *watchedStore) MarkRetry(ctx context.Context, id int64, next time.Time, msg string, at time.Time) error {
	return w.record(mark{"retry", id, next}, w.Store.MarkRetry(ctx, id, next, msg, at))
}

func (w *watchedStore) MarkFailed(ctx context.Context, id int64, msg string, at time.Time) error {
	return w.record(mark{"failed", id, time.Time{}}, w.Store.MarkFailed(ctx, id, msg, at))
}

func (w *watchedStore) record(m mark, err error) error {
	if err == nil {
		w.marks <- m
	}
	return err
}

func newStore(t *testing.T) *watchedStore {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &watchedStore{Store: s, marks: make(chan mark, 100)}
}

// request is what a receiver got, with the fake clock's time.
type request struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is an httptest server answering the statuses of script in turn
// (the last one forever), recording every request.
type receiver struct {
	*httptest.Server
	got chan request
	mu  sync.Mutex
	st  []int
}

func newReceiver(t *testing.T, clock clockwork.Clock, script ...int) *receiver {
	r := &receiver{got: make(chan request, 100), st: script}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.got <- request{at: clock.Now(), header: req.Header.Clone(), body: body}
		w.WriteHeader(r.next())
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) next() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st[0]
	if len(r.st) > 1 {
		r.st = r.st[1:]
	}
	return st
}

func (r *receiver) set(script ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = script
}

// within waits for one value from ch; a guard against hanging, not a timer
// the test depends on.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		panic("unreachable")
	}
}

var secret = []byte("whsec_test")

type harness struct {
	t     *testing.T
	clock *clockwork.FakeClock
	store *watchedStore
	d     *notify.Dispatcher
	reg   *prometheus.Registry
	stop  func()
}

func newHarness(t *testing.T, o notify.Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: clockwork.NewFakeClockAt(t0), store: newStore(t), reg: prometheus.NewRegistry()}
	client := notify.NewClient(notify.NetOptions{AllowPrivate: true}) // receivers are on 127.0.0.1
	wh, err := notify.NewWebhook(notify.WebhookOptions{Client: client, Clock: h.clock, Secrets: [][]byte{secret}, Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Clock, o.Registry = h.store, h.clock, h.reg
	o.Channels = map[string]notify.Channel{notify.KindWebhook: wh,
		notify.KindSlack: notify.NewSlack(notify.ChatOptions{Client: client})}
	o.Backoff.Jitter = -1 // exact backoff times
	if o.IsNotFound == nil {
		o.IsNotFound = func(err error) bool { return errors.Is(err, store.ErrNotFound) }
	}
	h.d, err = notify.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// start runs the dispatcher until stop, which waits for Run to return.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := within(h.t, done, "Run return"); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}
	h.t.Cleanup(func() {
		if ctx.Err() == nil {
			h.stop()
		}
	})
}

// advanceTo waits until Run waits on the clock, then moves it to at.
func (h *harness) advanceTo(at time.Time) {
	h.t.Helper()
	if err := h.clock.BlockUntilContext(context.Background(), 1); err != nil {
		h.t.Fatal(err)
	}
	h.clock.Advance(at.Sub(h.clock.Now()))
}

func (h *harness) subscribe(kind, addr string, comps ...string) notify.Subscriber {
	h.t.Helper()
	s := notify.Subscriber{Kind: kind, Address: addr, Components: comps, Status: notify.StatusActive,
		CreatedAt: t0, UpdatedAt: t0}
	if err := h.store.CreateSubscriber(context.Background(), &s); err != nil {
		h.t.Fatalf("CreateSubscriber: %v", err)
	}
	return s
}

func (h *harness) subscriber(id int64) notify.Subscriber {
	h.t.Helper()
	s, err := h.store.Subscriber(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Subscriber: %v", err)
	}
	return s
}

func (h *harness) deliveries(f notify.DeliveryFilter) []notify.Delivery {
	h.t.Helper()
	ds, err := h.store.Deliveries(context.Background(), f)
	if err != nil {
		h.t.Fatalf("Deliveries: %v", err)
	}
	return ds
}

func (h *harness) notify(n notify.Notification) {
	h.t.Helper()
	if err := h.d.Notify(context.Background(), n); err != nil {
		h.t.Fatalf("Notify: %v", err)
	}
}

func TestRetriesThenSuccess(t *testing.T) {
	h := newHarness(t, notify.Options{Workers: 1})
	rcv := newReceiver(t, h.clock, 500, 503, 500, 200)
	sub := h.subscribe(notify.KindWebhook, rcv.URL+"/hook")
	h.start()
	n := incidentNote()
	h.notify(n)

	// Backoff 1s, 2s, 4s from each attempt's start.
	wantAt := []time.Time{t0, t0.Add(time.Second), t0.Add(3 * time.Second), t0.Add(7 * time.Second)}
	var first request
	for i, at := range wantAt {
		req := within(t, rcv.got, "request")
		if !req.at.Equal(at) {
			t.Errorf("attempt %d: got it at %v, want %v", i+1, req.at.Sub(t0), at.Sub(t0))
		}
		if i == 0 {
			first = req
		}
		// Every attempt carries the same idempotency id, signed afresh.
		id := req.header.Get(notify.HeaderWebhookID)
		if id != notify.DeliveryID(n.ID, sub.ID) || id != first.header.Get(notify.HeaderWebhookID) {
			t.Errorf("attempt %d: got webhook id %q, want %q on every attempt", i+1, id, notify.DeliveryID(n.ID, sub.ID))
		}
		if err := notify.Verify([][]byte{secret}, id, req.header.Get(notify.HeaderTimestamp), req.body,
			req.header.Get(notify.HeaderSignature), h.clock.Now(), 0); err != nil {
			t.Errorf("attempt %d: Verify: %v", i+1, err)
		}
		if !specVerify([]string{string(secret)}, id, req.header.Get(notify.HeaderTimestamp), string(req.body),
			req.header.Get(notify.HeaderSignature), h.clock.Now(), 5*time.Minute) {
			t.Errorf("attempt %d: the spec verifier rejects the signature", i+1)
		}
		m := within(t, h.store.marks, "mark")
		if i < 3 {
			if m.what != "retry" || (i+1 < len(wantAt) && !m.next.Equal(wantAt[i+1])) {
				t.Fatalf("attempt %d: got %+v, want a retry at %v", i+1, m, wantAt[i+1].Sub(t0))
			}
			if s := h.subscriber(sub.ID); s.Status != notify.StatusActive {
				t.Errorf("after a retry: got subscriber status %q, want active", s.Status)
			}
			h.advanceTo(m.next)
		} else if m.what != "delivered" {
			t.Fatalf("attempt 4: got %+v, want delivered", m)
		}
	}
	h.stop()
	if len(rcv.got) != 0 {
		t.Errorf("got %d more requests, want exactly 4", len(rcv.got))
	}
	ds := h.deliveries(notify.DeliveryFilter{})
	if len(ds) != 1 || ds[0].Status != notify.DeliveryDelivered || ds[0].Attempts != 4 || !ds[0].DeliveredAt.Equal(wantAt[3]) {
		t.Errorf("got %+v, want one delivery, delivered after 4 attempts", ds)
	}
	if s := h.subscriber(sub.ID); s.Status != notify.StatusActive || s.LastError != "" {
		t.Errorf("got subscriber %q %q, want active with no error", s.Status, s.LastError)
	}
	if got := counter(t, h.reg, "retry"); got != 3 {
		t.Errorf("retry count: got %v, want 3", got)
	}
}

// counter reads understudy_notifications_total{kind="webhook",result}.
func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "understudy_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == "webhook" && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no understudy_notifications_total{kind=webhook,result=%s}", result)
	return 0
}

func TestGivesUpThenRecovers(t *testing.T) {
	h := newHarness(t, notify.Options{Workers: 2, MaxAttempts: 3})
	rcv := newReceiver(t, h.clock, 500)
	sub := h.subscribe(notify.KindWebhook, rcv.URL)
	h.start()
	h.notify(incidentNote())
	for i := range 3 {
		within(t, rcv.got, "request")
		m := within(t, h.store.marks, "mark")
		switch {
		case i < 2 && m.what == "retry":
			h.advanceTo(m.next)
		case i == 2 && m.what == "failed":
		default:
			t.Fatalf("attempt %d: got %+v", i+1, m)
		}
	}
	h.stop()
	if len(rcv.got) != 0 {
		t.Errorf("got %d requests after giving up, want none", len(rcv.got))
	}
	s := h.subscriber(sub.ID)
	if s.Status != notify.StatusFailing || !strings.Contains(s.LastError, "HTTP 500") {
		t.Errorf("after giving up: got subscriber %q %q, want failing with HTTP 500", s.Status, s.LastError)
	}
	ds := h.deliveries(notify.DeliveryFilter{Status: notify.DeliveryFailed})
	if len(ds) != 1 || ds[0].Attempts != 3 || !strings.Contains(ds[0].LastError, "HTTP 500") {
		t.Errorf("got %+v, want one failed delivery after 3 attempts", ds)
	}

	// Failing subscribers still hear about new notifications; a success
	// makes them active again.
	rcv.set(200)
	h.start()
	h.notify(componentNote())
	within(t, rcv.got, "request")
	if m := within(t, h.store.marks, "mark"); m.what != "delivered" {
		t.Fatalf("got %+v, want delivered", m)
	}
	h.stop()
	if s := h.subscriber(sub.ID); s.Status != notify.StatusActive || s.LastError != "" {
		t.Errorf("after a success: got subscriber %q %q, want active with no error", s.Status, s.LastError)
	}
}

func TestPermanentFailure(t *testing.T) {
	h := newHarness(t, notify.Options{})
	rcv := newReceiver(t, h.clock, 404)
	sub := h.subscribe(notify.KindSlack, rcv.URL)
	h.start()
	h.notify(componentNote())
	within(t, rcv.got, "request")
	if m := within(t, h.store.marks, "mark"); m.what != "failed" {
		t.Fatalf("got %+v, want failed at once", m)
	}
	h.stop()
	if s := h.subscriber(sub.ID); s.Status != notify.StatusFailing || s.LastError != "HTTP 404" {
		t.Errorf("got subscriber %q %q, want failing with HTTP 404", s.Status, s.LastError)
	}
}

func TestIdempotency(t *testing.T) {
	h := newHarness(t, notify.Options{})
	rcv := newReceiver(t, h.clock, 200)
	h.subscribe(notify.KindWebhook, rcv.URL)
	n := incidentNote()
	h.notify(n)
	h.notify(n) // a retry of the caller, or another replica
	h.start()
	within(t, rcv.got, "request")
	within(t, h.store.marks, "mark")
	h.notify(n) // again, after delivery
	h.stop()
	// A restart: a new dispatcher on the same store.
	h2 := &harness{t: t, clock: h.clock, store: h.store}
	if _, err := notify.New(notify.Options{Store: h.store, Clock: h.clock,
		Channels: map[string]notify.Channel{notify.KindWebhook: notify.NewSlack(notify.ChatOptions{})}}); err == nil {
		t.Fatalf("New accepted a slack channel under the webhook kind")
	}
	wh, _ := notify.NewWebhook(notify.WebhookOptions{Secrets: [][]byte{secret}, Clock: h.clock, Objects: objects,
		Client: notify.NewClient(notify.NetOptions{AllowPrivate: true})})
	d2, err := notify.New(notify.Options{Store: h.store, Clock: h.clock,
		Channels: map[string]notify.Channel{notify.KindWebhook: wh}})
	if err != nil {
		t.Fatal(err)
	}
	h2.d = d2
	h2.notify(n)
	h2.start()
	h2.notify(componentNote()) // something new goes through: Run is working
	within(t, rcv.got, "request")
	within(t, h.store.marks, "mark")
	h2.stop()
	if len(rcv.got) != 0 {
		t.Errorf("got %d more requests, want the incident update delivered once", len(rcv.got))
	}
	if ds := h.deliveries(notify.DeliveryFilter{NotificationID: n.ID}); len(ds) != 1 {
		t.Errorf("got %d deliveries of %s, want 1", len(ds), n.ID)
	}
}

func TestSurvivesRestart(t *testing.T) {
	h := newHarness(t, notify.Options{})
	rcv := newReceiver(t, h.clock, 200)
	h.subscribe(notify.KindWebhook, rcv.URL)
	h.notify(maintenanceNote()) // queued while nothing runs (or before a crash)
	h.start()
	req := within(t, rcv.got, "request")
	if !strings.Contains(string(req.body), `"scheduled_for":"2026-03-14T10:00:00.000Z"`) {
		t.Errorf("got %s, want the maintenance with scheduled_for", req.body)
	}
	if m := within(t, h.store.marks, "mark"); m.what != "delivered" {
		t.Errorf("got %+v, want delivered", m)
	}
}

func TestComponentFilters(t *testing.T) {
	h := newHarness(t, notify.Options{})
	const addr = "https://receiver.example/"
	all := h.subscribe(notify.KindWebhook, addr+"all")
	assistant := h.subscribe(notify.KindWebhook, addr+"assistant", "assistant")
	openai := h.subscribe(notify.KindSlack, addr+"openai", "provider:openai", "other")
	mail := h.subscribe(notify.KindEmail, "ops@example.com") // no e-mail channel here: skipped
	disabled := h.subscribe(notify.KindWebhook, addr+"disabled")
	failing := h.subscribe(notify.KindWebhook, addr+"failing", "assistant")
	for id, st := range map[int64]string{disabled.ID: notify.StatusDisabled, failing.ID: notify.StatusFailing} {
		if _, err := h.store.UpdateSubscriber(context.Background(), id, notify.SubscriberUpdate{Status: st, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	_ = mail
	tests := []struct {
		name  string
		comps []string
		want  []int64
	}{
		{"one component", []string{"assistant"}, []int64{all.ID, assistant.ID, failing.ID}},
		{"another", []string{"provider:openai"}, []int64{all.ID, openai.ID}},
		{"several", []string{"assistant", "provider:openai"}, []int64{all.ID, assistant.ID, openai.ID, failing.ID}},
		{"unknown component", []string{"billing"}, []int64{all.ID}},
		{"no component", nil, []int64{all.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := componentNote()
			n.ID, n.Components = "filter:"+tt.name, tt.comps
			h.notify(n)
			var got []int64
			for _, d := range h.deliveries(notify.DeliveryFilter{NotificationID: n.ID}) {
				got = append([]int64{d.SubscriberID}, got...) // oldest first
			}
			if !equalIDs(got, tt.want) {
				t.Errorf("got deliveries to %v, want %v", got, tt.want)
			}
		})
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackoffDelay(t *testing.T) {
	exact := notify.Backoff{Jitter: -1}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {10, 512 * time.Second},
		{11, 10 * time.Minute}, {40, 10 * time.Minute},
	}
	for _, tt := range tests {
		if got := exact.Delay(tt.attempt); got != tt.want {
			t.Errorf("Delay(%d): got %v, want %v", tt.attempt, got, tt.want)
		}
	}
	// Default jitter takes up to 20% off, never adds.
	for _, r := range []float64{0, 0.5, 0.999} {
		b := notify.Backoff{Rand: func() float64 { return r }}
		got, hi := b.Delay(3), 4*time.Second
		if lo := time.Duration(float64(hi) * 0.8); got > hi || got < lo {
			t.Errorf("r=%v: got %v, want within [%v, %v]", r, got, lo, hi)
		}
	}
}

// TestHandoffCreated: handoff.created goes to webhook subscribers only (the
// chat backends that follow conversations), with the conversation.
func TestHandoffCreated(t *testing.T) {
	h := newHarness(t, notify.Options{})
	hook := h.subscribe(notify.KindWebhook, "https://receiver.example/hook")
	h.subscribe(notify.KindSlack, "https://hooks.slack.example/x")
	n := notify.Notification{ID: "handoff:7", Kind: notify.NoteHandoff, Time: t0, Components: []string{"assistant"},
		Handoff: &notify.Handoff{ID: 7, Route: "assistant", CreatedAt: t0, URL: "https://status.example.com/handoff/v1/conversations/7"}}
	h.notify(n)
	ds := h.deliveries(notify.DeliveryFilter{NotificationID: "handoff:7"})
	if len(ds) != 1 || ds[0].SubscriberID != hook.ID {
		t.Fatalf("deliveries %+v, want one, to the webhook", ds)
	}
	wh, err := notify.NewWebhook(notify.WebhookOptions{Secrets: [][]byte{secret}, Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	b, err := wh.Payload(context.Background(), hook, n)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Meta    struct{ Kind string }
		Handoff struct {
			ID    int64
			Route string
			URL   string
		}
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Meta.Kind != "handoff.created" || p.Handoff.ID != 7 || p.Handoff.Route != "assistant" || p.Handoff.URL == "" {
		t.Errorf("payload %s (%v)", b, err)
	}
}

// TestNotifyAgain: a catch-up queues a notification for the subscribers
// who do not have it yet and were subscribed when it happened; the ones
// who have it get nothing more, the ones who came later get nothing.
func TestNotifyAgain(t *testing.T) {
	h := newHarness(t, notify.Options{})
	rcv := newReceiver(t, h.clock, 200)
	n := incidentNote()
	early := h.subscribe(notify.KindWebhook, rcv.URL+"/early")
	h.notify(n)
	missed := h.subscribe(notify.KindWebhook, rcv.URL+"/missed") // subscribed before n.Time, but n never reached it
	late := notify.Subscriber{Kind: notify.KindWebhook, Address: rcv.URL + "/late", Status: notify.StatusActive,
		CreatedAt: n.Time.Add(time.Minute), UpdatedAt: n.Time.Add(time.Minute)}
	if err := h.store.CreateSubscriber(context.Background(), &late); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.d.NotifyAgain(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	got := map[int64]int{}
	for _, d := range h.deliveries(notify.DeliveryFilter{NotificationID: n.ID}) {
		got[d.SubscriberID]++
	}
	if want := map[int64]int{early.ID: 1, missed.ID: 1}; !maps.Equal(got, want) {
		t.Errorf("deliveries per subscriber %v, want %v (late subscriber %d: none)", got, want, late.ID)
	}
}
