package pgtest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/understudy/understudy/internal/pgtest"
)

// echoServer answers each line with itself until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line on c and reads it back.
func roundTrip(c net.Conn, r *bufio.Reader) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("got " + line)
	}
	return nil
}

// TestProxyCutRestore: connections go through; Cut closes the open one and
// refuses new ones; Restore accepts again on the same address.
func TestProxyCutRestore(t *testing.T) {
	p := pgtest.NewProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if err := roundTrip(c, r); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	addr := p.Addr()
	p.Cut()
	if err := roundTrip(c, r); err == nil {
		t.Fatal("the open connection still works after Cut")
	}
	if _, err := net.Dial("tcp", p.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Cut: got %v, want connection refused", err)
	}
	p.Cut() // a second Cut does nothing
	p.Restore()
	if p.Addr() != addr {
		t.Errorf("address after Restore: got %s, want %s", p.Addr(), addr)
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial after Restore: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2, bufio.NewReader(c2)); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	p.Restore() // a second Restore does nothing
}

// TestProxyPostgres: a PostgreSQL connection through the proxy works, fails
// when cut, and a new one works after Restore.
func TestProxyPostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	p := pgtest.NewProxy(t, pgtest.Target(t, dsn))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	query := func(c *pgx.Conn) error {
		var one int
		return c.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	c, err := pgx.Connect(ctx, p.DSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := query(c); err != nil {
		t.Fatalf("query through the proxy: %v", err)
	}
	p.Cut()
	if err := query(c); err == nil {
		t.Fatal("query on the open connection succeeded after Cut")
	}
	if c2, err := pgx.Connect(ctx, p.DSN(dsn)); err == nil {
		c2.Close(ctx)
		t.Fatal("connect after Cut succeeded")
	}
	p.Restore()
	c3, err := pgx.Connect(ctx, p.DSN(dsn))
	if err != nil {
		t.Fatalf("connect after Restore: %v", err)
	}
	defer c3.Close(context.Background())
	if err := query(c3); err != nil {
		t.Fatalf("query after Restore: %v", err)
	}
}
