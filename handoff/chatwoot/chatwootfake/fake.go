// Package chatwootfake is a fake Chatwoot for tests: the Application API
// endpoints the connector in handoff/chatwoot uses, with the validation the
// docs describe, a record of every request, and webhooks sent as Chatwoot
// sends them (signed, same payload shapes).
//
// Endpoints (header api_access_token required: 401 without it or with
// another token; 404 for another account or an unknown conversation; 400
// for a missing or invalid field):
//
//	POST /api/v1/accounts/{account_id}/contacts                        inbox_id required
//	POST /api/v1/accounts/{account_id}/conversations                   source_id required, of a contact of the inbox
//	POST /api/v1/accounts/{account_id}/conversations/{id}/messages     content required; message_type incoming | outgoing
//	POST /api/v1/accounts/{account_id}/conversations/{id}/toggle_status status open | resolved | pending | snoozed
//
// FailNext makes the next calls fail (500, 429 with Retry-After…) before
// any validation. Wait blocks until a condition on the recorded state holds.
package chatwootfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

var _ http.Handler = (*Server)(nil)

// Delivery is one webhook the fake sent.
type Delivery struct {
	Body   []byte
	Status int // what the webhook URL answered; 0 when the request failed
}

// Request is one API call the fake received.
type Request struct {
	Method, Path string
	Status       int    // what the fake answered
	Body         string // the request body
}

// Contact is a contact made through the API.
type Contact struct {
	ID                   int64
	Name                 string
	InboxID              int64
	SourceID             string // of its contact inbox
	AdditionalAttributes map[string]any
}

// Conversation is a conversation and its messages.
type Conversation struct {
	ID                   int64 // the display id, as in the API's paths
	InboxID              int64
	ContactID            int64
	SourceID             string
	Status               string // open | resolved | pending | snoozed
	CustomAttributes     map[string]any
	AdditionalAttributes map[string]any
	Messages             []Message
}

// Message is one message of a conversation.
type Message struct {
	ID          int64
	Content     string
	MessageType string // incoming | outgoing | activity | template
	Private     bool
	SenderName  string // for outgoing messages sent with SendMessage
}

// Server is the fake. Set the exported fields before the first request and
// do not change them after.
type Server struct {
	Token     string // the api_access_token it accepts
	AccountID int64
	InboxID   int64
	// WebhookURL and WebhookSecret: where and how webhooks are sent.
	WebhookURL    string
	WebhookSecret string
	// Now stamps the webhooks' X-Chatwoot-Timestamp; nil means time.Now.
	Now func() time.Time
	// Echo sends, as Chatwoot does, webhooks for the changes made through
	// the API (message_created, conversation_created,
	// conversation_status_changed), asynchronously; Close waits for them.
	Echo bool

	mux    *http.ServeMux
	client *http.Client
	echoes sync.WaitGroup

	mu            sync.Mutex
	requests      []Request
	contacts      []Contact
	conversations []*Conversation
	nextMessage   int64
	failures      []failure
	deliveries    []Delivery
	changed       chan struct{}
}

type failure struct {
	status     int
	retryAfter string
}

// New returns a fake for one account and one API inbox.
func New(token string, accountID, inboxID int64) *Server {
	s := &Server{Token: token, AccountID: accountID, InboxID: inboxID, changed: make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /api/v1/accounts/{account}/contacts", s.createContact)
	s.mux.HandleFunc("POST /api/v1/accounts/{account}/conversations", s.createConversation)
	s.mux.HandleFunc("POST /api/v1/accounts/{account}/conversations/{id}/messages", s.createMessage)
	s.mux.HandleFunc("POST /api/v1/accounts/{account}/conversations/{id}/toggle_status", s.toggleStatus)
	return s
}

// Close waits for the echoed webhooks and closes idle connections.
func (s *Server) Close() {
	s.echoes.Wait()
	s.client.CloseIdleConnections()
}

// FailNext makes the next n API calls answer status (e.g. 500, 429), with
// a Retry-After header when retryAfter is not empty.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, retryAfter})
	}
}

// recorder holds an answer until the request is recorded, so that a
// client never sees an answer before Requests does.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: rec.status, Body: string(body)})
		s.signal()
		s.mu.Unlock()
		maps.Copy(w.Header(), rec.header)
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}()
	s.mu.Lock()
	var f *failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	switch {
	case f != nil:
		if f.retryAfter != "" {
			rec.Header().Set("Retry-After", f.retryAfter)
		}
		writeJSON(rec, f.status, map[string]any{"error": http.StatusText(f.status)})
	case r.Header.Get("api_access_token") == "" || r.Header.Get("api_access_token") != s.Token:
		writeJSON(rec, http.StatusUnauthorized, map[string]any{"errors": []string{"You need to sign in or sign up before continuing."}})
	default:
		s.mux.ServeHTTP(rec, r)
	}
}

// signal wakes Wait; s.mu is held.
func (s *Server) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond holds (it is checked after every change) or ctx
// ends. cond may call the fake's getters.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("chatwootfake: waiting: %w", ctx.Err())
		}
	}
}

// Requests returns the API calls received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Contacts returns the contacts made so far.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.contacts)
}

// Conversations returns copies of every conversation, by id.
func (s *Server) Conversations() []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Conversation
	for _, c := range s.conversations {
		out = append(out, copyConversation(c))
	}
	return out
}

// Conversation returns a copy of conversation id.
func (s *Server) Conversation(id int64) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(id)
	if c == nil {
		return Conversation{}, false
	}
	return copyConversation(c), true
}

