package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/store"
)

// Contract cases for subscribers and the delivery outbox; run by testStore
// on every dialect.

func MustCreateSubscriber(tb testing.TB, s *store.Store, sub *notify.Subscriber) {
	tb.Helper()
	if err := s.CreateSubscriber(context.Background(), sub); err != nil {
		tb.Fatalf("CreateSubscriber %s %q: %v", sub.Kind, sub.Address, err)
	}
}

func MustEnqueue(tb testing.TB, s *store.Store, nid string, payload string, at time.Time, ids ...int64) int {
	tb.Helper()
	n, err := s.EnqueueDeliveries(context.Background(), nid, []byte(payload), ids, at)
	if err != nil {
		tb.Fatalf("EnqueueDeliveries %q: %v", nid, err)
	}
	return n
}

func MustDeliveries(tb testing.TB, s *store.Store, f notify.DeliveryFilter) []notify.Delivery {
	tb.Helper()
	ds, err := s.Deliveries(context.Background(), f)
	if err != nil {
		tb.Fatalf("Deliveries: %v", err)
	}
	return ds
}

func newSubscriber(kind, addr, status string, comps ...string) *notify.Subscriber {
	return &notify.Subscriber{Kind: kind, Address: addr, Status: status, Components: comps,
		CreatedAt: at(0), UpdatedAt: at(0)}
}

