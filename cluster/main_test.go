package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/understudy/understudy/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// MustDatabase creates a throwaway database, dropped when tb ends, and
// returns its DSN (see pgtest).
func MustDatabase(tb testing.TB) string { return pgtest.Database(tb) }

// MustConnect opens a connection closed when tb ends.
func MustConnect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// MustTerminate ends backend pid from admin, as an operator or a failover
// tool would.
func MustTerminate(tb testing.TB, admin *pgx.Conn, pid uint32) {
	tb.Helper()
	var ok bool
	if err := admin.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&ok); err != nil || !ok {
		tb.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ok, err)
	}
}

// proxy forwards TCP connections to a PostgreSQL server until Partition is
// called: from then on it forwards nothing in either direction and closes
// nothing, like a network partition (no FIN, no RST reaches either side).
type proxy struct {
	ln     net.Listener
	target string
	holed  atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// MustProxy starts a proxy to dsn's server and returns it with the DSN to
// use through it; it stops when tb ends.
func MustProxy(tb testing.TB, dsn string) (*proxy, string) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, target: u.Host}
	p.wg.Go(p.serve)
	tb.Cleanup(p.close)
	pu := *u
	pu.Host = ln.Addr().String()
	return p, pu.String()
}

// Partition stops all forwarding, for current and future connections.
func (p *proxy) Partition() { p.holed.Store(true) }

// track records c, to close it with the proxy; once closed, it closes c and
// returns false.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		if p.holed.Load() {
			p.wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(up) {
			_ = c.Close()
			return
		}
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// pipe copies src to dst; once partitioned it discards what it reads and,
// when src ends, leaves dst open.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.holed.Load() {
			if err != nil {
				return
			}
			continue
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// testLogger logs to the test's output, at Debug, naming the process.
func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})).With("process", name)
}
