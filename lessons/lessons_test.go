package lessons_test

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/lessons"
	"github.com/understudy/understudy/store"
)

var t0 = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func MustOpen(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(tb.TempDir(), "u.db")})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// past is one seeded incident and its first update.
type past struct {
	inc    understudy.Incident
	en, fr string
}

// The seeded history: ids 1 to 7, in this order.
var history = []past{
	{understudy.Incident{Title: "Errors from provider openai", Cause: understudy.CauseTechnical,
		Components: []string{"provider:openai"}, Detector: "target_down", StartedAt: day(0),
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 12},
			Targets: []string{"openai/gpt-4o-mini"},
			Samples: []string{"500 Internal Server Error: The server had an error while processing your request"}}},
		"We are investigating errors from OpenAI.", "Nous enquêtons sur des erreurs d'OpenAI."},
	{understudy.Incident{Title: "Rate limited by provider openai", Cause: understudy.CauseOverload,
		Components: []string{"provider:openai"}, Detector: "overload", StartedAt: day(3),
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassRateLimit: 30},
			Samples: []string{"429 rate_limit_exceeded: Rate limit reached for gpt-4o-mini in organization org-[redacted] on requests per min"}}},
		"Answers are slower: the provider is limiting our requests.", "Les réponses sont plus lentes : le fournisseur limite nos requêtes."},
	{understudy.Incident{Title: "Quota exhausted at provider anthropic", Cause: understudy.CauseQuota,
		Components: []string{"provider:anthropic"}, Detector: "target_down", StartedAt: day(5),
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassQuota: 5},
			Samples: []string{"429 insufficient_quota: You exceeded your current quota, please check your plan and billing details"}}},
		"Billing quota exhausted at Anthropic; answers come from the other providers.", "Quota de facturation épuisé chez Anthropic ; les réponses viennent des autres fournisseurs."},
	{understudy.Incident{Title: "Requests to assistant failing", Cause: understudy.CauseTechnical,
		Components: []string{"assistant", "provider:openai"}, Detector: "route_errors", StartedAt: day(8),
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 40, understudy.ClassTimeout: 10},
			Samples: []string{"500 Internal Server Error: The server had an error while processing your request",
				"first token timeout after 10s"},
			Signals: []string{"route assistant: 42% of 50 requests failed over 30s"}}},
		"Outage of the assistant: answers fail.", "Panne de l'assistant : les réponses échouent."},
	{understudy.Incident{Title: "Slow answers from provider mistral", Cause: understudy.CauseOverload,
		Components: []string{"provider:mistral"}, Detector: "overload", StartedAt: day(10),
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassOverloaded: 7},
			Samples: []string{"529 overloaded_error: Overloaded"}}},
		"Mistral is overloaded.", "Mistral est surchargé."},
	// 6: merged into 1: searchable, never a similar incident.
	{understudy.Incident{Title: "Errors from provider openai again", Cause: understudy.CauseTechnical,
		Components: []string{"provider:openai"}, Detector: "target_down", StartedAt: day(0).Add(time.Minute), MergedInto: 1,
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 12},
			Samples: []string{"500 Internal Server Error: The server had an error while processing your request"}}},
		"Duplicate.", ""},
	// 7: a person's incident, on no component.
	{understudy.Incident{Title: "Billing page broken", Cause: understudy.CauseUnknown, StartedAt: day(12)},
		"The billing page shows an error.", "La page de facturation affiche une erreur."},
}

func seed(tb testing.TB, s *store.Store) {
	tb.Helper()
	for i := range history {
		h := history[i]
		inc := h.inc
		inc.Status, inc.Severity = understudy.IncidentResolved, understudy.SeverityMajor
		inc.DetectedAt, inc.UpdatedAt, inc.ResolvedAt = inc.StartedAt.Add(time.Minute), inc.StartedAt.Add(time.Hour), inc.StartedAt.Add(time.Hour)
		upd := &understudy.IncidentUpdate{Status: understudy.IncidentInvestigating, Severity: understudy.SeverityMajor,
			Message: h.en, Author: "understudy", CreatedAt: inc.DetectedAt}
		if h.fr != "" {
			upd.Translations = map[string]string{"fr": h.fr}
		}
		if err := s.CreateIncident(context.Background(), &inc, upd, nil); err != nil {
			tb.Fatalf("CreateIncident: %v", err)
		}
		if inc.ID != int64(i+1) {
			tb.Fatalf("incident %q got id %d, want %d", inc.Title, inc.ID, i+1)
		}
	}
}

