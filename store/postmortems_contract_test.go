package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/store"
)

// Contract cases for postmortems and their action items, on every dialect.

func TestPostmortemsSQLite(t *testing.T) {
	testPostmortems(t, func(t *testing.T) *store.Store { return OpenSQLite(t) })
}

func TestPostmortemsPostgres(t *testing.T) {
	open := PostgresOpener(t)
	testPostmortems(t, func(t *testing.T) *store.Store { return open(t) })
}

func testPostmortems(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *store.Store)
	}{
		{"RoundTrip", testPostmortemRoundTrip},
		{"Save", testPostmortemSave},
		{"List", testPostmortemsList},
		{"Published", testPublishedPostmortems},
		{"ActionItems", testActionItems},
		{"Overdue", testOverdueActionItems},
		{"MeasureImpact", testMeasureImpact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

// resolvedIncident stores a resolved incident started at minute m and
// returns its id.
func resolvedIncident(t *testing.T, s *store.Store, title string, m int) int64 {
	t.Helper()
	inc := newIncident(title, "", m, "assistant")
	inc.Status, inc.ResolvedAt = understudy.IncidentResolved, at(m+30)
	MustCreateIncident(t, s, inc, nil)
	return inc.ID
}

// fullPostmortem has every field set.
func fullPostmortem(incidentID int64) postmortem.Postmortem {
	return postmortem.Postmortem{
		IncidentID: incidentID, Status: postmortem.StatusInReview,
		Title: "Errors from provider primary", Severity: understudy.SeverityMajor, Cause: understudy.CauseTechnical,
		Components: []string{"assistant", "provider:primary"},
		Impact: postmortem.Impact{From: at(10), To: at(41), Routes: []string{"assistant"}, Duration: 30 * time.Minute,
			Traffic: postmortem.Traffic{Requests: 100, Failed: 7, ServedByFailover: 50, HandedOff: 2, Canceled: 1, UsersAffected: 4,
				Degraded: map[string]int64{"degraded_cache": 3, "notice": 1}}},
		Metrics: postmortem.Metrics{Detector: "target_down", OpenedBy: "understudy", StartedAt: at(10), DetectedAt: at(11),
			AcknowledgedAt: at(12), AcknowledgedBy: "alice", FirstUpdateAt: at(11), MitigatedAt: at(20), ResolvedAt: at(40),
			TimeToDetect: time.Minute, TimeToAcknowledge: time.Minute, TimeToFirstUpdate: time.Minute,
			TimeToMitigate: 9 * time.Minute, TimeToResolve: 29 * time.Minute},
		Timeline: []postmortem.TimelineEntry{
			{Time: at(11), Kind: postmortem.EntryEvent, Type: understudy.EventIncidentOpened, Author: "understudy", Text: "opened"},
			{Time: at(11), Kind: postmortem.EntryUpdate, Type: "investigating", Author: "understudy", Text: "We are looking « into » <it> & more."},
		},
		Summary: "It broke.", Trigger: "A deploy.", RootCause: "A **bug**.", ContributingFactors: "- no canary",
		WentWell: "Failover.", WentBadly: "Paging.", Lucky: "Low traffic.",
		ActionItems: []postmortem.ActionItem{
			{Title: "Add a canary", Owner: "bob", Due: at(60 * 24), Status: postmortem.ItemOpen, Link: "https://example.com/1"},
			{Title: "Write a runbook", Status: postmortem.ItemDone},
		},
		CreatedAt: at(41), UpdatedAt: at(42), PublishedAt: at(43), Author: "alice",
	}
}

func MustCreatePostmortem(tb testing.TB, s *store.Store, p *postmortem.Postmortem) {
	tb.Helper()
	if err := s.CreatePostmortem(context.Background(), p); err != nil {
		tb.Fatalf("CreatePostmortem: %v", err)
	}
}

func MustPostmortem(tb testing.TB, s *store.Store, id int64) postmortem.Postmortem {
	tb.Helper()
	p, err := s.Postmortem(context.Background(), id)
	if err != nil {
		tb.Fatalf("Postmortem %d: %v", id, err)
	}
	return p
}

func testPostmortemRoundTrip(t *testing.T, s *store.Store) {
	ctx := context.Background()
	incID := resolvedIncident(t, s, "full", 10)
	p := fullPostmortem(incID)
	MustCreatePostmortem(t, s, &p)
	if p.ID == 0 || p.ActionItems[0].ID == 0 || p.ActionItems[1].ID <= p.ActionItems[0].ID {
		t.Fatalf("got ids %d %+v, want set and increasing", p.ID, p.ActionItems)
	}
	if !p.ActionItems[0].CreatedAt.Equal(p.CreatedAt) || !p.ActionItems[0].UpdatedAt.Equal(p.CreatedAt) {
		t.Errorf("item times: got %v %v, want the postmortem's creation", p.ActionItems[0].CreatedAt, p.ActionItems[0].UpdatedAt)
	}
	got := MustPostmortem(t, s, p.ID)
	if !reflect.DeepEqual(got, p) {
		t.Errorf("by id:\n got %+v\nwant %+v", got, p)
	}
	byInc, err := s.PostmortemByIncident(ctx, incID)
	if err != nil || !reflect.DeepEqual(byInc, p) {
		t.Errorf("by incident: got %+v (err %v)\nwant %+v", byInc, err, p)
	}

	// A bare draft: nothing measured, nothing written.
	bareInc := resolvedIncident(t, s, "bare", 100)
	bare := postmortem.Postmortem{IncidentID: bareInc, Status: postmortem.StatusDraft, CreatedAt: at(200), UpdatedAt: at(200)}
	MustCreatePostmortem(t, s, &bare)
	if got := MustPostmortem(t, s, bare.ID); !reflect.DeepEqual(got, bare) {
		t.Errorf("bare:\n got %+v\nwant %+v", got, bare)
	}

	again := fullPostmortem(incID)
	if err := s.CreatePostmortem(ctx, &again); !errors.Is(err, store.ErrExists) || !errors.Is(err, postmortem.ErrExists) {
		t.Errorf("second postmortem of an incident: got %v, want ErrExists and postmortem.ErrExists", err)
	}
	for name, err := range map[string]error{
		"by id":       func() error { _, err := s.Postmortem(ctx, p.ID+100); return err }(),
		"by incident": func() error { _, err := s.PostmortemByIncident(ctx, incID+100); return err }(),
	} {
		if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, postmortem.ErrNotFound) {
			t.Errorf("missing %s: got %v, want ErrNotFound and postmortem.ErrNotFound", name, err)
		}
	}
	// Deleting the incident deletes its postmortem and action items.
	if err := execSQL(s, `DELETE FROM incidents WHERE id = $1`, incID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "action_items"); n != 0 {
		t.Errorf("after deleting the incident: %d action items left, want 0", n)
	}
}

func testPostmortemSave(t *testing.T, s *store.Store) {
	ctx := context.Background()
	p := postmortem.Postmortem{IncidentID: resolvedIncident(t, s, "save", 10), Status: postmortem.StatusDraft,
		Summary: "first", CreatedAt: at(50), UpdatedAt: at(50), Author: "understudy",
		ActionItems: []postmortem.ActionItem{{Title: "kept", Status: postmortem.ItemOpen}}}
	MustCreatePostmortem(t, s, &p)
	p.Status, p.Summary, p.RootCause, p.UpdatedAt, p.PublishedAt, p.Author = postmortem.StatusPublished, "second", "why", at(60), at(60), "alice"
	p.Impact.Requests = 9
	saved := p
	saved.ActionItems = nil // SavePostmortem does not write items
	if err := s.SavePostmortem(ctx, &saved); err != nil {
		t.Fatalf("SavePostmortem: %v", err)
	}
	if got := MustPostmortem(t, s, p.ID); !reflect.DeepEqual(got, p) {
		t.Errorf("got  %+v\nwant %+v", got, p)
	}
	missing := p
	missing.ID += 100
	if err := s.SavePostmortem(ctx, &missing); !errors.Is(err, postmortem.ErrNotFound) {
		t.Errorf("save missing: got %v, want postmortem.ErrNotFound", err)
	}
}

func testPostmortemsList(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var ids []int64
	for i, st := range []postmortem.Status{postmortem.StatusDraft, postmortem.StatusPublished, postmortem.StatusDraft} {
		p := postmortem.Postmortem{IncidentID: resolvedIncident(t, s, "list", 10*i), Status: st, CreatedAt: at(100 + i),
			UpdatedAt: at(100 + i), ActionItems: []postmortem.ActionItem{{Title: "item", Status: postmortem.ItemOpen}}}
		MustCreatePostmortem(t, s, &p)
		ids = append(ids, p.ID)
	}
	tests := []struct {
		name string
		f    postmortem.Filter
		want []int64
	}{
		{"all, newest first", postmortem.Filter{}, []int64{ids[2], ids[1], ids[0]}},
		{"drafts", postmortem.Filter{Status: postmortem.StatusDraft}, []int64{ids[2], ids[0]}},
		{"limit", postmortem.Filter{Limit: 1}, []int64{ids[2]}},
		{"none in review", postmortem.Filter{Status: postmortem.StatusInReview}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := s.Postmortems(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, p := range ps {
				got = append(got, p.ID)
				if len(p.ActionItems) != 1 {
					t.Errorf("postmortem %d: got %d action items, want 1", p.ID, len(p.ActionItems))
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func testPublishedPostmortems(t *testing.T, s *store.Store) {
	ctx := context.Background()
	draftInc, pubInc, noneInc := resolvedIncident(t, s, "draft", 0), resolvedIncident(t, s, "published", 10), resolvedIncident(t, s, "none", 20)
	d := postmortem.Postmortem{IncidentID: draftInc, Status: postmortem.StatusDraft, CreatedAt: at(1), UpdatedAt: at(1)}
	p := postmortem.Postmortem{IncidentID: pubInc, Status: postmortem.StatusPublished, Summary: "public", CreatedAt: at(2),
		UpdatedAt: at(3), PublishedAt: at(3)}
	MustCreatePostmortem(t, s, &d)
	MustCreatePostmortem(t, s, &p)
	got, err := s.PublishedPostmortems(ctx, []int64{draftInc, pubInc, noneInc, 9999})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[pubInc], p) {
		t.Errorf("got %+v, want only incident %d's: %+v", got, pubInc, p)
	}
	if got, err := s.PublishedPostmortems(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: got %v %v, want none", got, err)
	}
}

func testActionItems(t *testing.T, s *store.Store) {
	ctx := context.Background()
	p := postmortem.Postmortem{IncidentID: resolvedIncident(t, s, "items", 0), Status: postmortem.StatusDraft, CreatedAt: at(1), UpdatedAt: at(1)}
	MustCreatePostmortem(t, s, &p)
	other := postmortem.Postmortem{IncidentID: resolvedIncident(t, s, "other", 10), Status: postmortem.StatusDraft, CreatedAt: at(1), UpdatedAt: at(1)}
	MustCreatePostmortem(t, s, &other)

	a := postmortem.ActionItem{Title: "Alert on quota « 80 % »", Owner: "carol", Due: at(90), Status: postmortem.ItemOpen,
		Link: "https://tracker.example.com/42", CreatedAt: at(2), UpdatedAt: at(2)}
	b := postmortem.ActionItem{Title: "No due date", Status: postmortem.ItemOpen, CreatedAt: at(3), UpdatedAt: at(3)}
	for _, it := range []*postmortem.ActionItem{&a, &b} {
		if err := s.AddActionItem(ctx, p.ID, it); err != nil {
			t.Fatalf("AddActionItem: %v", err)
		}
	}
	if got := MustPostmortem(t, s, p.ID).ActionItems; !reflect.DeepEqual(got, []postmortem.ActionItem{a, b}) {
		t.Errorf("added:\n got %+v\nwant %+v", got, []postmortem.ActionItem{a, b})
	}
	a.Status, a.Due, a.Owner, a.UpdatedAt = postmortem.ItemDone, time.Time{}, "dave", at(5)
	if err := s.SaveActionItem(ctx, p.ID, &a); err != nil {
		t.Fatalf("SaveActionItem: %v", err)
	}
	if got := MustPostmortem(t, s, p.ID).ActionItems[0]; !reflect.DeepEqual(got, a) {
		t.Errorf("saved:\n got %+v\nwant %+v", got, a)
	}
	if err := s.DeleteActionItem(ctx, p.ID, b.ID); err != nil {
		t.Fatalf("DeleteActionItem: %v", err)
	}
	if got := MustPostmortem(t, s, p.ID).ActionItems; len(got) != 1 || got[0].ID != a.ID {
		t.Errorf("after delete: got %+v, want only %d", got, a.ID)
	}
	for name, err := range map[string]error{
		"add to a missing postmortem":   s.AddActionItem(ctx, p.ID+100, &postmortem.ActionItem{Title: "x", Status: postmortem.ItemOpen}),
		"save through another":          s.SaveActionItem(ctx, other.ID, &a),
		"delete through another":        s.DeleteActionItem(ctx, other.ID, a.ID),
		"delete twice":                  s.DeleteActionItem(ctx, p.ID, b.ID),
		"save a missing item":           s.SaveActionItem(ctx, p.ID, &postmortem.ActionItem{ID: 9999, Title: "x", Status: postmortem.ItemOpen}),
		"delete from a missing one too": s.DeleteActionItem(ctx, p.ID+100, a.ID),
	} {
		if !errors.Is(err, postmortem.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound and postmortem.ErrNotFound", name, err)
		}
	}
}

func testOverdueActionItems(t *testing.T, s *store.Store) {
	ctx := context.Background()
	incID := resolvedIncident(t, s, "Quota exhausted at provider primary", 0)
	p := postmortem.Postmortem{IncidentID: incID, Status: postmortem.StatusPublished, CreatedAt: at(1), UpdatedAt: at(1),
		ActionItems: []postmortem.ActionItem{
			{Title: "late, due later", Due: at(50), Status: postmortem.ItemOpen},
			{Title: "late, due first", Due: at(20), Status: postmortem.ItemOpen},
			{Title: "done late", Due: at(10), Status: postmortem.ItemDone},
			{Title: "dropped", Due: at(10), Status: postmortem.ItemDropped},
			{Title: "due exactly now", Due: at(60), Status: postmortem.ItemOpen},
			{Title: "not due yet", Due: at(70), Status: postmortem.ItemOpen},
			{Title: "no due date", Status: postmortem.ItemOpen},
		}}
	MustCreatePostmortem(t, s, &p)
	got, err := s.OverdueActionItems(ctx, at(60))
	if err != nil {
		t.Fatal(err)
	}
	want := []postmortem.OverdueItem{
		{ActionItem: p.ActionItems[1], PostmortemID: p.ID, IncidentID: incID, IncidentTitle: "Quota exhausted at provider primary"},
		{ActionItem: p.ActionItems[0], PostmortemID: p.ID, IncidentID: incID, IncidentTitle: "Quota exhausted at provider primary"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got, err := s.OverdueActionItems(ctx, at(0)); err != nil || len(got) != 0 {
		t.Errorf("before any due date: got %+v %v, want none", got, err)
	}
}

func testMeasureImpact(t *testing.T, s *store.Store) {
	ctx := context.Background()
	MustAddRollups(t, s,
		ro(9, "assistant", "openai/a", "upstream_error", 50, time.Second), // before the window
		ro(10, "assistant", "openai/a", "primary", 5, time.Second),
		ro(10, "assistant", "anthropic/b", "failover", 20, time.Second),
		ro(11, "assistant", "openai/a", "upstream_error", 3, time.Second),
		ro(11, "support", "", "notice", 8, time.Second),
		ro(12, "assistant", "", "degraded_cache", 6, time.Second),
		ro(12, "assistant", "", "degraded_faq", 2, time.Second),
		ro(12, "assistant", "", "handoff", 1, time.Second),
		ro(12, "assistant", "", "client_canceled", 9, time.Second),
		ro(12, "elsewhere", "", "unavailable", 100, time.Second), // another route
		ro(13, "assistant", "", "unavailable", 70, time.Second),  // after the window
	)
	if err := s.AddAffectedUsers(ctx, []store.AffectedUser{
		{Minute: at(11), Route: "assistant", UserHash: "u1"}, {Minute: at(12), Route: "assistant", UserHash: "u1"},
		{Minute: at(12), Route: "support", UserHash: "u2"}, {Minute: at(12), Route: "elsewhere", UserHash: "u3"},
		{Minute: at(13), Route: "assistant", UserHash: "u4"},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.MeasureImpact(ctx, at(10), at(13), []string{"assistant", "support"})
	if err != nil {
		t.Fatal(err)
	}
	want := postmortem.Traffic{Requests: 45, Failed: 3, ServedByFailover: 20, HandedOff: 1, Canceled: 9, UsersAffected: 2,
		Degraded: map[string]int64{"degraded_cache": 6, "degraded_faq": 2, "notice": 8}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got, err := s.MeasureImpact(ctx, at(20), at(30), []string{"assistant"}); err != nil || !reflect.DeepEqual(got, postmortem.Traffic{}) {
		t.Errorf("quiet window: got %+v %v, want zero", got, err)
	}
}
