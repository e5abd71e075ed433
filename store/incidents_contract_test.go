package store_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// Contract cases for incidents, incident updates and their timeline events;
// run by testStore on every dialect.

func MustCreateIncident(tb testing.TB, s *store.Store, inc *understudy.Incident, first *understudy.IncidentUpdate, evs ...understudy.Event) {
	tb.Helper()
	if err := s.CreateIncident(context.Background(), inc, first, evs); err != nil {
		tb.Fatalf("CreateIncident %q: %v", inc.Title, err)
	}
}

func MustSaveIncident(tb testing.TB, s *store.Store, inc *understudy.Incident, upd *understudy.IncidentUpdate, evs ...understudy.Event) {
	tb.Helper()
	if err := s.SaveIncident(context.Background(), inc, upd, evs); err != nil {
		tb.Fatalf("SaveIncident %d: %v", inc.ID, err)
	}
}

func MustIncident(tb testing.TB, s *store.Store, id int64) understudy.Incident {
	tb.Helper()
	inc, err := s.Incident(context.Background(), id)
	if err != nil {
		tb.Fatalf("Incident %d: %v", id, err)
	}
	return inc
}

// newIncident is an open detector incident started at minute m.
func newIncident(title, key string, m int, components ...string) *understudy.Incident {
	return &understudy.Incident{Title: title, Status: understudy.IncidentInvestigating,
		Severity: understudy.SeverityMajor, Cause: understudy.CauseTechnical, Components: components, Key: key,
		Detector: "target_down", StartedAt: at(m), DetectedAt: at(m + 1), UpdatedAt: at(m + 1)}
}

func testIncidentRoundTrip(t *testing.T, s *store.Store) {
	cet := time.FixedZone("CET", 3600)
	full := &understudy.Incident{
		Title: "Assistant answers slowly", Status: understudy.IncidentIdentified,
		Severity: understudy.SeverityCritical, Cause: understudy.CauseOverload,
		Components: []string{"assistant", "provider:openai"}, Key: "overload|assistant", Detector: "overload",
		StartedAt: at(10).In(cet), DetectedAt: at(11).Add(1500 * time.Nanosecond), ResolvedAt: at(40),
		UpdatedAt: at(41), LastUpdateAt: at(30), ETA: at(60), MergedInto: 7,
		Evidence: understudy.Evidence{
			Classes:  map[understudy.Class]int64{understudy.ClassOverloaded: 12, understudy.ClassRateLimit: 3},
			Routes:   []string{"assistant"},
			Targets:  []string{"openai/gpt-4o-mini"},
			FirstBad: at(10),
			Samples:  []string{`503 "overloaded" <html> & more`},
			Signals:  []string{"route assistant: 42% of 50 requests failed over 30s"},
			Provider: []string{"provider reports: elevated error rates"},
		},
	}
	first := &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMajor,
		Message: "We are looking into it.", ETA: at(50), Components: []string{"assistant"}, Author: "understudy",
		CreatedAt: at(11), Translations: map[string]string{"fr": "Nous enquêtons « maintenant »."}}
	// A person's incident: no key, no detector, every optional time zero.
	bare := &understudy.Incident{Title: "Billing page", Status: understudy.IncidentInvestigating,
		Severity: understudy.SeverityMinor, StartedAt: at(5), UpdatedAt: at(5)}
	bareUpd := &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Message: "Looking.",
		CreatedAt: at(5)}

	tests := []struct {
		name  string
		inc   *understudy.Incident
		first *understudy.IncidentUpdate
	}{
		{"every field", full, first},
		{"zero times and empty lists", bare, bareUpd},
		{"no first update", &understudy.Incident{Title: "Quiet", Status: understudy.IncidentResolved,
			Severity: understudy.SeverityMinor, Key: "k", StartedAt: at(1), UpdatedAt: at(2), ResolvedAt: at(2)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MustCreateIncident(t, s, tt.inc, tt.first)
			if tt.inc.ID == 0 {
				t.Fatalf("got ID 0, want one set")
			}
			want := *tt.inc
			for _, p := range []*time.Time{&want.StartedAt, &want.DetectedAt, &want.ResolvedAt, &want.UpdatedAt,
				&want.LastUpdateAt, &want.ETA} {
				if !p.IsZero() {
					*p = p.Truncate(time.Microsecond).UTC()
				}
			}
			if tt.first != nil {
				if tt.first.ID == 0 || tt.first.IncidentID != tt.inc.ID {
					t.Errorf("first update: got ID %d IncidentID %d, want set and %d", tt.first.ID,
						tt.first.IncidentID, tt.inc.ID)
				}
				want.Updates = []understudy.IncidentUpdate{*tt.first}
			}
			got := MustIncident(t, s, tt.inc.ID)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			for _, tm := range []time.Time{got.StartedAt, got.DetectedAt, got.ResolvedAt, got.UpdatedAt,
				got.LastUpdateAt, got.ETA} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("got location %v, want UTC", tm.Location())
				}
			}
		})
	}
	if _, err := s.Incident(context.Background(), 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Incident(9999): got %v, want ErrNotFound", err)
	}
}

