package chatwootfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// Webhooks as Chatwoot sends them: payload shapes from the docs' "Webhook
// Events" (message_created: the message at the top level with sender,
// conversation and account; conversation events: the conversation at the
// top level), signed as since v4.11.2: X-Chatwoot-Timestamp and
// X-Chatwoot-Signature "sha256=" + hex HMAC-SHA256 of "{timestamp}.{body}".

// Sign returns the X-Chatwoot-Signature of body sent at unix second ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// conversationData is a conversation as webhooks carry it; s.mu is held.
func (s *Server) conversationData(c *Conversation) map[string]any {
	var contact map[string]any
	for _, ct := range s.contacts {
		if ct.ID == c.ContactID {
			contact = map[string]any{"id": ct.ID, "name": ct.Name, "type": "contact", "additional_attributes": ct.AdditionalAttributes}
		}
	}
	now := s.now().Unix()
	return map[string]any{
		"additional_attributes": orEmpty(c.AdditionalAttributes),
		"custom_attributes":     orEmpty(c.CustomAttributes),
		"can_reply":             true,
		"channel":               "Channel::Api",
		"id":                    c.ID,
		"inbox_id":              c.InboxID,
		"contact_inbox":         map[string]any{"contact_id": c.ContactID, "inbox_id": c.InboxID, "source_id": c.SourceID},
		"meta":                  map[string]any{"sender": contact, "assignee": nil},
		"status":                c.Status,
		"unread_count":          0,
		"timestamp":             now,
		"created_at":            now,
	}
}

// messageData is a message_created payload; s.mu is held.
func (s *Server) messageData(c *Conversation, m Message) map[string]any {
	var sender map[string]any
	if m.MessageType == "incoming" {
		sender = map[string]any{"id": c.ContactID, "type": "contact"}
	} else {
		name := m.SenderName
		if name == "" {
			name = "API"
		}
		sender = map[string]any{"id": 1, "name": name, "email": "agent@example.com", "type": "user"}
	}
	return map[string]any{
		"event":              "message_created",
		"id":                 m.ID,
		"content":            m.Content,
		"created_at":         s.now().UTC().Format(time.RFC3339),
		"message_type":       m.MessageType,
		"content_type":       "text",
		"private":            m.Private,
		"content_attributes": map[string]any{},
		"source_id":          nil,
		"sender":             sender,
		"inbox":              map[string]any{"id": c.InboxID, "name": "Understudy"},
		"conversation":       s.conversationData(c),
		"account":            map[string]any{"id": s.AccountID, "name": "Acme"},
	}
}

func withEvent(payload map[string]any, event string) map[string]any {
	payload["event"] = event
	return payload
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return maps.Clone(m)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// echo sends payload in the background when Echo is on.
func (s *Server) echo(payload map[string]any) {
	if !s.Echo || s.WebhookURL == "" {
		return
	}
	body, _ := json.Marshal(payload)
	s.echoes.Go(func() { _, _ = s.Deliver(context.Background(), body) })
}

// Deliver signs body with WebhookSecret and posts it to WebhookURL as a
// webhook; it returns the answer's status.
func (s *Server) Deliver(ctx context.Context, body []byte) (int, error) {
	ts := s.now().Unix()
	return s.DeliverSigned(ctx, body, strconv.FormatInt(ts, 10), Sign(s.WebhookSecret, ts, body))
}

// DeliverSigned posts body to WebhookURL with the given timestamp and
// signature headers (empty: left out); it returns the answer's status.
func (s *Server) DeliverSigned(ctx context.Context, body []byte, timestamp, signature string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if timestamp != "" {
		req.Header.Set("X-Chatwoot-Timestamp", timestamp)
	}
	if signature != "" {
		req.Header.Set("X-Chatwoot-Signature", signature)
	}
	req.Header.Set("X-Chatwoot-Delivery", fmt.Sprintf("delivery-%d", time.Now().UnixNano()))
	status := 0
	resp, err := s.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, Delivery{Body: body, Status: status})
	s.signal()
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("chatwootfake: webhook: %w", err)
	}
	return status, nil
}

// SendMessage adds m to conversation id, as if written in the dashboard, and
// sends its message_created webhook; it returns the answer's status.
func (s *Server) SendMessage(ctx context.Context, id int64, m Message) (int, error) {
	s.mu.Lock()
	c := s.find(id)
	if c == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("chatwootfake: no conversation %d", id)
	}
	s.nextMessage++
	m.ID = s.nextMessage
	c.Messages = append(c.Messages, m)
	payload := s.messageData(c, m)
	s.signal()
	s.mu.Unlock()
	body, _ := json.Marshal(payload)
	return s.Deliver(ctx, body)
}

// SendAgentMessage is SendMessage of an agent's reply: outgoing, not private.
func (s *Server) SendAgentMessage(ctx context.Context, id int64, sender, content string) (int, error) {
	return s.SendMessage(ctx, id, Message{Content: content, MessageType: "outgoing", SenderName: sender})
}

// Resolve resolves conversation id, as if in the dashboard, and sends the
// conversation_status_changed webhook; it returns the answer's status.
func (s *Server) Resolve(ctx context.Context, id int64) (int, error) {
	s.mu.Lock()
	c := s.find(id)
	if c == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("chatwootfake: no conversation %d", id)
	}
	c.Status = "resolved"
	payload := withEvent(s.conversationData(c), "conversation_status_changed")
	s.signal()
	s.mu.Unlock()
	body, _ := json.Marshal(payload)
	return s.Deliver(ctx, body)
}