func testSubscribers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	hook := newSubscriber(notify.KindWebhook, "https://example.com/hook", notify.StatusActive, "assistant", "provider:openai")
	hook.Language = "fr"
	hook.CreatedAt = at(1).Add(1500 * time.Nanosecond).In(time.FixedZone("CET", 3600))
	slack := newSubscriber(notify.KindSlack, "https://hooks.slack.com/services/T/B/X", notify.StatusFailing)
	slack.LastError = "HTTP 500"
	mail := newSubscriber(notify.KindEmail, "ops@example.com", notify.StatusPending)
	for _, sub := range []*notify.Subscriber{hook, slack, mail} {
		MustCreateSubscriber(t, s, sub)
		if sub.ID == 0 {
			t.Fatalf("%s: got ID 0, want one set", sub.Kind)
		}
	}
	if mail.Language != "en" {
		t.Errorf("default language: got %q, want en", mail.Language)
	}
	want := *hook
	want.CreatedAt = hook.CreatedAt.Truncate(time.Microsecond).UTC()
	got, err := s.Subscriber(ctx, hook.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got  %+v (err %v)\nwant %+v", got, err, want)
	}
	if got, err := s.Subscriber(ctx, mail.ID); err != nil || got.Components != nil {
		t.Errorf("empty components: got %#v (err %v), want nil", got.Components, err)
	}
	if _, err := s.Subscriber(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Subscriber(9999): got %v, want ErrNotFound", err)
	}
	dup := newSubscriber(notify.KindWebhook, hook.Address, notify.StatusActive)
	if err := s.CreateSubscriber(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate kind and address: got %v, want ErrExists", err)
	}
	// The same address under another kind is another subscription.
	teams := newSubscriber(notify.KindTeams, hook.Address, notify.StatusDisabled)
	MustCreateSubscriber(t, s, teams)

	ids := func(subs []notify.Subscriber) []int64 {
		var out []int64
		for _, x := range subs {
			out = append(out, x.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    notify.SubscriberFilter
		want []int64
	}{
		{"all", notify.SubscriberFilter{}, []int64{hook.ID, slack.ID, mail.ID, teams.ID}},
		{"active and failing", notify.SubscriberFilter{Statuses: []string{notify.StatusActive, notify.StatusFailing}},
			[]int64{hook.ID, slack.ID}},
		{"kind", notify.SubscriberFilter{Kind: notify.KindEmail}, []int64{mail.ID}},
		{"kind and status", notify.SubscriberFilter{Kind: notify.KindSlack, Statuses: []string{notify.StatusActive}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Subscribers(ctx, tt.f)
			if err != nil {
				t.Fatalf("Subscribers: %v", err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("got %v, want %v", ids(got), tt.want)
			}
		})
	}

	// Updates: each field alone, compare-and-set on the status.
	msg, none := "timeout", ""
	steps := []struct {
		name        string
		u           notify.SubscriberUpdate
		wantChanged bool
		check       func(notify.Subscriber) bool
	}{
		{"status and error", notify.SubscriberUpdate{Status: notify.StatusFailing, LastError: &msg, At: at(5)}, true,
			func(x notify.Subscriber) bool {
				return x.Status == notify.StatusFailing && x.LastError == msg && x.UpdatedAt.Equal(at(5)) &&
					reflect.DeepEqual(x.Components, []string{"assistant", "provider:openai"}) && x.Language == "fr"
			}},
		{"if status does not hold", notify.SubscriberUpdate{Status: notify.StatusActive, LastError: &none,
			IfStatus: []string{notify.StatusDisabled}, At: at(6)}, false,
			func(x notify.Subscriber) bool { return x.Status == notify.StatusFailing && x.UpdatedAt.Equal(at(5)) }},
		{"if status holds", notify.SubscriberUpdate{Status: notify.StatusActive, LastError: &none,
			IfStatus: []string{notify.StatusFailing}, At: at(7)}, true,
			func(x notify.Subscriber) bool { return x.Status == notify.StatusActive && x.LastError == "" }},
		{"components to all", notify.SubscriberUpdate{Components: []string{}, Language: "en", At: at(8)}, true,
			func(x notify.Subscriber) bool {
				return x.Components == nil && x.Language == "en" && x.Status == notify.StatusActive
			}},
	}
	for _, st := range steps { // sequential: each step builds on the previous
		changed, err := s.UpdateSubscriber(ctx, hook.ID, st.u)
		if err != nil || changed != st.wantChanged {
			t.Fatalf("%s: UpdateSubscriber: got %v (err %v), want %v", st.name, changed, err, st.wantChanged)
		}
		got, err := s.Subscriber(ctx, hook.ID)
		if err != nil || !st.check(got) {
			t.Errorf("%s: got %+v (err %v)", st.name, got, err)
		}
	}
	if _, err := s.UpdateSubscriber(ctx, 9999, notify.SubscriberUpdate{At: at(9)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSubscriber(9999): got %v, want ErrNotFound", err)
	}

	// Secret references.
	if err := s.SetSubscriberSecretRef(ctx, hook.ID, "env:HOOK_SECRET"); err != nil {
		t.Fatalf("SetSubscriberSecretRef: %v", err)
	}
	if ref, err := s.SubscriberSecretRef(ctx, hook.ID); err != nil || ref != "env:HOOK_SECRET" {
		t.Errorf("SubscriberSecretRef: got %q (err %v), want env:HOOK_SECRET", ref, err)
	}
	if err := s.SetSubscriberSecretRef(ctx, 9999, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetSubscriberSecretRef(9999): got %v, want ErrNotFound", err)
	}

	// Deleting a subscriber deletes its deliveries.
	MustEnqueue(t, s, "n1", `{}`, at(0), slack.ID, hook.ID)
	if err := s.DeleteSubscriber(ctx, slack.ID); err != nil {
		t.Fatalf("DeleteSubscriber: %v", err)
	}
	if err := s.DeleteSubscriber(ctx, slack.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSubscriber twice: got %v, want ErrNotFound", err)
	}
	if ds := MustDeliveries(t, s, notify.DeliveryFilter{}); len(ds) != 1 || ds[0].SubscriberID != hook.ID {
		t.Errorf("after delete: got %+v, want only the delivery to %d", ds, hook.ID)
	}
}

func testDeliveries(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := newSubscriber(notify.KindWebhook, "https://a.example/hook", notify.StatusActive)
	b := newSubscriber(notify.KindSlack, "https://b.example/hook", notify.StatusActive)
	MustCreateSubscriber(t, s, a)
	MustCreateSubscriber(t, s, b)

	payload := `{"ID": "incident-update:1", "Kind": "incident", "html": "<b> & </b>"}`
	if n := MustEnqueue(t, s, "incident-update:1", payload, at(0), a.ID, b.ID, 9999); n != 2 {
		t.Errorf("first enqueue: got %d rows, want 2 (unknown subscriber skipped)", n)
	}
	if n := MustEnqueue(t, s, "incident-update:1", `{"other": true}`, at(1), a.ID, b.ID); n != 0 {
		t.Errorf("same notification again: got %d rows, want 0", n)
	}
	if n := MustEnqueue(t, s, "incident-update:2", `{}`, at(2), a.ID); n != 1 {
		t.Errorf("second notification: got %d rows, want 1", n)
	}
	if n := MustEnqueue(t, s, "nobody", `{}`, at(2)); n != 0 {
		t.Errorf("no subscribers: got %d rows, want 0", n)
	}
	if _, err := s.EnqueueDeliveries(ctx, "bad", []byte("{not json"), []int64{a.ID}, at(0)); err == nil {
		t.Errorf("invalid JSON payload: got nil error, want one")
	}

	all := MustDeliveries(t, s, notify.DeliveryFilter{})
	if len(all) != 3 {
		t.Fatalf("got %d deliveries, want 3", len(all))
	}
	first := all[2] // newest first
	if first.SubscriberID != a.ID || first.NotificationID != "incident-update:1" || first.Status != notify.DeliveryPending ||
		first.Attempts != 0 || !first.NextAttemptAt.Equal(at(0)) || !first.CreatedAt.Equal(at(0)) ||
		!first.DeliveredAt.IsZero() || first.LastError != "" || first.NextAttemptAt.Location() != time.UTC {
		t.Errorf("first delivery: got %+v", first)
	}
	var gotPayload, wantPayload any
	if err := json.Unmarshal(first.Payload, &gotPayload); err != nil {
		t.Fatalf("payload: %v", err)
	}
	_ = json.Unmarshal([]byte(payload), &wantPayload)
	if !reflect.DeepEqual(gotPayload, wantPayload) {
		t.Errorf("payload: got %s, want %s (the first enqueue's)", first.Payload, payload)
	}

	due := func(now time.Time, limit int) []int64 {
		t.Helper()
		ds, err := s.DueDeliveries(ctx, now, limit)
		if err != nil {
			t.Fatalf("DueDeliveries: %v", err)
		}
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	d1, d2, d3 := all[2].ID, all[1].ID, all[0].ID
	if got, want := due(at(1), 0), []int64{d1, d2}; !reflect.DeepEqual(got, want) {
		t.Errorf("due at minute 1: got %v, want %v", got, want)
	}
	if got, want := due(at(2), 1), []int64{d1}; !reflect.DeepEqual(got, want) {
		t.Errorf("due with limit 1: got %v, want %v", got, want)
	}

	// d1 fails once, then is delivered; d2 fails for good; d3 waits.
	if err := s.MarkRetry(ctx, d1, at(10), "HTTP 503", at(2)); err != nil {
		t.Fatalf("MarkRetry: %v", err)
	}
	if got, want := due(at(5), 0), []int64{d2, d3}; !reflect.DeepEqual(got, want) {
		t.Errorf("due after a retry: got %v, want %v", got, want)
	}
	if got, want := due(at(10), 0), []int64{d2, d3, d1}; !reflect.DeepEqual(got, want) {
		t.Errorf("due at the retry time: got %v, want %v (longest due first)", got, want)
	}
	if err := s.MarkDelivered(ctx, d1, at(10)); err != nil {
		t.Fatalf("MarkDelivered: %v", err)
	}
	if err := s.MarkFailed(ctx, d2, "HTTP 404", at(3)); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	for _, mark := range []func() error{
		func() error { return s.MarkDelivered(ctx, d1, at(11)) },
		func() error { return s.MarkRetry(ctx, d2, at(20), "again", at(11)) },
		func() error { return s.MarkFailed(ctx, 9999, "x", at(11)) },
	} {
		if err := mark(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("marking a delivery that is not pending: got %v, want ErrNotFound", err)
		}
	}
	if got, want := due(at(100), 0), []int64{d3}; !reflect.DeepEqual(got, want) {
		t.Errorf("due after delivery and failure: got %v, want %v", got, want)
	}

	byID := map[int64]notify.Delivery{}
	for _, d := range MustDeliveries(t, s, notify.DeliveryFilter{}) {
		byID[d.ID] = d
	}
	if d := byID[d1]; d.Status != notify.DeliveryDelivered || d.Attempts != 2 || !d.DeliveredAt.Equal(at(10)) || d.LastError != "" {
		t.Errorf("delivered: got %+v", d)
	}
	if d := byID[d2]; d.Status != notify.DeliveryFailed || d.Attempts != 1 || d.LastError != "HTTP 404" ||
		!d.UpdatedAt.Equal(at(3)) || !d.DeliveredAt.IsZero() {
		t.Errorf("failed: got %+v", d)
	}

	filters := []struct {
		name string
		f    notify.DeliveryFilter
		want []int64
	}{
		{"subscriber", notify.DeliveryFilter{SubscriberID: a.ID}, []int64{d3, d1}},
		{"notification", notify.DeliveryFilter{NotificationID: "incident-update:1"}, []int64{d2, d1}},
		{"status", notify.DeliveryFilter{Status: notify.DeliveryFailed}, []int64{d2}},
		{"limit", notify.DeliveryFilter{Limit: 1}, []int64{d3}},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, d := range MustDeliveries(t, s, tt.f) {
				got = append(got, d.ID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// testDeliveriesConcurrentEnqueue enqueues the same notification from
// several writers at once (replicas racing): each subscriber gets it once.
func testDeliveriesConcurrentEnqueue(t *testing.T, s *store.Store) {
	var ids []int64
	for i := range 20 {
		sub := newSubscriber(notify.KindWebhook, "https://example.com/"+string(rune('a'+i)), notify.StatusActive)
		MustCreateSubscriber(t, s, sub)
		ids = append(ids, sub.ID)
	}
	const writers = 8
	var wg sync.WaitGroup
	counts := make(chan int, writers)
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			n, err := s.EnqueueDeliveries(context.Background(), "component:assistant:1", []byte(`{}`), ids, at(0))
			counts <- n
			errs <- err
		})
	}
	wg.Wait()
	close(counts)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("EnqueueDeliveries: %v", err)
		}
	}
	total := 0
	for n := range counts {
		total += n
	}
	if total != len(ids) || countRows(t, s, "deliveries") != len(ids) {
		t.Errorf("got %d inserted and %d rows, want %d", total, countRows(t, s, "deliveries"), len(ids))
	}
}