func MustLibrary(tb testing.TB, o lessons.Options) *lessons.Library {
	tb.Helper()
	l, err := lessons.New(o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if err := l.Load(context.Background()); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func ids(ms []lessons.Match) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Incident.ID)
	}
	return out
}

func TestSimilar(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	l := MustLibrary(t, lessons.Options{Incidents: s})
	tests := []struct {
		name string
		inc  understudy.Incident
		want []int64
	}{
		{"openai 500s again: the same outage first, then the route's, then the same provider's",
			understudy.Incident{ID: 100, Title: "Errors from provider openai", Cause: understudy.CauseTechnical,
				Components: []string{"provider:openai"}, StartedAt: day(20),
				Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 3},
					Samples: []string{"500 Internal Server Error: The server had an error while processing your request (request id [redacted])"}}},
			[]int64{1, 4, 2}},
		// Then openai's two incidents, on their component alone (0.35) and
		// a few words: the title "Errors from provider openai" shares as
		// many words and has fewer than the rate limit's.
		{"quota at openai: the quota incident at anthropic first, then openai's",
			understudy.Incident{ID: 101, Title: "Quota exhausted at provider openai", Cause: understudy.CauseQuota,
				Components: []string{"provider:openai"}, StartedAt: day(20),
				Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassQuota: 9},
					Samples: []string{"429 insufficient_quota: You exceeded your current quota"}}},
			[]int64{3, 1, 2}},
		{"overload on mistral: only mistral's",
			understudy.Incident{ID: 102, Title: "Slow answers from provider mistral", Cause: understudy.CauseOverload,
				Components: []string{"provider:mistral"}, StartedAt: day(20),
				Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassOverloaded: 2},
					Samples: []string{"529 overloaded_error: Overloaded"}}},
			[]int64{5}},
		{"only past incidents: before incident 4, incident 4 and later ones are not candidates",
			understudy.Incident{ID: 4, Title: "Requests to assistant failing", Cause: understudy.CauseTechnical,
				Components: []string{"assistant", "provider:openai"}, StartedAt: day(8),
				Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 40}}},
			[]int64{1}},
		{"nothing alike", understudy.Incident{ID: 103, Title: "Console down", Cause: understudy.CauseUnknown,
			Components: []string{"console"}, StartedAt: day(20)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := l.Similar(context.Background(), tt.inc)
			if !reflect.DeepEqual(ids(got), tt.want) {
				for _, m := range got {
					t.Logf("#%d %.3f %v", m.Incident.ID, m.Score, m.Reasons)
				}
				t.Fatalf("got %v, want %v", ids(got), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Score > got[i-1].Score {
					t.Errorf("not sorted by score: %v", got)
				}
			}
		})
	}
	// The reasons of the best match of the first case.
	m := l.Similar(context.Background(), tests[0].inc)[0]
	for _, want := range []string{"same components: provider openai", "same cause: technical", "same failures: server_error", "similar errors ("} {
		if !slices.ContainsFunc(m.Reasons, func(r string) bool { return strings.HasPrefix(r, want) }) {
			t.Errorf("reasons %q lack %q", m.Reasons, want)
		}
	}
	if m.Components != 1 || m.Cause != 1 || m.Classes != 1 || m.Text <= 0.5 || m.Text >= 1 {
		t.Errorf("got parts %v %v %v %v, want 1 1 1 and text in (0.5, 1)", m.Components, m.Cause, m.Classes, m.Text)
	}
}

