package simulate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Wire types of the OpenAI Chat Completions API, as the simulator writes them.
type (
	completion struct {
		ID                string   `json:"id"`
		Object            string   `json:"object"` // "chat.completion"
		Created           int64    `json:"created"`
		Model             string   `json:"model"`
		Choices           []choice `json:"choices"`
		Usage             usage    `json:"usage"`
		SystemFingerprint string   `json:"system_fingerprint"`
	}
	choice struct {
		Index        int             `json:"index"`
		Message      message         `json:"message"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	}
	message struct {
		Role        string   `json:"role"`
		Content     string   `json:"content"`
		Refusal     *string  `json:"refusal"`
		Annotations []string `json:"annotations"`
	}
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
	chunk struct {
		ID                string        `json:"id"`
		Object            string        `json:"object"` // "chat.completion.chunk"
		Created           int64         `json:"created"`
		Model             string        `json:"model"`
		SystemFingerprint string        `json:"system_fingerprint"`
		Choices           []chunkChoice `json:"choices"`
		Usage             any           `json:"usage,omitempty"` // *usage, JSON null, or absent
	}
	chunkChoice struct {
		Index        int             `json:"index"`
		Delta        delta           `json:"delta"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	}
	delta struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
)

// jsonNull is a JSON null in a field that is otherwise an object.
const jsonNull = "null"

// answer is one reply being written: ids, tokens and usage.
type answer struct {
	id      string
	created int64
	model   string
	tokens  []string
	usage   usage
}

func (s *Simulator) newAnswer(req chatRequest, tokens []string) answer {
	prompt := promptTokens(req.Messages)
	return answer{
		id:      fmt.Sprintf("chatcmpl-sim-%d", s.seq.Add(1)),
		created: s.clock.Now().Unix(),
		model:   req.Model,
		tokens:  tokens,
		usage:   usage{PromptTokens: prompt, CompletionTokens: len(tokens), TotalTokens: prompt + len(tokens)},
	}
}

// respond answers as pl says, or with what f changes in that answer:
// slow_first_token's delay, a continuation's overlap, and for streams cut,
// stall, malformed_chunk, no_done and error_event. f is the zero Fault for a
// healthy answer.
func (s *Simulator) respond(w http.ResponseWriter, r *http.Request, req chatRequest, pl plan, f Fault) {
	a := s.newAnswer(req, pl.reply(f.overlap()))
	if req.Stream {
		s.stream(w, r, req, a, f)
		return
	}
	if !s.wait(r.Context(), s.firstDelay+f.delay()) {
		panic(http.ErrAbortHandler)
	}
	if f.Kind == KindErrorEvent { // some servers answer 200 with an error body
		s.writeRaw(w, http.StatusOK, errorFor(f, req.Model, a.usage.PromptTokens).body())
		return
	}
	content := strings.Join(a.tokens, "")
	c := completion{
		ID: a.id, Object: "chat.completion", Created: a.created, Model: a.model,
		Choices: []choice{{
			Message:      message{Role: "assistant", Content: content, Annotations: []string{}},
			Logprobs:     json.RawMessage(jsonNull),
			FinishReason: "stop",
		}},
		Usage:             a.usage,
		SystemFingerprint: "fp_sim",
	}
	if f.Kind == KindMalformedChunk {
		b, _ := json.Marshal(c)
		s.writeRaw(w, http.StatusOK, b[:len(b)/2])
		return
	}
	s.writeJSON(w, http.StatusOK, c)
}

// stream writes the answer as Server-Sent Events: a role chunk, one chunk per
// word, a finish chunk, the usage chunk if asked for, and [DONE].
func (s *Simulator) stream(w http.ResponseWriter, r *http.Request, req chatRequest, a answer, f Fault) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Request-Id", s.requestID())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	ctx := r.Context()

	send := func(data []byte) bool {
		b := make([]byte, 0, len(data)+8)
		b = append(append(append(b, "data: "...), data...), "\n\n"...)
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	sendChunk := func(d delta, finish string, u any) bool {
		c := chunk{ID: a.id, Object: "chat.completion.chunk", Created: a.created, Model: a.model,
			SystemFingerprint: "fp_sim", Choices: []chunkChoice{{Delta: d, Logprobs: json.RawMessage(jsonNull)}}}
		if finish != "" {
			c.Choices[0].FinishReason = &finish
		}
		if req.IncludeUsage {
			c.Usage = json.RawMessage(jsonNull)
		}
		if u != nil {
			c.Choices, c.Usage = []chunkChoice{}, u
		}
		b, _ := json.Marshal(c)
		return send(b)
	}

	if !s.wait(ctx, s.firstDelay+f.delay()) {
		panic(http.ErrAbortHandler)
	}
	if f.Kind == KindErrorEvent {
		send(errorFor(f, req.Model, a.usage.PromptTokens).body())
		return
	}
	after := -1 // where cut, stall or malformed_chunk strike
	switch f.Kind {
	case KindCut, KindStall, KindMalformedChunk:
		after = f.afterChunks(len(a.tokens))
	}
	empty := ""
	if !sendChunk(delta{Role: "assistant", Content: &empty}, "", nil) {
		return
	}
	for i := 0; i <= len(a.tokens); i++ {
		if i == after {
			switch f.Kind {
			case KindCut: // everything so far is flushed; end without the closing chunk
				panic(http.ErrAbortHandler)
			case KindStall:
				s.block(ctx)
			case KindMalformedChunk:
				bad := fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":`, a.id)
				if !send([]byte(bad)) {
					return
				}
			}
		}
		if i == len(a.tokens) {
			break
		}
		if i > 0 && !s.wait(ctx, s.interval) {
			panic(http.ErrAbortHandler)
		}
		if !sendChunk(delta{Content: &a.tokens[i]}, "", nil) {
			return
		}
	}
	if !sendChunk(delta{}, "stop", nil) {
		return
	}
	if req.IncludeUsage && !sendChunk(delta{}, "", &a.usage) {
		return
	}
	if f.Kind != KindNoDone {
		send([]byte("[DONE]"))
	}
}
