package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// testStore is the contract every store dialect must meet. open returns a
// fresh, migrated, empty store that is closed when t ends.
func testStore(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *store.Store)
	}{
		{"Migrations", testMigrations},
		{"Events", testEvents},
		{"RollupsAdd", testRollupsAdd},
		{"SLI", testSLI},
		{"DailyUptime", testDailyUptime},
		{"Impact", testImpact},
		{"Retain", testRetain},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Keys", testKeys},
		{"Backup", testBackup},
		{"IncidentRoundTrip", testIncidentRoundTrip},
		{"IncidentKeys", testIncidentKeys},
		{"IncidentConcurrentKey", testIncidentConcurrentKey},
		{"IncidentSave", testIncidentSave},
		{"IncidentSaveIf", testIncidentSaveIf},
		{"IncidentsList", testIncidentsList},
		{"Maintenance", testMaintenance},
		{"Tokens", testTokens},
		{"Subscribers", testSubscribers},
		{"Deliveries", testDeliveries},
		{"DeliveriesConcurrentEnqueue", testDeliveriesConcurrentEnqueue},
		{"HandoffRoundTrip", testHandoffRoundTrip},
		{"HandoffLifecycle", testHandoffLifecycle},
		{"HandoffClaimRace", testHandoffClaimRace},
		{"HandoffClaimNextRace", testHandoffClaimNextRace},
		{"HandoffWaitInputs", testHandoffWaitInputs},
		{"HandoffLinks", testHandoffLinks},
		{"SharedState", testSharedState},
		{"ConsoleSessions", testConsoleSessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

func testMigrations(t *testing.T, s *store.Store) {
	ctx := context.Background()
	known, err := store.Migrations(s.Dialect())
	if err != nil {
		t.Fatalf("Migrations: %v", err)
	}
	var names []string
	for _, m := range known {
		names = append(names, m.Name)
	}
	if want := []string{"0001_init.sql", "0002_incidents.sql", "0003_notify.sql", "0004_handoff.sql",
		"0005_handoff_links.sql", "0006_postmortems.sql", "0007_shared_state.sql", "0008_recorder_batches.sql", "0009_console_sessions.sql"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("got migrations %q, want %q", names, want)
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		t.Fatalf("AppliedMigrations: %v", err)
	}
	if len(applied) != len(known) {
		t.Fatalf("got %d applied migrations, want %d", len(applied), len(known))
	}
	for i, m := range applied {
		if m.Version != known[i].Version || m.Name != known[i].Name || m.AppliedAt.IsZero() {
			t.Errorf("schema_migrations[%d]: got %d %q at %v, want %d %q", i, m.Version, m.Name, m.AppliedAt,
				known[i].Version, known[i].Name)
		}
	}
	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("Migrate again applied %v, want nothing", again)
	}
	// Every later-issue table exists and is empty.
	for _, table := range []string{"components", "incidents", "incident_updates", "maintenance_windows",
		"subscribers", "deliveries", "handoff_conversations", "handoff_messages", "handoff_links", "postmortems", "action_items", "affected_users", "api_keys",
		"admin_tokens"} {
		if n := countRows(t, s, table); n != 0 {
			t.Errorf("%s: got %d rows, want 0", table, n)
		}
	}
	// A version newer than the binary knows is refused.
	if err := execSQL(s, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatalf("insert future migration: %v", err)
	}
	if _, err := s.Migrate(ctx); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Errorf("Migrate with a newer schema: got %v, want ErrSchemaTooNew", err)
	}
}

