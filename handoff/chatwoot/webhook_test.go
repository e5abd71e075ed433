package chatwoot_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/handoff/chatwoot"
	"github.com/understudy/understudy/handoff/chatwoot/chatwootfake"
)

// messageEvent is a message_created payload as the docs show it.
func messageEvent(id, accountID, inboxID, conversation int64, messageType any, private bool, content string) []byte {
	b, _ := json.Marshal(map[string]any{
		"event": "message_created", "id": id, "content": content, "message_type": messageType,
		"content_type": "text", "private": private, "content_attributes": map[string]any{},
		"sender":       map[string]any{"id": 1, "name": "Alice", "type": "user"},
		"inbox":        map[string]any{"id": inboxID, "name": "Understudy"},
		"conversation": map[string]any{"id": conversation, "inbox_id": inboxID, "status": "open"},
		"account":      map[string]any{"id": accountID, "name": "Acme"},
	})
	return b
}

func statusEvent(conversation int64, status string) []byte {
	b, _ := json.Marshal(map[string]any{"event": "conversation_status_changed", "id": conversation,
		"inbox_id": inbox, "status": status, "account_id": account})
	return b
}

func TestWebhookRequests(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, nil)
	conv := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	cwID := linkedConversation(t, ctx, cw, conv.ID, 1).ID

	now := cw.clock.Now().Unix()
	valid := messageEvent(100, account, inbox, cwID, "outgoing", false, "tampered")
	signed := func(body []byte) func(h http.Header) {
		return func(h http.Header) {
			h.Set("X-Chatwoot-Timestamp", strconv.FormatInt(now, 10))
			h.Set("X-Chatwoot-Signature", chatwootfake.Sign(secret, now, body))
		}
	}
	tests := []struct {
		name   string
		method string
		body   []byte
		sign   func(h http.Header) // nil: signed correctly
		want   int
		answer string // the answer's status, or its error code
	}{
		{"unsigned", "POST", valid, func(http.Header) {}, 401, "unauthorized"},
		{"another secret", "POST", valid, func(h http.Header) {
			h.Set("X-Chatwoot-Timestamp", strconv.FormatInt(now, 10))
			h.Set("X-Chatwoot-Signature", chatwootfake.Sign("not-the-secret", now, valid))
		}, 401, "unauthorized"},
		{"tampered body", "POST", valid, signed(messageEvent(100, account, inbox, cwID, "outgoing", false, "original")), 401, "unauthorized"},
		{"signature without the timestamp", "POST", valid, func(h http.Header) {
			h.Set("X-Chatwoot-Signature", chatwootfake.Sign(secret, now, valid))
		}, 401, "unauthorized"},
		{"stale timestamp", "POST", valid, func(h http.Header) {
			old := now - int64(chatwoot.SignatureTolerance/time.Second) - 60
			h.Set("X-Chatwoot-Timestamp", strconv.FormatInt(old, 10))
			h.Set("X-Chatwoot-Signature", chatwootfake.Sign(secret, old, valid))
		}, 401, "unauthorized"},
		{"signature not hex", "POST", valid, func(h http.Header) {
			h.Set("X-Chatwoot-Timestamp", strconv.FormatInt(now, 10))
			h.Set("X-Chatwoot-Signature", "sha256=zz")
		}, 401, "unauthorized"},
		{"malformed JSON", "POST", []byte(`{"event": "message_created", "id": `), nil, 400, "invalid"},
		{"not an object", "POST", []byte(`[1, 2]`), nil, 400, "invalid"},
		{"oversized", "POST", bytes.Repeat([]byte(" "), chatwoot.MaxWebhookBody+1), nil, 413, "too_large"},
		{"GET", "GET", nil, nil, 405, "method_not_allowed"},
		{"unknown event", "POST", []byte(`{"event": "contact_created", "id": 5}`), nil, 200, "ignored"},
		{"incoming message", "POST", messageEvent(101, account, inbox, cwID, "incoming", false, "from the user"), nil, 200, "ignored"},
		{"private note", "POST", messageEvent(102, account, inbox, cwID, "outgoing", true, "internal"), nil, 200, "ignored"},
		{"activity", "POST", messageEvent(103, account, inbox, cwID, "activity", false, "Assigned to Alice"), nil, 200, "ignored"},
		{"template", "POST", messageEvent(104, account, inbox, cwID, 3, false, "Rate us"), nil, 200, "ignored"},
		{"another inbox", "POST", messageEvent(105, account, inbox+1, cwID, "outgoing", false, "elsewhere"), nil, 200, "ignored"},
		{"another account", "POST", messageEvent(106, account+1, inbox, cwID, "outgoing", false, "elsewhere"), nil, 200, "ignored"},
		{"not a handoff", "POST", messageEvent(107, account, inbox, cwID+100, "outgoing", false, "elsewhere"), nil, 200, "ignored"},
		{"empty message", "POST", messageEvent(108, account, inbox, cwID, "outgoing", false, ""), nil, 200, "ignored"},
		{"status open", "POST", statusEvent(cwID, "open"), nil, 200, "ignored"},
		{"status of another conversation", "POST", statusEvent(cwID+100, "resolved"), nil, 200, "ignored"},
		{"status of another account", "POST", func() []byte {
			b, _ := json.Marshal(map[string]any{"event": "conversation_status_changed", "id": cwID, "inbox_id": inbox,
				"status": "resolved", "account_id": account + 1})
			return b
		}(), nil, 200, "ignored"},
		{"reply, message_type as a number", "POST", messageEvent(109, account, inbox, cwID, 1, false, "The reply"), nil, 200, "relayed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tt.method, cw.fake.WebhookURL, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			sign := tt.sign
			if sign == nil {
				sign = signed(tt.body)
			}
			sign(req.Header)
			status, answer := post(t, req)
			got, _ := answer["status"].(string)
			if e, ok := answer["error"].(map[string]any); ok {
				got, _ = e["code"].(string)
			}
			if status != tt.want || got != tt.answer {
				t.Errorf("got %d %v, want %d %s", status, answer, tt.want, tt.answer)
			}
		})
	}
	c := mustConversation(t, ours.svc, conv.ID)
	var agent []string
	for _, m := range c.Messages {
		if m.Role == handoff.RoleAgent {
			agent = append(agent, m.Content)
		}
	}
	if len(agent) != 1 || agent[0] != "The reply" || c.Status != handoff.StatusAssigned {
		t.Errorf("ours: got %s with agent messages %q, want assigned with only \"The reply\"", c.Status, agent)
	}
	if !strings.Contains(cw.fake.WebhookURL, "/handoff/chatwoot/webhook") {
		t.Errorf("webhook URL %q: the handler should answer on any path it is mounted at", cw.fake.WebhookURL)
	}
}

