package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// fakePinger answers Ping with err, or — when hang is set — only when the
// ping's context ends.
type fakePinger struct {
	mu    sync.Mutex
	err   error
	hang  bool
	calls chan struct{} // a value per Ping call, when not nil
}

var _ pinger = (*fakePinger)(nil)

func (f *fakePinger) Ping(ctx context.Context) error {
	f.mu.Lock()
	err, hang := f.err, f.hang
	f.mu.Unlock()
	if f.calls != nil {
		f.calls <- struct{}{}
	}
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakePinger) set(err error, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.hang = err, hang
}

// watchRig runs a dbWatch over a fake pinger and a fake clock.
type watchRig struct {
	t       *testing.T
	ctx     context.Context
	clk     *clockwork.FakeClock
	db      *fakePinger
	reg     *prometheus.Registry
	w       *dbWatch
	checked chan dbState
}

func newWatchRig(t *testing.T) *watchRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	r := &watchRig{t: t, ctx: ctx, clk: clk, db: &fakePinger{}, reg: prometheus.NewRegistry(), checked: make(chan dbState, 1)}
	r.w = newDBWatch(r.db, clk, r.reg, slog.New(slog.DiscardHandler))
	r.w.checked = func(s dbState) { r.checked <- s }
	done := make(chan struct{})
	go func() { defer close(done); r.w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// next waits for the next check's result.
func (r *watchRig) next() dbState {
	r.t.Helper()
	select {
	case s := <-r.checked:
		return s
	case <-r.ctx.Done():
		r.t.Fatal("no check")
		return dbState{}
	}
}

// tick lets the next check run: dbPingEvery later.
func (r *watchRig) tick() dbState {
	r.t.Helper()
	if err := r.clk.BlockUntilContext(r.ctx, 1); err != nil { // Run's timer
		r.t.Fatal(err)
	}
	r.clk.Advance(dbPingEvery)
	return r.next()
}

// gauge reads understudy_database_up.
func (r *watchRig) gauge() float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "understudy_database_up" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	r.t.Fatal("understudy_database_up is not registered")
	return 0
}

func (r *watchRig) get(path string, h http.Handler) (int, string) {
	r.t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestDBWatch: the watch reports the database ok, then unreachable since the
// first failed check with the last error (gauge 0, /readyz/database 503,
// /readyz unchanged but for its database line), then ok again.
func TestDBWatch(t *testing.T) {
	r := newWatchRig(t)
	start := r.clk.Now()
	if s := r.next(); !s.OK || !s.Since.Equal(start) {
		t.Fatalf("first check: got %+v, want ok since the start", s)
	}
	gateway := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ready\n")
	})
	readyz, database := r.w.readyz(gateway), http.Handler(r.w)
	if code, body := r.get("/readyz", readyz); code != 200 || body != "ready\ndatabase: ok\n" {
		t.Errorf("/readyz: got %d %q, want 200 ready and database: ok", code, body)
	}
	if code, body := r.get("/readyz/database", database); code != 200 || body != "database: ok\n" {
		t.Errorf("/readyz/database: got %d %q, want 200 database: ok", code, body)
	}
	if got := r.gauge(); got != 1 {
		t.Errorf("understudy_database_up: got %v, want 1", got)
	}

	r.db.set(errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), false)
	down := r.clk.Now().Add(dbPingEvery)
	r.tick()
	r.db.set(errors.New("dial tcp 127.0.0.1:5432:\n connect: connection refused (again)"), false)
	s := r.tick()
	want := dbState{Since: down, Err: "dial tcp 127.0.0.1:5432: connect: connection refused (again)"}
	if s != want {
		t.Fatalf("after two failed checks: got %+v, want %+v (since the first, last error on one line)", s, want)
	}
	line := "database: unreachable since 2026-11-23T12:00:02Z (dial tcp 127.0.0.1:5432: connect: connection refused (again))\n"
	if code, body := r.get("/readyz", readyz); code != 200 || body != "ready\n"+line {
		t.Errorf("/readyz: got %d %q, want 200 with %q", code, body, line)
	}
	if code, body := r.get("/readyz/database", database); code != 503 || body != line {
		t.Errorf("/readyz/database: got %d %q, want 503 %q", code, body, line)
	}
	if got := r.gauge(); got != 0 {
		t.Errorf("understudy_database_up: got %v, want 0", got)
	}

	r.db.set(nil, false)
	back := r.clk.Now().Add(dbPingEvery)
	if s := r.tick(); s != (dbState{OK: true, Since: back}) {
		t.Errorf("after it returned: got %+v, want ok since %s", s, back)
	}
	if code, _ := r.get("/readyz/database", database); code != 200 {
		t.Errorf("/readyz/database after it returned: got %d, want 200", code)
	}
	if got := r.gauge(); got != 1 {
		t.Errorf("understudy_database_up after it returned: got %v, want 1", got)
	}
}

// TestDBWatchPingTimeout: a ping that does not answer counts as a failure
// after dbPingTimeout, and the gateway's own 503 stays a 503.
func TestDBWatchPingTimeout(t *testing.T) {
	r := newWatchRig(t)
	r.next()
	r.db.calls = make(chan struct{}, 1)
	r.db.set(nil, true)
	if err := r.clk.BlockUntilContext(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(dbPingEvery)
	<-r.db.calls
	r.clk.Advance(dbPingTimeout) // the ping's timeout was set before it started
	s := r.next()
	if s.OK || s.Err != "no answer within 1s" {
		t.Fatalf("got %+v, want unreachable after the ping timed out", s)
	}
	notReady := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: no available target for assistant\n")
	})
	code, body := r.get("/readyz", r.w.readyz(notReady))
	if code != 503 || !strings.HasPrefix(body, "not ready: no available target for assistant\ndatabase: unreachable since ") {
		t.Errorf("/readyz: got %d %q, want the gateway's 503 and the database line", code, body)
	}
}

// TestDBWatchWithoutStorage: without a database /readyz is the gateway's
// own and /readyz/database answers 404.
func TestDBWatchWithoutStorage(t *testing.T) {
	var w *dbWatch
	if got := startDBWatch(context.Background(), &sync.WaitGroup{}, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)); got != nil {
		t.Fatalf("startDBWatch without a store: got %v, want nil", got)
	}
	rec := httptest.NewRecorder()
	w.readyz(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 200 || rec.Body.String() != "ready\n" {
		t.Errorf("/readyz: got %d %q, want 200 ready", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz/database", nil))
	if rec.Code != 404 {
		t.Errorf("/readyz/database: got %d, want 404", rec.Code)
	}
}
