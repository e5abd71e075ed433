package simulate

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The Anthropic Messages API fake, at POST /{provider}/v1/messages: the same
// providers, faults, Stats and answers as the OpenAI-compatible endpoints, in
// Anthropic's wire format (https://docs.anthropic.com/en/api/messages).
//
// A request needs the anthropic-version header, and the provider's key (if
// Options.Keys has one) in x-api-key. Its body needs model, max_tokens and
// messages. It is normalised to the Messages the answer is derived from: a
// non-empty system (a string, or text blocks joined with "\n") becomes a
// leading "system" message, then each message keeps its role and its text
// (a string, or its "text" blocks joined with "\n"; other blocks are
// ignored). So an OpenAI request with one leading system message and its
// Anthropic translation get the same answer. A final assistant message is a
// prefill: the response holds only the continuation (see Continuation).
// max_tokens is honoured: an answer longer than it is cut to max_tokens words
// with stop_reason "max_tokens".

// anthropicVersion is the header every request must carry.
const anthropicVersion = "anthropic-version"

// anthropicError is an error answer in Anthropic's shape:
// {"type":"error","error":{"type":…,"message":…},"request_id":…}.
type anthropicError struct {
	Status     int
	Type       string
	Message    string
	RetryAfter string
}

// body returns the error object; requestID "" leaves request_id out, as in
// a stream's error event.
func (e anthropicError) body(requestID string) []byte {
	type detail struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Type      string `json:"type"`
		Error     detail `json:"error"`
		RequestID string `json:"request_id,omitempty"`
	}{"error", detail{e.Type, e.Message}, requestID})
	return b
}

func invalidAnthropic(format string, args ...any) *anthropicError {
	return &anthropicError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: fmt.Sprintf(format, args...)}
}

// anthropicType is the error type Anthropic uses for an HTTP status.
func anthropicType(status int) string {
	switch status {
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// anthropicErrorFor builds the Anthropic error answer of an error-status fault
// (or of error_event, as the stream's error event). Fault.Status and Type
// override the defaults; Fault.Code has no place in Anthropic's shape.
func anthropicErrorFor(f Fault, promptTokens int) anthropicError {
	var e anthropicError
	switch f.Kind {
	case KindStatus:
		e = anthropicError{Status: f.Status, Type: anthropicType(f.Status),
			Message: fmt.Sprintf("Simulated error: %d %s.", f.Status, http.StatusText(f.Status))}
	case KindRateLimit:
		e = anthropicError{Status: 429, Type: "rate_limit_error",
			Message: "This request would exceed the rate limit for your organization of 50 requests per minute. " +
				"For details, refer to: https://docs.claude.com/en/api/rate-limits."}
	case KindQuota: // what Anthropic answers when prepaid credits run out
		e = anthropicError{Status: 400, Type: "invalid_request_error",
			Message: "Your credit balance is too low to access the Anthropic API. " +
				"Please go to Plans & Billing to upgrade or purchase credits."}
	case KindOverloaded, KindErrorEvent:
		e = anthropicError{Status: 529, Type: "overloaded_error", Message: "Overloaded"}
	case KindServerError:
		e = anthropicError{Status: 500, Type: "api_error", Message: "Internal server error"}
	case KindUnauthorized:
		e = anthropicError{Status: 401, Type: "authentication_error", Message: "invalid x-api-key"}
	case KindContextLength:
		e = *invalidAnthropic("prompt is too long: %d tokens > 200000 maximum", max(promptTokens, 200001))
	case KindContentFilter:
		e = *invalidAnthropic("Output blocked by content filtering policy")
	case KindRejectPrefill:
		e = *invalidAnthropic("This model does not support assistant message prefill. " +
			"The conversation must end with a user message.")
	default: // KindInvalidRequest
		e = *invalidAnthropic("Invalid request: the simulator was told to reject this request.")
	}
	if f.Status != 0 {
		e.Status = f.Status
	}
	if f.Type != "" {
		e.Type = f.Type
	}
	e.RetryAfter = f.RetryAfter
	return e
}

func (s *Simulator) writeAnthropicError(w http.ResponseWriter, e anthropicError) {
	if e.RetryAfter != "" {
		w.Header().Set("Retry-After", e.RetryAfter)
	}
	id := s.requestID()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", id)
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(e.body(id), '\n'))
}

// anthropicAuthorized checks the provider's key, if it has one, in x-api-key.
func (s *Simulator) anthropicAuthorized(provider string, r *http.Request) bool {
	want, ok := s.keys[provider]
	got := r.Header.Get("x-api-key")
	return !ok || got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Simulator) handleMessages(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	p, ok := s.providers[name]
	if !ok {
		s.writeAnthropicError(w, anthropicError{Status: http.StatusNotFound, Type: "not_found_error",
			Message: fmt.Sprintf("Unknown provider %q: this simulator serves %s.", name, strings.Join(s.names, ", "))})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		p.arrive(nil, false, chatRequest{})
		p.outcome(OutcomeBadRequest)
		e := invalidAnthropic("Could not read the request body: %v", err)
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			e.Status, e.Type = http.StatusRequestEntityTooLarge, "request_too_large"
		}
		s.writeAnthropicError(w, *e)
		return
	}
	req, bad := parseMessages(body)
	p.arrive(body, json.Valid(body), req)
	if !s.anthropicAuthorized(p.name, r) {
		p.outcome(OutcomeInvalidKey)
		s.writeAnthropicError(w, anthropicError{Status: http.StatusUnauthorized, Type: "authentication_error",
			Message: "invalid x-api-key"})
		return
	}
	if r.Header.Get(anthropicVersion) == "" {
		bad = invalidAnthropic("anthropic-version: header is required")
	}
	if bad != nil {
		p.outcome(OutcomeBadRequest)
		s.writeAnthropicError(w, *bad)
		return
	}
	s.serve(w, r, p, req, wire{
		name:     "messages request",
		errorFor: func(f Fault, promptTokens int) { s.writeAnthropicError(w, anthropicErrorFor(f, promptTokens)) },
		respond:  s.respondMessages,
	})
}

