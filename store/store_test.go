package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/store"
)

func TestSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) *store.Store { return OpenSQLite(t) })
}

func TestPostgres(t *testing.T) {
	open := PostgresOpener(t)
	testStore(t, func(t *testing.T) *store.Store { return open(t) })
}

// OpenSQLite opens a store on a new file in a temporary directory.
func OpenSQLite(tb testing.TB) *store.Store {
	tb.Helper()
	return MustOpen(tb, store.Config{SQLitePath: filepath.Join(tb.TempDir(), "understudy.db")})
}

// PostgresOpener returns an opener making a throwaway database per store
// (see pgtest: skipped without a DSN, fatal under CI=true).
func PostgresOpener(tb testing.TB) func(testing.TB) *store.Store {
	tb.Helper()
	if os.Getenv(pgtest.DSNEnv) == "" {
		pgtest.Database(tb) // skips, or fails under CI=true
	}
	return func(tb testing.TB) *store.Store {
		tb.Helper()
		return MustOpen(tb, store.Config{PostgresDSN: pgtest.Database(tb)})
	}
}

// MustOpen opens a store and closes it when tb ends.
func MustOpen(tb testing.TB, c store.Config) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), c)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func MustAppendEvents(tb testing.TB, s *store.Store, incidentID int64, evs ...understudy.Event) {
	tb.Helper()
	var err error
	if incidentID == 0 {
		err = s.AppendEvents(context.Background(), evs)
	} else {
		err = s.AppendIncidentEvents(context.Background(), incidentID, evs)
	}
	if err != nil {
		tb.Fatalf("AppendEvents: %v", err)
	}
}

func MustAddRollups(tb testing.TB, s *store.Store, rs ...store.Rollup) {
	tb.Helper()
	if err := s.AddRollups(context.Background(), rs); err != nil {
		tb.Fatalf("AddRollups: %v", err)
	}
}

func MustRollups(tb testing.TB, s *store.Store, q store.RollupQuery) []store.Rollup {
	tb.Helper()
	rs, err := s.Rollups(context.Background(), q)
	if err != nil {
		tb.Fatalf("Rollups: %v", err)
	}
	return rs
}

// t0 is the fixed start of every test's timeline: a Monday, 00:00 UTC.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// at returns t0 plus m minutes.
func at(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// ro builds a rollup of n requests, each taking lat (TTFT lat/2).
func ro(minute int, route, target, mode string, n int64, lat time.Duration) store.Rollup {
	r := store.Rollup{
		Minute: at(minute), Route: route, Target: target, Class: understudy.ClassSuccess, Mode: mode,
		Count: n, LatencySum: time.Duration(n) * lat, PromptTokens: 10 * n, CompletionTokens: 20 * n,
	}
	if store.OutcomeOf(mode) == store.OutcomeFailed {
		r.Class = understudy.ClassServer
	}
	r.Latency[store.BucketOf(lat)] = n
	r.TTFT[store.BucketOf(lat/2)] = n
	return r
}

func benchmarkAddRollups(b *testing.B, s *store.Store) {
	const batch = 100
	rs := make([]store.Rollup, batch)
	for i := range rs {
		rs[i] = ro(i%10, "assistant", "openai/gpt-"+string(rune('a'+i%26)), "primary", 1, 300*time.Millisecond)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := s.AddRollups(context.Background(), rs); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAddRollups measures one AddRollups call of 100 rows (upserts on
// existing keys after the first call) per iteration.
func BenchmarkAddRollups(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkAddRollups(b, OpenSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkAddRollups(b, PostgresOpener(b)(b)) })
}

func countRows(tb testing.TB, s *store.Store, table string) int {
	tb.Helper()
	n, err := s.CountForTest(context.Background(), table)
	if err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}

func execSQL(s *store.Store, query string, args ...any) error {
	return s.ExecForTest(context.Background(), query, args...)
}

func TestOpenConfig(t *testing.T) {
	tests := []struct {
		name string
		c    store.Config
	}{
		{"neither", store.Config{}},
		{"both", store.Config{SQLitePath: "x.db", PostgresDSN: "postgres://localhost/x"}},
		{"query in path", store.Config{SQLitePath: "x.db?mode=ro"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.c)
			if !errors.Is(err, store.ErrConfig) {
				t.Errorf("got %v, want ErrConfig", err)
			}
			if s != nil {
				s.Close()
			}
		})
	}
}

// TestSQLiteReopen opens the same file twice: the second Open migrates nothing
// and sees the first one's data.
func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "understudy.db")
	s, err := store.Open(ctx, store.Config{SQLitePath: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	MustAppendEvents(t, s, 0, understudy.Event{Time: t0, Type: "first.open"})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = MustOpen(t, store.Config{SQLitePath: path})
	if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Errorf("Migrate after reopen: got %v, %v, want nothing applied", applied, err)
	}
	if got, err := s.Events(ctx, store.EventQuery{}); err != nil || len(got) != 1 {
		t.Errorf("Events after reopen: got %d events (err %v), want 1", len(got), err)
	}
}

// TestSQLiteUpgradeFrom0001 opens a database holding rows written at schema
// version 1: Open applies 0002 only, and the old rows read back with the new
// columns' defaults.
func TestSQLiteUpgradeFrom0001(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "understudy.db")
	ms, err := store.Migrations(store.DialectSQLite)
	if err != nil {
		t.Fatalf("Migrations: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	for _, q := range []string{
		ms[0].SQL,
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO incidents (title, severity, status, components, started_at, created_at, updated_at)
			VALUES ('old', 'minor', 'resolved', '["assistant"]', 0, 0, 0)`,
		`INSERT INTO events (ts, type) VALUES (0, 'old.event')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("set up version 1: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s := MustOpen(t, store.Config{SQLitePath: path})
	applied, err := s.AppliedMigrations(ctx)
	if err != nil || len(applied) != len(ms) || applied[len(applied)-1].AppliedAt.IsZero() {
		t.Fatalf("got applied %+v (err %v), want %d with the last just applied", applied, err, len(ms))
	}
	inc, err := s.Incident(ctx, 1)
	if err != nil {
		t.Fatalf("Incident: %v", err)
	}
	want := understudy.Incident{ID: 1, Title: "old", Severity: understudy.SeverityMinor,
		Status: understudy.IncidentResolved, Components: []string{"assistant"}, StartedAt: time.Unix(0, 0).UTC(),
		UpdatedAt: time.Unix(0, 0).UTC()}
	if !reflect.DeepEqual(inc, want) {
		t.Errorf("old incident: got  %+v\nwant %+v", inc, want)
	}
	evs, err := s.Events(ctx, store.EventQuery{})
	if err != nil || len(evs) != 1 || evs[0].Author != "" {
		t.Errorf("old event: got %+v (err %v), want one with no author", evs, err)
	}
}
