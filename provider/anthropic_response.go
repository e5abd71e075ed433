package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrAnthropicResponse is wrapped by every failure to read an Anthropic
// Messages response.
var ErrAnthropicResponse = errors.New("unreadable Anthropic response")

// anResponse is an Anthropic Messages response, and the message of a
// stream's message_start event.
type anResponse struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Model      string          `json:"model"`
	Content    []anRespBlock   `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      anUsage         `json:"usage"`
	Error      json.RawMessage `json:"error"`
}

// anRespBlock is a response content block. Only text and tool_use carry
// anything an OpenAI client can read; thinking, redacted_thinking and
// server-tool blocks (server_tool_use, web_search_tool_result…) are dropped.
type anRespBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// anUsage is Anthropic's token accounting. Pointers tell a count that is
// absent from one that is zero: message_delta carries cumulative counts,
// sometimes only output_tokens.
type anUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// merge takes every count present in u.
func (a *anUsage) merge(u anUsage) {
	if u.InputTokens != nil {
		a.InputTokens = u.InputTokens
	}
	if u.OutputTokens != nil {
		a.OutputTokens = u.OutputTokens
	}
	if u.CacheCreationInputTokens != nil {
		a.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens != nil {
		a.CacheReadInputTokens = u.CacheReadInputTokens
	}
}

// openAI converts to OpenAI usage: prompt tokens count every input token,
// cached or not, as OpenAI's do; cache reads are reported as cached_tokens.
func (a anUsage) openAI() *oaUsage {
	n := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	prompt := n(a.InputTokens) + n(a.CacheCreationInputTokens) + n(a.CacheReadInputTokens)
	u := &oaUsage{PromptTokens: prompt, CompletionTokens: n(a.OutputTokens), TotalTokens: prompt + n(a.OutputTokens)}
	if a.CacheReadInputTokens != nil {
		u.PromptTokensDetails = &oaPromptDetails{CachedTokens: *a.CacheReadInputTokens}
	}
	return u
}

type oaUsage struct {
	PromptTokens        int              `json:"prompt_tokens"`
	CompletionTokens    int              `json:"completion_tokens"`
	TotalTokens         int              `json:"total_tokens"`
	PromptTokensDetails *oaPromptDetails `json:"prompt_tokens_details,omitempty"`
}

type oaPromptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type oaCompletion struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   *oaUsage   `json:"usage"`
}

type oaChoice struct {
	Index        int             `json:"index"`
	Message      oaRespMessage   `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type oaRespMessage struct {
	Role      string       `json:"role"`
	Content   *string      `json:"content"`
	Refusal   *string      `json:"refusal"`
	ToolCalls []oaCallResp `json:"tool_calls,omitempty"`
}

type oaCallResp struct {
	Index    *int   `json:"index,omitempty"` // streams only
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

var jsonNull = json.RawMessage("null")

// finishReason maps Anthropic's stop_reason. pause_turn (a server tool's
// long turn paused) has no OpenAI equivalent and ends the turn as "stop";
// model_context_window_exceeded is "length" like max_tokens.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn, or none given
		return "stop"
	}
}

// AnthropicResponse translates a non-streaming Anthropic Messages response
// into an OpenAI chat.completion body created at created. Text blocks are
// concatenated into message.content (null when the reply is only tool
// calls); tool_use blocks become message.tool_calls, their input as the
// arguments string; the "msg_…" id and the model are kept.
func AnthropicResponse(body []byte, created time.Time) ([]byte, error) {
	var in anResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAnthropicResponse, err)
	}
	if in.Type == "error" {
		return nil, &AnthropicStreamError{Raw: body}
	}
	if in.Type != "message" {
		return nil, fmt.Errorf("%w: type %q, want \"message\"", ErrAnthropicResponse, in.Type)
	}
	msg := oaRespMessage{Role: "assistant"}
	var text strings.Builder
	hasText := false
	for _, b := range in.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "tool_use":
			var c oaCallResp
			c.ID, c.Type, c.Function.Name = b.ID, "function", b.Name
			c.Function.Arguments = string(compactJSON(b.Input))
			msg.ToolCalls = append(msg.ToolCalls, c)
		}
	}
	if s := text.String(); hasText || len(msg.ToolCalls) == 0 {
		msg.Content = &s
	}
	out := oaCompletion{
		ID:      in.ID,
		Object:  "chat.completion",
		Created: created.Unix(),
		Model:   in.Model,
		Choices: []oaChoice{{Message: msg, Logprobs: jsonNull, FinishReason: finishReason(in.StopReason)}},
		Usage:   in.Usage.openAI(),
	}
	return marshal(out)
}

// compactJSON returns a tool input as compact JSON text, "{}" when absent.
func compactJSON(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return []byte("{}")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}
