package simulate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Fault kinds. Each is the exact string used in JSON, in the control API and
// in the -fault flag. They are described for the OpenAI-compatible endpoints;
// on the Anthropic Messages endpoint each answers in Anthropic's shape (see
// anthropicErrorFor): "chunks" are text_delta events, no_done leaves out
// message_stop, and error_event sends an overloaded_error event right after
// message_start.
const (
	// KindStatus answers with Fault.Status and an OpenAI error body built from
	// Code and Type.
	KindStatus = "status"
	// KindRateLimit answers 429, type "requests", code "rate_limit_exceeded".
	KindRateLimit = "rate_limit"
	// KindQuota answers 429, type and code "insufficient_quota": waiting never helps.
	KindQuota = "quota"
	// KindOverloaded answers 503 "The server is overloaded or not ready yet.".
	KindOverloaded = "overloaded"
	// KindServerError answers 500, type "server_error".
	KindServerError = "server_error"
	// KindUnauthorized answers 401, code "invalid_api_key".
	KindUnauthorized = "unauthorized"
	// KindReset resets the TCP connection before any response header.
	KindReset = "reset"
	// KindHang accepts the request and never answers, until the client gives up
	// or the simulator is closed; then the connection is aborted.
	KindHang = "hang"
	// KindSlowFirstToken waits Delay before the response headers (non-stream) or
	// after the headers and before the first chunk (stream).
	KindSlowFirstToken = "slow_first_token"
	// KindCut aborts a stream after AfterChunks content chunks, without
	// [DONE]; a non-stream request is reset.
	KindCut = "cut"
	// KindStall stops a stream after AfterChunks content chunks and holds the
	// connection open; a non-stream request hangs.
	KindStall = "stall"
	// KindMalformedChunk sends one data line of invalid JSON after AfterChunks
	// content chunks and then finishes normally; a non-stream request gets a
	// 200 with a truncated JSON body.
	KindMalformedChunk = "malformed_chunk"
	// KindNoDone finishes a stream cleanly but without "data: [DONE]". Only
	// stream requests are affected.
	KindNoDone = "no_done"
	// KindErrorEvent answers 200 and sends an error object as the first data
	// line of a stream (a non-stream request gets the error object as a 200 body).
	KindErrorEvent = "error_event"
	// KindContextLength answers 400, code "context_length_exceeded".
	KindContextLength = "context_length"
	// KindContentFilter answers 400, code "content_policy_violation".
	KindContentFilter = "content_filter"
	// KindRejectPrefill answers 400 to requests whose last message has role
	// "assistant"; other requests are served normally and not counted.
	KindRejectPrefill = "reject_prefill"
	// KindInvalidRequest answers a generic 400 invalid_request_error.
	KindInvalidRequest = "invalid_request"
	// KindOverlap answers normally, except that a continuation (see
	// Continuation) first repeats the last Overlap words (0 means
	// DefaultOverlap) of the partial answer, as models do. Only continuations
	// are affected.
	KindOverlap = "overlap"
)

// Kinds returns every fault kind.
func Kinds() []string {
	return []string{
		KindStatus, KindRateLimit, KindQuota, KindOverloaded, KindServerError,
		KindUnauthorized, KindReset, KindHang, KindSlowFirstToken, KindCut,
		KindStall, KindMalformedChunk, KindNoDone, KindErrorEvent,
		KindContextLength, KindContentFilter, KindRejectPrefill, KindInvalidRequest,
		KindOverlap,
	}
}

// Defaults applied when a Fault field is zero.
const (
	DefaultAfterChunks    = 3
	DefaultSlowTokenDelay = 5 * time.Second
	DefaultOverlap        = 2
)

