package provider

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/understudy/understudy/chat"
)

// AnthropicStreamError is an error event received in an Anthropic stream
// (or an error body where a message was expected). Raw is the event's data,
// {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}},
// which ClassifyResponse reads like an HTTP error body.
type AnthropicStreamError struct {
	Raw []byte
}

func (e *AnthropicStreamError) Error() string {
	msg, typ, _, ok := chat.ParseError(e.Raw)
	if !ok {
		return "anthropic stream error: " + string(e.Raw)
	}
	return "anthropic stream error: " + typ + ": " + msg
}

// Type is the Anthropic error type, such as overloaded_error or api_error.
func (e *AnthropicStreamError) Type() string {
	_, typ, _, _ := chat.ParseError(e.Raw)
	return typ
}

// AnthropicStream translates one Anthropic Messages stream into OpenAI
// chat.completion.chunk payloads. Use one per stream; it is not safe for
// concurrent use.
//
// Thinking blocks (thinking_delta, signature_delta), redacted_thinking,
// citations and server-tool blocks are skipped: an OpenAI client has no
// standard field for them, and the request translation never asks for
// thinking. Unknown events are ignored, as Anthropic's versioning policy
// asks of clients.
type AnthropicStream struct {
	id           string
	model        string
	created      int64
	includeUsage bool
	tools        map[int]int // Anthropic content block index → OpenAI tool call index
	usage        anUsage
	finished     bool // the finish_reason chunk was sent
}

// NewAnthropicStream starts a translation; created stamps every chunk and
// includeUsage is the client's stream_options.include_usage.
func NewAnthropicStream(created time.Time, includeUsage bool) *AnthropicStream {
	return &AnthropicStream{created: created.Unix(), includeUsage: includeUsage, tools: map[int]int{}}
}

// streamEvent is the union of the Anthropic stream events' data.
type streamEvent struct {
	Type         string          `json:"type"`
	Message      anResponse      `json:"message"`
	Index        int             `json:"index"`
	ContentBlock anRespBlock     `json:"content_block"`
	Delta        streamDelta     `json:"delta"`
	Usage        anUsage         `json:"usage"`
	Error        json.RawMessage `json:"error"`
}

// streamDelta is the delta of content_block_delta (text_delta,
// input_json_delta…) and of message_delta (stop_reason).
type streamDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	PartialJSON string `json:"partial_json"`
	StopReason  string `json:"stop_reason"`
}

type oaChunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []oaChunkChoice `json:"choices"`
	Usage   *oaUsage        `json:"usage,omitempty"`
}

type oaChunkChoice struct {
	Index        int             `json:"index"`
	Delta        oaDelta         `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type oaDelta struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	ToolCalls []oaCallResp `json:"tool_calls,omitempty"`
}

// Event translates one SSE event, named name (the data's "type" is used
// when name is empty), into zero or more chunk payloads, without the
// "data: " prefix. done is true after message_stop: the caller then sends
// [DONE]. An error event returns an *AnthropicStreamError.
func (s *AnthropicStream) Event(name string, data []byte) (chunks [][]byte, done bool, err error) {
	if name == "ping" {
		return nil, false, nil
	}
	var ev streamEvent
	if len(data) == 0 {
		data = []byte("{}") // message_stop and content_block_stop carry nothing we need
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, false, fmt.Errorf("%w: %s event: %v", ErrAnthropicResponse, name, err)
	}
	if name == "" {
		name = ev.Type
	}
	var out []oaDelta
	var finish *string
	switch name {
	case "message_start":
		s.id, s.model = ev.Message.ID, ev.Message.Model
		s.usage.merge(ev.Message.Usage)
		empty := ""
		out = append(out, oaDelta{Role: "assistant", Content: &empty})
	case "content_block_start":
		switch ev.ContentBlock.Type {
		case "text":
			if t := ev.ContentBlock.Text; t != "" {
				out = append(out, oaDelta{Content: &t})
			}
		case "tool_use":
			i := len(s.tools)
			s.tools[ev.Index] = i
			var c oaCallResp
			c.Index, c.ID, c.Type, c.Function.Name = &i, ev.ContentBlock.ID, "function", ev.ContentBlock.Name
			out = append(out, oaDelta{ToolCalls: []oaCallResp{c}})
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			if t := ev.Delta.Text; t != "" {
				out = append(out, oaDelta{Content: &t})
			}
		case "input_json_delta":
			i, ok := s.tools[ev.Index]
			if ok && ev.Delta.PartialJSON != "" {
				var c oaCallResp
				c.Index, c.Function.Arguments = &i, ev.Delta.PartialJSON
				out = append(out, oaDelta{ToolCalls: []oaCallResp{c}})
			}
		}
	case "message_delta":
		s.usage.merge(ev.Usage)
		if ev.Delta.StopReason != "" && !s.finished {
			f := finishReason(ev.Delta.StopReason)
			finish = &f
		}
	case "message_stop":
		if !s.finished {
			f := "stop"
			finish = &f
		}
		done = true
	case "error":
		return nil, false, &AnthropicStreamError{Raw: data}
	}
	for _, d := range out {
		b, err := s.chunk(d, nil)
		if err != nil {
			return nil, false, err
		}
		chunks = append(chunks, b)
	}
	if finish != nil {
		s.finished = true
		b, err := s.chunk(oaDelta{}, finish)
		if err != nil {
			return nil, false, err
		}
		chunks = append(chunks, b)
	}
	if done && s.includeUsage {
		b, err := marshal(oaChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: []oaChunkChoice{}, Usage: s.usage.openAI()})
		if err != nil {
			return nil, false, err
		}
		chunks = append(chunks, b)
	}
	return chunks, done, nil
}

// Usage is the token accounting received so far (cumulative, as Anthropic
// reports it), whether or not the client asked for a usage chunk.
func (s *AnthropicStream) Usage() chat.Usage {
	u := s.usage.openAI()
	return chat.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

func (s *AnthropicStream) chunk(d oaDelta, finish *string) ([]byte, error) {
	return marshal(oaChunk{
		ID:      s.id,
		Object:  "chat.completion.chunk",
		Created: s.created,
		Model:   s.model,
		Choices: []oaChunkChoice{{Delta: d, Logprobs: jsonNull, FinishReason: finish}},
	})
}