func testEvents(t *testing.T, s *store.Store) {
	ev := func(sec int, typ, route, target string) understudy.Event {
		return understudy.Event{Time: t0.Add(time.Duration(sec) * time.Second), Type: typ, Route: route,
			Target: target, Message: typ + " " + target}
	}
	// Appended out of order; e2 and e3 share a time, so id breaks the tie.
	e1 := ev(30, understudy.EventFailover, "assistant", "openai/gpt-4o-mini")
	e1.Details = map[string]any{"class": "server_error", "status": float64(502)}
	e1.NeedsPerson = true
	e1.Author = "alice"
	e2 := ev(10, understudy.EventBreakerChanged, "", "openai/gpt-4o-mini")
	e3 := ev(10, understudy.EventTargetCooled, "", "anthropic/claude")
	e4 := ev(90, understudy.EventRouteExhausted, "support", "")
	e4.Time = e4.Time.Add(1500 * time.Nanosecond) // sub-microsecond part is dropped
	MustAppendEvents(t, s, 0, e1, e2, e3)
	MustAppendEvents(t, s, 42, e4)
	MustAppendEvents(t, s, 0) // nothing to append is fine

	msg := func(es []store.StoredEvent) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Message)
		}
		return out
	}
	m1, m2, m3, m4 := e1.Message, e2.Message, e3.Message, e4.Message
	tests := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"all by time then id", store.EventQuery{}, []string{m2, m3, m1, m4}},
		{"from inclusive", store.EventQuery{From: t0.Add(30 * time.Second)}, []string{m1, m4}},
		{"to exclusive", store.EventQuery{To: t0.Add(30 * time.Second)}, []string{m2, m3}},
		{"route", store.EventQuery{Route: "assistant"}, []string{m1}},
		{"target", store.EventQuery{Target: "openai/gpt-4o-mini"}, []string{m2, m1}},
		{"incident", store.EventQuery{IncidentID: 42}, []string{m4}},
		{"types", store.EventQuery{Types: []string{understudy.EventTargetCooled, understudy.EventRouteExhausted}}, []string{m3, m4}},
		{"limit", store.EventQuery{Limit: 2}, []string{m2, m3}},
		{"combined", store.EventQuery{From: t0, To: t0.Add(time.Hour), Target: "openai/gpt-4o-mini",
			Types: []string{understudy.EventFailover}}, []string{m1}},
		{"none", store.EventQuery{Route: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			if !reflect.DeepEqual(msg(got), tt.want) {
				t.Errorf("got %q, want %q", msg(got), tt.want)
			}
		})
	}

	all, err := s.Events(context.Background(), store.EventQuery{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if all[0].ID >= all[1].ID {
		t.Errorf("same-time events: got ids %d, %d, want increasing", all[0].ID, all[1].ID)
	}
	got := all[2]
	if !got.Time.Equal(e1.Time) || got.Time.Location() != time.UTC || got.Type != e1.Type || got.Route != e1.Route ||
		got.Target != e1.Target || !got.NeedsPerson || got.Author != e1.Author || got.IncidentID != 0 || !reflect.DeepEqual(got.Details, e1.Details) {
		t.Errorf("round trip: got %+v, want %+v", got, e1)
	}
	if all[0].NeedsPerson || all[0].Details != nil || all[0].Author != "" {
		t.Errorf("got NeedsPerson %v Details %v Author %q, want false, nil and empty", all[0].NeedsPerson,
			all[0].Details, all[0].Author)
	}
	if want := e4.Time.Truncate(time.Microsecond); !all[3].Time.Equal(want) || all[3].IncidentID != 42 {
		t.Errorf("got time %v incident %d, want %v and 42", all[3].Time, all[3].IncidentID, want)
	}
}

func testRollupsAdd(t *testing.T, s *store.Store) {
	a := ro(0, "assistant", "openai/gpt-4o-mini", "primary", 3, 300*time.Millisecond)
	a.Minute = a.Minute.Add(42 * time.Second) // truncated to the minute on write
	b := ro(0, "assistant", "openai/gpt-4o-mini", "primary", 2, 3*time.Second)
	b.Minute = b.Minute.In(time.FixedZone("CET", 3600))
	other := ro(1, "assistant", "openai/gpt-4o-mini", "primary", 1, 50*time.Millisecond)
	MustAddRollups(t, s, a, other)
	MustAddRollups(t, s, b)
	MustAddRollups(t, s, b, b) // duplicates inside one call add too
	MustAddRollups(t, s)       // nothing to add is fine

	got := MustRollups(t, s, store.RollupQuery{Route: "assistant"})
	if len(got) != 2 {
		t.Fatalf("got %d rows, want 2: %+v", len(got), got)
	}
	want := a
	want.Minute = at(0)
	for range 3 {
		r := b
		want.Count += r.Count
		want.LatencySum += r.LatencySum
		want.Latency.Add(r.Latency)
		want.TTFT.Add(r.TTFT)
		want.PromptTokens += r.PromptTokens
		want.CompletionTokens += r.CompletionTokens
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %+v\nwant %+v", got[0], want)
	}
	if got[0].Count != 9 || got[0].Latency.Total() != 9 || got[0].Latency[store.BucketOf(3*time.Second)] != 6 {
		t.Errorf("got count %d latency %v, want 9 with 6 in the 5s bucket", got[0].Count, got[0].Latency)
	}
	if !reflect.DeepEqual(got[1], other) {
		t.Errorf("got %+v\nwant %+v", got[1], other)
	}
	if n := len(MustRollups(t, s, store.RollupQuery{From: at(1), To: at(2)})); n != 1 {
		t.Errorf("window [1,2): got %d rows, want 1", n)
	}

	// A batch larger than one statement's worth of rows, added twice.
	bulk := make([]store.Rollup, 1201)
	for i := range bulk {
		bulk[i] = ro(i, "bulk", "openai/a", "primary", 1, time.Second)
	}
	MustAddRollups(t, s, bulk...)
	MustAddRollups(t, s, bulk...)
	rows := MustRollups(t, s, store.RollupQuery{Route: "bulk"})
	var total int64
	for _, r := range rows {
		total += r.Count
	}
	if len(rows) != len(bulk) || total != 2*int64(len(bulk)) {
		t.Errorf("bulk: got %d rows totalling %d, want %d totalling %d", len(rows), total, len(bulk), 2*len(bulk))
	}
}

func TestBucketOf(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {100 * time.Millisecond, 0}, {101 * time.Millisecond, 1}, {time.Second, 3},
		{60 * time.Second, 8}, {61 * time.Second, 9}, {time.Hour, store.NumBuckets - 1},
	}
	for _, tt := range tests {
		if got := store.BucketOf(tt.d); got != tt.want {
			t.Errorf("BucketOf(%v): got %d, want %d", tt.d, got, tt.want)
		}
	}
}

