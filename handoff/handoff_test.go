package handoff_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func MustOpenStore(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: path})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newService returns a Service over a new SQLite store and a fake clock at t0.
func newService(tb testing.TB) (*handoff.Service, *clockwork.FakeClock) {
	tb.Helper()
	clock := clockwork.NewFakeClockAt(t0)
	st := MustOpenStore(tb, filepath.Join(tb.TempDir(), "understudy.db"))
	return handoff.New(handoff.Options{Store: st, Clock: clock}), clock
}

func MustEnqueue(tb testing.TB, svc *handoff.Service, msgs ...handoff.Message) (handoff.Conversation, time.Duration) {
	tb.Helper()
	c, wait, err := svc.Enqueue(context.Background(), "support", "normal", msgs)
	if err != nil {
		tb.Fatalf("Enqueue: %v", err)
	}
	return c, wait
}

func errCode(err error) string {
	var e *understudy.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprintf("not an *understudy.Error: %v", err)
}

func TestClaimRace(t *testing.T) {
	const agents = 20
	svc, _ := newService(t)
	c, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "a person please"})
	var wg sync.WaitGroup
	errs := make([]error, agents)
	for i := range agents {
		wg.Go(func() { _, errs[i] = svc.Claim(context.Background(), c.ID, fmt.Sprint("agent-", i)) })
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
			continue
		}
		if got := errCode(err); got != understudy.ECONFLICT {
			t.Errorf("agent %d: got %s, want %s", i, got, understudy.ECONFLICT)
		}
	}
	if wins != 1 {
		t.Errorf("got %d winners, want exactly 1", wins)
	}
}

func TestRestartKeepsConversations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "understudy.db")
	clock := clockwork.NewFakeClockAt(t0)
	st, err := store.Open(ctx, store.Config{SQLitePath: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	svc := handoff.New(handoff.Options{Store: st, Clock: clock})
	waiting, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "first"})
	claimed, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "second"})
	if _, err := svc.Claim(ctx, claimed.ID, "alice"); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := svc.Reply(ctx, claimed.ID, "alice", "Hello, Alice here."); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close store: %v", err)
	}

	svc = handoff.New(handoff.Options{Store: MustOpenStore(t, path), Clock: clock})
	tests := []struct {
		name         string
		id           int64
		wantStatus   handoff.Status
		wantAssignee string
		wantLast     string
		wantMessages int
	}{
		{"waiting", waiting.ID, handoff.StatusWaiting, "", "first", 1},
		{"claimed with reply", claimed.ID, handoff.StatusAssigned, "alice", "Hello, Alice here.", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := svc.Conversation(ctx, tt.id)
			if err != nil {
				t.Fatalf("Conversation: %v", err)
			}
			if c.Status != tt.wantStatus || c.Assignee != tt.wantAssignee || len(c.Messages) != tt.wantMessages ||
				c.Messages[len(c.Messages)-1].Content != tt.wantLast {
				t.Errorf("got %+v, want %s by %q with %d messages ending %q", c, tt.wantStatus, tt.wantAssignee,
					tt.wantMessages, tt.wantLast)
			}
		})
	}
	// The queue survived too: the waiting one is next.
	if next, err := svc.ClaimNext(ctx, "bob"); err != nil || next.ID != waiting.ID {
		t.Errorf("ClaimNext after restart: got %d, %v, want %d", next.ID, err, waiting.ID)
	}
}

