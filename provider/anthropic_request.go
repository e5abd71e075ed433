package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/understudy/understudy/chat"
)

// AnthropicVersion is the anthropic-version header value the translations
// in this package are written against.
const AnthropicVersion = "2023-06-01"

// The OpenAI request fields AnthropicRequest reads. Every other field is
// dropped because the Messages API has no equivalent: logprobs, top_logprobs,
// response_format (text, json_object and json_schema alike),
// frequency_penalty, presence_penalty, seed, logit_bias, service_tier, store,
// metadata, reasoning_effort, modalities, audio, prediction,
// web_search_options, prompt_cache_key, stream_options (the stream
// translator takes include_usage separately), verbosity, and a tool's
// "strict" flag. n greater than 1 is refused: dropping it would silently
// return fewer choices than asked for.
type oaRequest struct {
	Messages            []oaMessage     `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stream              bool            `json:"stream"`
	User                string          `json:"user"`
	SafetyIdentifier    string          `json:"safety_identifier"`
	N                   *int            `json:"n"`
	Tools               []oaTool        `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
}

type oaMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaToolCall    `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL struct {
		URL string `json:"url"`
	} `json:"image_url"`
	File struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
	} `json:"file"`
}

// The Anthropic Messages request, fields in the order the API reference
// lists them.
type anRequest struct {
	Model         string        `json:"model"`
	MaxTokens     int           `json:"max_tokens"`
	System        any           `json:"system,omitempty"`
	Messages      []anMessage   `json:"messages"`
	Tools         []anTool      `json:"tools,omitempty"`
	ToolChoice    *anToolChoice `json:"tool_choice,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Metadata      *anMetadata   `json:"metadata,omitempty"`
}

type anMetadata struct {
	UserID string `json:"user_id"`
}

type anMessage struct {
	Role    string    `json:"role"`
	Content []anBlock `json:"-"`
}

// MarshalJSON writes a lone text block as a plain string, the form the
// Messages API documentation uses, and anything else as blocks.
func (m anMessage) MarshalJSON() ([]byte, error) {
	var content any = m.Content
	if len(m.Content) == 1 && m.Content[0].Type == "text" {
		content = m.Content[0].Text
	}
	return marshal(struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	}{m.Role, content})
}

