package provider

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
)

// Failure is a classified upstream failure.
type Failure struct {
	Class   understudy.Class
	Status  int    // upstream HTTP status; 0 when none was received
	Message string // the upstream's message, or ours
	Type    string // the upstream's error type
	Code    string // the upstream's error code
	// RetryAfter is what the upstream asked us to wait (Retry-After,
	// retry-after-ms); 0 when it said nothing.
	RetryAfter time.Duration
	// Body is the upstream's error body, kept for final errors returned as is.
	Body []byte
	// Target is the provider/model that failed, when known.
	Target string
	// Untranslatable: the request could not be expressed for this provider;
	// nothing was sent, and another target may take it.
	Untranslatable bool
}

func (f *Failure) Error() string {
	if f.Status != 0 {
		return string(f.Class) + ": HTTP " + strconv.Itoa(f.Status) + ": " + f.Message
	}
	return string(f.Class) + ": " + f.Message
}

// ClassifyResponse reads a non-2xx response. The error body's type and code
// decide, not only the status: a 429 may be a rate limit (clears after
// Retry-After) or exhausted quota (never clears by waiting).
func ClassifyResponse(status int, h http.Header, body []byte, now time.Time) *Failure {
	msg, typ, code, _ := chat.ParseError(body)
	if msg == "" {
		msg = http.StatusText(status)
	}
	f := &Failure{Status: status, Message: msg, Type: typ, Code: code, Body: body, RetryAfter: RetryAfter(h, now)}
	lower := strings.ToLower(msg)
	switch {
	case isQuota(typ, code) || strings.Contains(lower, "credit balance"):
		// OpenAI's insufficient_quota (429), Anthropic's billing_error (402)
		// and its "credit balance is too low" (400): waiting never helps.
		f.Class = understudy.ClassQuota
	case status == http.StatusTooManyRequests:
		if isQuota(typ, code) {
			f.Class = understudy.ClassQuota
		} else {
			f.Class = understudy.ClassRateLimit
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		f.Class = understudy.ClassAuth
	case status == http.StatusPaymentRequired:
		f.Class = understudy.ClassQuota
	case status == http.StatusNotImplemented:
		f.Class = understudy.ClassNotImpl
	case status == http.StatusServiceUnavailable || status == 529 || typ == "overloaded_error":
		f.Class = understudy.ClassOverloaded
	case status >= 500:
		f.Class = understudy.ClassServer
	case status == http.StatusRequestTimeout:
		f.Class = understudy.ClassServer
	case isContextLength(code, typ, lower):
		f.Class = understudy.ClassContextLength
	case isContentFilter(code, typ):
		f.Class = understudy.ClassContentFilter
	case status == http.StatusNotFound && (code == "model_not_found" || code == "DeploymentNotFound" || strings.Contains(lower, "model")):
		// Our configured model id is wrong for this provider: a configuration
		// fault of that target, not the client's; another target may answer.
		f.Class = understudy.ClassAuth
	case status >= 400:
		f.Class = understudy.ClassInvalid
	default:
		f.Class = understudy.ClassServer
	}
	return f
}

// ClassifyStreamError reads an error object found inside a 200 response (an
// SSE error event or an error envelope in a JSON body).
func ClassifyStreamError(data []byte) *Failure {
	msg, typ, code, ok := chat.ParseError(data)
	if !ok {
		msg = "upstream sent an error event"
	}
	f := &Failure{Class: understudy.ClassStreamErr, Message: msg, Type: typ, Code: code, Body: data}
	switch {
	case typ == "overloaded_error" || code == "overloaded":
		f.Class = understudy.ClassOverloaded
	case isQuota(typ, code):
		f.Class = understudy.ClassQuota
	case typ == "rate_limit_error" || code == "rate_limit_exceeded":
		f.Class = understudy.ClassRateLimit
	case isContextLength(code, typ, strings.ToLower(msg)):
		f.Class = understudy.ClassContextLength
	case isContentFilter(code, typ):
		f.Class = understudy.ClassContentFilter
	}
	return f
}

func isQuota(typ, code string) bool {
	switch {
	case typ == "insufficient_quota", code == "insufficient_quota", typ == "billing_error",
		code == "credit_balance_exhausted", code == "project_spend_limit_exceeded", code == "billing_hard_limit_reached":
		return true
	}
	return false
}

func isContextLength(code, typ, lowerMsg string) bool {
	return code == "context_length_exceeded" || code == "string_above_max_length" ||
		strings.Contains(lowerMsg, "prompt is too long") || strings.Contains(lowerMsg, "maximum context length") ||
		(typ == "invalid_request_error" && strings.Contains(lowerMsg, "context length"))
}

func isContentFilter(code, typ string) bool {
	return code == "content_policy_violation" || code == "content_filter" || typ == "content_filter"
}

// RetryAfter reads how long the upstream asked us to wait: retry-after-ms
// (OpenAI, Azure), then Retry-After in seconds or as an HTTP date. 0 when absent
// or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
