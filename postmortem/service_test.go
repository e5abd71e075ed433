package postmortem_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/store"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// source reads incidents and timelines from the store, as the engine does.
type source struct{ st *store.Store }

func (s source) Incident(ctx context.Context, id int64) (understudy.Incident, error) {
	inc, err := s.st.Incident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return inc, understudy.Errorf(understudy.ENOTFOUND, "no incident %d", id)
	}
	return inc, err
}

func (s source) Timeline(ctx context.Context, id int64) ([]understudy.Event, error) {
	evs, err := s.st.Events(ctx, store.EventQuery{IncidentID: id})
	out := make([]understudy.Event, len(evs))
	for i, e := range evs {
		out[i] = e.Event
	}
	return out, err
}

var _ postmortem.Source = source{}

type fixture struct {
	st      *store.Store
	clk     *clockwork.FakeClock
	svc     *postmortem.Service
	flushes int
	mu      sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, clk: clockwork.NewFakeClockAt(at(3600))}
	f.svc = postmortem.New(postmortem.Options{Store: st, Source: source{st}, Clock: f.clk,
		Flush: func(context.Context) error { f.mu.Lock(); f.flushes++; f.mu.Unlock(); return nil }})
	return f
}

// incident stores the story of one incident: detected by target_down at
// 90 s (first failure at 30 s), acknowledged by alice at 150 s, an update
// at 200 s, monitoring at 400 s, resolved at 700 s; with its traffic.
func (f *fixture) incident(t *testing.T) understudy.Incident {
	t.Helper()
	ctx := context.Background()
	inc := &understudy.Incident{Title: "Errors from provider primary", Status: understudy.IncidentInvestigating,
		Severity: understudy.SeverityMinor, Cause: understudy.CauseTechnical, Components: []string{"provider:primary"},
		Key: "technical:provider:primary", Detector: "target_down", StartedAt: at(30), DetectedAt: at(90), UpdatedAt: at(90),
		Evidence: understudy.Evidence{Routes: []string{"assistant"}, Targets: []string{"primary/m"}}}
	first := &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMinor,
		Message: "We are investigating.", Author: "understudy", CreatedAt: at(90)}
	mustDo(t, f.st.CreateIncident(ctx, inc, first, []understudy.Event{
		{Time: at(90), Type: understudy.EventIncidentOpened, Author: "understudy", Message: "opened by detector target_down"},
		{Time: at(60), Type: understudy.EventIncidentEvidence, Author: "understudy", Message: "related: breaker opened"},
	}))
	step := func(sec int, status understudy.IncidentStatus, author, msg string, evType string) {
		inc.Status, inc.UpdatedAt = status, at(sec)
		if status == understudy.IncidentResolved {
			inc.ResolvedAt = at(sec)
		}
		upd := &understudy.IncidentUpdate{Status: status, Severity: inc.Severity, Message: msg, Author: author, CreatedAt: at(sec)}
		mustDo(t, f.st.SaveIncident(ctx, inc, upd, []understudy.Event{{Time: at(sec), Type: evType, Author: author, Message: author + ": " + msg}}))
	}
	mustDo(t, f.st.SaveIncident(ctx, inc, nil, []understudy.Event{{Time: at(120), Type: understudy.EventIncidentReminder, Author: "understudy", Message: "post an update"}}))
	step(150, understudy.IncidentIdentified, "alice", "The primary is failing; the backup answers.", understudy.EventIncidentUpdated)
	step(200, understudy.IncidentIdentified, "bob", "Still on the backup.", understudy.EventIncidentUpdated)
	step(400, understudy.IncidentMonitoring, "alice", "Fixed upstream; watching.", understudy.EventIncidentMonitoring)
	step(700, understudy.IncidentResolved, "alice", "Resolved.", understudy.EventIncidentResolved)
	ro := func(sec int, route, mode string, n int64) store.Rollup {
		return store.Rollup{Minute: at(sec), Route: route, Target: "primary/m", Class: understudy.ClassSuccess, Mode: mode, Count: n}
	}
	mustDo(t, f.st.AddRollups(ctx, []store.Rollup{
		ro(-60, "assistant", "failover", 1000), // before the first bad minute
		ro(0, "assistant", "primary", 2),       // the first bad minute, before the failure: counted
		ro(30, "assistant", "failover", 10),
		ro(100, "assistant", "unavailable", 4),
		ro(100, "assistant", "degraded_cache", 3),
		ro(100, "assistant", "handoff", 2),
		ro(100, "other", "unavailable", 50), // not the incident's route
		ro(700, "assistant", "primary", 5),  // the resolution's minute: counted
		ro(780, "assistant", "unavailable", 1000),
	}))
	mustDo(t, f.st.AddAffectedUsers(ctx, []store.AffectedUser{{Minute: at(100), Route: "assistant", UserHash: "u1"},
		{Minute: at(100), Route: "assistant", UserHash: "u2"}, {Minute: at(160), Route: "assistant", UserHash: "u1"}}))
	got, err := f.st.Incident(ctx, inc.ID)
	mustDo(t, err)
	return got
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDraft(t *testing.T) {
	f := newFixture(t)
	inc := f.incident(t)
	ctx := context.Background()
	p, err := f.svc.Draft(ctx, inc.ID)
	if err != nil {
		t.Fatalf("Draft: %v", err)
	}
	if f.flushes != 1 {
		t.Errorf("the recorder was flushed %d times before measuring, want 1", f.flushes)
	}
	wantImpact := postmortem.Impact{From: t0, To: at(720), Routes: []string{"assistant"}, Duration: 670 * time.Second,
		Traffic: postmortem.Traffic{Requests: 26, Failed: 4, ServedByFailover: 10, HandedOff: 2, UsersAffected: 2,
			Degraded: map[string]int64{"degraded_cache": 3}}}
	if !reflect.DeepEqual(p.Impact, wantImpact) {
		t.Errorf("impact:\n got %+v\nwant %+v", p.Impact, wantImpact)
	}
	wantMetrics := postmortem.Metrics{Detector: "target_down", OpenedBy: "understudy", StartedAt: at(30), DetectedAt: at(90),
		AcknowledgedAt: at(150), AcknowledgedBy: "alice", FirstUpdateAt: at(90), MitigatedAt: at(400), ResolvedAt: at(700),
		TimeToDetect: time.Minute, TimeToAcknowledge: time.Minute, TimeToFirstUpdate: time.Minute,
		TimeToMitigate: 310 * time.Second, TimeToResolve: 610 * time.Second}
	if !reflect.DeepEqual(p.Metrics, wantMetrics) {
		t.Errorf("metrics:\n got %+v\nwant %+v", p.Metrics, wantMetrics)
	}
	var lines []string
	for _, e := range p.Timeline {
		lines = append(lines, e.Time.Format("15:04:05")+" "+e.Kind+" "+e.Type)
	}
	want := []string{
		"10:01:00 event incident.evidence",
		"10:01:30 event incident.opened",
		"10:01:30 update investigating",
		"10:02:00 event incident.reminder",
		"10:02:30 event incident.updated",
		"10:02:30 update identified",
		"10:03:20 event incident.updated",
		"10:03:20 update identified",
		"10:06:40 event incident.monitoring",
		"10:06:40 update monitoring",
		"10:11:40 event incident.resolved",
		"10:11:40 update resolved",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("timeline:\n got %q\nwant %q", lines, want)
	}
	if p.Status != postmortem.StatusDraft || p.Author != "understudy" || p.Title != inc.Title || !strings.Contains(p.Summary, "26 requests") {
		t.Errorf("draft: status %s author %q title %q summary %q", p.Status, p.Author, p.Title, p.Summary)
	}

	// People write; a second draft refreshes the figures and keeps the text.
	summary, cause := "Our words.", "A bad deploy upstream."
	if _, err := f.svc.Update(ctx, "alice", p.ID, postmortem.Change{Summary: &summary, RootCause: &cause}); err != nil {
		t.Fatal(err)
	}
	mustDo(t, f.st.AddRollups(ctx, []store.Rollup{{Minute: at(300), Route: "assistant", Mode: "unavailable", Count: 6, Class: understudy.ClassServer}}))
	again, err := f.svc.Draft(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != p.ID || again.Impact.Requests != 32 || again.Impact.Failed != 10 || again.Summary != summary || again.RootCause != cause {
		t.Errorf("re-draft: id %d requests %d failed %d summary %q root cause %q; want id %d, 32, 10 and the text kept",
			again.ID, again.Impact.Requests, again.Impact.Failed, again.Summary, again.RootCause, p.ID)
	}
	// Once in review, drafting changes nothing.
	if _, err := f.svc.Submit(ctx, "alice", p.ID); err != nil {
		t.Fatal(err)
	}
	mustDo(t, f.st.AddRollups(ctx, []store.Rollup{{Minute: at(300), Route: "assistant", Mode: "unavailable", Count: 1, Class: understudy.ClassServer}}))
	if third, err := f.svc.Draft(ctx, inc.ID); err != nil || third.Impact.Requests != 32 || third.Status != postmortem.StatusInReview {
		t.Errorf("draft in review: %d requests, status %s (err %v); want 32, in_review", third.Impact.Requests, third.Status, err)
	}
}

func TestDraftRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	open := &understudy.Incident{Title: "open", Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMinor,
		StartedAt: at(0), UpdatedAt: at(0)}
	mustDo(t, f.st.CreateIncident(ctx, open, nil, nil))
	merged := &understudy.Incident{Title: "merged", Status: understudy.IncidentResolved, Severity: understudy.SeverityMinor,
		StartedAt: at(0), UpdatedAt: at(0), ResolvedAt: at(10), MergedInto: open.ID}
	mustDo(t, f.st.CreateIncident(ctx, merged, nil, nil))
	for _, tt := range []struct {
		name string
		id   int64
		code string
	}{
		{"open", open.ID, understudy.ECONFLICT},
		{"merged", merged.ID, understudy.ECONFLICT},
		{"missing", 999, understudy.ENOTFOUND},
	} {
		_, err := f.svc.Draft(ctx, tt.id)
		var e *understudy.Error
		if !errors.As(err, &e) || e.Code != tt.code {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.code)
		}
	}
	if n, _ := f.st.Postmortems(ctx, postmortem.Filter{}); len(n) != 0 {
		t.Errorf("got %d postmortems, want none", len(n))
	}
}

