package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// Contract cases for maintenance windows and admin tokens; run by testStore
// on every dialect.

func MustCreateMaintenance(tb testing.TB, s *store.Store, m *understudy.Maintenance, evs ...understudy.Event) {
	tb.Helper()
	if err := s.CreateMaintenance(context.Background(), m, evs); err != nil {
		tb.Fatalf("CreateMaintenance %q: %v", m.Title, err)
	}
}

func testMaintenance(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mk := func(title string, status understudy.MaintenanceStatus, startMin int) *understudy.Maintenance {
		return &understudy.Maintenance{Title: title, Message: title + " message", Status: status,
			StartsAt: at(startMin), EndsAt: at(startMin + 60), Author: "alice", CreatedAt: at(-10), UpdatedAt: at(-10)}
	}
	full := mk("upgrade", understudy.MaintenanceScheduled, 30)
	full.Components = []string{"assistant", "provider:openai"}
	full.Targets = []string{"openai/gpt-4o-mini"}
	full.StartsAt = full.StartsAt.In(time.FixedZone("CET", 3600))
	MustCreateMaintenance(t, s, full, understudy.Event{Time: at(-10), Type: understudy.EventMaintenancePlanned,
		Author: "alice"})
	if full.ID == 0 {
		t.Fatalf("got ID 0, want one set")
	}
	want := *full
	want.StartsAt = want.StartsAt.UTC()
	got, err := s.Maintenance(ctx, full.ID)
	if err != nil {
		t.Fatalf("Maintenance: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got  %+v\nwant %+v", got, want)
	}

	// Start it: StartedAt set, targets changed, one event with no incident.
	full.Status, full.StartedAt, full.UpdatedAt, full.Targets = understudy.MaintenanceInProgress, at(30), at(30), nil
	if err := s.SaveMaintenance(ctx, full, []understudy.Event{{Time: at(30), Type: understudy.EventMaintenanceStarted,
		Author: "understudy"}}); err != nil {
		t.Fatalf("SaveMaintenance: %v", err)
	}
	want = *full
	want.StartsAt = want.StartsAt.UTC()
	if got, err := s.Maintenance(ctx, full.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after save: got  %+v (err %v)\nwant %+v", got, err, want)
	}
	evs, err := s.Events(ctx, store.EventQuery{Types: []string{understudy.EventMaintenancePlanned, understudy.EventMaintenanceStarted}})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(evs) != 2 || evs[0].IncidentID != 0 || evs[1].IncidentID != 0 || evs[1].Author != "understudy" {
		t.Errorf("events: got %+v, want planned then started, no incident, started by understudy", evs)
	}

	missing := mk("missing", understudy.MaintenanceScheduled, 0)
	missing.ID = 9999
	if err := s.SaveMaintenance(ctx, missing, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SaveMaintenance(9999): got %v, want ErrNotFound", err)
	}
	if _, err := s.Maintenance(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Maintenance(9999): got %v, want ErrNotFound", err)
	}

	// full ("upgrade") is in progress at minute 30.
	for _, m := range []*understudy.Maintenance{
		mk("done", understudy.MaintenanceCompleted, -200),
		mk("later", understudy.MaintenanceScheduled, 500),
		mk("verify", understudy.MaintenanceVerifying, 10),
		mk("canceled", understudy.MaintenanceCanceled, 100),
		mk("same start", understudy.MaintenanceScheduled, 500),
	} {
		MustCreateMaintenance(t, s, m)
	}
	tests := []struct {
		name string
		f    understudy.MaintenanceFilter
		want []string
	}{
		{"all by start then id", understudy.MaintenanceFilter{},
			[]string{"done", "verify", "upgrade", "canceled", "later", "same start"}},
		{"active", understudy.MaintenanceFilter{Active: true}, []string{"verify", "upgrade", "later", "same start"}},
		{"limit", understudy.MaintenanceFilter{Limit: 2}, []string{"done", "verify"}},
		{"active and limit", understudy.MaintenanceFilter{Active: true, Limit: 1}, []string{"verify"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := s.Maintenances(ctx, tt.f)
			if err != nil {
				t.Fatalf("Maintenances: %v", err)
			}
			var titles []string
			for _, m := range ms {
				titles = append(titles, m.Title)
			}
			if !reflect.DeepEqual(titles, tt.want) {
				t.Errorf("got %q, want %q", titles, tt.want)
			}
		})
	}
}

func testTokens(t *testing.T, s *store.Store) {
	ctx := context.Background()
	tok := func(name string, scope understudy.Scope) understudy.Token {
		return understudy.Token{Name: name, Scope: scope, Hash: sha256.Sum256([]byte(name + "-secret")), CreatedAt: at(0)}
	}
	ops, bot, root := tok("ops", understudy.ScopeOperator), tok("bot", understudy.ScopeAgent), tok("root", understudy.ScopeAdmin)
	root.LastUsed = at(3)
	for _, tk := range []understudy.Token{ops, bot, root} {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatalf("CreateToken %q: %v", tk.Name, err)
		}
	}
	dupName := tok("ops", understudy.ScopeAdmin)
	dupName.Hash = sha256.Sum256([]byte("other"))
	dupHash := tok("ops2", understudy.ScopeAdmin)
	dupHash.Hash = ops.Hash
	for _, tt := range []struct {
		name string
		tok  understudy.Token
	}{{"duplicate name", dupName}, {"duplicate hash", dupHash}} {
		if err := s.CreateToken(ctx, tt.tok); !errors.Is(err, store.ErrExists) {
			t.Errorf("%s: got %v, want ErrExists", tt.name, err)
		}
	}

	if err := s.RevokeToken(ctx, "bot", at(10)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if err := s.RevokeToken(ctx, "bot", at(20)); err != nil { // keeps the first time
		t.Fatalf("RevokeToken again: %v", err)
	}
	if err := s.TouchToken(ctx, "ops", at(5).Add(1500*time.Nanosecond)); err != nil {
		t.Fatalf("TouchToken: %v", err)
	}
	ops.LastUsed = at(5).Add(time.Microsecond)
	bot.RevokedAt = at(10)

	tests := []struct {
		name string
		hash [32]byte
		want understudy.Token
		err  error
	}{
		{"touched", ops.Hash, ops, nil},
		{"revoked is still returned", bot.Hash, bot, nil},
		{"used before", root.Hash, root, nil},
		{"unknown", sha256.Sum256([]byte("nope")), understudy.Token{}, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.TokenByHash(ctx, tt.hash)
			if !errors.Is(err, tt.err) {
				t.Fatalf("got error %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	all, err := s.Tokens(ctx)
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	if want := []understudy.Token{bot, ops, root}; !reflect.DeepEqual(all, want) {
		t.Errorf("Tokens: got  %+v\nwant %+v", all, want)
	}
	if err := s.RevokeToken(ctx, "nobody", at(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken unknown: got %v, want ErrNotFound", err)
	}
	if err := s.TouchToken(ctx, "nobody", at(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchToken unknown: got %v, want ErrNotFound", err)
	}
}
