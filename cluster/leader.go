package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultKey is the advisory lock key used when LeaderOptions.Key is zero:
// the ASCII bytes "understu" read as a big-endian int64.
const DefaultKey int64 = 0x756e646572737475

// LeaderOptions configure a Leader. Zero values get the defaults stated on
// each field.
type LeaderOptions struct {
	// DSN is the PostgreSQL connection string (URL or key=value) of the
	// leader's dedicated connection. The lock is scoped to the DSN's
	// database: every replica must name the same one. Connect directly or
	// through a session-pooling proxy; a transaction pooler (pgbouncer
	// pool_mode=transaction) cannot hold a session lock, and the lock check
	// then fails (no leader rather than two). Required unless Connect is set.
	DSN string
	// Connect, when set, opens the dedicated connection instead of DSN. It
	// must return a new connection on each call, keep pgx's default
	// (deadline) context watcher, and is responsible for client-side TCP
	// keepalives; the server-side ones and idle_session_timeout are set on
	// the session after it returns. Each call is bounded by 5 s.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Key is the pg_advisory_lock key: one leader per key and database.
	// Zero means DefaultKey.
	Key int64
	// Interval is how often a follower tries to take the lock and how
	// often the leader checks that it still holds it. Default 1 s.
	Interval time.Duration
	// Timeout bounds each lock attempt and each check; a check that does
	// not answer within it counts as lost leadership. Default: Interval.
	Timeout time.Duration
	// SessionTimeout is the idle_session_timeout set on the leader's
	// session: the server ends a session that sent nothing for that long,
	// which releases the lock of a leader that is partitioned away or
	// frozen. It must exceed Interval + 2×Timeout so that the leader
	// notices the loss (and cancels its work) before the server lets
	// another replica in; the difference is the time lead has to stop.
	// Default: 2×Interval + 3×Timeout (5 s with the defaults).
	SessionTimeout time.Duration
	// Clock paces tries, checks and timeouts. Default: the real clock.
	Clock clockwork.Clock
	// Logger receives leadership changes and connection errors. Default:
	// discard.
	Logger *slog.Logger
	// Registry, when set, gets the gauge understudy_cluster_leader{key}:
	// 1 while this process leads, else 0. Nil: no metrics.
	Registry prometheus.Registerer
	// OnChange, when set, is called with true when leadership is taken and
	// false when it ends (before lead's context is canceled). It runs on
	// Run's goroutine and must not block.
	OnChange func(leading bool)
}

// Leader elects one leader per key among processes sharing a PostgreSQL
// database, with a session-level advisory lock held on a dedicated
// connection. Create it with NewLeader and call Run once.
type Leader struct {
	conn     connector
	key      int64
	interval time.Duration
	timeout  time.Duration
	clk      clockwork.Clock
	log      *slog.Logger
	onChange func(bool)
	gauge    prometheus.Gauge

	leading atomic.Bool
	running atomic.Bool
	// tried, when set (tests), is called after each lock attempt.
	tried func(got bool, err error)
}

// errLeadReturned ends leadership when lead returns on its own.
var errLeadReturned = errors.New("lead returned")

// NewLeader checks o and returns a Leader; it does not connect.
func NewLeader(o LeaderOptions) (*Leader, error) {
	if o.Interval < 0 || o.Timeout < 0 || o.SessionTimeout < 0 {
		return nil, fmt.Errorf("%w: Interval %v, Timeout %v and SessionTimeout %v must not be negative",
			ErrConfig, o.Interval, o.Timeout, o.SessionTimeout)
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = o.Interval
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 2*o.Interval + 3*o.Timeout
	}
	if min := o.Interval + 2*o.Timeout; o.SessionTimeout <= min {
		return nil, fmt.Errorf("%w: SessionTimeout %v must exceed Interval + 2×Timeout (%v), or a partitioned leader could still be working when another takes over",
			ErrConfig, o.SessionTimeout, min)
	}
	if o.Key == 0 {
		o.Key = DefaultKey
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Leader{
		conn: connector{open: o.Connect, idle: o.SessionTimeout}, key: o.Key,
		interval: o.Interval, timeout: o.Timeout, clk: o.Clock, onChange: o.OnChange,
		log: o.Logger.With("component", "leader", "key", o.Key),
	}
	if o.Connect == nil {
		if o.DSN == "" {
			return nil, fmt.Errorf("%w: DSN or Connect is required", ErrConfig)
		}
		cfg, err := pgx.ParseConfig(o.DSN)
		if err != nil {
			return nil, fmt.Errorf("%w: DSN: %w", ErrConfig, err)
		}
		tune(cfg, "understudy leader")
		l.conn.cfg = cfg
	}
	if o.Registry != nil {
		l.gauge = prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "understudy_cluster_leader",
			Help:        "1 while this process holds the leader lock (PostgreSQL advisory lock key), else 0.",
			ConstLabels: prometheus.Labels{"key": strconv.FormatInt(o.Key, 10)},
		})
		if err := o.Registry.Register(l.gauge); err != nil {
			return nil, fmt.Errorf("%w: Registry: %w", ErrConfig, err)
		}
	}
	return l, nil
}

// IsLeader reports whether this process leads now: true from the moment the
// lock is taken until the loss is noticed, just before lead's context is
// canceled.
func (l *Leader) IsLeader() bool { return l.leading.Load() }

