package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/understudy/understudy/handoff/chatwoot/chatwootfake"
)

// TestChatwootThroughServe: with handoff.chatwoot configured, a
// conversation handed off by `serve` is opened in (a fake of) Chatwoot with
// its transcript; a Chatwoot agent's reply reaches the user through the
// integrator API, the user's next message reaches Chatwoot, and resolving
// it in Chatwoot closes ours.
func TestChatwootThroughServe(t *testing.T) {
	ctx, cancel := testCtx(t)

	// Chatwoot's webhooks go to serve, whose address is known only once it
	// listens: through a forwarding server that exists before.
	var serveURL atomic.Pointer[url.URL]
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httputil.NewSingleHostReverseProxy(serveURL.Load()).ServeHTTP(w, r)
	}))
	defer hook.Close()
	fake := chatwootfake.New("cw-token", 1, 7)
	fake.WebhookSecret = "cw-webhook-secret"
	fake.WebhookURL = hook.URL + "/handoff/chatwoot/webhook"
	fake.Echo = true // Chatwoot echoes API changes as webhooks: they must not loop
	cw := httptest.NewServer(fake)
	defer cw.Close()
	defer fake.Close()

	cfg := serveConfig + `    degrade: [handoff]
handoff:
  chatwoot: {base_url: "${CW_URL}", account_id: 1, inbox_id: 7, api_token: "${CW_TOKEN}", webhook_secret: "${CW_SECRET}"}
`
	s := startServed(ctx, t, cfg, map[string]string{"CW_URL": cw.URL, "CW_TOKEN": "cw-token", "CW_SECRET": "cw-webhook-secret"})
	base := s.base
	u, _ := url.Parse(base)
	serveURL.Store(u)
	s.down(t)

	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"My parcel never arrived."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Understudy-Handoff")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("handoff: %d %v", resp.StatusCode, resp.Header)
	}
	var cwID int64
	if err := fake.Wait(ctx, func() bool {
		for _, c := range fake.Conversations() {
			for _, m := range c.Messages {
				if m.MessageType == "incoming" && m.Content == "My parcel never arrived." {
					cwID = c.ID
					return true
				}
			}
		}
		return false
	}); err != nil {
		t.Fatalf("the conversation never reached Chatwoot: %v (requests %+v)", err, fake.Requests())
	}

	conversation := func() (status, assignee string, msgs []map[string]any) {
		t.Helper()
		resp, err := http.Get(base + "/handoff/v1/conversations/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			Status, Assignee string
			Messages         []map[string]any
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
		return c.Status, c.Assignee, c.Messages
	}
	if status, err := fake.SendAgentMessage(ctx, cwID, "Ana", "Hello, Ana here. Let me look."); err != nil || status != 200 {
		t.Fatalf("agent message webhook: %d %v", status, err)
	}
	status, assignee, msgs := conversation()
	last := msgs[len(msgs)-1]
	if status != "assigned" || assignee != "chatwoot" || last["role"] != "agent" || last["content"] != "Hello, Ana here. Let me look." {
		t.Fatalf("after the agent's reply: %s %s %v", status, assignee, last)
	}

	post, err := http.Post(base+"/handoff/v1/conversations/"+id+"/messages", "application/json", strings.NewReader(`{"content":"Thanks!"}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if err := fake.Wait(ctx, func() bool {
		c, _ := fake.Conversation(cwID)
		n := len(c.Messages)
		return n > 0 && c.Messages[n-1].Content == "Thanks!" && c.Messages[n-1].MessageType == "incoming"
	}); err != nil {
		t.Fatalf("the user's message never reached Chatwoot: %v", err)
	}

	if status, err := fake.Resolve(ctx, cwID); err != nil || status != 200 {
		t.Fatalf("resolve webhook: %d %v", status, err)
	}
	if status, _, _ := conversation(); status != "closed" {
		t.Errorf("after Chatwoot resolved it: %s, want closed", status)
	}
	// An unsigned call to the webhook is refused.
	bad, err := http.Post(base+"/handoff/chatwoot/webhook", "application/json", strings.NewReader(`{"event":"message_created"}`))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: %d, want 401", bad.StatusCode)
	}
	s.stop(t, cancel)
}
