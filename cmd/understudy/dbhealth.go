package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy/store"
)

// pinger is the database as dbWatch checks it.
type pinger interface {
	// Ping checks that the database answers within ctx; its error must not
	// hold a secret.
	Ping(ctx context.Context) error
}

var _ pinger = (*store.Store)(nil)

// Database checks: every dbPingEvery, each bounded by dbPingTimeout.
const (
	dbPingEvery   = 2 * time.Second
	dbPingTimeout = time.Second
)

// errPingTimeout is a check's failure when the database did not answer in time.
var errPingTimeout = fmt.Errorf("no answer within %s", dbPingTimeout)

// dbState is what the last check found.
type dbState struct {
	OK    bool
	Since time.Time // when the database became reachable or unreachable
	Err   string    // the last failure; "" when OK
}

// String is the readiness line: "database: ok" or
// "database: unreachable since <RFC3339> (<error>)".
func (s dbState) String() string {
	if s.OK {
		return "database: ok"
	}
	return fmt.Sprintf("database: unreachable since %s (%s)", s.Since.UTC().Format(time.RFC3339), s.Err)
}

// dbWatch pings the database off the request path and keeps whether it
// answers, for /readyz, /readyz/database and understudy_database_up. The
// gateway routes on local state either way: the database being down is
// reported, never a reason to refuse traffic.
type dbWatch struct {
	db      pinger
	clk     clockwork.Clock
	log     *slog.Logger
	up      prometheus.Gauge
	checked func(dbState) // called after each check; tests wait on it. May be nil.

	mu    sync.Mutex
	state dbState
}

// startDBWatch watches st until ctx ends, counted in wg; nil (no database,
// nothing to report) when st is nil.
func startDBWatch(ctx context.Context, wg *sync.WaitGroup, st *store.Store, reg prometheus.Registerer, log *slog.Logger) *dbWatch {
	if st == nil {
		return nil
	}
	w := newDBWatch(st, clockwork.NewRealClock(), reg, log)
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	return w
}

// newDBWatch returns a watch of db, reachable as of now (the store was just
// opened: Open pings it), registering understudy_database_up on reg.
func newDBWatch(db pinger, clk clockwork.Clock, reg prometheus.Registerer, log *slog.Logger) *dbWatch {
	w := &dbWatch{db: db, clk: clk, log: log,
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "understudy_database_up",
			Help: "1 when the database answered its last ping (every 2s, 1s timeout), else 0. Routing does not depend on it."}),
		state: dbState{OK: true, Since: clk.Now()}}
	w.up.Set(1)
	reg.MustRegister(w.up)
	return w
}

// Run checks the database at once, then every dbPingEvery, until ctx ends.
func (w *dbWatch) Run(ctx context.Context) {
	for {
		w.check(ctx)
		t := w.clk.NewTimer(dbPingEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
	}
}

// check pings once and records the result, logging changes.
func (w *dbWatch) check(ctx context.Context) {
	at := w.clk.Now()
	pctx, cancel := context.WithCancelCause(ctx)
	timeout := w.clk.AfterFunc(dbPingTimeout, func() { cancel(errPingTimeout) })
	err := w.db.Ping(pctx)
	timeout.Stop()
	if err != nil && errors.Is(context.Cause(pctx), errPingTimeout) {
		err = errPingTimeout // the driver says "canceled"; say why
	}
	cancel(nil)
	if ctx.Err() != nil {
		return // shutting down: not the database's fault
	}
	w.mu.Lock()
	prev := w.state
	switch {
	case err == nil && !prev.OK:
		w.state = dbState{OK: true, Since: at}
		w.log.Info("database reachable again", "unreachable_for", at.Sub(prev.Since).Round(time.Millisecond).String())
	case err != nil:
		msg := strings.Join(strings.Fields(err.Error()), " ") // one line
		if prev.OK {
			w.state = dbState{Since: at}
			w.log.Warn("database unreachable: routing continues on local state; records are buffered until it returns", "err", msg)
		}
		w.state.Err = msg
	}
	state := w.state
	w.mu.Unlock()
	if state.OK {
		w.up.Set(1)
	} else {
		w.up.Set(0)
	}
	if w.checked != nil {
		w.checked(state)
	}
}

// State returns what the last check found.
func (w *dbWatch) State() dbState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// readyz wraps the gateway's readiness check: same status (the database
// being down does not make a replica unready: it routes on local state, and
// every replica shares the database, so a load balancer would lose them
// all at once), with the database's line added to the body. Without a
// database it is next itself.
func (w *dbWatch) readyz(next http.HandlerFunc) http.HandlerFunc {
	if w == nil {
		return next
	}
	return func(rw http.ResponseWriter, r *http.Request) {
		var b bufferedResponse
		next(&b, r)
		maps.Copy(rw.Header(), b.Header())
		rw.WriteHeader(b.status())
		_, _ = rw.Write(b.body.Bytes())
		_, _ = io.WriteString(rw, w.State().String()+"\n")
	}
}

// ServeHTTP is GET /readyz/database: 200 "database: ok", or 503 when the
// last check failed — for monitoring, not for a load balancer (see readyz).
// Without a database it answers 404.
func (w *dbWatch) ServeHTTP(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if w == nil {
		rw.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(rw, "database: none (storage: disabled)\n")
		return
	}
	s := w.State()
	if !s.OK {
		rw.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(rw, s.String()+"\n")
}

// bufferedResponse holds a handler's response so that more can be added.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header {
	if b.header == nil {
		b.header = make(http.Header)
	}
	return b.header
}

func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *bufferedResponse) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}