// Run takes part in the election until ctx is done. Each time this process
// takes the lock it calls lead on a new goroutine with a context that is
// canceled as soon as leadership ends: ctx done, the lock check failing
// (connection lost, or no answer within Timeout), or the session ended by
// the server. Run then waits for lead to return and closes the connection,
// which releases the lock server-side, before trying again every Interval.
// If lead returns on its own, the lock is released and Run goes back to
// trying (this or another process may lead next).
//
// Run returns nil once ctx is done, lead has returned and the lock has been
// released; ErrRunning if the Leader is already running.
func (l *Leader) Run(ctx context.Context, lead func(ctx context.Context)) error {
	if !l.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer l.running.Store(false)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			closeConn(conn, l.timeout)
		}
	}()
	var lastErr string
	for ctx.Err() == nil {
		got, err := l.try(ctx, &conn)
		if l.tried != nil {
			l.tried(got, err)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			// Log a repeated failure once, at Warn; repeats at Debug.
			if msg := err.Error(); msg != lastErr {
				l.log.Warn("leader lock attempt failed", "err", err)
				lastErr = msg
			} else {
				l.log.Debug("leader lock attempt failed", "err", err)
			}
		case got:
			lastErr = ""
			l.hold(ctx, conn, lead)
			conn = nil // hold closed it
		}
		t := l.clk.NewTimer(l.interval)
		select {
		case <-ctx.Done():
		case <-t.Chan():
		}
		t.Stop()
	}
	return nil
}

// try takes the lock on *conn, connecting first when *conn is nil. On error
// the connection is closed and *conn set to nil.
func (l *Leader) try(ctx context.Context, conn **pgx.Conn) (bool, error) {
	if *conn == nil {
		c, err := l.conn.connect(ctx)
		if err != nil {
			return false, err
		}
		*conn = c
	}
	tctx, cancel := clockwork.WithTimeout(ctx, l.clk, l.timeout)
	defer cancel()
	var got bool
	if err := (*conn).QueryRow(tctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		// The lock may have been granted with the answer lost: closing
		// the session releases it.
		closeConn(*conn, l.timeout)
		*conn = nil
		return false, fmt.Errorf("pg_try_advisory_lock: %w", err)
	}
	return got, nil
}

// hold runs lead while the lock on conn is held, then ends leadership and
// closes conn.
func (l *Leader) hold(ctx context.Context, conn *pgx.Conn, lead func(context.Context)) {
	leadCtx, cancelLead := context.WithCancelCause(ctx)
	// holdCtx ends with ctx or as soon as lead returns, to stop waiting.
	holdCtx, cancelHold := context.WithCancel(ctx)
	defer cancelHold()
	done := make(chan struct{})
	l.setLeading(true)
	l.log.Info("leadership taken")
	go func() {
		defer close(done)
		defer cancelHold()
		lead(leadCtx)
	}()
	lost, cause := l.watch(holdCtx, ctx, conn)
	l.setLeading(false)
	cancelLead(cause)
	<-done
	if !lost {
		// Release at once, so that another process can take over on its
		// next try rather than when the server processes our Terminate.
		uctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		_, err := conn.Exec(uctx, "SELECT pg_advisory_unlock_all()")
		cancel()
		if err != nil {
			l.log.Warn("leader unlock failed; closing the session releases the lock", "err", err)
		}
		l.log.Info("leadership released", "reason", cause)
	} else {
		l.log.Warn("leadership lost", "err", cause)
	}
	closeConn(conn, l.timeout)
}

// watch returns when holdCtx is done, with ctx's error or errLeadReturned
// as the cause, or when leadership is lost: lost, with the error. Between
// checks it waits on the connection, so that a session ended by the server
// (the FATAL message of pg_terminate_backend, idle_session_timeout or a
// shutdown, or the socket closing) is noticed at once, not at the next
// check.
func (l *Leader) watch(holdCtx, ctx context.Context, conn *pgx.Conn) (lost bool, cause error) {
	ended := func() (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return false, errLeadReturned
	}
	for {
		wctx, cancel := clockwork.WithTimeout(holdCtx, l.clk, l.interval)
		_, err := conn.WaitForNotification(wctx)
		waited := wctx.Err() != nil
		cancel()
		if holdCtx.Err() != nil {
			return ended()
		}
		if err != nil && !waited {
			return true, fmt.Errorf("leader connection: %w", err)
		}
		if err == nil {
			continue // a notification (nobody should send one): ignore
		}
		if err := l.check(ctx, conn); err != nil {
			if holdCtx.Err() != nil {
				return ended()
			}
			return true, err
		}
	}
}

// check confirms, within Timeout, that this session still holds the lock.
// It reads pg_locks rather than only pinging, so that a connection that is
// not one session (a transaction pooler) never counts as leading. It is not
// interrupted by ctx: a check in flight finishes or times out.
func (l *Leader) check(ctx context.Context, conn *pgx.Conn) error {
	cctx, cancel := clockwork.WithTimeout(context.WithoutCancel(ctx), l.clk, l.timeout)
	defer cancel()
	var held bool
	err := conn.QueryRow(cctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory'
		AND pid = pg_backend_pid() AND classid = $1 AND objid = $2 AND objsubid = 1 AND granted)`,
		uint32(uint64(l.key)>>32), uint32(uint64(l.key))).Scan(&held)
	if err != nil {
		return fmt.Errorf("leader check: %w", err)
	}
	if !held {
		return errors.New("leader check: the session does not hold the lock")
	}
	return nil
}

func (l *Leader) setLeading(v bool) {
	l.leading.Store(v)
	if l.gauge != nil {
		if v {
			l.gauge.Set(1)
		} else {
			l.gauge.Set(0)
		}
	}
	if l.onChange != nil {
		l.onChange(v)
	}
}
