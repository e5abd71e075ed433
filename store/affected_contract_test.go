package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/understudy/understudy/store"
)

func TestAffectedUsersSQLite(t *testing.T) { testAffectedUsers(t, OpenSQLite(t)) }

func TestAffectedUsersPostgres(t *testing.T) {
	open := PostgresOpener(t)
	testAffectedUsers(t, open(t))
}

// testAffectedUsers: distinct end users per window and routes; a user seen
// twice in a minute, or in several minutes, counts once; retention drops
// them with the rollups.
func testAffectedUsers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	add := func(us ...store.AffectedUser) {
		t.Helper()
		if err := s.AddAffectedUsers(ctx, us); err != nil {
			t.Fatal(err)
		}
	}
	add(store.AffectedUser{Minute: at(0).Add(10 * time.Second), Route: "assistant", UserHash: "a"},
		store.AffectedUser{Minute: at(0), Route: "assistant", UserHash: "a"}, // same minute: one row
		store.AffectedUser{Minute: at(1), Route: "assistant", UserHash: "a"},
		store.AffectedUser{Minute: at(1), Route: "assistant", UserHash: "b"},
		store.AffectedUser{Minute: at(2), Route: "other", UserHash: "c"},
		store.AffectedUser{Minute: at(5), Route: "assistant", UserHash: "d"})
	add(store.AffectedUser{Minute: at(1), Route: "assistant", UserHash: "b"}) // again, in a later flush
	for _, tt := range []struct {
		name     string
		from, to time.Time
		routes   []string
		want     int64
	}{
		{"all", at(0), at(10), nil, 4},
		{"one route", at(0), at(10), []string{"assistant"}, 3},
		{"two routes", at(0), at(3), []string{"assistant", "other"}, 3},
		{"window excludes its end", at(0), at(5), []string{"assistant"}, 2},
		{"nothing", at(6), at(10), nil, 0},
	} {
		got, err := s.AffectedUsers(ctx, tt.from, tt.to, tt.routes)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: %d users, want %d", tt.name, got, tt.want)
		}
	}
	if _, err := s.Retain(ctx, store.Retention{Rollups: 5 * time.Minute}, at(7)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AffectedUsers(ctx, at(0), at(10), nil); got != 2 {
		t.Errorf("after retention: %d users, want 2 (minutes 2 and 5 kept)", got)
	}
}
