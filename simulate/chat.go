package simulate

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
)

// maxBody bounds a request body, as providers do.
const maxBody = 8 << 20

func (s *Simulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{provider}/v1/chat/completions", s.handleChat)
	mux.HandleFunc("POST /{provider}/openai/deployments/{deployment}/chat/completions", s.handleChat)
	mux.HandleFunc("GET /{provider}/v1/models", s.handleModels)
	mux.HandleFunc("POST /{provider}/v1/messages", s.handleMessages)
	s.controlRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, apiError{Status: http.StatusNotFound, Type: "invalid_request_error",
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)})
	})
	return mux
}

// served returns the provider named in the path, or answers 404.
func (s *Simulator) served(w http.ResponseWriter, r *http.Request) (*provider, bool) {
	name := r.PathValue("provider")
	p, ok := s.providers[name]
	if !ok {
		s.writeError(w, apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_provider",
			Message: fmt.Sprintf("Unknown provider %q: this simulator serves %s.", name, strings.Join(s.names, ", "))})
	}
	return p, ok
}

// authorized checks the provider's key, if it has one, in the Authorization
// (Bearer) or api-key header. It returns the key presented.
func (s *Simulator) authorized(provider string, r *http.Request) (string, bool) {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	apiKey := r.Header.Get("api-key")
	want, ok := s.keys[provider]
	if !ok {
		return bearer, true
	}
	for _, got := range []string{bearer, apiKey} {
		if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return got, true
		}
	}
	if bearer == "" {
		return apiKey, false
	}
	return bearer, false
}

// chatRequest is what the simulator reads of a chat completion (or an
// Anthropic Messages) request; all other fields are accepted and ignored.
type chatRequest struct {
	Model        string
	Messages     []Message
	Stream       bool
	IncludeUsage bool
	MaxTokens    int // Anthropic's max_tokens; 0 (OpenAI side) means no limit
}

func (c chatRequest) prefill() bool {
	return len(c.Messages) > 0 && c.Messages[len(c.Messages)-1].Role == "assistant"
}

// wire is what differs between the OpenAI and Anthropic endpoints once a
// request is parsed: how errors are written and how answers are sent.
type wire struct {
	name     string                          // for logs
	errorFor func(f Fault, promptTokens int) // writes the fault's error answer
	respond  func(http.ResponseWriter, *http.Request, chatRequest, plan, Fault)
}

// serve answers a valid request: a refused prefill, a refusal for want of
// capacity, the fault in force, or the (continued) answer. An admitted
// request holds its slot until serve returns (see Options.Capacity).
func (s *Simulator) serve(w http.ResponseWriter, r *http.Request, p *provider, req chatRequest, wf wire) {
	if s.noPrefill[p.name] && req.prefill() {
		p.outcome(KindRejectPrefill)
		wf.errorFor(Fault{Kind: KindRejectPrefill}, 0)
		return
	}
	release, err := s.acquire(r.Context(), p)
	switch {
	case errors.Is(err, errOverCapacity):
		p.outcome(OutcomeOverCapacity)
		s.log.Debug(wf.name+" over capacity", "provider", p.name, "model", req.Model, "stream", req.Stream)
		wf.errorFor(Fault{Kind: KindOverloaded}, 0)
		return
	case err != nil: // the client went away, or Close, while queued
		p.outcome(OutcomeLeftQueue)
		panic(http.ErrAbortHandler)
	}
	defer release()
	pl := s.plan(p.name, req.Model, req.Messages)
	f, faulty := s.pick(p, target{model: req.Model, stream: req.Stream, prefill: req.prefill(), continuation: pl.continued}, true)
	if !faulty {
		p.outcome(OutcomeOK)
		s.log.Debug(wf.name, "provider", p.name, "model", req.Model, "stream", req.Stream, "continuation", pl.continued)
		wf.respond(w, r, req, pl, Fault{})
		return
	}
	p.outcome(f.Kind)
	s.log.Debug(wf.name+" faulted", "provider", p.name, "model", req.Model, "stream", req.Stream, "fault", f.Kind)
	switch {
	case f.Kind == KindReset, f.Kind == KindCut && !req.Stream:
		resetConn(w)
	case f.Kind == KindHang, f.Kind == KindStall && !req.Stream:
		s.block(r.Context())
	case statusKind(f.Kind):
		wf.errorFor(f, promptTokens(req.Messages))
	default: // slow_first_token, no_done, overlap, and what streams do mid-way
		wf.respond(w, r, req, pl, f)
	}
}

