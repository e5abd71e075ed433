package simulate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Wire types of the Anthropic Messages API, as the simulator writes them.
type (
	anthropicMessage struct {
		ID           string           `json:"id"`
		Type         string           `json:"type"` // "message"
		Role         string           `json:"role"`
		Model        string           `json:"model"`
		Content      []anthropicBlock `json:"content"`
		StopReason   *string          `json:"stop_reason"`
		StopSequence *string          `json:"stop_sequence"`
		Usage        anthropicUsage   `json:"usage"`
	}
	anthropicBlock struct {
		Type string `json:"type"` // "text"
		Text string `json:"text"`
	}
	anthropicUsage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	}
)

// messageReply is one Messages answer being written.
type messageReply struct {
	id         string
	model      string
	tokens     []string
	stopReason string
	usage      anthropicUsage
}

func (s *Simulator) newMessageReply(req chatRequest, tokens []string) messageReply {
	m := messageReply{
		id:         fmt.Sprintf("msg_sim_%d", s.seq.Add(1)),
		model:      req.Model,
		tokens:     tokens,
		stopReason: "end_turn",
	}
	if req.MaxTokens > 0 && len(m.tokens) > req.MaxTokens {
		m.tokens, m.stopReason = m.tokens[:req.MaxTokens], "max_tokens"
	}
	m.usage = anthropicUsage{InputTokens: promptTokens(req.Messages), OutputTokens: len(m.tokens)}
	return m
}

// respondMessages answers a Messages request as pl says, or with what f
// changes in that answer, as respond does on the OpenAI side.
func (s *Simulator) respondMessages(w http.ResponseWriter, r *http.Request, req chatRequest, pl plan, f Fault) {
	m := s.newMessageReply(req, pl.reply(f.overlap()))
	if req.Stream {
		s.streamMessages(w, r, m, f)
		return
	}
	if !s.wait(r.Context(), s.firstDelay+f.delay()) {
		panic(http.ErrAbortHandler)
	}
	if f.Kind == KindErrorEvent {
		e := anthropicErrorFor(f, m.usage.InputTokens)
		s.writeRaw(w, http.StatusOK, e.body(""))
		return
	}
	stop := m.stopReason
	b, _ := json.Marshal(anthropicMessage{
		ID: m.id, Type: "message", Role: "assistant", Model: m.model,
		Content:    []anthropicBlock{{Type: "text", Text: strings.Join(m.tokens, "")}},
		StopReason: &stop, Usage: m.usage,
	})
	if f.Kind == KindMalformedChunk {
		b = b[:len(b)/2]
	}
	w.Header().Set("Request-Id", m.id)
	s.writeRaw(w, http.StatusOK, b)
}

// streamMessages writes the answer as Anthropic's named Server-Sent Events:
// message_start, content_block_start, ping, one content_block_delta per word,
// content_block_stop, message_delta, message_stop.
func (s *Simulator) streamMessages(w http.ResponseWriter, r *http.Request, m messageReply, f Fault) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Request-Id", s.requestID())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	ctx := r.Context()

	sendRaw := func(event string, data []byte) bool {
		b := make([]byte, 0, len(event)+len(data)+16)
		b = append(append(append(append(append(b, "event: "...), event...), "\ndata: "...), data...), "\n\n"...)
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		return sendRaw(event, b)
	}
	type obj = map[string]any

	if !s.wait(ctx, s.firstDelay+f.delay()) {
		panic(http.ErrAbortHandler)
	}
	start := anthropicMessage{ID: m.id, Type: "message", Role: "assistant", Model: m.model,
		Content: []anthropicBlock{}, Usage: anthropicUsage{InputTokens: m.usage.InputTokens, OutputTokens: 1}}
	if !send("message_start", obj{"type": "message_start", "message": start}) {
		return
	}
	if f.Kind == KindErrorEvent {
		sendRaw("error", anthropicErrorFor(f, m.usage.InputTokens).body(""))
		return
	}
	if !send("content_block_start", obj{"type": "content_block_start", "index": 0,
		"content_block": anthropicBlock{Type: "text", Text: ""}}) {
		return
	}
	if !send("ping", obj{"type": "ping"}) {
		return
	}
	after := -1 // where cut, stall or malformed_chunk strike
	switch f.Kind {
	case KindCut, KindStall, KindMalformedChunk:
		after = f.afterChunks(len(m.tokens))
	}
	for i := 0; i <= len(m.tokens); i++ {
		if i == after {
			switch f.Kind {
			case KindCut:
				panic(http.ErrAbortHandler)
			case KindStall:
				s.block(ctx)
			case KindMalformedChunk:
				if !sendRaw("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`)) {
					return
				}
			}
		}
		if i == len(m.tokens) {
			break
		}
		if i > 0 && !s.wait(ctx, s.interval) {
			panic(http.ErrAbortHandler)
		}
		if !send("content_block_delta", obj{"type": "content_block_delta", "index": 0,
			"delta": obj{"type": "text_delta", "text": m.tokens[i]}}) {
			return
		}
	}
	if !send("content_block_stop", obj{"type": "content_block_stop", "index": 0}) {
		return
	}
	if !send("message_delta", obj{"type": "message_delta",
		"delta": obj{"stop_reason": m.stopReason, "stop_sequence": nil},
		"usage": obj{"output_tokens": m.usage.OutputTokens}}) {
		return
	}
	if f.Kind != KindNoDone {
		send("message_stop", obj{"type": "message_stop"})
	}
}
