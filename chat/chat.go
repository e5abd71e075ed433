// Package chat is OpenAI's Chat Completions wire format as the gateway needs it:
// requests decoded just enough to route and validate (every other field passes
// through untouched), responses and stream chunks, and the error object.
package chat

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Request is a chat completion request. Only the fields the gateway uses are
// decoded; the body is kept as sent so every other field passes through
// byte for byte.
type Request struct {
	Model        string
	Stream       bool
	IncludeUsage bool // stream_options.include_usage
	Messages     []Message
	User         string
	N            int // choices asked for; 0 when not given (one)
	// Cacheable: a plain conversation (no tools or functions, one choice)
	// whose answer may be served again to the same conversation.
	Cacheable          bool
	msgsRaw, formatRaw json.RawMessage // for ConversationKey

	body                 []byte
	modelStart, modelEnd int // the model value's bytes in body
	msgsEnd              int // offset of the messages array's closing ']'
}

// Message is one conversation turn. Content stays raw: a string, an array of
// parts, or null.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content,omitempty"`
}

// Text is the message's text: the content string, or its text parts joined
// by spaces; "" when it has none.
func (m Message) Text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct{ Type, Text string }
	if json.Unmarshal(m.Content, &parts) != nil {
		return ""
	}
	var out []string
	for _, p := range parts {
		if p.Type == "text" {
			out = append(out, p.Text)
		}
	}
	return strings.Join(out, " ")
}

// FieldError is a request validation failure naming the field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

var validRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// ParseRequest decodes and validates a request body in one pass over its
// top-level fields. Errors are *FieldError.
func ParseRequest(body []byte) (*Request, error) {
	r := &Request{body: body}
	raw, err := r.scan()
	if err != nil {
		return nil, err
	}
	if err := decodeField(raw, "model", &r.Model); err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.Model) == "" {
		return nil, &FieldError{Field: "model", Message: "required"}
	}
	if err := decodeField(raw, "stream", &r.Stream); err != nil {
		return nil, err
	}
	if v, ok := raw["stream_options"]; ok && !isNull(v) {
		var so struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if err := json.Unmarshal(v, &so); err != nil {
			return nil, &FieldError{Field: "stream_options", Message: "must be an object: " + jsonErr(err)}
		}
		r.IncludeUsage = so.IncludeUsage != nil && *so.IncludeUsage
	}
	if err := decodeField(raw, "user", &r.User); err != nil {
		return nil, err
	}
	if v, ok := raw["n"]; ok && !isNull(v) {
		if json.Unmarshal(v, &r.N) != nil || r.N < 1 {
			return nil, &FieldError{Field: "n", Message: "must be a positive integer"}
		}
	}
	msgs, ok := raw["messages"]
	if !ok || isNull(msgs) {
		return nil, &FieldError{Field: "messages", Message: "required"}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(msgs, &list); err != nil {
		return nil, &FieldError{Field: "messages", Message: "must be an array"}
	}
	if len(list) == 0 {
		return nil, &FieldError{Field: "messages", Message: "must not be empty"}
	}
	r.Messages = make([]Message, len(list))
	for i, m := range list {
		field := fmt.Sprintf("messages[%d]", i)
		var msg struct {
			Role    json.RawMessage `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if len(m) == 0 || m[0] != '{' || json.Unmarshal(m, &msg) != nil {
			return nil, &FieldError{Field: field, Message: "must be an object"}
		}
		if len(msg.Role) == 0 || isNull(msg.Role) || json.Unmarshal(msg.Role, &r.Messages[i].Role) != nil {
			return nil, &FieldError{Field: field + ".role", Message: "must be a string: one of system, developer, user, assistant, tool, function"}
		}
		if !validRoles[r.Messages[i].Role] {
			return nil, &FieldError{Field: field + ".role", Message: fmt.Sprintf("%q is not one of system, developer, user, assistant, tool, function", r.Messages[i].Role)}
		}
		c := msg.Content
		if len(c) > 0 && !isNull(c) && c[0] != '"' && c[0] != '[' {
			return nil, &FieldError{Field: field + ".content", Message: "must be a string, an array of content parts, or null"}
		}
		r.Messages[i].Content = c
	}
	r.Cacheable = r.N <= 1 && raw["tools"] == nil && raw["functions"] == nil
	r.msgsRaw, r.formatRaw = msgs, raw["response_format"]
	return r, nil
}

// ConversationKey identifies the normalized conversation: the SHA-256 of
// the messages (and response_format) as compact JSON. Computed when asked
// (only routes with an answer cache need it).
func (r *Request) ConversationKey() [32]byte {
	h := sha256.New()
	var buf bytes.Buffer
	if json.Compact(&buf, r.msgsRaw) == nil {
		h.Write(buf.Bytes())
	}
	if len(r.formatRaw) > 0 {
		buf.Reset()
		if json.Compact(&buf, r.formatRaw) == nil {
			h.Write([]byte{0})
			h.Write(buf.Bytes())
		}
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// scan walks the top-level object once, returning each field's raw value
// (sharing the body's bytes) and recording where the model value lies.
func (r *Request) scan() (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(r.body))
	tok, err := dec.Token()
	if err != nil {
		return nil, &FieldError{Message: "invalid JSON body: " + jsonErr(err)}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &FieldError{Message: "invalid JSON body: expected an object"}
	}
	raw := make(map[string]json.RawMessage, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &FieldError{Message: "invalid JSON body: " + jsonErr(err)}
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, &FieldError{Message: "invalid JSON body: " + jsonErr(err)}
		}
		end := int(dec.InputOffset())
		if _, dup := raw[key]; dup && (key == "model" || key == "messages" || key == "stream") {
			return nil, &FieldError{Field: key, Message: "given twice"}
		}
		raw[key] = r.body[end-len(v) : end]
		switch key {
		case "model":
			r.modelStart, r.modelEnd = end-len(v), end
		case "messages":
			r.msgsEnd = end - 1
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, &FieldError{Message: "invalid JSON body: " + jsonErr(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Message: "invalid JSON body: unexpected data after the JSON object"}
	}
	return raw, nil
}

func decodeField(raw map[string]json.RawMessage, name string, v any) error {
	b, ok := raw[name]
	if !ok || isNull(b) {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		kind := "a string"
		if _, ok := v.(*bool); ok {
			kind = "a boolean"
		}
		return &FieldError{Field: name, Message: "must be " + kind}
	}
	return nil
}

func isNull(b json.RawMessage) bool { return len(b) == 4 && string(b) == "null" }

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}

// Body returns the request with model set to the given upstream model id
// and every other byte exactly as the client sent it.
func (r *Request) Body(model string) []byte {
	m, _ := json.Marshal(model)
	out := make([]byte, 0, len(r.body)-(r.modelEnd-r.modelStart)+len(m))
	out = append(out, r.body[:r.modelStart]...)
	out = append(out, m...)
	return append(out, r.body[r.modelEnd:]...)
}

// Error is OpenAI's error object.
type Error struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ErrorBody is the JSON envelope of an error response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// NewErrorBody builds the envelope; empty param and code become null.
func NewErrorBody(message, typ, param, code string) ErrorBody {
	e := ErrorBody{Error: Error{Message: message, Type: typ}}
	if param != "" {
		e.Error.Param = &param
	}
	if code != "" {
		e.Error.Code = &code
	}
	return e
}

// ParseError reads an error body leniently: OpenAI's {"error":{...}}, a bare
// {"message","type","code"}, or a string error. ok is false when the body holds
// no recognisable error. Code may be a number in some servers; it is kept as text.
func ParseError(body []byte) (msg, typ, code string, ok bool) {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 || isNull(env.Error) {
		return "", "", "", false
	}
	if env.Error[0] == '"' {
		var s string
		_ = json.Unmarshal(env.Error, &s)
		return s, "", "", true
	}
	var e struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(env.Error, &e) != nil {
		return "", "", "", false
	}
	code = strings.Trim(string(e.Code), `"`)
	if code == "null" {
		code = ""
	}
	return e.Message, e.Type, code, true
}

// Response is the part of a non-streaming response the gateway reads.
type Response struct {
	ID      string   `json:"id"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage"`
}

// Choice of a non-streaming response.
type Choice struct {
	Index        int     `json:"index"`
	FinishReason *string `json:"finish_reason"`
}

// Usage is token accounting.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Chunk is the part of a stream chunk the gateway reads.
type Chunk struct {
	ID      string          `json:"id"`
	Created json.RawMessage `json:"created"`
	Model   string          `json:"model"`
	Choices []ChunkChoice   `json:"choices"`
	Usage   *Usage          `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

// ChunkChoice is one choice's delta.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

// Delta is the incremental message of a chunk. Fields other than role are
// kept raw: the gateway only needs to know whether they carry anything.
type Delta map[string]json.RawMessage

// HasContent reports whether the chunk carries anything beyond the role:
// text, a refusal, tool-call data, reasoning (reasoning_content, reasoning),
// audio, a legacy function_call, or a finish reason.
func (c *Chunk) HasContent() bool {
	for _, ch := range c.Choices {
		if ch.FinishReason != nil {
			return true
		}
		for k, v := range ch.Delta {
			if k != "role" && !isEmptyValue(v) {
				return true
			}
		}
	}
	return false
}

// isEmptyValue: null, "", [] or {}.
func isEmptyValue(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "", "null", `""`, "[]", "{}":
		return true
	}
	return false
}

// Text returns the content text of choice 0 in this chunk, and whether it
// carries tool-call data or more than one choice.
func (c *Chunk) Text() (text string, tools, multi bool) {
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			multi = true
			continue
		}
		if v, ok := ch.Delta["content"]; ok && !isEmptyValue(v) {
			_ = json.Unmarshal(v, &text)
		}
		if v, ok := ch.Delta["tool_calls"]; ok && !isEmptyValue(v) {
			tools = true
		}
		if v, ok := ch.Delta["function_call"]; ok && !isEmptyValue(v) {
			tools = true
		}
	}
	return text, tools, multi
}

// Finished reports whether any choice carries a finish reason.
func (c *Chunk) Finished() bool {
	for _, ch := range c.Choices {
		if ch.FinishReason != nil {
			return true
		}
	}
	return false
}