// TestWorkflow: draft → in review → published; edits and item changes
// while editable; only item statuses once published.
func TestWorkflow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := f.svc.Draft(ctx, f.incident(t).ID)
	if err != nil {
		t.Fatal(err)
	}
	code := func(err error) string {
		var e *understudy.Error
		if errors.As(err, &e) {
			return e.Code
		}
		if err != nil {
			return "internal: " + err.Error()
		}
		return ""
	}
	it, err := f.svc.AddActionItem(ctx, "alice", p.ID, postmortem.ActionItem{Title: " Add a canary ", Owner: "bob", Due: at(86400).Add(123 * time.Millisecond)})
	if err != nil || it.ID == 0 || it.Status != postmortem.ItemOpen || it.Title != "Add a canary" || !it.Due.Equal(at(86400)) {
		t.Fatalf("AddActionItem: %+v %v", it, err)
	}
	if _, err := f.svc.AddActionItem(ctx, "alice", p.ID, postmortem.ActionItem{Title: "", Link: "javascript:alert(1)"}); code(err) != understudy.EINVALID ||
		!strings.Contains(err.Error(), "title is required") || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Errorf("invalid item: got %v, want EINVALID naming the title and the link", err)
	}
	if _, err := f.svc.Publish(ctx, "alice", p.ID); code(err) != understudy.ECONFLICT {
		t.Errorf("publish a draft: got %v, want ECONFLICT", err)
	}
	if _, err := f.svc.Submit(ctx, "alice", p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(ctx, "alice", p.ID); code(err) != understudy.ECONFLICT {
		t.Errorf("submit twice: got %v, want ECONFLICT", err)
	}
	lucky := "Low traffic."
	if got, err := f.svc.Update(ctx, "bob", p.ID, postmortem.Change{Lucky: &lucky}); err != nil || got.Lucky != lucky || got.Author != "bob" {
		t.Errorf("edit in review: %+v %v", got, err)
	}
	f.clk.Advance(time.Hour)
	pub, err := f.svc.Publish(ctx, "carol", p.ID)
	if err != nil || pub.Status != postmortem.StatusPublished || !pub.PublishedAt.Equal(f.clk.Now()) || pub.Author != "carol" {
		t.Fatalf("Publish: %+v %v", pub, err)
	}
	if _, err := f.svc.Update(ctx, "bob", p.ID, postmortem.Change{Lucky: &lucky}); code(err) != understudy.ECONFLICT {
		t.Errorf("edit once published: got %v, want ECONFLICT", err)
	}
	title := "Another title"
	if _, err := f.svc.UpdateActionItem(ctx, "bob", p.ID, it.ID, postmortem.ItemChange{Title: &title}); code(err) != understudy.ECONFLICT {
		t.Errorf("retitle an item once published: got %v, want ECONFLICT", err)
	}
	if _, err := f.svc.AddActionItem(ctx, "bob", p.ID, postmortem.ActionItem{Title: "late"}); code(err) != understudy.ECONFLICT {
		t.Errorf("add an item once published: got %v, want ECONFLICT", err)
	}
	if err := f.svc.RemoveActionItem(ctx, "bob", p.ID, it.ID); code(err) != understudy.ECONFLICT {
		t.Errorf("remove an item once published: got %v, want ECONFLICT", err)
	}
	done := postmortem.ItemDone
	if got, err := f.svc.UpdateActionItem(ctx, "bob", p.ID, it.ID, postmortem.ItemChange{Status: &done}); err != nil || got.Status != done {
		t.Errorf("close an item once published: %+v %v", got, err)
	}
	if _, err := f.svc.UpdateActionItem(ctx, "bob", p.ID, 999, postmortem.ItemChange{Status: &done}); code(err) != understudy.ENOTFOUND {
		t.Errorf("missing item: got %v, want ENOTFOUND", err)
	}
	if _, err := f.svc.Get(ctx, 999); code(err) != understudy.ENOTFOUND {
		t.Errorf("missing postmortem: got %v, want ENOTFOUND", err)
	}
	got, err := f.svc.Published(ctx, []int64{p.IncidentID, 999})
	if err != nil || len(got) != 1 || got[p.IncidentID].ActionItems[0].Status != done {
		t.Errorf("Published: %+v %v", got, err)
	}
}