func TestSimilarOptions(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	inc := understudy.Incident{ID: 100, Title: "Errors from provider openai", Cause: understudy.CauseTechnical,
		Components: []string{"provider:openai"}, StartedAt: day(20)}
	tests := []struct {
		name string
		o    lessons.Options
		want []int64
	}{
		{"top 1", lessons.Options{Incidents: s, TopN: 1}, []int64{1}},
		// Without evidence: components 0.35 + cause 0.2 + title words.
		{"high bar", lessons.Options{Incidents: s, MinScore: 0.6}, []int64{1}},
		{"low bar", lessons.Options{Incidents: s, MinScore: 0.2}, []int64{1, 4, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MustLibrary(t, tt.o).Similar(context.Background(), inc)
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("got %v, want %v", ids(got), tt.want)
			}
		})
	}
}

// recorder is the store, telling when it recorded something.
type recorder struct {
	*store.Store
	done chan int64
}

func (r recorder) AppendIncidentEvents(ctx context.Context, id int64, evs []understudy.Event) error {
	err := r.Store.AppendIncidentEvents(ctx, id, evs)
	r.done <- id
	return err
}

var _ lessons.Recorder = recorder{}

func MustRecorded(tb testing.TB, s *store.Store, id int64) []lessons.Link {
	tb.Helper()
	evs, err := s.Events(context.Background(), store.EventQuery{IncidentID: id})
	if err != nil {
		tb.Fatalf("Events: %v", err)
	}
	tl := make([]understudy.Event, len(evs))
	for i, e := range evs {
		tl[i] = e.Event
	}
	return lessons.Recorded(tl)
}

func linkIDs(ls []lessons.Link) []int64 {
	var out []int64
	for _, l := range ls {
		out = append(out, l.IncidentID)
	}
	return out
}

// open creates a new detector incident (no evidence yet, as when the
// engine opens one) and returns it.
func open(tb testing.TB, s *store.Store, inc understudy.Incident) understudy.Incident {
	tb.Helper()
	inc.Status, inc.Severity, inc.DetectedAt, inc.UpdatedAt = understudy.IncidentInvestigating, understudy.SeverityMinor, inc.StartedAt, inc.StartedAt
	if err := s.CreateIncident(context.Background(), &inc, nil, nil); err != nil {
		tb.Fatalf("CreateIncident: %v", err)
	}
	return inc
}

func TestHookWaitsForEvidence(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	seed(t, s)
	clk := clockwork.NewFakeClockAt(day(20))
	l := MustLibrary(t, lessons.Options{Incidents: s, Recorder: s, Clock: clk})
	inc := open(t, s, understudy.Incident{Title: "Errors from provider openai", Cause: understudy.CauseTechnical,
		Components: []string{"provider:openai"}, Detector: "target_down", StartedAt: day(20)})
	opened := understudy.Event{Type: understudy.EventIncidentOpened, Time: day(20)}
	if err := l.Handle(ctx, inc.ID, opened); err != nil {
		t.Fatalf("Handle opened: %v", err)
	}
	if got := MustRecorded(t, s, inc.ID); got != nil {
		t.Fatalf("recorded before the evidence: %v", got)
	}
	// The same tick saves the evidence with an incident.evidence event.
	inc.Evidence = understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 5},
		Samples: []string{"500 Internal Server Error: The server had an error while processing your request"}}
	if err := s.SaveIncident(ctx, &inc, nil, nil); err != nil {
		t.Fatalf("SaveIncident: %v", err)
	}
	if err := l.Handle(ctx, inc.ID, understudy.Event{Type: understudy.EventIncidentEvidence, Time: day(20)}); err != nil {
		t.Fatalf("Handle evidence: %v", err)
	}
	got := MustRecorded(t, s, inc.ID)
	if want := []int64{1, 4, 2}; !reflect.DeepEqual(linkIDs(got), want) {
		t.Fatalf("recorded %v, want %v", linkIDs(got), want)
	}
	if got[0].Title != "Errors from provider openai" || got[0].Score <= 0.9 || len(got[0].Reasons) != 4 {
		t.Errorf("first link: got %+v", got[0])
	}
	// Later events re-index the incident but record nothing more.
	if err := l.Handle(ctx, inc.ID, understudy.Event{Type: understudy.EventIncidentEvidence, Time: day(20)}); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	evs, err := s.Events(ctx, store.EventQuery{IncidentID: inc.ID, Types: []string{lessons.EventSimilar}})
	if err != nil || len(evs) != 1 {
		t.Errorf("got %d similar events (%v), want 1", len(evs), err)
	}
	// Its text is searchable at once.
	hits, err := l.Search(ctx, "processing", lessons.SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(hits, func(h lessons.Hit) bool { return h.IncidentID == inc.ID }) {
		t.Errorf("the new incident is not found by its sample")
	}
}