// Deliveries returns the webhooks sent so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

func copyConversation(c *Conversation) Conversation {
	out := *c
	out.Messages = slices.Clone(c.Messages)
	out.CustomAttributes = maps.Clone(c.CustomAttributes)
	out.AdditionalAttributes = maps.Clone(c.AdditionalAttributes)
	return out
}

// find returns conversation id or nil; s.mu is held.
func (s *Server) find(id int64) *Conversation {
	for _, c := range s.conversations {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"error": "Resource could not be found"})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"message": msg})
}

// account checks the path's account; it writes 404 and returns false when
// it is not the fake's.
func (s *Server) account(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("account") != strconv.FormatInt(s.AccountID, 10) {
		notFound(w)
		return false
	}
	return true
}

// decode reads a JSON object body into v; it writes 400 and returns false
// when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		badRequest(w, "body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request) {
	if !s.account(w, r) {
		return
	}
	var in struct {
		InboxID              *int64         `json:"inbox_id"`
		Name                 string         `json:"name"`
		AdditionalAttributes map[string]any `json:"additional_attributes"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.InboxID == nil {
		badRequest(w, "inbox_id is required")
		return
	}
	if *in.InboxID != s.InboxID {
		notFound(w)
		return
	}
	s.mu.Lock()
	ct := Contact{ID: int64(len(s.contacts) + 1), Name: in.Name, InboxID: *in.InboxID,
		AdditionalAttributes: in.AdditionalAttributes}
	ct.SourceID = fmt.Sprintf("source-%d-%d", s.InboxID, ct.ID)
	s.contacts = append(s.contacts, ct)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"payload": map[string]any{
		"contact":       map[string]any{"id": ct.ID, "name": ct.Name, "additional_attributes": ct.AdditionalAttributes},
		"contact_inbox": map[string]any{"inbox": map[string]any{"id": s.InboxID}, "source_id": ct.SourceID},
	}})
}

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request) {
	if !s.account(w, r) {
		return
	}
	var in struct {
		SourceID             string         `json:"source_id"`
		InboxID              int64          `json:"inbox_id"`
		ContactID            int64          `json:"contact_id"`
		Status               string         `json:"status"`
		CustomAttributes     map[string]any `json:"custom_attributes"`
		AdditionalAttributes map[string]any `json:"additional_attributes"`
	}
	if !decode(w, r, &in) {
		return
	}
	switch in.Status {
	case "":
		in.Status = "open"
	case "open", "resolved", "pending":
	default:
		badRequest(w, "status must be open, resolved or pending")
		return
	}
	if in.SourceID == "" {
		badRequest(w, "source_id is required")
		return
	}
	s.mu.Lock()
	var contact *Contact
	for i := range s.contacts {
		if s.contacts[i].SourceID == in.SourceID {
			contact = &s.contacts[i]
		}
	}
	if contact == nil || (in.InboxID != 0 && in.InboxID != contact.InboxID) || (in.ContactID != 0 && in.ContactID != contact.ID) {
		s.mu.Unlock()
		notFound(w)
		return
	}
	c := &Conversation{ID: int64(len(s.conversations) + 1), InboxID: contact.InboxID, ContactID: contact.ID,
		SourceID: in.SourceID, Status: in.Status, CustomAttributes: in.CustomAttributes,
		AdditionalAttributes: in.AdditionalAttributes}
	s.conversations = append(s.conversations, c)
	payload := s.conversationData(c)
	s.mu.Unlock()
	s.echo(withEvent(payload, "conversation_created"))
	writeJSON(w, http.StatusOK, map[string]any{"id": c.ID, "account_id": s.AccountID, "inbox_id": c.InboxID})
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	if !s.account(w, r) {
		return
	}
	var in struct {
		Content     *string `json:"content"`
		MessageType string  `json:"message_type"`
		Private     bool    `json:"private"`
	}
	if !decode(w, r, &in) {
		return
	}
	switch {
	case in.Content == nil || *in.Content == "":
		badRequest(w, "content is required")
		return
	case in.MessageType == "":
		in.MessageType = "outgoing"
	case in.MessageType != "incoming" && in.MessageType != "outgoing":
		badRequest(w, "message_type must be incoming or outgoing")
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	c := s.find(id)
	if c == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	s.nextMessage++
	m := Message{ID: s.nextMessage, Content: *in.Content, MessageType: in.MessageType, Private: in.Private}
	c.Messages = append(c.Messages, m)
	payload := s.messageData(c, m)
	s.mu.Unlock()
	s.echo(payload)
	writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "content": m.Content, "message_type": m.MessageType,
		"private": m.Private, "conversation_id": c.ID})
}

func (s *Server) toggleStatus(w http.ResponseWriter, r *http.Request) {
	if !s.account(w, r) {
		return
	}
	var in struct {
		Status string `json:"status"`
	}
	if !decode(w, r, &in) {
		return
	}
	switch in.Status {
	case "open", "resolved", "pending", "snoozed":
	default:
		badRequest(w, "status is required: open, resolved, pending or snoozed")
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	c := s.find(id)
	if c == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	changed := c.Status != in.Status
	c.Status = in.Status
	payload := s.conversationData(c)
	s.mu.Unlock()
	if changed {
		s.echo(withEvent(payload, "conversation_status_changed"))
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{},
		"payload": map[string]any{"success": true, "current_status": in.Status, "conversation_id": id}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
