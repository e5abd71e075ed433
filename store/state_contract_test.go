package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/understudy/understudy/store"
)

func testSharedState(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, _, err := s.State(ctx, "components"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("State before any write: %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 11, 24, 5, 0, 0, 123000, time.UTC)
	if err := s.PutState(ctx, "components", []byte(`{"a":1}`), at); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState(ctx, "components", []byte(`{"a":2}`), at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState(ctx, "other", []byte(`[]`), at); err != nil {
		t.Fatal(err)
	}
	v, when, err := s.State(ctx, "components")
	if err != nil {
		t.Fatal(err)
	}
	if string(v) != `{"a":2}` || !when.Equal(at.Add(time.Second)) {
		t.Errorf("State = %s at %s, want {\"a\":2} at %s (the last write, whole)", v, when, at.Add(time.Second))
	}
	if v, _, _ := s.State(ctx, "other"); string(v) != `[]` {
		t.Errorf("other = %s, want []", v)
	}
}