func TestOverdue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := f.svc.Draft(ctx, f.incident(t).ID)
	if err != nil {
		t.Fatal(err)
	}
	due := f.clk.Now().Add(24 * time.Hour)
	if _, err := f.svc.AddActionItem(ctx, "alice", p.ID, postmortem.ActionItem{Title: "Alert earlier", Due: due}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.OverdueActionItems(ctx); err != nil || len(got) != 0 {
		t.Fatalf("before the due date: %+v %v", got, err)
	}
	f.clk.Advance(25 * time.Hour)
	got, err := f.svc.OverdueActionItems(ctx)
	if err != nil || len(got) != 1 || got[0].Title != "Alert earlier" || got[0].IncidentTitle != "Errors from provider primary" || !got[0].Overdue(f.clk.Now()) {
		t.Errorf("after: %+v %v", got, err)
	}
}

// TestQueue: a resolution queues a draft without blocking the caller; Run
// writes it.
func TestQueue(t *testing.T) {
	f := newFixture(t)
	inc := f.incident(t)
	measuring := make(chan struct{}, 10)
	svc := postmortem.New(postmortem.Options{Store: f.st, Source: source{f.st}, Clock: f.clk,
		Flush: func(context.Context) error { measuring <- struct{}{}; return nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	svc.OnIncidentEvent(inc.ID, understudy.Event{Type: understudy.EventIncidentUpdated}) // not a resolution
	svc.OnIncidentEvent(0, understudy.Event{Type: understudy.EventIncidentResolved})     // no incident
	svc.OnIncidentEvent(inc.ID, understudy.Event{Type: understudy.EventIncidentResolved})
	select {
	case <-measuring: // Run is drafting
	case <-ctx.Done():
		t.Fatal("no draft was written for the resolution")
	}
	// Draft waits for the queued one and refreshes it: still one postmortem.
	p, err := svc.Draft(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := svc.List(ctx, postmortem.Filter{})
	if err != nil || len(list) != 1 || list[0].ID != p.ID || p.Impact.Requests != 26 {
		t.Errorf("postmortems: %+v %v; want exactly one, with 26 requests", list, err)
	}
}

// TestOnChange: every change is told, with the postmortem as it is then.
func TestOnChange(t *testing.T) {
	f := newFixture(t)
	var seen []string
	svc := postmortem.New(postmortem.Options{Store: f.st, Source: source{f.st}, Clock: f.clk, OnChange: func(p postmortem.Postmortem) {
		seen = append(seen, fmt.Sprintf("%s/%d", p.Status, len(p.ActionItems)))
	}})
	ctx := context.Background()
	p, err := svc.Draft(ctx, f.incident(t).ID)
	mustDo(t, err)
	text := "why"
	_, err = svc.Update(ctx, "alice", p.ID, postmortem.Change{RootCause: &text})
	mustDo(t, err)
	_, err = svc.AddActionItem(ctx, "alice", p.ID, postmortem.ActionItem{Title: "fix"})
	mustDo(t, err)
	_, err = svc.Submit(ctx, "alice", p.ID)
	mustDo(t, err)
	_, err = svc.Publish(ctx, "bob", p.ID)
	mustDo(t, err)
	if want := []string{"draft/0", "draft/0", "draft/1", "in_review/1", "published/1"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("told %q, want %q", seen, want)
	}
}