func testIncidentKeys(t *testing.T, s *store.Store) {
	ctx := context.Background()
	const key = "technical|provider:openai"
	counts := func() [3]int {
		return [3]int{countRows(t, s, "incidents"), countRows(t, s, "incident_updates"), countRows(t, s, "events")}
	}
	opened := func(msg string) understudy.Event {
		return understudy.Event{Time: at(1), Type: understudy.EventIncidentOpened, Message: msg, Author: "understudy"}
	}
	upd := func() *understudy.IncidentUpdate {
		return &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Message: "m", CreatedAt: at(1)}
	}

	a := newIncident("A", key, 0, "provider:openai")
	MustCreateIncident(t, s, a, upd(), opened("A"))
	if got, err := s.OpenIncidentByKey(ctx, key); err != nil || got.ID != a.ID || len(got.Updates) != 1 {
		t.Errorf("OpenIncidentByKey: got id %d with %d updates (err %v), want %d with 1", got.ID, len(got.Updates), err, a.ID)
	}

	before := counts()
	b, bUpd := newIncident("B", key, 5, "provider:openai"), upd()
	if err := s.CreateIncident(ctx, b, bUpd, []understudy.Event{opened("B")}); !errors.Is(err, store.ErrOpenIncidentExists) {
		t.Fatalf("second open incident with the key: got %v, want ErrOpenIncidentExists", err)
	}
	if got := counts(); got != before || b.ID != 0 || bUpd.ID != 0 {
		t.Errorf("after refusal: got rows %v ids %d/%d, want rows %v and ids 0", got, b.ID, bUpd.ID, before)
	}

	// Resolved incidents and keyless ones never conflict.
	MustCreateIncident(t, s, &understudy.Incident{Title: "old", Status: understudy.IncidentResolved, Key: key,
		StartedAt: at(-100), UpdatedAt: at(-90), ResolvedAt: at(-90)}, nil)
	MustCreateIncident(t, s, newIncident("manual 1", "", 2), nil)
	MustCreateIncident(t, s, newIncident("manual 2", "", 3), nil)

	a.Status, a.ResolvedAt, a.UpdatedAt = understudy.IncidentResolved, at(20), at(20)
	MustSaveIncident(t, s, a, nil)
	if _, err := s.OpenIncidentByKey(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenIncidentByKey after resolving: got %v, want ErrNotFound", err)
	}
	c := newIncident("C", key, 30, "provider:openai")
	MustCreateIncident(t, s, c, nil)
	if got, err := s.OpenIncidentByKey(ctx, key); err != nil || got.ID != c.ID {
		t.Errorf("OpenIncidentByKey: got %d (err %v), want %d", got.ID, err, c.ID)
	}

	// Reopening A while C holds the key is refused and changes nothing.
	before = counts()
	a.Status, a.ResolvedAt, a.Title = understudy.IncidentInvestigating, time.Time{}, "A reopened"
	err := s.SaveIncident(ctx, a, upd(), []understudy.Event{opened("reopen")})
	if !errors.Is(err, store.ErrOpenIncidentExists) {
		t.Errorf("reopen A: got %v, want ErrOpenIncidentExists", err)
	}
	if got := MustIncident(t, s, a.ID); got.Status != understudy.IncidentResolved || got.Title != "A" || counts() != before {
		t.Errorf("after refused reopen: got %q %q rows %v, want resolved \"A\" rows %v", got.Status, got.Title, counts(), before)
	}

	for _, k := range []string{"", "unknown"} {
		if _, err := s.OpenIncidentByKey(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OpenIncidentByKey(%q): got %v, want ErrNotFound", k, err)
		}
	}
	missing := newIncident("missing", "", 0)
	missing.ID = 9999
	if err := s.SaveIncident(ctx, missing, upd(), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SaveIncident(9999): got %v, want ErrNotFound", err)
	}
	if err := s.SaveIncidentIf(ctx, missing, at(1), upd(), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SaveIncidentIf(9999): got %v, want ErrNotFound", err)
	}
}

