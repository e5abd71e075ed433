package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// writeError writes err as {"error":{"message","code"}}. Errors that are
// not *understudy.Error are internal: logged, shown as "internal error".
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := h.public(r, err)
	if e.Code == understudy.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="understudy"`)
	}
	writeErrorBody(w, e.HTTPStatus(), e.Code, e.Message)
}

// public is err as the caller may see it; internal errors are logged here.
func (h *Handler) public(r *http.Request, err error) *understudy.Error {
	var e *understudy.Error
	if errors.As(err, &e) && e.Code != understudy.EINTERNAL {
		return e
	}
	h.log.Error("admin: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return &understudy.Error{Code: understudy.EINTERNAL, Message: "internal error"}
}

func writeErrorBody(w http.ResponseWriter, status int, code, msg string) {
	var body ErrorJSON
	body.Error.Message, body.Error.Code = msg, code
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads one JSON object from r's body into v. optional allows
// an empty body.
func decodeJSON(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return understudy.Errorf(understudy.ETOOLARGE, "request body is over %d bytes", mbe.Limit)
		}
		return understudy.Errorf(understudy.EINVALID, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return understudy.Errorf(understudy.EINVALID, "the request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, err)
	}
	end := dec.InputOffset()
	if rest := bytes.TrimSpace(body[end:]); len(rest) > 0 {
		at := int64(len(body) - len(bytes.TrimLeft(body[end:], " \t\r\n")))
		return understudy.Errorf(understudy.EINVALID, "invalid JSON: unexpected data after the object at %s", position(body, at))
	}
	return nil
}

// jsonError explains a decoding error with its position in body.
func jsonError(body []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return understudy.Errorf(understudy.EINVALID, "invalid JSON at %s: %s", position(body, syn.Offset-1), syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return understudy.Errorf(understudy.EINVALID, "invalid JSON at %s: want an object, got %s", position(body, typ.Offset-1), typ.Value)
		}
		return understudy.Errorf(understudy.EINVALID, "field %q at %s: want %s, got %s", field, position(body, typ.Offset-1), jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return understudy.Errorf(understudy.EINVALID, "invalid JSON at %s: unexpected end of input", position(body, int64(len(body))))
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return understudy.Errorf(understudy.EINVALID, "unknown field %s", f)
	}
	return understudy.Errorf(understudy.EINVALID, "invalid JSON: %v", err)
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "a number"
	case k == "slice":
		return "an array"
	case k == "struct", k == "map":
		return "an object"
	}
	return "a " + k
}

// position is "line L, column C (offset O)" of the byte at offset in body
// (lines and columns from 1, offsets from 0).
func position(body []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(body)))
	before := body[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n') // 1-based
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, offset)
}

// enum checks that v is one of allowed, naming field and the allowed values.
func enum[T ~string](field, v string, allowed ...T) (T, error) {
	for _, a := range allowed {
		if string(a) == v {
			return a, nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", understudy.Errorf(understudy.EINVALID, "%s: %q is not one of %s", field, v, strings.Join(names, ", "))
}

var (
	statuses   = []understudy.IncidentStatus{understudy.IncidentInvestigating, understudy.IncidentIdentified, understudy.IncidentMonitoring, understudy.IncidentResolved}
	severities = []understudy.Severity{understudy.SeverityMinor, understudy.SeverityMajor, understudy.SeverityCritical}
	causes     = []understudy.Cause{understudy.CauseTechnical, understudy.CauseOverload, understudy.CauseMaintenance, understudy.CauseQuota, understudy.CauseMisconfiguration, understudy.CauseUnknown}
	scopes     = []understudy.Scope{understudy.ScopeAdmin, understudy.ScopeOperator, understudy.ScopeAgent}
)

// optEnum is enum where "" means "not given".
func optEnum[T ~string](field, v string, allowed ...T) (T, error) {
	if v == "" {
		return "", nil
	}
	return enum(field, v, allowed...)
}

// pathID is the {id} path value as a positive number.
func pathID(r *http.Request, what string) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, understudy.Errorf(understudy.EINVALID, "%s id %q is not a positive number", what, s)
	}
	return id, nil
}

// queryBool reads a boolean query parameter; absent is false.
func queryBool(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, understudy.Errorf(understudy.EINVALID, "%s: %q is not true or false", name, s)
	}
	return b, nil
}

// queryLimit reads ?limit=N (1..1000); absent is 0, the service's default.
func queryLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, understudy.Errorf(understudy.EINVALID, "limit: %q is not a number from 1 to 1000", s)
	}
	return n, nil
}

// ParseTime reads an instant: RFC 3339, "now", or a duration from now
// ("30m", "2h"). The CLI and the console use it.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2006-01-02T15:04:05Z) nor a duration (30m)", s)
	}
	return t, nil
}

// rfc3339 parses a required or optional RFC 3339 field.
func rfc3339(field, s string, required bool) (time.Time, error) {
	if s == "" {
		if required {
			return time.Time{}, understudy.Errorf(understudy.EINVALID, "%s is required (RFC 3339, e.g. 2006-01-02T15:04:05Z)", field)
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, understudy.Errorf(understudy.EINVALID, "%s: %q is not an RFC 3339 time (e.g. 2006-01-02T15:04:05Z)", field, s)
	}
	return t, nil
}

// splitList splits a comma- or space-separated list, dropping empties.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}
