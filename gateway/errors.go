package gateway

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
)

// statusOf is the HTTP status of e (see understudy.Error.HTTPStatus).
func statusOf(e *understudy.Error) int { return e.HTTPStatus() }

// typeOf is OpenAI's error "type" for a code.
func typeOf(e *understudy.Error) string {
	if e.Type != "" {
		return e.Type
	}
	switch e.Code {
	case understudy.EINVALID, understudy.ETOOLARGE, understudy.ENOTFOUND:
		return "invalid_request_error"
	case understudy.EUNAUTHORIZED:
		return "authentication_error"
	case understudy.ERATELIMITED:
		return "rate_limit_error"
	case understudy.EUNAVAILABLE:
		return "service_unavailable"
	}
	return "server_error"
}

// codeOf is OpenAI's error "code" for a code.
func codeOf(e *understudy.Error) string {
	if e.UpstreamCode != "" {
		return e.UpstreamCode
	}
	switch e.Code {
	case understudy.EUNAUTHORIZED:
		return "invalid_api_key"
	case understudy.ENOTFOUND:
		return "model_not_found"
	case understudy.ETOOLARGE:
		return "request_too_large"
	case understudy.ERATELIMITED:
		return "rate_limit_exceeded"
	case understudy.EUNAVAILABLE:
		return "service_unavailable"
	case understudy.EINVALID:
		return "invalid_request"
	}
	return "internal_error"
}

// writeError writes err in OpenAI's error shape. Errors that are not
// *understudy.Error are logged and shown as a generic message.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	var e *understudy.Error
	if !errors.As(err, &e) {
		log.Error("internal error", "err", err)
		e = &understudy.Error{Code: understudy.EINTERNAL, Message: "internal error"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(statusOf(e))
	_ = json.NewEncoder(w).Encode(chat.NewErrorBody(e.Message, typeOf(e), e.Param, codeOf(e)))
}

// retryAfterSeconds rounds up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