// testIncidentSaveIf: a conditional save writes only over the version it
// read; a save by another replica in between makes it fail with ErrChanged
// and write nothing (no update, no event).
func testIncidentSaveIf(t *testing.T, s *store.Store) {
	ctx := context.Background()
	inc := newIncident("cond", "", 0, "provider:openai")
	MustCreateIncident(t, s, inc, nil)
	read := MustIncident(t, s, inc.ID)
	// Another replica saves first.
	other := read
	other.Status, other.UpdatedAt = understudy.IncidentResolved, at(50).Add(1500*time.Nanosecond)
	other.ResolvedAt = other.UpdatedAt
	if err := s.SaveIncidentIf(ctx, &other, read.UpdatedAt, nil, nil); err != nil {
		t.Fatalf("first conditional save: %v", err)
	}
	before := len(MustIncident(t, s, inc.ID).Updates)
	mine := read
	mine.Title, mine.UpdatedAt = "stale write", at(60)
	u := &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Message: "stale", CreatedAt: at(60)}
	err := s.SaveIncidentIf(ctx, &mine, read.UpdatedAt, u, []understudy.Event{{Time: at(60), Type: understudy.EventIncidentUpdated, Message: "stale"}})
	if !errors.Is(err, store.ErrChanged) {
		t.Fatalf("stale save: got %v, want ErrChanged", err)
	}
	got := MustIncident(t, s, inc.ID)
	if got.Title != "cond" || got.Status != understudy.IncidentResolved || len(got.Updates) != before {
		t.Errorf("after the stale save: %q %s with %d updates, want \"cond\" resolved with %d", got.Title, got.Status, len(got.Updates), before)
	}
	// The version as saved (nanoseconds cut to what the store keeps) is the
	// one to save over next.
	mine = got
	mine.Title, mine.UpdatedAt = "fresh write", at(70)
	if err := s.SaveIncidentIf(ctx, &mine, other.UpdatedAt, nil, nil); err != nil {
		t.Errorf("save over the version just written: %v", err)
	}
	if got := MustIncident(t, s, inc.ID); got.Title != "fresh write" {
		t.Errorf("title %q, want \"fresh write\"", got.Title)
	}
}

// testIncidentConcurrentKey races writers opening an incident with the same
// key: exactly one wins, whichever check (in the transaction or the unique
// index) stops the others.
func testIncidentConcurrentKey(t *testing.T, s *store.Store) {
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			errs[w] = s.CreateIncident(context.Background(), newIncident("race", "race-key", w), nil,
				[]understudy.Event{{Time: at(w), Type: understudy.EventIncidentOpened}})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrOpenIncidentExists):
			t.Errorf("got %v, want nil or ErrOpenIncidentExists", err)
		}
	}
	if won != 1 || countRows(t, s, "incidents") != 1 || countRows(t, s, "events") != 1 {
		t.Errorf("got %d winners, %d incidents, %d events, want 1 of each", won, countRows(t, s, "incidents"),
			countRows(t, s, "events"))
	}
}

