package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/cluster"
)

// MustBus returns a Bus on dsn pinging every second, closed when tb ends;
// running, it listens until then.
func MustBus(t *testing.T, dsn, name string, running bool) *cluster.Bus {
	t.Helper()
	return MustBusOptions(t, name, cluster.BusOptions{DSN: dsn, Interval: time.Second}, running)
}

// MustBusOptions is MustBus with options.
func MustBusOptions(t *testing.T, name string, o cluster.BusOptions, running bool) *cluster.Bus {
	t.Helper()
	o.Logger = testLogger(t, name)
	b, err := cluster.NewBus(o)
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if running {
		go func() { done <- b.Run(ctx) }()
	} else {
		done <- nil
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
		b.Close()
	})
	return b
}

// MustSubscribe subscribes to b until tb ends.
func MustSubscribe(t *testing.T, b *cluster.Bus) <-chan cluster.Message {
	ch, cancel := b.Subscribe()
	t.Cleanup(cancel)
	return ch
}

// wantMessage waits for the next message on ch and compares it with want.
func wantMessage(t *testing.T, ch <-chan cluster.Message, want cluster.Message) {
	t.Helper()
	got := recv(t, ch, "message "+want.Kind)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestBusPublishSubscribe(t *testing.T) {
	dsn := MustDatabase(t)
	a := MustBus(t, dsn, "a", false)
	b := MustBus(t, dsn, "b", true)
	ch := MustSubscribe(t, b)
	// The first resync says b listens: what is published from now on arrives.
	wantMessage(t, ch, cluster.Message{Kind: cluster.KindResync})

	ctx := context.Background()
	m := cluster.Message{Kind: "incident", ID: 42, Data: json.RawMessage(`{"status":"identified"}`)}
	if err := a.Publish(ctx, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	m.Origin = a.Origin()
	wantMessage(t, ch, m)

	// A Bus hears itself; Origin tells.
	if err := b.Publish(ctx, cluster.Message{Kind: "status"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	wantMessage(t, ch, cluster.Message{Kind: "status", Origin: b.Origin()})
	if a.Origin() == b.Origin() || a.Origin() == "" {
		t.Errorf("origins: got %q and %q, want two different ids", a.Origin(), b.Origin())
	}
}

// sized returns a message from origin whose JSON encoding is n bytes.
func sized(t *testing.T, origin string, n int) cluster.Message {
	m := cluster.Message{Kind: "big", Origin: origin, Data: json.RawMessage(`""`)}
	base, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m.Data = json.RawMessage(`"` + strings.Repeat("x", n-len(base)) + `"`)
	return m
}

func TestBusPayloadLimit(t *testing.T) {
	dsn := MustDatabase(t)
	b := MustBus(t, dsn, "b", true)
	ch := MustSubscribe(t, b)
	wantMessage(t, ch, cluster.Message{Kind: cluster.KindResync})
	tests := []struct {
		name    string
		size    int
		wantErr error
	}{
		{"largest PostgreSQL takes", cluster.MaxPayload, nil},
		{"one byte more", cluster.MaxPayload + 1, cluster.ErrTooLarge},
		{"far too large", 64 << 10, cluster.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sized(t, b.Origin(), tt.size)
			err := b.Publish(context.Background(), m)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Publish of %d bytes: got %v, want %v", tt.size, err, tt.wantErr)
			}
			if err == nil {
				wantMessage(t, ch, m)
			}
		})
	}
}

// TestBusReconnect: the listener's session is ended server-side; the
// listener reconnects, delivers a resync, and messages flow again.
func TestBusReconnect(t *testing.T) {
	dsn := MustDatabase(t)
	admin := MustConnect(t, dsn)
	a := MustBus(t, dsn, "a", false)
	b := MustBus(t, dsn, "b", true)
	ch := MustSubscribe(t, b)
	wantMessage(t, ch, cluster.Message{Kind: cluster.KindResync})
	pid := cluster.ListenerPID(b)

	t0 := time.Now()
	MustTerminate(t, admin, pid)
	wantMessage(t, ch, cluster.Message{Kind: cluster.KindResync})
	t.Logf("listener reconnected and resynced after %v", time.Since(t0).Round(time.Millisecond))
	if got := cluster.ListenerPID(b); got == pid || got == 0 {
		t.Errorf("listener pid: got %d, want a new backend (was %d)", got, pid)
	}
	if err := a.Publish(context.Background(), cluster.Message{Kind: "incident", ID: 7}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	wantMessage(t, ch, cluster.Message{Kind: "incident", ID: 7, Origin: a.Origin()})
}

// TestBusBusyListener: a listener kept busy by notifications still pings,
// so the server's idle_session_timeout (which counts receiving
// notifications as idle) does not end its session.
func TestBusBusyListener(t *testing.T) {
	dsn := MustDatabase(t)
	a := MustBus(t, dsn, "a", false)
	const interval = 100 * time.Millisecond // idle_session_timeout 400 ms
	b := MustBusOptions(t, "b", cluster.BusOptions{DSN: dsn, Interval: interval}, true)
	ch := MustSubscribe(t, b)
	wantMessage(t, ch, cluster.Message{Kind: cluster.KindResync})
	pid := cluster.ListenerPID(b)

	// One message every 20 ms for 3 server idle timeouts.
	const n = 60
	tick := time.NewTicker(interval / 5)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		if err := a.Publish(context.Background(), cluster.Message{Kind: "k", ID: int64(i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		select {
		case m := <-ch:
			if m.Kind == cluster.KindResync {
				t.Fatalf("resync after %d messages: the listener reconnected", i)
			}
		default:
		}
	}
	if got := cluster.ListenerPID(b); got != pid {
		t.Errorf("listener pid: got %d, want %d (no reconnection)", got, pid)
	}
}

// TestBusSubscribers: fan-out, overflow and unsubscribing, without a server.
func TestBusSubscribers(t *testing.T) {
	b, err := cluster.NewBus(cluster.BusOptions{DSN: "postgres://u@127.0.0.1:1/db"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	slow, cancelSlow := b.Subscribe()
	fast, cancelFast := b.Subscribe()
	defer cancelFast()

	for i := range cluster.SubscriberBuffer + 3 {
		cluster.Deliver(b, &cluster.Message{Kind: "k", ID: int64(i)})
		if got := <-fast; got.ID != int64(i) {
			t.Fatalf("fast subscriber: got id %d, want %d", got.ID, i)
		}
	}
	for i := range cluster.SubscriberBuffer {
		if got := <-slow; got.ID != int64(i) {
			t.Fatalf("slow subscriber: got id %d, want %d", got.ID, i)
		}
	}
	select {
	case got := <-slow:
		t.Fatalf("slow subscriber: got %+v, want nothing (dropped)", got)
	default:
	}
	// The resync owed comes first, as soon as there is room.
	cluster.Deliver(b, &cluster.Message{Kind: "k", ID: 1000})
	if got, want := []cluster.Message{<-slow, <-slow}, []cluster.Message{{Kind: cluster.KindResync}, {Kind: "k", ID: 1000}}; !reflect.DeepEqual(got, want) {
		t.Errorf("slow subscriber after overflow: got %+v, want %+v", got, want)
	}
	<-fast

	cancelSlow()
	cancelSlow() // idempotent
	if _, ok := <-slow; ok {
		t.Error("channel open after cancel")
	}
	cluster.Deliver(b, &cluster.Message{Kind: "k"}) // no panic on a canceled subscriber
	<-fast

	if err := b.Publish(context.Background(), cluster.Message{}); err == nil {
		t.Error("Publish without Kind: got no error")
	}
	if err := b.Publish(context.Background(), sized(t, b.Origin(), cluster.MaxPayload+1)); !errors.Is(err, cluster.ErrTooLarge) {
		t.Errorf("oversize Publish without a server: got %v, want ErrTooLarge", err)
	}
}

func TestBusClose(t *testing.T) {
	b, err := cluster.NewBus(cluster.BusOptions{DSN: "postgres://u@127.0.0.1:1/db"})
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := b.Subscribe()
	b.Close()
	if _, ok := <-ch; ok {
		t.Error("channel open after Close")
	}
	cancel()
	late, _ := b.Subscribe()
	if _, ok := <-late; ok {
		t.Error("Subscribe after Close: channel open")
	}
}

func TestNewBusOptions(t *testing.T) {
	tests := []struct {
		name string
		o    cluster.BusOptions
	}{
		{"no DSN", cluster.BusOptions{}},
		{"bad DSN", cluster.BusOptions{DSN: "postgres://u@[::1"}},
		{"long channel", cluster.BusOptions{DSN: "postgres://u@127.0.0.1:1/db", Channel: strings.Repeat("c", 64)}},
		{"negative interval", cluster.BusOptions{DSN: "postgres://u@127.0.0.1:1/db", Interval: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cluster.NewBus(tt.o); !errors.Is(err, cluster.ErrConfig) {
				t.Errorf("got %v, want ErrConfig", err)
			}
		})
	}
}
