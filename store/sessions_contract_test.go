package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

func testConsoleSessions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	a := understudy.ConsoleSession{IDHash: sha256.Sum256([]byte("a")), Name: "ada", Scope: understudy.ScopeAgent,
		TokenHash: sha256.Sum256([]byte("us_ada")), CSRF: "csrf-a", Expires: now.Add(time.Hour)}
	if err := s.CreateConsoleSession(ctx, a, now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsoleSession(ctx, a, now); !errors.Is(err, store.ErrExists) {
		t.Errorf("the same id again: %v, want ErrExists", err)
	}
	got, err := s.ConsoleSession(ctx, a.IDHash, now)
	if err != nil {
		t.Fatal(err)
	}
	if got != a {
		t.Errorf("got %+v, want %+v", got, a)
	}
	// Expired: not found, and forgotten at the next creation.
	if _, err := s.ConsoleSession(ctx, a.IDHash, a.Expires); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("at its expiry: %v, want ErrNotFound", err)
	}
	b := a
	b.IDHash, b.Expires = sha256.Sum256([]byte("b")), now.Add(3*time.Hour)
	if err := s.CreateConsoleSession(ctx, b, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsoleSession(ctx, a.IDHash, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired session was kept: %v", err)
	}
	if err := s.DeleteConsoleSession(ctx, b.IDHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsoleSession(ctx, b.IDHash, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after signing out: %v, want ErrNotFound", err)
	}
	if err := s.DeleteConsoleSession(ctx, b.IDHash); err != nil {
		t.Errorf("deleting it again: %v", err)
	}
}