func testSLI(t *testing.T, s *store.Store) {
	const route = "assistant"
	MustAddRollups(t, s,
		ro(0, route, "openai/a", "primary", 80, 200*time.Millisecond), // fast
		ro(0, route, "openai/a", "primary", 10, time.Second),          // exactly 1s: bucket <= 1s
		ro(1, route, "anthropic/b", "failover", 4, 3*time.Second),
		ro(1, route, "anthropic/b", "resumed", 1, 30*time.Second),
		ro(1, route, "openai/a", "upstream_error", 2, 100*time.Millisecond),
		ro(2, route, "", "unavailable", 1, 0),
		ro(2, route, "openai/a", "stream_broken", 1, time.Second),
		ro(2, route, "openai/a", "deadline", 1, 120*time.Second),
		ro(2, route, "", "degraded_cache", 3, 10*time.Millisecond),
		ro(2, route, "", "handoff", 1, 10*time.Millisecond),
		ro(2, route, "", "notice", 1, 10*time.Millisecond),
		ro(2, route, "openai/a", "client_canceled", 50, 5*time.Second),
		ro(2, "other-route", "openai/a", "unavailable", 100, time.Second),
	)
	tests := []struct {
		name      string
		from, to  time.Time
		objective time.Duration
		want      store.SLI
	}{
		{"empty window", at(60), at(120), time.Second, store.SLI{Availability: 1, LatencyCompliance: 1}},
		{"first minute, objective on a bound", at(0), at(1), time.Second,
			store.SLI{Total: 90, Good: 90, FastEnough: 90}},
		{"first minute, objective below the 1s bucket", at(0), at(1), 999 * time.Millisecond,
			store.SLI{Total: 90, Good: 90, FastEnough: 80}},
		{"objective between bounds rounds down", at(0), at(2), 4 * time.Second,
			store.SLI{Total: 97, Good: 95, Failed: 2, FastEnough: 90}},
		{"everything, canceled excluded, degraded counted", at(0), at(3), 5 * time.Second,
			store.SLI{Total: 105, Good: 95, Degraded: 5, Failed: 5, FastEnough: 94,
				DegradedByMode: map[string]int64{"degraded_cache": 3, "handoff": 1, "notice": 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.SLI(context.Background(), route, tt.from, tt.to, tt.objective)
			if err != nil {
				t.Fatalf("SLI: %v", err)
			}
			want := tt.want
			if want.Total > 0 {
				want.Availability = float64(want.Good) / float64(want.Total)
				want.LatencyCompliance = float64(want.FastEnough) / float64(want.Good)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func testDailyUptime(t *testing.T, s *store.Store) {
	const day = 24 * 60 // minutes
	// Day 0: assistant 9 good of 10. Day 1: no traffic at all. Day 2: assistant
	// all good on openai, plus a degraded answer; anthropic down.
	MustAddRollups(t, s,
		ro(10, "assistant", "openai/gpt-4o-mini", "primary", 9, time.Second),
		ro(10, "assistant", "openai/gpt-4o-mini", "upstream_error", 1, time.Second),
		ro(20, "assistant", "openai/gpt-4o-mini", "client_canceled", 7, time.Second),
		ro(2*day+5, "assistant", "openai/gpt-4o-mini", "primary", 3, time.Second),
		ro(2*day+5, "assistant", "", "degraded_faq", 1, time.Second),
		ro(2*day+6, "support", "anthropic/claude", "upstream_error", 4, time.Second),
		ro(2*day+7, "support", "openai/gpt-4.1", "failover", 4, time.Second),
		ro(-day, "assistant", "openai/gpt-4o-mini", "upstream_error", 100, time.Second),  // before the range
		ro(3*day, "assistant", "openai/gpt-4o-mini", "upstream_error", 100, time.Second), // after now's day
		ro(2*day, "elsewhere", "openaix/other", "upstream_error", 100, time.Second),      // not provider openai
	)
	now := at(2*day + 12*60 + 30) // noon of day 2
	type dayWant struct {
		total, good int64
		uptime      float64 // NaN: no data
	}
	none := math.NaN()
	tests := []struct {
		component string
		want      []dayWant
	}{
		{"assistant", []dayWant{{10, 9, 0.9}, {0, 0, none}, {4, 3, 0.75}}},
		{"support", []dayWant{{0, 0, none}, {0, 0, none}, {8, 4, 0.5}}},
		{"provider:openai", []dayWant{{10, 9, 0.9}, {0, 0, none}, {7, 7, 1}}},
		{"provider:anthropic", []dayWant{{0, 0, none}, {0, 0, none}, {4, 0, 0}}},
		{"provider:nobody", []dayWant{{0, 0, none}, {0, 0, none}, {0, 0, none}}},
	}
	for _, tt := range tests {
		t.Run(tt.component, func(t *testing.T) {
			got, err := s.DailyUptime(context.Background(), tt.component, 3, now)
			if err != nil {
				t.Fatalf("DailyUptime: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d days, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if wantDay := t0.AddDate(0, 0, i); !g.Day.Equal(wantDay) {
					t.Errorf("day %d: got %v, want %v", i, g.Day, wantDay)
				}
				if g.Total != w.total || g.Good != w.good {
					t.Errorf("day %d: got total %d good %d, want %d %d", i, g.Total, g.Good, w.total, w.good)
				}
				switch {
				case math.IsNaN(w.uptime) && g.Uptime != nil:
					t.Errorf("day %d: got uptime %v, want none", i, *g.Uptime)
				case !math.IsNaN(w.uptime) && (g.Uptime == nil || *g.Uptime != w.uptime):
					t.Errorf("day %d: got uptime %s, want %v", i, fmtUptime(g.Uptime), w.uptime)
				}
			}
		})
	}
	if got, err := s.DailyUptime(context.Background(), "assistant", 90, now); err != nil || len(got) != 90 ||
		!got[89].Day.Equal(t0.AddDate(0, 0, 2)) {
		t.Errorf("90 days: got %d days ending %v (err %v), want 90 ending %v", len(got), got[len(got)-1].Day, err,
			t0.AddDate(0, 0, 2))
	}
}

func testImpact(t *testing.T, s *store.Store) {
	MustAddRollups(t, s,
		ro(0, "assistant", "openai/a", "primary", 100, time.Second), // before the incident
		ro(10, "assistant", "openai/a", "primary", 5, time.Second),
		ro(10, "assistant", "anthropic/b", "failover", 20, time.Second),
		ro(11, "assistant", "anthropic/b", "resumed", 2, time.Second),
		ro(11, "assistant", "openai/a", "upstream_error", 3, time.Second),
		ro(12, "assistant", "", "unavailable", 4, time.Second),
		ro(12, "assistant", "", "degraded_cache", 6, time.Second),
		ro(12, "assistant", "", "handoff", 1, time.Second),
		ro(12, "assistant", "", "client_canceled", 9, time.Second),
		ro(12, "support", "", "notice", 8, time.Second),
	)
	tests := []struct {
		name   string
		routes []string
		want   store.Impact
	}{
		{"assistant", []string{"assistant"}, store.Impact{Requests: 41, Failed: 7, ServedByFailover: 22,
			Degraded: map[string]int64{"degraded_cache": 6, "handoff": 1}, Canceled: 9}},
		{"all routes", nil, store.Impact{Requests: 49, Failed: 7, ServedByFailover: 22,
			Degraded: map[string]int64{"degraded_cache": 6, "handoff": 1, "notice": 8}, Canceled: 9}},
		{"unknown route", []string{"nope"}, store.Impact{Degraded: map[string]int64{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Impact(context.Background(), at(10), at(13), tt.routes)
			if err != nil {
				t.Fatalf("Impact: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func testRetain(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for m := range 10 {
		MustAppendEvents(t, s, 0, understudy.Event{Time: at(m), Type: "test.event"})
		MustAddRollups(t, s, ro(m, "assistant", "openai/a", "primary", 1, time.Second))
	}
	now := at(10)
	tests := []struct {
		name             string
		r                store.Retention
		want             store.RetainResult
		leftEv, leftRoll int
	}{
		{"zero keeps everything", store.Retention{}, store.RetainResult{}, 10, 10},
		{"events only", store.Retention{Events: 7 * time.Minute}, store.RetainResult{Events: 3}, 7, 10},
		{"both", store.Retention{Events: 5 * time.Minute, Rollups: 4 * time.Minute},
			store.RetainResult{Events: 2, Rollups: 6}, 5, 4},
		{"again deletes nothing", store.Retention{Events: 5 * time.Minute, Rollups: 4 * time.Minute},
			store.RetainResult{}, 5, 4},
	}
	for _, tt := range tests { // sequential: each step builds on the previous
		got, err := s.Retain(ctx, tt.r, now)
		if err != nil {
			t.Fatalf("%s: Retain: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
		if n := countRows(t, s, "events"); n != tt.leftEv {
			t.Errorf("%s: got %d events left, want %d", tt.name, n, tt.leftEv)
		}
		if n := countRows(t, s, "rollups"); n != tt.leftRoll {
			t.Errorf("%s: got %d rollups left, want %d", tt.name, n, tt.leftRoll)
		}
	}
}

func testConcurrentWriters(t *testing.T, s *store.Store) {
	const writers, calls = 8, 50
	targets := []string{"openai/a", "anthropic/b", "local/c"}
	var wg sync.WaitGroup
	errs := make(chan error, writers*calls)
	for w := range writers {
		wg.Go(func() {
			for c := range calls {
				// Overlapping keys, listed in a different order by each writer.
				rs := make([]store.Rollup, 0, len(targets))
				for i := range targets {
					tg := targets[(i+w+c)%len(targets)]
					rs = append(rs, ro(c%3, "assistant", tg, "primary", 1, 300*time.Millisecond))
				}
				if err := s.AddRollups(context.Background(), rs); err != nil {
					errs <- err
					return
				}
				if err := s.AppendEvents(context.Background(), []understudy.Event{{Time: at(c), Type: "test.write",
					Message: fmt.Sprint(w, c)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	var total, lat, prompt int64
	for _, r := range MustRollups(t, s, store.RollupQuery{}) {
		total += r.Count
		lat += r.Latency[store.BucketOf(300*time.Millisecond)]
		prompt += r.PromptTokens
	}
	if want := int64(writers * calls * len(targets)); total != want || lat != want || prompt != 10*want {
		t.Errorf("got count %d, latency bucket %d, prompt tokens %d, want %d, %d, %d", total, lat, prompt, want, want, 10*want)
	}
	if n := countRows(t, s, "events"); n != writers*calls {
		t.Errorf("got %d events, want %d", n, writers*calls)
	}
}

func testKeys(t *testing.T, s *store.Store) {
	ctx := context.Background()
	web := sha256.Sum256([]byte("web-secret"))
	batch := sha256.Sum256([]byte("batch-secret"))
	if err := s.PutKey(ctx, "web-chat", web, "critical"); err != nil {
		t.Fatalf("PutKey: %v", err)
	}
	if err := s.PutKey(ctx, "batch", batch, "low"); err != nil {
		t.Fatalf("PutKey: %v", err)
	}
	if err := s.PutKey(ctx, "batch", batch, "normal"); err != nil { // replace
		t.Fatalf("PutKey again: %v", err)
	}
	tests := []struct {
		name               string
		hash               [32]byte
		wantName, wantPrio string
		wantOK             bool
	}{
		{"web", web, "web-chat", "critical", true},
		{"replaced priority", batch, "batch", "normal", true},
		{"unknown", sha256.Sum256([]byte("nope")), "", "", false},
	}
	for _, tt := range tests {
		name, prio, ok, err := s.KeyByHash(ctx, tt.hash)
		if err != nil {
			t.Fatalf("%s: KeyByHash: %v", tt.name, err)
		}
		if name != tt.wantName || prio != tt.wantPrio || ok != tt.wantOK {
			t.Errorf("%s: got %q %q %v, want %q %q %v", tt.name, name, prio, ok, tt.wantName, tt.wantPrio, tt.wantOK)
		}
	}
	if err := s.DeleteKey(ctx, "batch"); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if err := s.DeleteKey(ctx, "batch"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteKey twice: got %v, want ErrNotFound", err)
	}
}

func testBackup(t *testing.T, s *store.Store) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backup.db")
	if s.Dialect() != store.DialectSQLite {
		if err := s.Backup(ctx, path); !errors.Is(err, store.ErrBackupUnsupported) {
			t.Errorf("got %v, want ErrBackupUnsupported", err)
		}
		return
	}
	MustAppendEvents(t, s, 0, understudy.Event{Time: t0, Type: "before.backup", Message: "kept"})
	if err := s.Backup(ctx, path); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := s.Backup(ctx, path); err == nil {
		t.Errorf("Backup over an existing file: got nil error, want one")
	}
	MustAppendEvents(t, s, 0, understudy.Event{Time: t0, Type: "after.backup"})
	restored := MustOpen(t, store.Config{SQLitePath: path})
	got, err := restored.Events(ctx, store.EventQuery{})
	if err != nil {
		t.Fatalf("Events on the copy: %v", err)
	}
	if len(got) != 1 || got[0].Message != "kept" {
		t.Errorf("copy: got %+v, want the one event from before the backup", got)
	}
}

func fmtUptime(u *float64) string {
	if u == nil {
		return "none"
	}
	return fmt.Sprint(*u)
}