func TestHookWaitBound(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	seed(t, s)
	clk := clockwork.NewFakeClockAt(day(20))
	l := MustLibrary(t, lessons.Options{Incidents: s, Recorder: s, Clock: clk, Wait: 10 * time.Second})
	// A detector incident whose evidence never comes.
	inc := open(t, s, understudy.Incident{Title: "Errors from provider openai", Cause: understudy.CauseTechnical,
		Components: []string{"provider:openai"}, Detector: "target_down", StartedAt: day(20)})
	if err := l.Handle(ctx, inc.ID, understudy.Event{Type: understudy.EventIncidentOpened}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	if err := l.CompareWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	if got := MustRecorded(t, s, inc.ID); got != nil {
		t.Fatalf("recorded after 9 s: %v", got)
	}
	clk.Advance(time.Second)
	if err := l.CompareWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	if got := linkIDs(MustRecorded(t, s, inc.ID)); !reflect.DeepEqual(got, []int64{1, 4, 2}) {
		t.Errorf("after 10 s: recorded %v, want [1 4 2]", got)
	}
}

func TestHookRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := MustOpen(t)
	seed(t, s)
	rec := recorder{Store: s, done: make(chan int64, 1)}
	l := MustLibrary(t, lessons.Options{Incidents: s, Recorder: rec})
	stopped := make(chan struct{})
	go func() { defer close(stopped); l.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	// A person's incident (no detector, no evidence) is compared on
	// incident.opened: mistral's overload matches on component, cause and
	// title; the rate limit at openai only on cause (0.2) and "provider".
	inc := open(t, s, understudy.Incident{Title: "Slow answers from provider mistral", Cause: understudy.CauseOverload,
		Components: []string{"provider:mistral"}, StartedAt: day(20)})
	l.OnIncidentEvent(0, understudy.Event{Type: understudy.EventComponentChanged}) // not an incident's: ignored
	l.OnIncidentEvent(inc.ID, understudy.Event{Type: understudy.EventIncidentOpened})
	select {
	case id := <-rec.done:
		if id != inc.ID {
			t.Fatalf("recorded on %d, want %d", id, inc.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing recorded within 10 s")
	}
	if got := linkIDs(MustRecorded(t, s, inc.ID)); !reflect.DeepEqual(got, []int64{5}) {
		t.Errorf("recorded %v, want [5]", got)
	}
}

func TestRecorded(t *testing.T) {
	ms := []lessons.Match{{Incident: understudy.Incident{ID: 7, Title: "Seven"}, Score: 0.8123, Reasons: []string{"same cause: quota"}}}
	ev := lessons.SimilarEvent(ms, t0)
	if ev.Type != lessons.EventSimilar || ev.Message != "similar past incidents: #7 Seven (0.81)" {
		t.Errorf("got event %+v", ev)
	}
	older := lessons.SimilarEvent([]lessons.Match{{Incident: understudy.Incident{ID: 1, Title: "One"}}}, t0)
	got := lessons.Recorded([]understudy.Event{older, {Type: "incident.updated"}, ev, {Type: "incident.resolved"}})
	want := []lessons.Link{{IncidentID: 7, Title: "Seven", Score: 0.81, Reasons: []string{"same cause: quota"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v (the last similar event)", got, want)
	}
	if got := lessons.Recorded([]understudy.Event{{Type: "incident.opened"}}); got != nil {
		t.Errorf("no similar event: got %+v, want nil", got)
	}
}
