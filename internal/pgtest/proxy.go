package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy for tests in front of a PostgreSQL server (or any TCP
// server): Cut makes the server unreachable through it — open connections
// are closed and new ones refused — and Restore brings it back on the same
// address.
type Proxy struct {
	tb     testing.TB
	target string // host:port of the server
	addr   string // 127.0.0.1:port, kept across Cut and Restore

	mu    sync.Mutex
	ln    net.Listener          // nil while cut
	conns map[net.Conn]struct{} // both ends of every open connection
	wg    sync.WaitGroup        // accept loops and copiers
}

// NewProxy starts a proxy on 127.0.0.1:0 forwarding to target (host:port);
// it stops when tb ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pgtest: proxy listen: %v", err)
	}
	p := &Proxy{tb: tb, target: target, addr: ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	p.serve(ln)
	tb.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.addr }

// DSN returns dsn (a postgres:// URL) with its host and port replaced by the
// proxy's, so that connections made with it go through the proxy.
func (p *Proxy) DSN(dsn string) string {
	p.tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.tb.Fatalf("pgtest: proxy DSN: not a postgres:// URL")
	}
	u.Host = p.addr
	return u.String()
}

// Target returns the host:port of the server a postgres:// DSN names
// (port 5432 when it has none).
func Target(tb testing.TB, dsn string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("pgtest: not a postgres:// URL")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Cut closes every open connection and stops listening: new connections are
// refused until Restore. Cutting a cut proxy does nothing.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Restore listens again on the same address. Restoring a proxy that is not
// cut does nothing.
func (p *Proxy) Restore() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("pgtest: proxy listen again on %s: %v", p.addr, err)
	}
	p.serveLocked(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.forward(ln, c)
		}
	}()
}

// forward connects c to the target and copies both ways until either side
// closes or Cut closes both.
func (p *Proxy) forward(ln net.Listener, c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln != ln { // cut meanwhile
		p.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := func() {
		_ = c.Close()
		_ = s.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
	}
	var once sync.Once
	p.wg.Add(2)
	for _, pair := range [][2]net.Conn{{s, c}, {c, s}} {
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(pair[0], pair[1]) // ends with an error when cut
			once.Do(done)
		}()
	}
}
