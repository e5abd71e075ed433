package provider

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestAnthropicStreamOpenAISDK reads the translated chunks with the official
// OpenAI SDK's types and accumulator, as a client would.
func TestAnthropicStreamOpenAISDK(t *testing.T) {
	tests := []struct {
		name        string
		sse         string
		wantContent string
		wantFinish  string
		wantTools   []openai.FinishedChatCompletionToolCall
		wantUsage   openai.CompletionUsage
		wantCached  int64
	}{
		{
			name: "text", sse: "text.sse", wantContent: "Hello!", wantFinish: "stop",
			wantUsage: openai.CompletionUsage{PromptTokens: 25, CompletionTokens: 15, TotalTokens: 40},
		},
		{
			name: "tool use", sse: "tool_use.sse", wantContent: "Okay, let's check the weather for San Francisco, CA:", wantFinish: "tool_calls",
			wantTools: []openai.FinishedChatCompletionToolCall{
				{Index: 0, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", ChatCompletionMessageFunctionToolCallFunction: openai.ChatCompletionMessageFunctionToolCallFunction{Name: "get_weather", Arguments: `{"location": "San Francisco, CA"}`}},
				{Index: 1, ID: "toolu_02", ChatCompletionMessageFunctionToolCallFunction: openai.ChatCompletionMessageFunctionToolCallFunction{Name: "get_time", Arguments: `{}`}},
			},
			wantUsage: openai.CompletionUsage{PromptTokens: 472, CompletionTokens: 89, TotalTokens: 561},
		},
		{
			name: "max tokens with cache", sse: "max_tokens_cache.sse", wantContent: "Once upon a time", wantFinish: "length",
			wantUsage:  openai.CompletionUsage{PromptTokens: 2087, CompletionTokens: 5, TotalTokens: 2092},
			wantCached: 2048,
		},
		{
			name: "thinking skipped", sse: "thinking.sse", wantContent: "The greatest common divisor of 1071 and 462 is **21**.", wantFinish: "stop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := translateStream(t, MustReadSSE(t, filepath.Join(anthropicTestdata, "stream", tt.sse)), true)
			if !res.Done {
				t.Fatalf("got done false, want true")
			}
			var acc openai.ChatCompletionAccumulator
			var tools []openai.FinishedChatCompletionToolCall
			for i, raw := range res.Chunks {
				var c openai.ChatCompletionChunk
				if err := json.Unmarshal(raw, &c); err != nil {
					t.Fatalf("chunk %d: %v\n%s", i, err, raw)
				}
				if c.ID == "" || c.Object != "chat.completion.chunk" || c.Created != testCreated.Unix() || c.Model == "" {
					t.Errorf("chunk %d: got id %q object %q created %d model %q, want all set", i, c.ID, c.Object, c.Created, c.Model)
				}
				last := i == len(res.Chunks)-1
				if last != (len(c.Choices) == 0) {
					t.Errorf("chunk %d: got %d choices, want none only in the last (usage) chunk", i, len(c.Choices))
				}
				if last != c.JSON.Usage.Valid() {
					t.Errorf("chunk %d: got usage present %v, want %v", i, c.JSON.Usage.Valid(), last)
				}
				if !acc.AddChunk(c) {
					t.Fatalf("chunk %d: the SDK accumulator refused it:\n%s", i, raw)
				}
				if tc, ok := acc.JustFinishedToolCall(); ok {
					tools = append(tools, tc)
				}
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("got %d choices, want 1", len(acc.Choices))
			}
			ch := acc.Choices[0]
			if ch.Message.Content != tt.wantContent {
				t.Errorf("got content %q, want %q", ch.Message.Content, tt.wantContent)
			}
			if ch.FinishReason != tt.wantFinish {
				t.Errorf("got finish_reason %q, want %q", ch.FinishReason, tt.wantFinish)
			}
			if len(ch.Message.ToolCalls) != len(tt.wantTools) {
				t.Fatalf("got %d tool calls, want %d", len(ch.Message.ToolCalls), len(tt.wantTools))
			}
			for i, want := range tt.wantTools {
				got := ch.Message.ToolCalls[i]
				if got.ID != want.ID || got.Type != "function" || got.Function.Name != want.Name || got.Function.Arguments != want.Arguments {
					t.Errorf("tool call %d: got id %q type %q %s(%s), want %q function %s(%s)", i, got.ID, got.Type, got.Function.Name, got.Function.Arguments, want.ID, want.Name, want.Arguments)
				}
				if !json.Valid([]byte(got.Function.Arguments)) {
					t.Errorf("tool call %d: got arguments %q, want valid JSON", i, got.Function.Arguments)
				}
			}
			if len(tools) != len(tt.wantTools) {
				t.Fatalf("got %d tool calls reported finished by the SDK, want %d", len(tools), len(tt.wantTools))
			}
			for i, want := range tt.wantTools {
				if got := tools[i]; got.Index != want.Index || got.ID != want.ID || got.Name != want.Name || got.Arguments != want.Arguments {
					t.Errorf("finished tool call %d: got %+v, want %+v", i, got, want)
				}
			}
			u := acc.Usage
			if u.PromptTokens != tt.wantUsage.PromptTokens || u.CompletionTokens != tt.wantUsage.CompletionTokens || u.TotalTokens != tt.wantUsage.TotalTokens {
				t.Errorf("got usage %d/%d/%d, want %d/%d/%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens, tt.wantUsage.PromptTokens, tt.wantUsage.CompletionTokens, tt.wantUsage.TotalTokens)
			}
			if u.PromptTokensDetails.CachedTokens != tt.wantCached {
				t.Errorf("got cached tokens %d, want %d", u.PromptTokensDetails.CachedTokens, tt.wantCached)
			}
		})
	}
}

// TestAnthropicResponseOpenAISDK reads translated responses with the
// official OpenAI SDK's ChatCompletion.
func TestAnthropicResponseOpenAISDK(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		wantContent string
		wantFinish  string
		wantTools   []string // name(arguments)
		wantTotal   int64
	}{
		{"text", "text.in.json", "Hi! My name is Claude.", "stop", nil, 2598},
		{"tool use", "tool_use.in.json", "I'll check the current weather in San Francisco for you.", "tool_calls", []string{`get_weather({"location":"San Francisco, CA","unit":"celsius"})`}, 561},
		{"tool use only", "tool_use_only.in.json", "", "tool_calls", []string{`get_weather({"location":"Boston, MA"})`, `get_time({})`}, 140},
		{"max tokens", "max_tokens.in.json", "Once upon a time, in a land far", "length", nil, 22},
		{"refusal", "refusal.in.json", "", "content_filter", nil, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := AnthropicResponse(MustRead(t, filepath.Join(anthropicTestdata, "response", tt.file)), testCreated)
			if err != nil {
				t.Fatal(err)
			}
			var c openai.ChatCompletion
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatalf("got %v, want a ChatCompletion:\n%s", err, body)
			}
			if c.Object != "chat.completion" || c.Created != testCreated.Unix() || c.ID == "" || c.Model == "" {
				t.Errorf("got object %q created %d id %q model %q", c.Object, c.Created, c.ID, c.Model)
			}
			if len(c.Choices) != 1 {
				t.Fatalf("got %d choices, want 1", len(c.Choices))
			}
			m := c.Choices[0].Message
			if m.Role != "assistant" || m.Content != tt.wantContent {
				t.Errorf("got %s %q, want assistant %q", m.Role, m.Content, tt.wantContent)
			}
			if c.Choices[0].FinishReason != tt.wantFinish {
				t.Errorf("got finish_reason %q, want %q", c.Choices[0].FinishReason, tt.wantFinish)
			}
			var tools []string
			for _, tc := range m.ToolCalls {
				if tc.Type != "function" || tc.ID == "" {
					t.Errorf("got tool call type %q id %q, want function with an id", tc.Type, tc.ID)
				}
				tools = append(tools, tc.Function.Name+"("+tc.Function.Arguments+")")
			}
			if len(tools) != len(tt.wantTools) {
				t.Fatalf("got tool calls %q, want %q", tools, tt.wantTools)
			}
			for i := range tools {
				if tools[i] != tt.wantTools[i] {
					t.Errorf("tool call %d: got %s, want %s", i, tools[i], tt.wantTools[i])
				}
			}
			if c.Usage.TotalTokens != tt.wantTotal || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
				t.Errorf("got usage %+v, want total %d = prompt + completion", c.Usage, tt.wantTotal)
			}
		})
	}
}