// anBlock is a request content block: text, image, document, tool_use or
// tool_result.
type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *anSource       `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// AnthropicRequest translates an OpenAI chat completion request body into an
// Anthropic Messages request body for model. Invalid or untranslatable input
// (n > 1, an unsupported content part or role, tool-call arguments that are
// not a JSON object) is a *chat.FieldError, which the gateway answers with a
// 400.
//
// Mapping: system and developer messages, wherever they stand, become the
// top-level system (a string, or text blocks when there are several);
// consecutive messages of the same role are merged; tool messages become
// user tool_result blocks, placed before any text of the same turn; a final
// assistant message stays last as a prefill, trailing whitespace trimmed.
// max_completion_tokens, else max_tokens, else defaultMaxTokens becomes
// max_tokens; temperature is capped at 1 (Anthropic's range is 0–1,
// OpenAI's 0–2) and top_p is dropped when temperature is also set, which
// current Claude models refuse; user (or safety_identifier) becomes
// metadata.user_id; parallel_tool_calls false becomes
// tool_choice.disable_parallel_tool_use.
func AnthropicRequest(openaiBody []byte, model string, defaultMaxTokens int) ([]byte, error) {
	var in oaRequest
	if err := json.Unmarshal(openaiBody, &in); err != nil {
		return nil, &chat.FieldError{Message: "invalid JSON body: " + err.Error()}
	}
	if in.N != nil && *in.N > 1 {
		return nil, &chat.FieldError{Field: "n", Message: fmt.Sprintf("%d choices cannot be served by an Anthropic target, which returns one", *in.N)}
	}
	out := anRequest{Model: model, MaxTokens: defaultMaxTokens, Stream: in.Stream}
	switch {
	case in.MaxCompletionTokens != nil:
		out.MaxTokens = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		out.MaxTokens = *in.MaxTokens
	}
	var err error
	if out.StopSequences, err = stopSequences(in.Stop); err != nil {
		return nil, err
	}
	if t := in.Temperature; t != nil {
		v := min(*t, 1)
		out.Temperature = &v
	} else {
		out.TopP = in.TopP
	}
	if id := cmp.Or(in.SafetyIdentifier, in.User); id != "" {
		out.Metadata = &anMetadata{UserID: id}
	}
	if out.Tools, err = anthropicTools(in.Tools); err != nil {
		return nil, err
	}
	if len(out.Tools) > 0 {
		if out.ToolChoice, err = anthropicToolChoice(in.ToolChoice, in.ParallelToolCalls); err != nil {
			return nil, err
		}
	}
	var system []anBlock
	for i, m := range in.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		var blocks []anBlock
		role := m.Role
		switch m.Role {
		case "system", "developer":
			text, err := textOnly(m.Content, field+".content")
			if err != nil {
				return nil, err
			}
			if text != "" {
				system = append(system, anBlock{Type: "text", Text: text})
			}
			continue
		case "user":
			blocks, err = contentBlocks(m.Content, field+".content", true)
		case "assistant":
			blocks, err = assistantBlocks(m, field)
		case "tool":
			role = "user"
			blocks, err = toolResult(m, field)
		default:
			return nil, &chat.FieldError{Field: field + ".role", Message: fmt.Sprintf("%q messages cannot be sent to an Anthropic target; use tool messages", m.Role)}
		}
		if err != nil {
			return nil, err
		}
		out.Messages = appendMessage(out.Messages, role, blocks)
	}
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == "assistant" {
		out.Messages[n-1].Content = trimPrefill(out.Messages[n-1].Content)
		if len(out.Messages[n-1].Content) == 0 {
			out.Messages = out.Messages[:n-1]
		}
	}
	switch len(system) {
	case 0:
	case 1:
		out.System = system[0].Text
	default:
		out.System = system
	}
	if out.Messages == nil {
		out.Messages = []anMessage{}
	}
	return marshal(out)
}

// appendMessage adds a turn, merging it into the previous one when the role
// repeats, as Anthropic requires alternating roles. In a user turn,
// tool_result blocks go first, as Anthropic requires.
func appendMessage(msgs []anMessage, role string, blocks []anBlock) []anMessage {
	if len(blocks) == 0 {
		return msgs
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == role {
		merged := append(msgs[n-1].Content, blocks...)
		if role == "user" {
			var results, rest []anBlock
			for _, b := range merged {
				if b.Type == "tool_result" {
					results = append(results, b)
				} else {
					rest = append(rest, b)
				}
			}
			merged = append(results, rest...)
		}
		msgs[n-1].Content = merged
		return msgs
	}
	return append(msgs, anMessage{Role: role, Content: blocks})
}

// trimPrefill trims the trailing whitespace Anthropic rejects at the end of
// a final assistant turn, dropping text blocks left empty.
func trimPrefill(blocks []anBlock) []anBlock {
	for len(blocks) > 0 {
		last := &blocks[len(blocks)-1]
		if last.Type != "text" {
			return blocks
		}
		last.Text = strings.TrimRightFunc(last.Text, unicode.IsSpace)
		if last.Text != "" {
			return blocks
		}
		blocks = blocks[:len(blocks)-1]
	}
	return blocks
}

// parts decodes message content: a string becomes one text part, null none.
func parts(content json.RawMessage, field string) ([]oaPart, error) {
	content = bytes.TrimSpace(content)
	if len(content) == 0 || string(content) == "null" {
		return nil, nil
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return nil, &chat.FieldError{Field: field, Message: "invalid string"}
		}
		return []oaPart{{Type: "text", Text: s}}, nil
	}
	var ps []oaPart
	if err := json.Unmarshal(content, &ps); err != nil {
		return nil, &chat.FieldError{Field: field, Message: "must be a string, an array of content parts, or null"}
	}
	return ps, nil
}

// textOnly joins the text parts of system, developer and tool content.
func textOnly(content json.RawMessage, field string) (string, error) {
	ps, err := parts(content, field)
	if err != nil {
		return "", err
	}
	var texts []string
	for i, p := range ps {
		if p.Type != "text" {
			return "", &chat.FieldError{Field: fmt.Sprintf("%s[%d].type", field, i), Message: fmt.Sprintf("%q parts are not allowed here; only text", p.Type)}
		}
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// contentBlocks translates user or assistant content. Empty text is left
// out: Anthropic rejects empty text blocks.
func contentBlocks(content json.RawMessage, field string, media bool) ([]anBlock, error) {
	ps, err := parts(content, field)
	if err != nil {
		return nil, err
	}
	var blocks []anBlock
	for i, p := range ps {
		pf := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case p.Type == "text":
			if p.Text != "" {
				blocks = append(blocks, anBlock{Type: "text", Text: p.Text})
			}
		case p.Type == "refusal" && !media:
			// An assistant's earlier refusal carries nothing to resend.
		case p.Type == "image_url" && media:
			src, err := mediaSource(p.ImageURL.URL, pf+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anBlock{Type: "image", Source: src})
		case p.Type == "file" && media && p.File.FileData != "":
			src, err := mediaSource(p.File.FileData, pf+".file.file_data")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anBlock{Type: "document", Source: src})
		default:
			return nil, &chat.FieldError{Field: pf + ".type", Message: fmt.Sprintf("%q parts cannot be sent to an Anthropic target", p.Type)}
		}
	}
	return blocks, nil
}

// mediaSource turns a data: URL into a base64 source and an http(s) URL
// into a url source.
func mediaSource(u, field string) (*anSource, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mediaType == "" {
			return nil, &chat.FieldError{Field: field, Message: "data URLs must be data:<media type>;base64,<data>"}
		}
		return &anSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &anSource{Type: "url", URL: u}, nil
	}
	return nil, &chat.FieldError{Field: field, Message: "must be an http(s) or base64 data URL"}
}

func assistantBlocks(m oaMessage, field string) ([]anBlock, error) {
	blocks, err := contentBlocks(m.Content, field+".content", false)
	if err != nil {
		return nil, err
	}
	for j, tc := range m.ToolCalls {
		tf := fmt.Sprintf("%s.tool_calls[%d]", field, j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, &chat.FieldError{Field: tf + ".type", Message: fmt.Sprintf("%q tool calls cannot be sent to an Anthropic target", tc.Type)}
		}
		input := json.RawMessage(strings.TrimSpace(tc.Function.Arguments))
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(input, &obj) != nil || obj == nil {
			return nil, &chat.FieldError{Field: tf + ".function.arguments", Message: "must be a JSON object for an Anthropic target"}
		}
		blocks = append(blocks, anBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

func toolResult(m oaMessage, field string) ([]anBlock, error) {
	if m.ToolCallID == "" {
		return nil, &chat.FieldError{Field: field + ".tool_call_id", Message: "required"}
	}
	text, err := textOnly(m.Content, field+".content")
	if err != nil {
		return nil, err
	}
	b := anBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
	if text != "" {
		b.Content = text
	}
	return []anBlock{b}, nil
}

func anthropicTools(tools []oaTool) ([]anTool, error) {
	var out []anTool
	for i, t := range tools {
		if t.Type != "function" {
			return nil, &chat.FieldError{Field: fmt.Sprintf("tools[%d].type", i), Message: fmt.Sprintf("%q tools cannot be sent to an Anthropic target", t.Type)}
		}
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(schema) == "null" {
			// OpenAI allows omitting parameters; Anthropic requires a schema.
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out = append(out, anTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	return out, nil
}

func anthropicToolChoice(raw json.RawMessage, parallel *bool) (*anToolChoice, error) {
	tc := &anToolChoice{Type: "auto"}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		if parallel == nil || *parallel {
			return nil, nil
		}
	case raw[0] == '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto":
		case "none":
			return &anToolChoice{Type: "none"}, nil
		case "required":
			tc.Type = "any"
		default:
			return nil, &chat.FieldError{Field: "tool_choice", Message: fmt.Sprintf("%q is not one of none, auto, required", s)}
		}
	default:
		var named struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
			return nil, &chat.FieldError{Field: "tool_choice", Message: `must be none, auto, required or {"type":"function","function":{"name":...}} for an Anthropic target`}
		}
		tc.Type, tc.Name = "tool", named.Function.Name
	}
	tc.DisableParallelToolUse = parallel != nil && !*parallel
	return tc, nil
}

func stopSequences(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &chat.FieldError{Field: "stop", Message: "invalid string"}
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &chat.FieldError{Field: "stop", Message: "must be a string or an array of strings"}
	}
	return list, nil
}

// marshal encodes without HTML escaping, so text reads as sent.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
