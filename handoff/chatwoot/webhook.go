package chatwoot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/handoff"
)

// Webhook limits.
const (
	// MaxWebhookBody caps a webhook's body; larger ones get 413.
	MaxWebhookBody = 1 << 20
	// SignatureTolerance is how far X-Chatwoot-Timestamp may be from the
	// clock, either way (Chatwoot advises about five minutes).
	SignatureTolerance = 5 * time.Minute
)

// Signature headers of Chatwoot's webhooks.
const (
	headerSignature = "X-Chatwoot-Signature"
	headerTimestamp = "X-Chatwoot-Timestamp"
)

// Webhook returns the handler for Chatwoot's webhooks (see the package
// comment), to mount on the path given to Chatwoot as the webhook URL,
// POST only. It answers 200 with {"status":"relayed"} or
// {"status":"ignored","reason":…}; 401, 400 and 413 for unsigned, malformed
// and oversized requests; 500 when our side failed (Chatwoot retries).
func (c *Connector) Webhook() http.Handler { return http.HandlerFunc(c.serveWebhook) }

// webhookEvent is the part of a webhook payload the connector reads. For
// message_created the top level is the message; for the conversation events
// it is the conversation.
type webhookEvent struct {
	Event       string      `json:"event"`
	ID          flexInt     `json:"id"`
	Content     string      `json:"content"`
	MessageType messageType `json:"message_type"`
	Private     bool        `json:"private"`
	Status      string      `json:"status"`
	InboxID     flexInt     `json:"inbox_id"`
	Sender      struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"sender"`
	Attachments []struct {
		DataURL string `json:"data_url"`
	} `json:"attachments"`
	Conversation struct {
		ID      flexInt `json:"id"`
		InboxID flexInt `json:"inbox_id"`
	} `json:"conversation"`
	Account struct {
		ID flexInt `json:"id"`
	} `json:"account"`
	AccountID flexInt `json:"account_id"` // conversation events
}

// account is the event's account id; 0 when it does not say.
func (ev webhookEvent) account() int64 {
	if ev.Account.ID != 0 {
		return int64(ev.Account.ID)
	}
	return int64(ev.AccountID)
}

func (c *Connector) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed", "use POST", "invalid_request_error"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.writeError(w, understudy.Errorf(understudy.ETOOLARGE, "body over %d bytes", MaxWebhookBody))
			return
		}
		c.writeError(w, understudy.Errorf(understudy.EINVALID, "reading the body: %v", err))
		return
	}
	if err := c.verify(r.Header, body); err != nil {
		c.log.Warn("chatwoot: webhook refused", "err", err, "remote", r.RemoteAddr)
		c.writeError(w, understudy.Errorf(understudy.EUNAUTHORIZED, "%v", err))
		return
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		c.writeError(w, understudy.Errorf(understudy.EINVALID, "body is not a Chatwoot webhook JSON object: %v", err))
		return
	}
	var reason string
	switch ev.Event {
	case "message_created":
		reason, err = c.inboundMessage(r.Context(), ev)
	case "conversation_status_changed", "conversation_resolved":
		reason, err = c.inboundStatus(r.Context(), ev)
	default:
		reason = fmt.Sprintf("event %q is not relayed", ev.Event)
	}
	if err != nil {
		c.writeError(w, err)
		return
	}
	if reason != "" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "relayed"})
}

// verify checks the signature headers against body.
func (c *Connector) verify(h http.Header, body []byte) error {
	ts, sig := h.Get(headerTimestamp), h.Get(headerSignature)
	if ts == "" || sig == "" {
		return fmt.Errorf("%s and %s are required", headerSignature, headerTimestamp)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not unix seconds", headerTimestamp, ts)
	}
	if skew := c.clock.Now().Sub(time.Unix(secs, 0)).Abs(); skew > SignatureTolerance {
		return fmt.Errorf("%s is %s away from our clock, more than %s", headerTimestamp, skew.Round(time.Second), SignatureTolerance)
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil || !strings.HasPrefix(sig, "sha256=") {
		return fmt.Errorf("%s is not sha256=<hex>", headerSignature)
	}
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%s does not match", headerSignature)
	}
	return nil
}

// inboundMessage relays an agent's message to our conversation. It returns
// why the message was ignored, or an error for a 5xx.
func (c *Connector) inboundMessage(ctx context.Context, ev webhookEvent) (string, error) {
	switch {
	case ev.MessageType != messageOutgoing:
		return fmt.Sprintf("message_type %q is not an agent's reply", ev.MessageType), nil
	case ev.Private:
		return "private note", nil
	}
	content := strings.TrimSpace(ev.Content)
	for _, a := range ev.Attachments {
		if a.DataURL != "" {
			content = strings.TrimSpace(content + "\n" + a.DataURL)
		}
	}
	if content == "" {
		return "empty message", nil
	}
	id, reason, err := c.ours(ctx, ev.account(), int64(ev.Conversation.InboxID), int64(ev.Conversation.ID))
	if reason != "" || err != nil {
		return reason, err
	}
	c.mu.Lock()
	fresh := c.seen.add(int64(ev.ID))
	c.mu.Unlock()
	if !fresh {
		return fmt.Sprintf("message %d already relayed", ev.ID), nil
	}
	reason, err = c.reply(ctx, id, content)
	if err != nil {
		c.mu.Lock()
		c.seen.remove(int64(ev.ID))
		c.mu.Unlock()
		return "", err
	}
	if reason == "" {
		c.log.Info("chatwoot: agent reply relayed", "conversation", id, "chatwoot_message", int64(ev.ID), "sender", ev.Sender.Name)
	}
	return reason, nil
}

// reply adds content as Agent's reply to conversation id, claiming it first
// when it is waiting.
func (c *Connector) reply(ctx context.Context, id int64, content string) (string, error) {
	conv, err := c.handoff.Conversation(ctx, id)
	if err != nil {
		return c.outcome(id, "read", err)
	}
	if conv.Status == handoff.StatusWaiting {
		conv, err = c.handoff.Claim(ctx, id, c.agent)
		if code(err) == understudy.ECONFLICT { // taken or closed meanwhile
			conv, err = c.handoff.Conversation(ctx, id)
		}
		if err != nil {
			return c.outcome(id, "claim", err)
		}
	}
	switch {
	case conv.Status == handoff.StatusClosed:
		return fmt.Sprintf("conversation %d is closed", id), nil
	case conv.Assignee != c.agent:
		c.log.Warn("chatwoot: reply refused, the conversation is assigned to someone else",
			"conversation", id, "assignee", conv.Assignee)
		return fmt.Sprintf("conversation %d is assigned to %q", id, conv.Assignee), nil
	}
	if _, err := c.handoff.Reply(ctx, id, c.agent, content); err != nil {
		return c.outcome(id, "reply to", err)
	}
	return "", nil
}

// inboundStatus closes our conversation when Chatwoot resolved its copy.
func (c *Connector) inboundStatus(ctx context.Context, ev webhookEvent) (string, error) {
	if ev.Status != "resolved" {
		return fmt.Sprintf("status %q", ev.Status), nil
	}
	id, reason, err := c.ours(ctx, ev.account(), int64(ev.InboxID), int64(ev.ID))
	if reason != "" || err != nil {
		return reason, err
	}
	c.mu.Lock()
	c.closing[id] = true
	c.mu.Unlock()
	if _, err := c.handoff.Close(ctx, id); err != nil {
		c.mu.Lock()
		delete(c.closing, id)
		c.mu.Unlock()
		return c.outcome(id, "close", err)
	}
	c.log.Info("chatwoot: conversation closed from Chatwoot", "conversation", id)
	return "", nil
}

// ours maps a Chatwoot conversation to ours. A conversation of another
// account or inbox, or not linked, gives a reason to ignore the event.
func (c *Connector) ours(ctx context.Context, account, inbox, cw int64) (int64, string, error) {
	switch {
	case account != 0 && account != c.api.account:
		return 0, fmt.Sprintf("account %d is not ours", account), nil
	case inbox != 0 && inbox != c.api.inbox:
		return 0, fmt.Sprintf("inbox %d is not ours", inbox), nil
	case cw <= 0:
		return 0, "no conversation id", nil
	}
	id, err := c.links.HandoffByLink(ctx, System, c.externalID(cw))
	if errors.Is(err, handoff.ErrNotFound) {
		return 0, fmt.Sprintf("chatwoot conversation %d is not a handoff", cw), nil
	}
	if err != nil {
		c.log.Error("chatwoot: reading a link", "chatwoot_conversation", cw, "err", err)
		return 0, "", understudy.Errorf(understudy.EINTERNAL, "internal error")
	}
	return id, "", nil
}

// outcome turns a Handoff error into a reason to ignore the event (the
// conversation's state does not allow it: retrying would not help) or an
// internal error (Chatwoot retries).
func (c *Connector) outcome(id int64, what string, err error) (string, error) {
	switch code(err) {
	case understudy.ECONFLICT, understudy.ENOTFOUND, understudy.EINVALID:
		return fmt.Sprintf("cannot %s conversation %d: %v", what, id, err), nil
	}
	c.log.Error("chatwoot: webhook could not "+what+" the conversation", "conversation", id, "err", err)
	return "", understudy.Errorf(understudy.EINTERNAL, "internal error")
}

func code(err error) string {
	var e *understudy.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// writeError writes err as {"error":{"message","type","code"}} with its
// (*understudy.Error).HTTPStatus; other errors are logged and shown as a
// generic internal error.
func (c *Connector) writeError(w http.ResponseWriter, err error) {
	var e *understudy.Error
	if !errors.As(err, &e) {
		c.log.Error("chatwoot: internal error", "err", err)
		e = &understudy.Error{Code: understudy.EINTERNAL, Message: "internal error"}
	}
	typ := "invalid_request_error"
	if e.HTTPStatus() >= 500 {
		typ = "server_error"
	}
	writeJSON(w, e.HTTPStatus(), errorBody(e.Code, e.Message, typ))
}

func errorBody(code, message, typ string) map[string]any {
	return map[string]any{"error": map[string]any{"message": message, "type": typ, "code": code}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// flexInt reads an id written as a JSON number or a numeric string (the
// docs' samples show both).
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("id %s is not an integer", b)
	}
	*n = flexInt(v)
	return nil
}

// messageType reads message_type, a name in webhook payloads ("incoming",
// "outgoing", "activity", "template") and its enum number in some nested
// objects (0…3).
type messageType string

func (t *messageType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = messageType(s)
		return nil
	}
	var n *int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("message_type %s is neither a name nor a number", b)
	}
	names := []string{"incoming", "outgoing", "activity", "template"}
	switch {
	case n == nil:
		*t = ""
	case *n >= 0 && *n < len(names):
		*t = messageType(names[*n])
	default:
		*t = messageType(strconv.Itoa(*n))
	}
	return nil
}