// Fault describes how a provider misbehaves.
type Fault struct {
	// Kind is one of Kinds(). Required.
	Kind string `json:"kind"`
	// Status is the HTTP status for kind "status" (required there, 400–599).
	// For the other kinds that answer with an error status it overrides the
	// default (e.g. 529 for an Anthropic-style "overloaded"); 0 keeps it.
	Status int `json:"status,omitempty"`
	// Code is the error body's "code"; "" keeps the kind's default (null for
	// kind "status").
	Code string `json:"code,omitempty"`
	// Type is the error body's "type"; "" keeps the kind's default.
	Type string `json:"type,omitempty"`
	// RetryAfter is sent as the Retry-After header when non-empty.
	RetryAfter string `json:"retry_after,omitempty"`
	// Count limits the fault to the next Count requests it affects, after
	// which the provider is healthy again; 0 means until cleared.
	Count int `json:"count,omitempty"`
	// Delay is the extra wait of kind "slow_first_token"; 0 means 5s.
	Delay Duration `json:"delay,omitempty"`
	// AfterChunks is how many content chunks cut, stall and malformed_chunk
	// let through first; 0 means 3. It is capped at the answer's length.
	AfterChunks int `json:"after_chunks,omitempty"`
	// Model limits the fault to requests for this model; "" means every model.
	Model string `json:"model,omitempty"`
	// Overlap is how many words of the partial answer a continuation repeats
	// before the rest (see Continuation). Kind "overlap" takes 0 as
	// DefaultOverlap; the other kinds that still answer (slow_first_token,
	// cut, stall, malformed_chunk, no_done) take 0 as none, and the rest
	// reject a non-zero Overlap.
	Overlap int `json:"overlap,omitempty"`
}

// Step is one stage of a schedule: Fault (nil means healthy) holds for For.
type Step struct {
	Fault *Fault   `json:"fault"`
	For   Duration `json:"for"`
}

// Duration is a time.Duration written in JSON as a string such as "2s".
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}

// String returns the duration as time.Duration formats it.
func (d Duration) String() string { return time.Duration(d).String() }

