package chatwoot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/handoff/chatwoot"
	"github.com/understudy/understudy/handoff/chatwoot/chatwootfake"
	"github.com/understudy/understudy/store"
)

var _ chatwoot.Links = (*store.Store)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	token   = "cw-token"
	secret  = "cw-webhook-secret"
	account = 7
	inbox   = 3
)

// testCtx bounds every blocking wait of a test: a broken test fails instead
// of hanging.
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// chatwootSide is a fake Chatwoot and the URL our webhook is at, which
// stays the same across restarts of our side (the handler behind it is
// swapped).
type chatwootSide struct {
	fake  *chatwootfake.Server
	api   *httptest.Server
	hook  atomic.Pointer[http.Handler]
	clock *clockwork.FakeClock // the connector's clock; stamps the webhooks too
}

func newChatwoot(t *testing.T) *chatwootSide {
	t.Helper()
	cw := &chatwootSide{clock: clockwork.NewFakeClockAt(t0)}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := cw.hook.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "our side is down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hooks.Close)
	cw.fake = chatwootfake.New(token, account, inbox)
	cw.fake.WebhookURL = hooks.URL + "/handoff/chatwoot/webhook"
	cw.fake.WebhookSecret = secret
	cw.fake.Now = cw.clock.Now
	cw.fake.Echo = true
	cw.api = httptest.NewServer(cw.fake)
	t.Cleanup(cw.api.Close)
	t.Cleanup(cw.fake.Close) // before the servers close: echoes finish first
	return cw
}

// ourSide is a handoff service over a SQLite store with the connector
// wired in and running.
type ourSide struct {
	st   *store.Store
	svc  *handoff.Service
	conn *chatwoot.Connector
	stop func()
}

// startOurs opens the store at path and starts a service and a connector
// over it, answering cw's webhooks. stop (also run when t ends) stops
// the connector and closes the store.
func startOurs(t *testing.T, cw *chatwootSide, path string, tweak func(*chatwoot.Options)) *ourSide {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{SQLitePath: path})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	var conn *chatwoot.Connector
	svc := handoff.New(handoff.Options{Store: st, Clock: clockwork.NewFakeClockAt(t0),
		OnEvent: func(e handoff.Event) { conn.OnEvent(e) }})
	o := chatwoot.Options{BaseURL: cw.api.URL, AccountID: account, InboxID: inbox, APIToken: token,
		WebhookSecret: secret, Links: st, Handoff: svc, HTTPClient: cw.api.Client(), Clock: cw.clock}
	if tweak != nil {
		tweak(&o)
	}
	conn, err = chatwoot.New(o)
	if err != nil {
		t.Fatalf("chatwoot.New: %v", err)
	}
	h := conn.Webhook()
	cw.hook.Store(&h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.Run(ctx)
	}()
	stopped := false
	ours := &ourSide{st: st, svc: svc, conn: conn}
	ours.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cw.hook.Store(nil)
		cancel()
		<-done
		if err := st.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	}
	t.Cleanup(ours.stop)
	return ours
}

// setup is one Chatwoot and our side over a fresh store.
func setup(t *testing.T, tweak func(*chatwoot.Options)) (*chatwootSide, *ourSide) {
	t.Helper()
	cw := newChatwoot(t)
	return cw, startOurs(t, cw, filepath.Join(t.TempDir(), "understudy.db"), tweak)
}

func mustEnqueue(tb testing.TB, svc *handoff.Service, msgs ...handoff.Message) handoff.Conversation {
	tb.Helper()
	c, _, err := svc.Enqueue(context.Background(), "support", "high", msgs)
	if err != nil {
		tb.Fatalf("Enqueue: %v", err)
	}
	return c
}

func mustUserMessage(tb testing.TB, svc *handoff.Service, id int64, content string) {
	tb.Helper()
	if _, err := svc.UserMessage(context.Background(), id, content); err != nil {
		tb.Fatalf("UserMessage: %v", err)
	}
}

func mustConversation(tb testing.TB, svc *handoff.Service, id int64) handoff.Conversation {
	tb.Helper()
	c, err := svc.Conversation(context.Background(), id)
	if err != nil {
		tb.Fatalf("Conversation %d: %v", id, err)
	}
	return c
}

// linkedConversation waits for the Chatwoot conversation holding ours (by
// its custom attribute) to have at least n messages, and returns it.
func linkedConversation(tb testing.TB, ctx context.Context, cw *chatwootSide, ours int64, n int) chatwootfake.Conversation {
	tb.Helper()
	var got chatwootfake.Conversation
	err := cw.fake.Wait(ctx, func() bool {
		for _, c := range cw.fake.Conversations() {
			if id, _ := c.CustomAttributes["understudy_conversation_id"].(float64); int64(id) == ours && len(c.Messages) >= n {
				got = c
				return true
			}
		}
		return false
	})
	if err != nil {
		tb.Fatalf("conversation %d with %d messages in Chatwoot: %v; have %+v", ours, n, err, cw.fake.Conversations())
	}
	return got
}

// waitFor waits until the Chatwoot conversation cwID satisfies cond.
func waitFor(tb testing.TB, ctx context.Context, cw *chatwootSide, cwID int64, what string, cond func(chatwootfake.Conversation) bool) chatwootfake.Conversation {
	tb.Helper()
	var got chatwootfake.Conversation
	err := cw.fake.Wait(ctx, func() bool {
		c, ok := cw.fake.Conversation(cwID)
		got = c
		return ok && cond(c)
	})
	if err != nil {
		tb.Fatalf("Chatwoot conversation %d: %s: %v; have %+v", cwID, what, err, got)
	}
	return got
}

func hasMessage(content string) func(chatwootfake.Conversation) bool {
	return func(c chatwootfake.Conversation) bool {
		return slices.ContainsFunc(c.Messages, func(m chatwootfake.Message) bool { return m.Content == content })
	}
}

// brief is a message as the assertions compare it.
type brief struct {
	Type    string
	Private bool
	Content string
}

func briefs(ms []chatwootfake.Message) []brief {
	var out []brief
	for _, m := range ms {
		out = append(out, brief{m.MessageType, m.Private, m.Content})
	}
	return out
}

// requestsMatching counts the API calls whose path ends with suffix and
// whose body contains fragment.
func requestsMatching(cw *chatwootSide, suffix, fragment string) []chatwootfake.Request {
	var out []chatwootfake.Request
	for _, r := range cw.fake.Requests() {
		if strings.HasSuffix(r.Path, suffix) && strings.Contains(r.Body, fragment) {
			out = append(out, r)
		}
	}
	return out
}

// advanceRetries lets n retry waits of the connector pass.
func advanceRetries(tb testing.TB, ctx context.Context, cw *chatwootSide, n int) {
	tb.Helper()
	for range n {
		if err := cw.clock.BlockUntilContext(ctx, 1); err != nil {
			tb.Fatalf("waiting for the connector to wait for a retry: %v", err)
		}
		cw.clock.Advance(2 * time.Minute)
	}
}
