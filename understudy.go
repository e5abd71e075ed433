// Package understudy holds the domain vocabulary shared by every other package:
// application errors, failure classes of upstream attempts, and the events the
// gateway emits. See ../shared/DESIGN.md for the words.
package understudy

import (
	"fmt"
	"time"
)

// Version is set at build time with -ldflags "-X github.com/understudy/understudy.Version=…".
var Version = "dev"

// Application error codes. Each maps to exactly one HTTP status, in
// (*Error).HTTPStatus; nothing else decides a status.
const (
	EINVALID      = "invalid"      // 400: bad JSON or fields
	EUNAUTHORIZED = "unauthorized" // 401: missing or unknown gateway key
	ENOTFOUND     = "not_found"    // 404: unknown model (route) or path
	ETOOLARGE     = "too_large"    // 413: request body over the limit
	ERATELIMITED  = "rate_limited" // 429: this key is over its rate
	EUNAVAILABLE  = "unavailable"  // 503: no target can answer now, or shedding
	EFORBIDDEN    = "forbidden"    // 403: the admin token's scope does not allow it
	ECONFLICT     = "conflict"     // 409: the change does not fit the current state
	EUPSTREAM     = "upstream"     // status taken from the upstream's own final error
	EINTERNAL     = "internal"     // 500: a bug; details logged, not shown
)

// Error is the one application error type. Message is safe to show to a client.
type Error struct {
	Code    string
	Message string
	// Type and Param fill OpenAI's error object; empty means derived from Code.
	Type  string
	Param string
	// UpstreamCode is the provider's own error code (e.g. context_length_exceeded)
	// passed back to the client when a final upstream error is returned as is.
	UpstreamCode string
	// Status is used only with EUPSTREAM: the upstream's HTTP status.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("understudy: %s: %s", e.Code, e.Message) }

// HTTPStatus is the HTTP status of the error: the one place codes map to statuses.
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case EINVALID:
		return 400
	case EUNAUTHORIZED:
		return 401
	case EFORBIDDEN:
		return 403
	case ENOTFOUND:
		return 404
	case ECONFLICT:
		return 409
	case ETOOLARGE:
		return 413
	case ERATELIMITED:
		return 429
	case EUNAVAILABLE:
		return 503
	case EUPSTREAM:
		if e.Status >= 400 && e.Status <= 599 {
			return e.Status
		}
		return 502
	}
	return 500
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Class is the outcome class of one attempt at one target. It decides what the
// gateway does next, what the breaker counts, and (later) the incident cause.
type Class string

const (
	ClassSuccess Class = "success"
	// Retryable on another target.
	ClassConnect    Class = "connect_error"   // dial failed, refused, DNS
	ClassReset      Class = "reset"           // connection reset or closed before headers
	ClassServer     Class = "server_error"    // 5xx other than 501/503/529
	ClassOverloaded Class = "overloaded"      // 503, 529 overloaded_error
	ClassRateLimit  Class = "rate_limited"    // 429 rate limit: clears after Retry-After
	ClassQuota      Class = "quota_exhausted" // 429 insufficient_quota: never clears by waiting
	ClassAuth       Class = "auth"            // 401/403 from the provider: our key is wrong
	ClassTimeout    Class = "first_token_timeout"
	ClassStall      Class = "stream_stalled" // stream went silent past the idle limit
	ClassCut        Class = "stream_cut"     // stream ended without [DONE] / connection lost mid-stream
	ClassStreamErr  Class = "stream_error"   // an error event inside the stream
	ClassDeadline   Class = "deadline"       // the request's overall deadline ran out
	// Route around: a larger-context target may answer.
	ClassContextLength Class = "context_length_exceeded"
	// Final: returned to the client as is.
	ClassInvalid       Class = "invalid_request"
	ClassContentFilter Class = "content_filter"
	ClassNotImpl       Class = "not_implemented" // 501
	// Not the upstream's fault.
	ClassCanceled Class = "client_canceled"
)

// Retryable reports whether another target may answer where this one failed.
func (c Class) Retryable() bool {
	switch c {
	case ClassConnect, ClassReset, ClassServer, ClassOverloaded, ClassRateLimit, ClassQuota,
		ClassAuth, ClassTimeout, ClassStall, ClassCut, ClassStreamErr:
		return true
	}
	return false
}

// Event is an append-only record of something notable: an attempt failed over,
// a breaker opened, a target was cooled down, the config was reloaded.
// Timelines are made of events.
type Event struct {
	Time    time.Time
	Type    string // dotted name, e.g. "breaker.opened"; see the Event* constants
	Route   string // empty when not about one route
	Target  string // provider/model, empty when not about one target
	Message string // one human-readable line; never holds secrets or prompts
	// NeedsPerson marks events an operator must act on (bad key, quota exhausted).
	NeedsPerson bool
	// Author is who caused it: a token name for people's changes,
	// "understudy" for the detectors; empty for the gateway's own events.
	Author  string
	Details map[string]any
}

// Event types.
const (
	EventFailover       = "attempt.failed_over"
	EventBreakerChanged = "breaker.changed"
	EventTargetCooled   = "target.cooled_down"
	EventConfigReloaded = "config.reloaded"
	EventConfigRejected = "config.rejected"
	EventStreamBroken   = "stream.broken"
	EventStreamResumed  = "stream.resumed"
	EventRouteExhausted = "route.exhausted"
)

// Attempt records one try of one request at one target.
type Attempt struct {
	Time     time.Time // when the attempt ended
	Route    string
	Target   string // provider/model
	Class    Class
	Status   int           // upstream HTTP status; 0 when none was received
	Duration time.Duration // from sending to the outcome
	Stream   bool
	Message  string // the failure, empty on success; never holds prompts or keys
}

// Outcome records how one client request ended: what per-minute rollups,
// SLIs and incident impact count.
type Outcome struct {
	Time   time.Time // when the request ended
	Route  string
	Target string // provider/model that served it; empty when none did
	// Class is ClassSuccess for an answer, else the failure that decided it.
	Class Class
	// Mode is how it was served: primary, failover, resumed, stream_broken,
	// upstream_error, unavailable, deadline, client_canceled (later issues
	// add degraded modes).
	Mode             string
	Latency          time.Duration // whole request
	TTFT             time.Duration // to the first token (or whole answer); 0 when none
	PromptTokens     int
	CompletionTokens int
	Attempts         int
	Stream           bool
	// User identifies the end user, hashed (hex of the first 16 bytes of
	// the SHA-256 of the request's "user" field or the configured header);
	// empty when unknown. Never the value itself.
	User string
}
