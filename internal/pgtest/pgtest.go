// Package pgtest gives tests a throwaway PostgreSQL database.
//
// UNDERSTUDY_TEST_POSTGRES_DSN is an administrative DSN (./scripts/postgres-for-tests
// prints one, and scripts/test sets it); every test creates its own database
// through it and drops it when the test ends. Without it the test is
// skipped — except under CI=true, where it fails: the PostgreSQL tests must
// never be silently skipped in CI.
//
// Create does the same for programs that are not tests (the benchmark).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSNEnv names the variable holding the administrative DSN.
const DSNEnv = "UNDERSTUDY_TEST_POSTGRES_DSN"

// ErrNotPostgres is returned by Create for an administrative DSN that is not
// a postgres:// URL.
var ErrNotPostgres = errors.New("the administrative DSN must be a postgres:// URL")

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
	db, drop, err := Create(context.Background(), dsn)
	if errors.Is(err, ErrNotPostgres) {
		tb.Fatalf("%s must be a postgres:// URL", DSNEnv)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// Create creates a database with a random name through the administrative
// DSN admin, and returns its DSN and a function that drops it (forcing
// out the sessions still connected).
func Create(ctx context.Context, admin string) (dsn string, drop func(context.Context) error, err error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, ErrNotPostgres
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "us_test_" + hex.EncodeToString(b[:])
	exec := func(ctx context.Context, q string) error {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer c.Close(context.WithoutCancel(ctx))
		_, err = c.Exec(ctx, q)
		return err
	}
	if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop = func(ctx context.Context) error {
		if err := exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	du := *u
	du.Path = "/" + name
	return du.String(), drop, nil
}