func (s *Simulator) handleChat(w http.ResponseWriter, r *http.Request) {
	p, ok := s.served(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		p.arrive(nil, false, chatRequest{})
		p.outcome(OutcomeBadRequest)
		status := http.StatusBadRequest
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		s.writeError(w, apiError{Status: status, Type: "invalid_request_error",
			Message: "Could not read the request body: " + err.Error()})
		return
	}
	deployment := r.PathValue("deployment")
	req, bad := parseChat(body, deployment)
	p.arrive(body, json.Valid(body), req)
	if key, ok := s.authorized(p.name, r); !ok {
		p.outcome(OutcomeInvalidKey)
		s.writeError(w, invalidKey(key))
		return
	}
	if deployment != "" && r.URL.Query().Get("api-version") == "" {
		bad = &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: "api-version",
			Code:    "missing_api_version",
			Message: "The api-version query parameter (?api-version=) is required for all requests."}
	}
	if bad != nil {
		p.outcome(OutcomeBadRequest)
		s.writeError(w, *bad)
		return
	}
	s.serve(w, r, p, req, wire{
		name:     "request",
		errorFor: func(f Fault, promptTokens int) { s.writeError(w, errorFor(f, req.Model, promptTokens)) },
		respond:  s.respond,
	})
}

func (s *Simulator) handleModels(w http.ResponseWriter, r *http.Request) {
	p, ok := s.served(w, r)
	if !ok {
		return
	}
	p.listed()
	if key, ok := s.authorized(p.name, r); !ok {
		s.writeError(w, invalidKey(key))
		return
	}
	if f, faulty := s.pick(p, target{listing: true}, false); faulty {
		switch {
		case f.Kind == KindReset:
			resetConn(w)
			return
		case f.Kind == KindHang:
			s.block(r.Context())
		case statusKind(f.Kind):
			s.writeError(w, errorFor(f, "", 0))
			return
		}
		if !s.wait(r.Context(), f.delay()) {
			panic(http.ErrAbortHandler)
		}
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, id := range []string{"gpt-4o-mini", "gpt-4.1-mini", "sim-small", "sim-large"} {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: 1700000000, OwnedBy: p.name})
	}
	s.writeJSON(w, http.StatusOK, list)
}

// parseChat reads a request body; the Azure path names the model in the
// deployment instead. It returns what it could read even with an error.
func parseChat(body []byte, deployment string) (chatRequest, *apiError) {
	var in struct {
		Model    string `json:"model"`
		Messages *[]struct {
			Role    *string         `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		ContinueFinal bool `json:"continue_final_message"`
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	invalid := func(param, code, format string, args ...any) *apiError {
		return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Code: code,
			Message: fmt.Sprintf(format, args...)}
	}
	err := json.Unmarshal(body, &in)
	req := chatRequest{Model: in.Model, Stream: in.Stream}
	if deployment != "" {
		req.Model = deployment
	}
	req.IncludeUsage = in.StreamOptions != nil && in.StreamOptions.IncludeUsage
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return req, invalid("", "", "The request body must be a JSON object, but got %s instead.", te.Value)
		}
		return req, invalid(te.Field, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.",
			te.Field, kindName(te.Type.Kind().String()), te.Value)
	}
	if err != nil {
		return req, invalid("", "", "We could not parse the JSON body of your request. "+
			"The OpenAI API expects a JSON payload, but what was sent was not valid JSON. (%v)", err)
	}
	if in.Messages == nil {
		return req, invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	if len(*in.Messages) == 0 {
		return req, invalid("messages", "empty_array", "Invalid 'messages': empty array. "+
			"Expected an array with minimum length 1, but got an empty array instead.")
	}
	if req.Model == "" {
		return req, invalid("model", "missing_required_parameter", "you must provide a model parameter")
	}
	roles := []string{"system", "developer", "user", "assistant", "tool", "function"}
	for i, m := range *in.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		if m.Role == nil {
			return req, invalid(field+".role", "missing_required_parameter", "Missing required parameter: '%s.role'.", field)
		}
		if !slices.Contains(roles, *m.Role) {
			return req, invalid(field+".role", "invalid_value", "Invalid value: '%s'. Supported values are: %s.",
				*m.Role, "'"+strings.Join(roles, "', '")+"'")
		}
		text, ok := contentText(m.Content)
		if !ok {
			return req, invalid(field+".content", "invalid_type",
				"Invalid type for '%s.content': expected one of a string or array of objects.", field)
		}
		req.Messages = append(req.Messages, Message{Role: *m.Role, Content: text})
	}
	if in.ContinueFinal && !req.prefill() {
		return req, invalid("continue_final_message", "invalid_value",
			"continue_final_message is set but the final message is not from the assistant.")
	}
	return req, nil
}

func kindName(k string) string {
	switch k {
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

// contentText reads a message's content: a string, null, or an array of
// parts whose "text" parts are joined with "\n".
func contentText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), true
}

// resetConn resets the connection before any response header: hijacked and
// closed with SO_LINGER 0, the peer gets a TCP RST.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil { // HTTP/2 or a wrapper that cannot hijack: abort instead
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok { // TLS
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}

func (s *Simulator) requestID() string { return fmt.Sprintf("req_sim_%d", s.seq.Add(1)) }

func (s *Simulator) writeError(w http.ResponseWriter, e apiError) {
	if e.RetryAfter != "" {
		w.Header().Set("Retry-After", e.RetryAfter)
	}
	s.writeRaw(w, e.Status, e.body())
}

func (s *Simulator) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", "err", err)
		s.writeError(w, apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: "internal error"})
		return
	}
	s.writeRaw(w, status, b)
}

func (s *Simulator) writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", s.requestID())
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