// ValidationError names the field of a fault or schedule that is wrong.
type ValidationError struct {
	Field  string // JSON path, e.g. "kind" or "steps[1].fault.status"
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func (e *ValidationError) within(prefix string) *ValidationError {
	return &ValidationError{Field: prefix + "." + e.Field, Reason: e.Reason}
}

// Validate reports the first field of f that cannot be used.
func (f Fault) Validate() error {
	if err := f.validate(); err != nil {
		return err
	}
	return nil
}

func (f Fault) validate() *ValidationError {
	bad := func(field, format string, args ...any) *ValidationError {
		return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	known := false
	for _, k := range Kinds() {
		known = known || k == f.Kind
	}
	switch {
	case f.Kind == "":
		return bad("kind", "required; valid kinds: %s", strings.Join(Kinds(), ", "))
	case !known:
		return bad("kind", "%q is not a fault kind; valid kinds: %s", f.Kind, strings.Join(Kinds(), ", "))
	case f.Kind == KindStatus && f.Status == 0:
		return bad("status", "required for kind %q (an HTTP error status, 400-599)", KindStatus)
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return bad("status", "%d is not an HTTP error status (400-599)", f.Status)
	case f.Status != 0 && !statusKind(f.Kind):
		return bad("status", "kind %q does not answer with an error status", f.Kind)
	case f.Count < 0:
		return bad("count", "%d is negative (0 means until cleared)", f.Count)
	case f.Delay < 0:
		return bad("delay", "%s is negative", f.Delay)
	case f.AfterChunks < 0:
		return bad("after_chunks", "%d is negative", f.AfterChunks)
	case f.Overlap < 0:
		return bad("overlap", "%d is negative", f.Overlap)
	case f.Overlap != 0 && !answerKind(f.Kind):
		return bad("overlap", "kind %q sends no answer to overlap", f.Kind)
	case strings.ContainsFunc(f.RetryAfter, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return bad("retry_after", "%q contains control characters", f.RetryAfter)
	}
	return nil
}

// statusKind reports whether kind answers with an HTTP error status.
func statusKind(kind string) bool {
	switch kind {
	case KindStatus, KindRateLimit, KindQuota, KindOverloaded, KindServerError,
		KindUnauthorized, KindContextLength, KindContentFilter, KindRejectPrefill,
		KindInvalidRequest:
		return true
	}
	return false
}

// answerKind reports whether kind still sends (part of) an answer.
func answerKind(kind string) bool {
	switch kind {
	case KindOverlap, KindSlowFirstToken, KindCut, KindStall, KindMalformedChunk, KindNoDone:
		return true
	}
	return false
}

// overlap returns how many words a continuation repeats under f.
func (f Fault) overlap() int {
	if f.Kind == KindOverlap && f.Overlap == 0 {
		return DefaultOverlap
	}
	return f.Overlap
}

func (f Fault) afterChunks(words int) int {
	n := f.AfterChunks
	if n == 0 {
		n = DefaultAfterChunks
	}
	return min(n, words)
}

func (f Fault) delay() time.Duration {
	if f.Kind != KindSlowFirstToken {
		return 0
	}
	if f.Delay == 0 {
		return DefaultSlowTokenDelay
	}
	return time.Duration(f.Delay)
}

// target says what a request is, so a fault can decide whether it applies.
type target struct {
	model        string
	stream       bool
	prefill      bool // the last message has role "assistant"
	continuation bool // the request continues a partial answer (see plan)
	listing      bool // GET /v1/models rather than a chat completion
}

// appliesTo reports whether f changes the answer to t.
func (f Fault) appliesTo(t target) bool {
	if f.Model != "" && f.Model != t.model {
		return false
	}
	switch f.Kind {
	case KindRejectPrefill:
		return t.prefill && !t.listing
	case KindNoDone:
		return t.stream && !t.listing
	case KindOverlap:
		return t.continuation && !t.listing
	case KindCut, KindStall, KindMalformedChunk, KindErrorEvent,
		KindContextLength, KindContentFilter, KindInvalidRequest:
		return !t.listing
	}
	return true
}

// apiError is an error answer in OpenAI's shape.
type apiError struct {
	Status     int
	Message    string
	Type       string
	Param      string // "" is sent as null
	Code       string // "" is sent as null
	RetryAfter string
}

func (e apiError) body() []byte {
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	type body struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	b, _ := json.Marshal(struct {
		Error body `json:"error"`
	}{body{e.Message, e.Type, orNull(e.Param), orNull(e.Code)}})
	return b
}

// errorFor builds the error answer of an error-status fault (or of
// error_event, as the stream's error object).
func errorFor(f Fault, model string, promptTokens int) apiError {
	var e apiError
	switch f.Kind {
	case KindStatus:
		e = apiError{Status: f.Status, Type: "invalid_request_error",
			Message: fmt.Sprintf("Simulated error: %d %s.", f.Status, http.StatusText(f.Status))}
		if f.Status >= 500 {
			e.Type = "server_error"
		}
	case KindRateLimit:
		e = apiError{Status: 429, Type: "requests", Code: "rate_limit_exceeded",
			Message: fmt.Sprintf("Rate limit reached for %s in organization org-sim on requests per min (RPM): "+
				"Limit 3, Used 3, Requested 1. Please try again later. "+
				"Visit https://platform.openai.com/account/rate-limits to learn more.", model)}
	case KindQuota:
		e = apiError{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
			Message: "You exceeded your current quota, please check your plan and billing details. " +
				"For more information on this error, read the docs: " +
				"https://platform.openai.com/docs/guides/error-codes/api-errors."}
	case KindOverloaded:
		e = apiError{Status: 503, Type: "server_error", Message: "The server is overloaded or not ready yet."}
	case KindServerError, KindErrorEvent:
		e = apiError{Status: 500, Type: "server_error",
			Message: "The server had an error while processing your request. Sorry about that!"}
	case KindUnauthorized:
		e = invalidKey("sk-sim-revoked")
	case KindContextLength:
		e = apiError{Status: 400, Type: "invalid_request_error", Param: "messages", Code: "context_length_exceeded",
			Message: fmt.Sprintf("This model's maximum context length is 8192 tokens. However, your messages "+
				"resulted in %d tokens. Please reduce the length of the messages.", max(promptTokens, 8193))}
	case KindContentFilter:
		e = apiError{Status: 400, Type: "invalid_request_error", Code: "content_policy_violation",
			Message: "Your request was rejected as a result of our safety system. " +
				"Your prompt may contain text that is not allowed by our safety system."}
	case KindRejectPrefill:
		e = apiError{Status: 400, Type: "invalid_request_error", Param: "messages",
			Message: "This model does not support assistant message prefill. " +
				"The conversation must end with a user message."}
	default: // KindInvalidRequest
		e = apiError{Status: 400, Type: "invalid_request_error",
			Message: "Invalid request: the simulator was told to reject this request."}
	}
	if f.Status != 0 {
		e.Status = f.Status
	}
	if f.Code != "" {
		e.Code = f.Code
	}
	if f.Type != "" {
		e.Type = f.Type
	}
	e.RetryAfter = f.RetryAfter
	return e
}

// invalidKey is OpenAI's answer to a wrong API key; shown is a masked form of it.
func invalidKey(key string) apiError {
	shown := "(none)"
	if len(key) > 8 {
		shown = key[:4] + "*****" + key[len(key)-4:]
	} else if key != "" {
		shown = "*****"
	}
	return apiError{Status: 401, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "Incorrect API key provided: " + shown +
			". You can find your API key at https://platform.openai.com/account/api-keys."}
}
