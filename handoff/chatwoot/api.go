package chatwoot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// client calls Chatwoot's Application API for one account and inbox with
// one access token (see the package comment for the endpoints).
type client struct {
	base    string // BaseURL without a trailing slash
	account int64
	inbox   int64
	token   string // never logged nor put in an error
	http    *http.Client
	now     func() time.Time
}

// maxResponse caps how much of a Chatwoot answer is read.
const maxResponse = 1 << 20

// apiError is a Chatwoot answer outside 2xx.
type apiError struct {
	Method, Path string
	Status       int
	Body         string // the start of the answer, for the log
	// RetryAfter is the answer's Retry-After; zero when absent.
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("chatwoot: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Body)
}

// finalError is an error that retrying cannot fix (an answer that does not
// decode, a missing field).
type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }
func (e finalError) Unwrap() error { return e.err }

// retryable reports whether err may go away on another try: network errors,
// 429 and 5xx except 501.
func retryable(err error) bool {
	var ae *apiError
	var fe finalError
	switch {
	case errors.As(err, &ae):
		return ae.Status == http.StatusTooManyRequests || (ae.Status >= 500 && ae.Status != http.StatusNotImplemented)
	case errors.As(err, &fe), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

// do sends in as JSON and decodes a 2xx answer into out (when not nil).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return finalError{fmt.Errorf("chatwoot: %s %s: %w", method, path, err)}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return finalError{fmt.Errorf("chatwoot: %s %s: %w", method, path, err)}
	}
	req.Header.Set("api_access_token", c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "understudy/"+understudy.Version)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("chatwoot: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := strings.TrimSpace(string(b))
		if len(snippet) > 300 {
			snippet = snippet[:300] + "…"
		}
		return &apiError{Method: method, Path: path, Status: resp.StatusCode, Body: snippet,
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	}
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: reading the answer: %w", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return finalError{fmt.Errorf("chatwoot: %s %s: decoding the answer: %w", method, path, err)}
		}
	}
	return nil
}

// retryAfter reads a Retry-After header, seconds or an HTTP date; zero when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (c *client) accountPath(format string, args ...any) string {
	return fmt.Sprintf("/api/v1/accounts/%d", c.account) + fmt.Sprintf(format, args...)
}

// createContact makes a contact in the inbox and returns its id and the
// source id of its contact inbox, which a conversation needs.
func (c *client) createContact(ctx context.Context, name string, attrs map[string]any) (int64, string, error) {
	var out struct {
		Payload struct {
			Contact struct {
				ID int64 `json:"id"`
			} `json:"contact"`
			ContactInbox struct {
				SourceID string `json:"source_id"`
			} `json:"contact_inbox"`
		} `json:"payload"`
	}
	path := c.accountPath("/contacts")
	in := map[string]any{"inbox_id": c.inbox, "name": name, "additional_attributes": attrs}
	if err := c.do(ctx, http.MethodPost, path, in, &out); err != nil {
		return 0, "", err
	}
	if out.Payload.Contact.ID == 0 || out.Payload.ContactInbox.SourceID == "" {
		return 0, "", finalError{fmt.Errorf("chatwoot: POST %s: the answer has no payload.contact.id or payload.contact_inbox.source_id", path)}
	}
	return out.Payload.Contact.ID, out.Payload.ContactInbox.SourceID, nil
}

// createConversation opens a conversation for the contact in the inbox and
// returns its id.
func (c *client) createConversation(ctx context.Context, contactID int64, sourceID string, custom, additional map[string]any) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	path := c.accountPath("/conversations")
	in := map[string]any{"source_id": sourceID, "inbox_id": c.inbox, "contact_id": contactID, "status": "open",
		"custom_attributes": custom, "additional_attributes": additional}
	if err := c.do(ctx, http.MethodPost, path, in, &out); err != nil {
		return 0, err
	}
	if out.ID == 0 {
		return 0, finalError{fmt.Errorf("chatwoot: POST %s: the answer has no id", path)}
	}
	return out.ID, nil
}

// Message types of the messages API.
const (
	messageIncoming = "incoming" // from the contact: the end user
	messageOutgoing = "outgoing" // from the desk; with private, a note only agents see
)

// createMessage adds a message to conversation id.
func (c *client) createMessage(ctx context.Context, id int64, content, messageType string, private bool) error {
	in := map[string]any{"content": content, "message_type": messageType, "private": private}
	return c.do(ctx, http.MethodPost, c.accountPath("/conversations/%d/messages", id), in, nil)
}

// resolve sets conversation id's status to resolved.
func (c *client) resolve(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, c.accountPath("/conversations/%d/toggle_status", id),
		map[string]any{"status": "resolved"}, nil)
}
