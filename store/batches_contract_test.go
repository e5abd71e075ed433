package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

func TestWriteBatchSQLite(t *testing.T) { testWriteBatch(t, OpenSQLite(t)) }

func TestWriteBatchPostgres(t *testing.T) {
	open := PostgresOpener(t)
	testWriteBatch(t, open(t))
}

// testWriteBatch: a batch's events, rollups and affected users are written
// together; the same batch written again (a retry after an error that hid
// a commit) changes nothing; another batch adds up; Retain forgets batch
// ids after a day.
func testWriteBatch(t *testing.T, s *store.Store) {
	ctx := context.Background()
	b := store.Batch{ID: "b1", At: at(0),
		Events:  []understudy.Event{{Time: at(0), Type: understudy.EventFailover, Route: "assistant", Message: "m"}},
		Rollups: []store.Rollup{{Minute: at(0), Route: "assistant", Target: "p/m", Class: understudy.ClassSuccess, Mode: store.ModePrimary, Count: 3}},
		Users:   []store.AffectedUser{{Minute: at(0), Route: "assistant", UserHash: "u"}},
	}
	check := func(step string, wantEvents, wantRequests int) {
		t.Helper()
		evs, err := s.Events(ctx, store.EventQuery{From: at(-1), To: at(5)})
		if err != nil {
			t.Fatal(err)
		}
		imp, err := s.Impact(ctx, at(-1), at(5), nil)
		if err != nil {
			t.Fatal(err)
		}
		users, err := s.AffectedUsers(ctx, at(-1), at(5), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != wantEvents || imp.Requests != int64(wantRequests) || users != 1 {
			t.Errorf("%s: got %d events, %d requests, %d users; want %d, %d, 1", step, len(evs), imp.Requests, users, wantEvents, wantRequests)
		}
	}
	for _, step := range []string{"written", "written again"} {
		if err := s.WriteBatch(ctx, b); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		check(step, 1, 3)
	}
	b2 := b
	b2.ID = "b2"
	if err := s.WriteBatch(ctx, b2); err != nil {
		t.Fatal(err)
	}
	check("another batch", 2, 6)
	if err := s.WriteBatch(ctx, store.Batch{Events: b.Events}); !errors.Is(err, store.ErrBatchID) {
		t.Errorf("a batch without an ID: got %v, want ErrBatchID", err)
	}
	// A day later its id is forgotten: written again, it adds up.
	if _, err := s.Retain(ctx, store.Retention{}, at(0).Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	check("after retention", 3, 9)
}