func TestNewOptions(t *testing.T) {
	ok := chatwoot.Options{BaseURL: "https://chatwoot.example.com", AccountID: 1, InboxID: 2, APIToken: "t",
		WebhookSecret: "s", Links: stubLinks{}, Handoff: stubHandoff{}}
	tests := []struct {
		name   string
		change func(*chatwoot.Options)
		want   string // in the error; "" for none
	}{
		{"valid", func(*chatwoot.Options) {}, ""},
		{"no base URL", func(o *chatwoot.Options) { o.BaseURL = "" }, "BaseURL"},
		{"base URL not http", func(o *chatwoot.Options) { o.BaseURL = "ftp://x" }, "BaseURL"},
		{"no account", func(o *chatwoot.Options) { o.AccountID = 0 }, "AccountID"},
		{"no inbox", func(o *chatwoot.Options) { o.InboxID = -1 }, "InboxID"},
		{"no token", func(o *chatwoot.Options) { o.APIToken = "" }, "APIToken"},
		{"no webhook secret", func(o *chatwoot.Options) { o.WebhookSecret = "" }, "WebhookSecret"},
		{"no links", func(o *chatwoot.Options) { o.Links = nil }, "Links"},
		{"no handoff", func(o *chatwoot.Options) { o.Handoff = nil }, "Handoff"},
		{"negative queue", func(o *chatwoot.Options) { o.QueueSize = -1 }, "QueueSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			_, err := chatwoot.New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error naming %s", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "t\""):
				t.Errorf("error %v shows the token", err)
			}
		})
	}
}

// TestQueueFull: OnEvent never blocks; past the queue's size events are
// dropped and counted.
func TestQueueFull(t *testing.T) {
	conn, err := chatwoot.New(chatwoot.Options{BaseURL: "https://chatwoot.example.com", AccountID: 1, InboxID: 2,
		APIToken: "t", WebhookSecret: "s", Links: stubLinks{}, Handoff: stubHandoff{}, QueueSize: 2})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for i := range 5 {
		conn.OnEvent(handoff.Event{Type: handoff.EventClosed, Conversation: handoff.Conversation{ID: int64(i)}})
	}
	if got := conn.Dropped(); got != 3 {
		t.Errorf("Dropped: got %d, want 3", got)
	}
	var nilConn *chatwoot.Connector
	nilConn.OnEvent(handoff.Event{Type: handoff.EventClosed}) // does nothing
}

type stubLinks struct{ chatwoot.Links }
type stubHandoff struct{ chatwoot.Handoff }
