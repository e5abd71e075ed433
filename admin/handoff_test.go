package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/store"
)

// withHandoff gives the fixture a real handoff queue over a fresh SQLite
// store, on the fixture's clock; *svc gets it when svc is not nil.
func withHandoff(t *testing.T, svc **handoff.Service) fixtureOption {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return func(o *admin.Options) {
		s := handoff.New(handoff.Options{Store: st, Clock: o.Clock})
		o.Handoff = s
		if svc != nil {
			*svc = s
		}
	}
}

// mustEnqueue queues a conversation on route "assistant" with one user
// message.
func mustEnqueue(t *testing.T, svc *handoff.Service, text string) handoff.Conversation {
	t.Helper()
	c, _, err := svc.Enqueue(context.Background(), "assistant", "default", []handoff.Message{{Role: handoff.RoleUser, Content: text}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHandoffConsole: an agent sees the queue with its waiting time, claims
// a conversation, answers the user and closes it; another agent cannot
// answer a conversation it does not hold.
func TestHandoffConsole(t *testing.T) {
	ctx := context.Background()
	var svc *handoff.Service
	f := newFixture(t, withHandoff(t, &svc))
	conv := mustEnqueue(t, svc, "My order <never> arrived")
	id := strconv.FormatInt(conv.ID, 10)
	f.clock.Advance(90e9) // 90 s in the queue
	if status, _, res := f.browser(t).get(t, "/console/handoff"); status != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/console/signin") {
		t.Errorf("queue without signing in: %d", status)
	}
	agent := f.signIn(t, agentTok)
	if status, page, _ := agent.get(t, "/console/handoff"); status != 200 || !strings.Contains(page, "#"+id) || !strings.Contains(page, "1m30s") {
		t.Fatalf("queue: %d\n%s", status, page)
	}
	if _, page, _ := agent.get(t, "/console/handoff/"+id); !strings.Contains(page, "My order &lt;never&gt; arrived") || !strings.Contains(page, "Claim #"+id) {
		t.Fatalf("conversation page:\n%s", page)
	}
	if status, _, _ := agent.post(t, "/console/handoff/"+id+"/claim", nil); status != 303 {
		t.Fatalf("claim: %d", status)
	}
	other := f.signIn(t, operatorTok)
	if status, _, _ := other.post(t, "/console/handoff/"+id+"/reply", url.Values{"content": {"Hi"}}); status == 303 {
		t.Error("an agent who does not hold the conversation answered it")
	}
	if status, _, _ := agent.post(t, "/console/handoff/"+id+"/reply", url.Values{"content": {"Hello, I am looking into it."}}); status != 303 {
		t.Fatalf("reply: %d", status)
	}
	if status, _, _ := agent.post(t, "/console/handoff/"+id+"/close", nil); status != 303 {
		t.Fatalf("close: %d", status)
	}
	c, err := svc.Conversation(ctx, conv.ID)
	if err != nil || c.Status != handoff.StatusClosed || len(c.Messages) != 2 || c.Messages[1].Content != "Hello, I am looking into it." || c.Assignee != "agent" {
		t.Errorf("conversation after the console: %+v %v", c, err)
	}
}

// sseEvent is one Server-Sent Event, or a comment line (Comment).
type sseEvent struct {
	Name, Data, Retry, Comment string
}

// eventStream is a console event stream being read.
type eventStream struct {
	res    *http.Response
	events chan sseEvent // closed when the stream ends
	ctx    context.Context
}

// events opens the console's event stream with b's session. The test's
// reads wait at most 10 s in all.
func (b *browser) events(t *testing.T) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.f.srv.URL+"/console/handoff/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &eventStream{res: res, events: make(chan sseEvent, 64), ctx: ctx}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				select {
				case s.events <- e:
				case <-ctx.Done():
					return
				}
				e = sseEvent{}
			case strings.HasPrefix(line, ":"):
				e.Comment = strings.TrimSpace(line[1:])
			default:
				k, v, _ := strings.Cut(line, ": ")
				switch k {
				case "event":
					e.Name = v
				case "data":
					e.Data = v
				case "retry":
					e.Retry = v
				default:
					t.Errorf("unexpected line %q in the stream", line)
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		res.Body.Close()
		wg.Wait()
	})
	return s
}

