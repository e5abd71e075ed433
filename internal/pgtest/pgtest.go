// Package pgtest gives tests a throwaway PostgreSQL database.
//
// UNDERSTUDY_TEST_POSTGRES_DSN is an administrative DSN (./scripts/postgres-for-tests
// prints one, and scripts/test sets it); every test creates its own database
// through it and drops it when the test ends. Without it the test is
// skipped — except under CI=true, where it fails: the PostgreSQL tests must
// never be silently skipped in CI.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSNEnv names the variable holding the administrative DSN.
const DSNEnv = "UNDERSTUDY_TEST_POSTGRES_DSN"

// Database creates a database dropped when tb ends and returns its DSN.
func Database(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set and CI=true: the PostgreSQL tests must run", DSNEnv)
		}
		tb.Skipf("%s is not set; skipping a PostgreSQL test", DSNEnv)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("%s must be a postgres:// URL", DSNEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "us_test_" + hex.EncodeToString(b[:])
	exec := func(q string) error {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), q)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	du := *u
	du.Path = "/" + name
	return du.String()
}
