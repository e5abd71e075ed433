package store_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/store"
)

func TestPingSQLite(t *testing.T) {
	if err := OpenSQLite(t).Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestPingPostgresUnreachable: Ping answers while PostgreSQL does, fails
// quickly when it is unreachable — with an error that does not hold the
// password — and answers again when it returns.
func TestPingPostgresUnreachable(t *testing.T) {
	dsn := pgtest.Database(t)
	u, _ := url.Parse(dsn)
	password, ok := u.User.Password()
	if !ok || password == "" {
		t.Skip("the test DSN has no password to keep out of errors")
	}
	p := pgtest.NewProxy(t, pgtest.Target(t, dsn))
	s := MustOpen(t, store.Config{PostgresDSN: p.DSN(dsn)})
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	p.Cut()
	err := ping()
	if err == nil {
		t.Fatal("Ping succeeded with PostgreSQL cut off")
	}
	t.Logf("unreachable: %v", err)
	if strings.Contains(err.Error(), password) {
		t.Errorf("Ping's error holds the password: %v", err)
	}
	p.Restore()
	if err := ping(); err != nil {
		t.Errorf("Ping after PostgreSQL returned: %v", err)
	}
}