// parseMessages reads a Messages API body and normalises it (see above). It
// returns what it could read even with an error; messages are named as
// Anthropic names them ("messages.1.role").
func parseMessages(body []byte) (chatRequest, *anthropicError) {
	var in struct {
		Model     string          `json:"model"`
		MaxTokens *int            `json:"max_tokens"`
		System    json.RawMessage `json:"system"`
		Messages  *[]struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Stream bool `json:"stream"`
	}
	err := json.Unmarshal(body, &in)
	req := chatRequest{Model: in.Model, Stream: in.Stream}
	if in.MaxTokens != nil {
		req.MaxTokens = *in.MaxTokens
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return req, invalidAnthropic("The request body must be a JSON object.")
		}
		return req, invalidAnthropic("%s: Input should be %s", te.Field, kindName(te.Type.Kind().String()))
	}
	if err != nil {
		return req, invalidAnthropic("There was an error parsing the body of your request as JSON: %v", err)
	}
	switch {
	case in.Model == "":
		return req, invalidAnthropic("model: Field required")
	case in.MaxTokens == nil:
		return req, invalidAnthropic("max_tokens: Field required")
	case *in.MaxTokens < 1:
		return req, invalidAnthropic("max_tokens: Input should be greater than or equal to 1")
	case in.Messages == nil:
		return req, invalidAnthropic("messages: Field required")
	case len(*in.Messages) == 0:
		return req, invalidAnthropic("messages: at least one message is required")
	}
	system, ok := contentText(in.System)
	if !ok {
		return req, invalidAnthropic("system: Input should be a valid string or a list of text blocks")
	}
	if system != "" {
		req.Messages = append(req.Messages, Message{Role: "system", Content: system})
	}
	for i, m := range *in.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return req, invalidAnthropic("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if len(m.Content) == 0 {
			return req, invalidAnthropic("messages.%d.content: Field required", i)
		}
		text, ok := contentText(m.Content)
		if !ok {
			return req, invalidAnthropic("messages.%d.content: Input should be a valid string or a list of content blocks", i)
		}
		req.Messages = append(req.Messages, Message{Role: m.Role, Content: text})
	}
	return req, nil
}
