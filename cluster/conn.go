package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// TCP keepalive settings of every connection this package opens, on both
// ends: the client's dialer and the server's tcp_keepalives_* parameters. A
// silent peer is declared dead after Idle + Count×Interval ≈ 25 s. They are
// the backstop: the leader's checks and the listener's pings notice a dead
// connection sooner on the client side, and the leader's
// idle_session_timeout makes the server drop a silent leader sooner.
const (
	keepaliveIdle     = 10 * time.Second
	keepaliveInterval = 5 * time.Second
	keepaliveCount    = 3
	// userTimeout is the server's tcp_user_timeout: how long sent data may
	// stay unacknowledged before the server drops the connection (Linux
	// servers; keepalives do not probe while data is in flight).
	userTimeout = 25 * time.Second
	// defaultConnectTimeout bounds a connection attempt when the DSN has no
	// connect_timeout.
	defaultConnectTimeout = 5 * time.Second
)

// ErrConfig is wrapped by the errors NewLeader and NewBus return for invalid
// options.
var ErrConfig = errors.New("cluster: invalid options")

// ErrRunning is returned by Run when the same Leader or Bus is already
// running.
var ErrRunning = errors.New("cluster: already running")

// tune sets client-side TCP keepalives, a connect timeout when the DSN has
// none, and appName as application_name unless the DSN names one (it shows
// in pg_stat_activity).
func tune(cfg *pgx.ConnConfig, appName string) {
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: keepaliveIdle, Interval: keepaliveInterval, Count: keepaliveCount,
	}}
	cfg.DialFunc = d.DialContext
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = appName
	}
}

// connector opens one dedicated connection: cfg, or open when set.
type connector struct {
	cfg  *pgx.ConnConfig
	open func(ctx context.Context) (*pgx.Conn, error)
	// idle is the session's idle_session_timeout; zero leaves the server's.
	idle time.Duration
}

// connect opens a connection and sets the session's server-side keepalives
// (and idle_session_timeout when c.idle is set). PostgreSQL 14 or later is
// needed for idle_session_timeout.
func (c connector) connect(ctx context.Context) (*pgx.Conn, error) {
	var conn *pgx.Conn
	var err error
	if c.open != nil {
		ctx, cancel := context.WithTimeout(ctx, defaultConnectTimeout)
		defer cancel()
		conn, err = c.open(ctx)
	} else {
		conn, err = pgx.ConnectConfig(ctx, c.cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	q := `SELECT set_config('tcp_keepalives_idle', $1, false), set_config('tcp_keepalives_interval', $2, false),
		set_config('tcp_keepalives_count', $3, false), set_config('tcp_user_timeout', $4, false)`
	args := []any{
		strconv.Itoa(int(keepaliveIdle.Seconds())), strconv.Itoa(int(keepaliveInterval.Seconds())),
		strconv.Itoa(keepaliveCount), strconv.FormatInt(userTimeout.Milliseconds(), 10),
	}
	if c.idle > 0 {
		q += `, set_config('idle_session_timeout', $5, false)`
		args = append(args, strconv.FormatInt(c.idle.Milliseconds(), 10))
	}
	sctx, cancel := context.WithTimeout(ctx, defaultConnectTimeout)
	defer cancel()
	if _, err := conn.Exec(sctx, q, args...); err != nil {
		closeConn(conn, time.Second)
		return nil, fmt.Errorf("session settings: %w", err)
	}
	return conn, nil
}

// closeConn closes conn, bounded by timeout: the server ends the session
// (and releases its locks) when it reads the Terminate message or sees the
// socket close.
func closeConn(conn *pgx.Conn, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = conn.Close(ctx)
}