// next is the next event; the test fails when the stream ends or stays
// silent until the deadline.
func (s *eventStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-s.ctx.Done():
		t.Fatal("no event before the deadline")
	}
	return sseEvent{}
}

// ended waits for the server to end the stream.
func (s *eventStream) ended(t *testing.T) {
	t.Helper()
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return
			}
			t.Errorf("got %+v, want the stream ended", e)
		case <-s.ctx.Done():
			t.Fatal("the stream is still open at the deadline")
		}
	}
}

// TestHandoffEvents: the console's stream says hello at once, then one
// event per change with the conversation's id and status (and who wrote,
// for messages), and a heartbeat comment every 15 s of the clock.
func TestHandoffEvents(t *testing.T) {
	ctx := context.Background()
	var svc *handoff.Service
	f := newFixture(t, withHandoff(t, &svc))
	s := f.signIn(t, agentTok).events(t)
	if s.res.StatusCode != http.StatusOK || s.res.Header.Get("Content-Type") != "text/event-stream" || s.res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %v, want 200 text/event-stream, no-store", s.res.StatusCode, s.res.Header)
	}
	if e := s.next(t); e != (sseEvent{Name: "hello", Data: "{}", Retry: "2000"}) {
		t.Fatalf("first event: got %+v, want hello with retry 2000", e)
	}
	var id int64
	tests := []struct {
		name string
		do   func() error
		want sseEvent
	}{
		{"enqueue", func() error {
			id = mustEnqueue(t, svc, "Where is my parcel?").ID
			return nil
		}, sseEvent{Name: "created", Data: `{"id":1,"status":"waiting"}`}},
		{"user writes", func() error { _, err := svc.UserMessage(ctx, id, "Hello?"); return err },
			sseEvent{Name: "message", Data: `{"id":1,"status":"waiting","role":"user"}`}},
		{"claim", func() error { _, err := svc.Claim(ctx, id, "agent"); return err },
			sseEvent{Name: "claimed", Data: `{"id":1,"status":"assigned"}`}},
		{"agent replies", func() error { _, err := svc.Reply(ctx, id, "agent", "On its way."); return err },
			sseEvent{Name: "message", Data: `{"id":1,"status":"assigned","role":"agent"}`}},
		{"close", func() error { _, err := svc.Close(ctx, id); return err },
			sseEvent{Name: "closed", Data: `{"id":1,"status":"closed"}`}},
		{"heartbeat", func() error { f.clock.Advance(15 * time.Second); return nil }, sseEvent{Comment: "ping"}},
		{"next heartbeat", func() error { f.clock.Advance(15 * time.Second); return nil }, sseEvent{Comment: "ping"}},
	}
	for _, tt := range tests {
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := s.next(t); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestHandoffEventsEnd: the stream ends at shutdown (Options.Shutdown), and
// at the first heartbeat after its session stops being valid.
func TestHandoffEventsEnd(t *testing.T) {
	const aliceTok = "us_alice-agent-token"
	tests := []struct {
		name string
		end  func(t *testing.T, f *fixture, b *browser, shutdown chan struct{})
	}{
		{"shutdown", func(t *testing.T, f *fixture, b *browser, shutdown chan struct{}) { close(shutdown) }},
		{"token revoked", func(t *testing.T, f *fixture, b *browser, shutdown chan struct{}) {
			if err := f.tokens.RevokeToken(context.Background(), "alice", f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(15 * time.Second)
		}},
		{"signed out", func(t *testing.T, f *fixture, b *browser, shutdown chan struct{}) {
			if status, _, _ := b.post(t, "/console/signout", nil); status != http.StatusSeeOther {
				t.Fatalf("sign out: %d", status)
			}
			f.clock.Advance(15 * time.Second)
		}},
		{"session expired", func(t *testing.T, f *fixture, b *browser, shutdown chan struct{}) {
			f.clock.Advance(12 * time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shutdown := make(chan struct{})
			f := newFixture(t, withHandoff(t, nil), func(o *admin.Options) { o.Shutdown = shutdown })
			f.tokens.Add("alice", understudy.ScopeAgent, aliceTok)
			b := f.signIn(t, aliceTok)
			s := b.events(t)
			if e := s.next(t); e.Name != "hello" {
				t.Fatalf("first event: %+v", e)
			}
			f.clock.Advance(15 * time.Second) // a valid session keeps the stream
			if e := s.next(t); e.Comment != "ping" {
				t.Fatalf("heartbeat: got %+v, want ping", e)
			}
			tt.end(t, f, b, shutdown)
			s.ended(t)
		})
	}
}

// flushWriter is a ResponseWriter that tells when the handler first
// flushes.
type flushWriter struct {
	mu      sync.Mutex
	header  http.Header
	body    bytes.Buffer
	flushed chan struct{}
	once    sync.Once
}

func (w *flushWriter) Header() http.Header { return w.header }
func (w *flushWriter) WriteHeader(int)     {}
func (w *flushWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.Write(p)
}
func (w *flushWriter) Flush() { w.once.Do(func() { close(w.flushed) }) }

// TestHandoffEventsEndWithRequest: when the request's context ends (the
// page is closed), the handler returns.
func TestHandoffEventsEndWithRequest(t *testing.T) {
	f := newFixture(t, withHandoff(t, nil))
	b := f.signIn(t, agentTok)
	deadline, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/console/handoff/events", nil)
	u, _ := url.Parse(f.srv.URL + "/console/")
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	w := &flushWriter{header: http.Header{}, flushed: make(chan struct{})}
	returned := make(chan struct{})
	go func() { defer close(returned); f.h.ServeHTTP(w, req) }()
	select {
	case <-w.flushed:
	case <-returned:
		t.Fatalf("the handler returned before streaming: %s", w.body.String())
	case <-deadline.Done():
		t.Fatal("no hello before the deadline")
	}
	cancel()
	select {
	case <-returned:
	case <-deadline.Done():
		t.Fatal("the handler still streams after its request's context ended")
	}
	if got := w.body.String(); !strings.HasPrefix(got, "retry: 2000\nevent: hello\n") {
		t.Errorf("got %q, want hello", got)
	}
}

// TestHandoffQueueLive: the queue page points the script at the stream and
// the fragment; the fragment (what the script swaps in) follows arrivals,
// claims and closes, and leaves the flash for the next page.
func TestHandoffQueueLive(t *testing.T) {
	var svc *handoff.Service
	f := newFixture(t, withHandoff(t, &svc))
	conv := mustEnqueue(t, svc, "Hello")
	f.clock.Advance(90 * time.Second)
	agent := f.signIn(t, agentTok)
	status, page, _ := agent.get(t, "/console/handoff")
	for _, want := range []string{
		`data-live="/console/handoff/events"`, `data-fragment="/console/handoff?fragment=live"`,
		`<script src="/console/static/handoff.js?v=`, `<noscript><meta http-equiv="refresh" content="5"></noscript>`,
		`One waiting more than 2m0s is marked late.`, `id="handoff-row-1"`, fmt.Sprintf(`data-since="%d" data-sla="120"`, t0.UnixMilli()), `<span class="sla-time">1m30s</span> waiting`,
	} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("queue page: %d, want %q in:\n%s", status, want, page)
		}
	}
	fragment := func() string {
		t.Helper()
		status, body, res := agent.get(t, "/console/handoff?fragment=live")
		if status != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || strings.Contains(body, "<html") ||
			!strings.HasPrefix(strings.TrimSpace(body), `<div id="handoff-queue" data-live-part data-live-version="`) {
			t.Fatalf("fragment: %d %s\n%s", status, res.Header.Get("Content-Type"), body)
		}
		return body
	}
	// The script swaps the queue when its version changes: with the rows,
	// not with the timers.
	version := regexp.MustCompile(`id="handoff-queue" data-live-part data-live-version="([0-9a-f]{16})"`)
	last := version.FindStringSubmatch(page)
	if last == nil {
		t.Fatalf("no version on the queue:\n%s", page)
	}
	steps := []struct {
		name       string
		do         func()
		want, nope []string
		changed    bool // the version
	}{
		{"a second arrives", func() { mustEnqueue(t, svc, "Anyone?") },
			[]string{`id="handoff-row-1"`, `id="handoff-row-2"`, `<span class="sla-time">0s</span> waiting`}, nil, true},
		{"the first is late", func() { f.clock.Advance(31 * time.Second) },
			[]string{`<tr id="handoff-row-1" class="late">`, `<span class="sla-time">2m1s</span> waiting<strong class="sla-late"> · late</strong>`},
			[]string{`<tr id="handoff-row-2" class="late">`}, false},
		{"claimed", func() {
			if status, _, _ := agent.post(t, "/console/handoff/1/claim", nil); status != http.StatusSeeOther {
				t.Fatalf("claim: %d", status)
			}
			f.clock.Advance(5 * time.Second)
		}, []string{`<span class="badge h-assigned">assigned</span></td><td>agent</td>`, `<span class="sla-time">5s</span> since claimed`},
			[]string{`<tr id="handoff-row-1" class="late">`}, true},
		{"closed", func() {
			if _, err := svc.Close(context.Background(), conv.ID); err != nil {
				t.Fatal(err)
			}
		}, []string{`id="handoff-row-2"`}, []string{`id="handoff-row-1"`}, true},
	}
	for _, st := range steps {
		st.do()
		body := fragment()
		if v := version.FindStringSubmatch(body); v == nil || (v[1] != last[1]) != st.changed {
			t.Errorf("%s: version %v after %v, want changed=%v", st.name, v, last, st.changed)
		} else {
			last = v
		}
		for _, w := range st.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: fragment without %q:\n%s", st.name, w, body)
			}
		}
		for _, n := range st.nope {
			if strings.Contains(body, n) {
				t.Errorf("%s: fragment with %q:\n%s", st.name, n, body)
			}
		}
	}
	// The fragments did not take the claim's notice: the next page shows it.
	if _, page, _ := agent.get(t, "/console/handoff/1"); !strings.Contains(page, "Conversation #1 claimed.") {
		t.Errorf("the claim's notice is gone:\n%s", page)
	}
}