func testIncidentSave(t *testing.T, s *store.Store) {
	ctx := context.Background()
	inc := newIncident("Provider down", "technical|provider:openai", 0, "provider:openai")
	first := &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMajor,
		Message: "Investigating.", Author: "understudy", CreatedAt: at(1)}
	ev := func(m int, typ, author string) understudy.Event {
		return understudy.Event{Time: at(m), Type: typ, Message: typ, Author: author}
	}
	MustCreateIncident(t, s, inc, first, ev(1, understudy.EventIncidentOpened, "understudy"))
	MustAppendEvents(t, s, 0, ev(2, "unrelated.event", "")) // not on the timeline

	inc.Status, inc.Severity, inc.Cause = understudy.IncidentMonitoring, understudy.SeverityCritical, understudy.CauseQuota
	inc.Title, inc.Components = "Provider quota exhausted", []string{"assistant", "provider:openai"}
	inc.Key, inc.Detector = "quota|provider:openai", "route_errors"
	inc.StartedAt, inc.DetectedAt = at(-1), time.Time{}
	inc.UpdatedAt, inc.LastUpdateAt, inc.ETA, inc.MergedInto = at(5), at(5), at(90), 3
	inc.Evidence = understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassQuota: 4}, FirstBad: at(-1)}
	second := &understudy.IncidentUpdate{Status: understudy.IncidentMonitoring, Severity: understudy.SeverityCritical,
		Message: "A fix is in place.", ETA: at(90), Components: inc.Components, Author: "alice", CreatedAt: at(5)}
	MustSaveIncident(t, s, inc, second, ev(5, understudy.EventIncidentUpdated, "alice"),
		ev(5, understudy.EventIncidentMonitoring, "alice"))
	if second.ID == 0 || second.IncidentID != inc.ID {
		t.Errorf("update: got ID %d IncidentID %d, want set and %d", second.ID, second.IncidentID, inc.ID)
	}

	want := *inc
	want.Updates = []understudy.IncidentUpdate{*first, *second}
	if got := MustIncident(t, s, inc.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	evs, err := s.Events(ctx, store.EventQuery{IncidentID: inc.ID})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	type row struct {
		typ, author string
		incident    int64
	}
	var got []row
	for _, e := range evs {
		got = append(got, row{e.Type, e.Author, e.IncidentID})
	}
	wantRows := []row{{understudy.EventIncidentOpened, "understudy", inc.ID},
		{understudy.EventIncidentUpdated, "alice", inc.ID}, {understudy.EventIncidentMonitoring, "alice", inc.ID}}
	if !reflect.DeepEqual(got, wantRows) {
		t.Errorf("timeline: got %+v, want %+v", got, wantRows)
	}

	// Saving without an update or events rewrites the row only.
	inc.Title = "Renamed"
	MustSaveIncident(t, s, inc, nil)
	if got := MustIncident(t, s, inc.ID); got.Title != "Renamed" || len(got.Updates) != 2 {
		t.Errorf("got title %q with %d updates, want \"Renamed\" with 2", got.Title, len(got.Updates))
	}
}