func TestWaitEstimate(t *testing.T) {
	tests := []struct {
		name    string
		handled []time.Duration // claim-to-close times of closed conversations
		ahead   int             // conversations already waiting
		want    time.Duration
	}{
		{"empty queue", nil, 0, 0},
		{"no history: default", nil, 3, 3 * handoff.DefaultHandlingTime},
		{"odd count: middle", []time.Duration{10 * time.Minute, 2 * time.Minute, 4 * time.Minute}, 2, 8 * time.Minute},
		{"even count: mean of middle two", []time.Duration{time.Minute, 3 * time.Minute, 5 * time.Minute, 60 * time.Minute}, 1, 4 * time.Minute},
		{"only the last 20", append(repeat(100*time.Minute, 5), repeat(2*time.Minute, handoff.RecentClosed)...), 1, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			svc, clock := newService(t)
			for _, d := range tt.handled {
				c, _ := MustEnqueue(t, svc)
				if _, err := svc.Claim(ctx, c.ID, "alice"); err != nil {
					t.Fatalf("Claim: %v", err)
				}
				clock.Advance(d)
				if _, err := svc.Close(ctx, c.ID); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			for range tt.ahead {
				MustEnqueue(t, svc)
			}
			c, got := MustEnqueue(t, svc)
			if got != tt.want {
				t.Errorf("Enqueue: got wait %v, want %v", got, tt.want)
			}
			if again, err := svc.WaitEstimate(ctx, c.ID); err != nil || again != tt.want {
				t.Errorf("WaitEstimate: got %v, %v, want %v", again, err, tt.want)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestServiceErrors(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	c, _ := MustEnqueue(t, svc)
	closed, _ := MustEnqueue(t, svc)
	if _, err := svc.Close(ctx, closed.ID); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"enqueue without route", errOf3(svc.Enqueue(ctx, "", "", nil)), understudy.EINVALID},
		{"enqueue bad role", errOf3(svc.Enqueue(ctx, "support", "", []handoff.Message{{Role: "bot", Content: "x"}})), understudy.EINVALID},
		{"reply before claim", errOf(svc.Reply(ctx, c.ID, "alice", "hi")), understudy.ECONFLICT},
		{"empty user message", errOf(svc.UserMessage(ctx, c.ID, "  ")), understudy.EINVALID},
		{"message to closed", errOf(svc.UserMessage(ctx, closed.ID, "hello?")), understudy.ECONFLICT},
		{"claim missing", errOf(svc.Claim(ctx, 999, "alice")), understudy.ENOTFOUND},
		{"close twice", errOf(svc.Close(ctx, closed.ID)), understudy.ECONFLICT},
	}
	for _, tt := range tests {
		if got := errCode(tt.err); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := svc.ClaimNext(ctx, "alice"); err != nil {
		t.Fatalf("ClaimNext: %v", err)
	}
	if _, err := svc.ClaimNext(ctx, "bob"); errCode(err) != understudy.ENOTFOUND {
		t.Errorf("ClaimNext on an empty queue: got %v, want %s", err, understudy.ENOTFOUND)
	}
}

func errOf[T any](_ T, err error) error { return err }

func errOf3[T, U any](_ T, _ U, err error) error { return err }

func TestHTTP(t *testing.T) {
	svc, _ := newService(t)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	c, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "help"})
	base := fmt.Sprintf("%s/handoff/v1/conversations/%d", srv.URL, c.ID)

	tests := []struct {
		name, method, url, body string
		wantStatus              int
		wantCode                string
	}{
		{"get", "GET", base, "", 200, ""},
		{"post", "POST", base + "/messages", `{"content":"still there?"}`, 201, ""},
		{"post bad json", "POST", base + "/messages", `{"text":1}`, 400, understudy.EINVALID},
		{"post empty", "POST", base + "/messages", `{"content":""}`, 400, understudy.EINVALID},
		{"get missing", "GET", srv.URL + "/handoff/v1/conversations/999", "", 404, understudy.ENOTFOUND},
		{"get bad id", "GET", srv.URL + "/handoff/v1/conversations/abc", "", 404, understudy.ENOTFOUND},
		{"unknown path", "GET", srv.URL + "/handoff/v1/nope", "", 404, understudy.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.url, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			var body struct {
				Error struct{ Message, Type, Code string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != tt.wantCode {
				t.Errorf("got error %+v (%v), want code %s", body.Error, err, tt.wantCode)
			}
		})
	}

	resp, err := http.Get(base)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	var got struct {
		handoff.Conversation
		WaitSeconds *int64 `json:"wait_seconds"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.Status != handoff.StatusWaiting || len(got.Messages) != 2 || got.Messages[1].Content != "still there?" ||
		got.WaitSeconds == nil || *got.WaitSeconds != 0 {
		t.Errorf("got %+v, want waiting, 2 messages, wait 0", got)
	}
}

// TestEventsStream: an agent's reply reaches a subscribed HTTP client, and
// closing the conversation ends the stream.
func TestEventsStream(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	c, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "help"})

	resp, err := http.Get(fmt.Sprintf("%s/handoff/v1/conversations/%d/events", srv.URL, c.ID))
	if err != nil {
		t.Fatalf("GET events: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("got Content-Type %q, want text/event-stream", ct)
	}
	events := readEvents(resp)
	if ev := <-events; ev.name != "hello" {
		t.Fatalf("got first event %+v, want hello", ev)
	}
	// Subscribed: the reply sent now must arrive.
	if _, err := svc.Claim(ctx, c.ID, "alice"); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	reply, err := svc.Reply(ctx, c.ID, "alice", "Hi, I'm Alice.")
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	ev := <-events
	var m handoff.Message
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil || ev.name != "message" {
		t.Fatalf("got event %+v (%v), want a message", ev, err)
	}
	if m.ID != reply.ID || m.Role != handoff.RoleAgent || m.Content != "Hi, I'm Alice." {
		t.Errorf("got %+v, want %+v", m, reply)
	}
	if _, err := svc.Close(ctx, c.ID); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ev := <-events; ev.name != "closed" {
		t.Errorf("got %+v, want closed", ev)
	}
	if ev, ok := <-events; ok {
		t.Errorf("got %+v after closed, want the stream to end", ev)
	}
}

type sseEvent struct{ name, data string }

// readEvents parses the stream's events onto a channel, closed at the end.
func readEvents(resp *http.Response) <-chan sseEvent {
	ch := make(chan sseEvent)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && ev.name != "":
				ch <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

// Every change reaches OnEvent in order, and watchers get the same events.
func TestEvents(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	st := MustOpenStore(t, filepath.Join(t.TempDir(), "understudy.db"))
	var got []handoff.Event
	svc := handoff.New(handoff.Options{Store: st, Clock: clock, OnEvent: func(e handoff.Event) { got = append(got, e) }})
	ctx, cancel := context.WithCancel(context.Background())
	watch := svc.Watch(ctx)

	c, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "help"})
	if _, err := svc.Claim(ctx, c.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reply(ctx, c.ID, "ana", "hello, Ana here"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UserMessage(ctx, c.ID, "thanks"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Close(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// A failed change tells nobody.
	if _, err := svc.UserMessage(ctx, c.ID, "late"); err == nil {
		t.Fatal("message to a closed conversation accepted")
	}

	type step struct {
		typ     handoff.EventType
		status  handoff.Status
		role    handoff.Role
		content string
	}
	want := []step{
		{handoff.EventCreated, handoff.StatusWaiting, "", ""},
		{handoff.EventClaimed, handoff.StatusAssigned, "", ""},
		{handoff.EventMessage, handoff.StatusAssigned, handoff.RoleAgent, "hello, Ana here"},
		{handoff.EventMessage, handoff.StatusAssigned, handoff.RoleUser, "thanks"},
		{handoff.EventClosed, handoff.StatusClosed, "", ""},
	}
	check := func(name string, evs []handoff.Event) {
		t.Helper()
		if len(evs) != len(want) {
			t.Fatalf("%s: %d events, want %d: %+v", name, len(evs), len(want), evs)
		}
		for i, e := range evs {
			s := step{typ: e.Type, status: e.Conversation.Status}
			if e.Message != nil {
				s.role, s.content = e.Message.Role, e.Message.Content
			}
			if s != want[i] || e.Conversation.ID != c.ID {
				t.Errorf("%s[%d] = %+v (conversation %d), want %+v", name, i, s, e.Conversation.ID, want[i])
			}
		}
		if n := len(evs[0].Conversation.Messages); n != 1 {
			t.Errorf("%s: created event carries %d transcript messages, want 1", name, n)
		}
	}
	check("OnEvent", got)
	var watched []handoff.Event
	for range want {
		watched = append(watched, <-watch)
	}
	check("Watch", watched)
	cancel()
	if _, open := <-watch; open {
		t.Error("watch channel still open after its context ended")
	}
}

// Closing Options.Shutdown ends open event streams (they must not hold up
// the server's shutdown).
func TestEventsStreamEndsOnShutdown(t *testing.T) {
	st := MustOpenStore(t, filepath.Join(t.TempDir(), "understudy.db"))
	shutdown := make(chan struct{})
	svc := handoff.New(handoff.Options{Store: st, Clock: clockwork.NewFakeClockAt(t0), Shutdown: shutdown})
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	c, _ := MustEnqueue(t, svc, handoff.Message{Role: handoff.RoleUser, Content: "help"})
	resp, err := http.Get(fmt.Sprintf("%s/handoff/v1/conversations/%d/events", srv.URL, c.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readEvents(resp)
	if ev := <-events; ev.name != "hello" {
		t.Fatalf("got %+v, want hello", ev)
	}
	close(shutdown)
	if ev, ok := <-events; ok {
		t.Errorf("got %+v after shutdown, want the stream to end", ev)
	}
}