// TestHandoffConversationLive: a conversation's fragment carries its facts,
// transcript and forms; the forms' version changes only with the state, so
// the script leaves the reply form (and what is typed in it) alone when a
// message arrives.
func TestHandoffConversationLive(t *testing.T) {
	ctx := context.Background()
	var svc *handoff.Service
	f := newFixture(t, withHandoff(t, &svc))
	conv := mustEnqueue(t, svc, "Hello")
	agent := f.signIn(t, agentTok)
	if _, page, _ := agent.get(t, "/console/handoff/1"); !strings.Contains(page, `data-fragment="/console/handoff/1?fragment=live" data-conversation="1"`) {
		t.Fatalf("conversation page:\n%s", page)
	}
	version := regexp.MustCompile(`id="handoff-actions" data-live-part data-live-version="([^"]*)"`)
	tests := []struct {
		name, who   string
		do          func()
		wantVersion string
		want        []string
	}{
		{"waiting", agentTok, func() {}, "waiting false", []string{`Claim #1`, `<span class="sla-time">0s</span> waiting`}},
		{"claimed", agentTok, func() {
			if _, err := svc.Claim(ctx, conv.ID, "agent"); err != nil {
				t.Fatal(err)
			}
		}, "assigned true", []string{`<textarea id="content"`, `Close #1`, `<span class="sla-time">0s</span> since claimed`}},
		{"another agent's view", operatorTok, func() {}, "assigned false", nil},
		{"the user writes", agentTok, func() {
			if _, err := svc.UserMessage(ctx, conv.ID, "Still there? <b>"); err != nil {
				t.Fatal(err)
			}
		}, "assigned true", []string{`id="handoff-msg-2"`, `Still there? &lt;b&gt;`}},
		{"closed", agentTok, func() {
			if _, err := svc.Close(ctx, conv.ID); err != nil {
				t.Fatal(err)
			}
		}, "closed true", []string{`<span class="badge h-closed">closed</span>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do()
			b := agent
			if tt.who != agentTok {
				b = f.signIn(t, tt.who)
			}
			status, body, _ := b.get(t, "/console/handoff/1?fragment=live")
			if status != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, `id="handoff-facts"`) || !strings.Contains(body, `id="handoff-transcript"`) {
				t.Fatalf("fragment: %d\n%s", status, body)
			}
			if m := version.FindStringSubmatch(body); m == nil || m[1] != tt.wantVersion {
				t.Errorf("actions version: got %v, want %q", m, tt.wantVersion)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("fragment without %q:\n%s", w, body)
				}
			}
		})
	}
}

// TestHandoffSLA: a waiting conversation turns late past Options.HandoffSLA
// (2 minutes by default); an assigned one counts from its claim and is
// never late.
func TestHandoffSLA(t *testing.T) {
	tests := []struct {
		name     string
		sla      time.Duration
		claim    bool
		wait     time.Duration
		want     []string
		wantLate bool
	}{
		{"default, in time", 0, false, 90 * time.Second, []string{`data-sla="120"`, `<span class="sla-time">1m30s</span> waiting`}, false},
		{"default, at the limit", 0, false, 2 * time.Minute, []string{`<span class="sla-time">2m0s</span> waiting`}, false},
		{"default, past it", 0, false, 2*time.Minute + time.Second, []string{`<span class="sla-time">2m1s</span> waiting`}, true},
		{"custom", 30 * time.Second, false, 31 * time.Second, []string{`data-sla="30"`, `<span class="sla-time">31s</span> waiting`}, true},
		{"hours", 0, false, 2*time.Hour + 5*time.Second, []string{`<span class="sla-time">2h0m5s</span> waiting`}, true},
		{"assigned", 0, true, 10 * time.Minute, []string{`<span class="sla-time">10m0s</span> since claimed`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var svc *handoff.Service
			f := newFixture(t, withHandoff(t, &svc), func(o *admin.Options) { o.HandoffSLA = tt.sla })
			c := mustEnqueue(t, svc, "Hello")
			if tt.claim {
				f.clock.Advance(time.Hour) // waited long, but claimed
				if _, err := svc.Claim(context.Background(), c.ID, "agent"); err != nil {
					t.Fatal(err)
				}
			}
			f.clock.Advance(tt.wait)
			_, body, _ := f.signIn(t, agentTok).get(t, "/console/handoff?fragment=live")
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("got:\n%s\nwant %q", body, w)
				}
			}
			if late := strings.Contains(body, `class="late"`); late != tt.wantLate {
				t.Errorf("late: got %v, want %v\n%s", late, tt.wantLate, body)
			}
			if tt.claim && strings.Contains(body, "data-sla=") {
				t.Errorf("an assigned conversation has a limit:\n%s", body)
			}
		})
	}
	if _, err := admin.New(admin.Options{Service: newFixture(t).svc, HandoffSLA: -time.Second}); err == nil || !strings.Contains(err.Error(), "HandoffSLA") {
		t.Errorf("negative HandoffSLA: got %v, want an error naming it", err)
	}
}

// TestHandoffScript: the pages load the script by its version, which may be
// cached for good; the script is for signed-in agents.
func TestHandoffScript(t *testing.T) {
	f := newFixture(t, withHandoff(t, nil))
	agent := f.signIn(t, agentTok)
	_, page, _ := agent.get(t, "/console/handoff")
	m := regexp.MustCompile(`<script src="(/console/static/handoff\.js\?v=[0-9a-f]{12})" defer></script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no versioned script on the page:\n%s", page)
	}
	status, body, res := agent.get(t, m[1])
	if status != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.Contains(body, "new EventSource(") {
		t.Errorf("script: %d %v\n%.200s", status, res.Header, body)
	}
	if status, _, res := agent.get(t, "/console/static/handoff.js"); status != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("script without its version: %d %q, want 200 no-cache", status, res.Header.Get("Cache-Control"))
	}
}