func testIncidentsList(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mk := func(title string, m int, resolved bool, comps ...string) *understudy.Incident {
		inc := newIncident(title, "", m, comps...)
		if resolved {
			inc.Status, inc.ResolvedAt = understudy.IncidentResolved, at(m+5)
		}
		return inc
	}
	upd := func(m int, msg string) *understudy.IncidentUpdate {
		return &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Message: msg, CreatedAt: at(m)}
	}
	// Created out of StartedAt order; "tie1" and "tie2" share a start.
	incs := []*understudy.Incident{
		mk("assist", 10, false, "assist"),
		mk("assistant", 20, true, "assistant", "provider:openai"),
		mk("both", 30, false, "assist", "assistant"),
		mk("case", 40, false, "Assist"),
		mk("inside", 50, false, `x"assist`, "assist_"),
		mk("odd", 5, true, `we"ird%_!\n`, "provider:ανθρωπ\u2028ος"),
		mk("tie1", 60, false),
		mk("tie2", 60, false, "assistant"),
	}
	for _, inc := range incs {
		MustCreateIncident(t, s, inc, upd(inc.StartedAt.Minute(), inc.Title+" first"))
	}
	// A second update, older than the first by time: updates come oldest first.
	MustSaveIncident(t, s, incs[2], upd(1, "both earlier"))

	tests := []struct {
		name string
		f    understudy.IncidentFilter
		want []string
	}{
		{"all, newest first, ties by id", understudy.IncidentFilter{},
			[]string{"tie2", "tie1", "inside", "case", "both", "assistant", "assist", "odd"}},
		{"open", understudy.IncidentFilter{Open: true}, []string{"tie2", "tie1", "inside", "case", "both", "assist"}},
		{"limit", understudy.IncidentFilter{Limit: 3}, []string{"tie2", "tie1", "inside"}},
		{"since inclusive", understudy.IncidentFilter{Since: at(30)}, []string{"tie2", "tie1", "inside", "case", "both"}},
		{"component prefix of another", understudy.IncidentFilter{Component: "assist"}, []string{"both", "assist"}},
		{"component with prefix", understudy.IncidentFilter{Component: "assistant"}, []string{"tie2", "both", "assistant"}},
		{"component case", understudy.IncidentFilter{Component: "Assist"}, []string{"case"}},
		{"component underscore", understudy.IncidentFilter{Component: "assist_"}, []string{"inside"}},
		{"component with quote", understudy.IncidentFilter{Component: `x"assist`}, []string{"inside"}},
		{"component with quote, percent, underscore, bang, backslash", understudy.IncidentFilter{Component: `we"ird%_!\n`},
			[]string{"odd"}},
		{"component non-ASCII and U+2028", understudy.IncidentFilter{Component: "provider:ανθρωπ\u2028ος"}, []string{"odd"}},
		{"component percent alone", understudy.IncidentFilter{Component: "%"}, nil},
		{"component, limit past non-matches", understudy.IncidentFilter{Component: "assist", Limit: 1}, []string{"both"}},
		{"component and open", understudy.IncidentFilter{Component: "assistant", Open: true}, []string{"tie2", "both"}},
		{"none", understudy.IncidentFilter{Component: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Incidents(ctx, tt.f)
			if err != nil {
				t.Fatalf("Incidents: %v", err)
			}
			var titles []string
			for _, inc := range got {
				titles = append(titles, inc.Title)
				if want := MustIncident(t, s, inc.ID); !reflect.DeepEqual(inc, want) {
					t.Errorf("listed %q: got  %+v\nwant %+v", inc.Title, inc, want)
				}
			}
			if !reflect.DeepEqual(titles, tt.want) {
				t.Errorf("got %q, want %q", titles, tt.want)
			}
		})
	}
	both := MustIncident(t, s, incs[2].ID)
	var msgs []string
	for _, u := range both.Updates {
		msgs = append(msgs, u.Message)
	}
	if want := []string{"both earlier", "both first"}; !reflect.DeepEqual(msgs, want) {
		t.Errorf("updates: got %q, want %q", msgs, want)
	}

	// More incidents than the default limit.
	for i := range store.DefaultListLimit + 5 {
		MustCreateIncident(t, s, mk("bulk", 100+i, true), nil)
	}
	if got, err := s.Incidents(ctx, understudy.IncidentFilter{}); err != nil || len(got) != store.DefaultListLimit {
		t.Errorf("default limit: got %d incidents (err %v), want %d", len(got), err, store.DefaultListLimit)
	}
}
