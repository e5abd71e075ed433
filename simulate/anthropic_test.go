package simulate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/simulate"
)

const claude = "claude-sonnet-4-5"

var anthropicHeaders = []string{"anthropic-version", "2023-06-01", "x-api-key", "sk-ant-test"}

// messagesResult is what a raw Messages request returned.
type messagesResult struct {
	resp   *http.Response
	body   string
	events []chat.Event // of a stream
	text   string       // concatenated text_delta texts, or the content text
	err    error        // the error that ended reading the body
}

// names returns the stream's event names in order.
func (m messagesResult) names() []string {
	var out []string
	for _, ev := range m.events {
		out = append(out, ev.Name)
	}
	return out
}

// postMessages sends body to provider's Messages endpoint with header
// (name, value pairs) and parses the answer.
func postMessages(tb testing.TB, ctx context.Context, srv *httptest.Server, provider, body string, header ...string) messagesResult {
	tb.Helper()
	resp, raw, err := rawPost(tb, ctx, srv.Client(), srv.URL+"/"+provider+"/v1/messages", body, header...)
	res := messagesResult{resp: resp, body: raw, err: err}
	if resp == nil || resp.StatusCode != 200 {
		return res
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var m struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		if json.Unmarshal([]byte(raw), &m) == nil && len(m.Content) == 1 {
			res.text = m.Content[0].Text
		}
		return res
	}
	r := chat.NewSSEReader(strings.NewReader(raw), 0)
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				tb.Fatalf("reading stream: %v", err)
			}
			return res
		}
		res.events = append(res.events, ev)
		var d struct {
			Type  string `json:"type"`
			Delta struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"delta"`
		}
		if json.Unmarshal(ev.Data, &d) == nil && d.Delta.Type == "text_delta" {
			res.text += d.Delta.Text
		}
	}
}

// messagesBody is an Anthropic request for the conversation of TestCompletion.
func messagesBody(tb testing.TB, stream bool, msgs ...wireMsg) string {
	tb.Helper()
	if len(msgs) == 0 {
		msgs = []wireMsg{msg("user", question.Content)}
	}
	return MustJSON(tb, map[string]any{"model": claude, "max_tokens": 1024, "stream": stream, "messages": msgs})
}

func TestMessagesNonStream(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{Keys: map[string]string{"primary": "sk-ant-test"}})
	body := MustJSON(t, map[string]any{"model": claude, "max_tokens": 1024, "system": "Be brief.",
		"messages": []wireMsg{msg("user", question.Content)}})
	got := postMessages(t, ctx, srv, "primary", body, anthropicHeaders...)
	if got.err != nil || got.resp.StatusCode != 200 {
		t.Fatalf("got %v %s, want 200", got.err, got.body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got.body), &m); err != nil {
		t.Fatal(err)
	}
	system := simulate.Message{Role: "system", Content: "Be brief."}
	text := simulate.Answer("primary", claude, system, question)
	want := map[string]any{
		"type": "message", "role": "assistant", "model": claude,
		"content":       []any{map[string]any{"type": "text", "text": text}},
		"stop_reason":   "end_turn",
		"stop_sequence": nil,
		"usage":         map[string]any{"input_tokens": float64(2 + 9), "output_tokens": float64(simulate.DefaultAnswerWords)},
	}
	id, _ := m["id"].(string)
	if !strings.HasPrefix(id, "msg_sim_") {
		t.Errorf("got id %q, want msg_sim_…", id)
	}
	delete(m, "id")
	if MustJSON(t, m) != MustJSON(t, want) {
		t.Errorf("got %s, want %s", MustJSON(t, m), MustJSON(t, want))
	}
	st := sim.Stats("primary")
	if st.Requests != 1 || st.Streams != 0 || st.Outcomes["ok"] != 1 || !slices.Equal(st.Models, []string{claude}) ||
		string(st.LastRequest) != body {
		t.Errorf("got stats %+v, want one ok request for %s", st, claude)
	}
}

func TestMessagesStream(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	system := simulate.Message{Role: "system", Content: "Be brief.\nBe kind."}
	// Anthropic: system as blocks, content as blocks; OpenAI: strings.
	body := MustJSON(t, map[string]any{"model": claude, "max_tokens": 1024, "stream": true,
		"system":   []any{map[string]any{"type": "text", "text": "Be brief."}, map[string]any{"type": "text", "text": "Be kind."}},
		"messages": []wireMsg{{"role": "user", "content": []any{map[string]any{"type": "text", "text": question.Content}}}}})
	got := postMessages(t, ctx, srv, "primary", body, anthropicHeaders...)
	if got.err != nil || got.resp.StatusCode != 200 {
		t.Fatalf("got %v %s, want 200", got.err, got.body)
	}
	want := []string{"message_start", "content_block_start", "ping"}
	for range simulate.DefaultAnswerWords {
		want = append(want, "content_block_delta")
	}
	want = append(want, "content_block_stop", "message_delta", "message_stop")
	if !slices.Equal(got.names(), want) {
		t.Errorf("got events %v, want %v", got.names(), want)
	}
	for _, ev := range got.events {
		var d struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Type != ev.Name {
			t.Errorf("event %s: got data %s, want type %q", ev.Name, ev.Data, ev.Name)
		}
	}
	openaiSide := postChat(t, ctx, srv, "primary", MustJSON(t, map[string]any{"model": claude,
		"messages": []wireMsg{msg("system", system.Content), msg("user", question.Content)}}))
	if got.text != openaiSide.content || got.text != simulate.Answer("primary", claude, system, question) {
		t.Errorf("got Anthropic text %q, want the OpenAI-side answer %q", got.text, openaiSide.content)
	}
	var delta struct {
		Delta struct {
			StopReason string `json:"stop_reason"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(got.events[len(got.events)-2].Data, &delta); err != nil ||
		delta.Delta.StopReason != "end_turn" || delta.Usage.OutputTokens != simulate.DefaultAnswerWords {
		t.Errorf("got message_delta %s, want end_turn with %d output tokens", got.events[len(got.events)-2].Data, simulate.DefaultAnswerWords)
	}
	if st := sim.Stats("primary"); st.Requests != 2 || st.Streams != 1 {
		t.Errorf("got %d requests, %d streams, want 2 and 1", st.Requests, st.Streams)
	}
}

func TestMessagesPrefillAndMaxTokens(t *testing.T) {
	full := simulate.Answer("primary", claude, question)
	tok := tokensOf(full)
	tests := []struct {
		name      string
		body      func(stream bool) string
		want      string
		wantWords int
	}{
		{"prefill continues", func(stream bool) string {
			return messagesBody(t, stream, msg("user", question.Content), msg("assistant", strings.Join(tok[:7], "")))
		}, strings.Join(tok[7:], ""), len(tok) - 7},
		{"max_tokens cuts the answer", func(stream bool) string {
			return MustJSON(t, map[string]any{"model": claude, "max_tokens": 5, "stream": stream,
				"messages": []wireMsg{msg("user", question.Content)}})
		}, strings.Join(tok[:5], ""), 5},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t)
				_, srv := MustServe(t, simulate.Options{})
				got := postMessages(t, ctx, srv, "primary", tt.body(stream), anthropicHeaders...)
				if got.err != nil || got.resp.StatusCode != 200 {
					t.Fatalf("got %v %s, want 200", got.err, got.body)
				}
				if got.text != tt.want {
					t.Errorf("got %q, want %q", got.text, tt.want)
				}
				if want := `"output_tokens":` + MustJSON(t, tt.wantWords); !strings.Contains(got.body, want) {
					t.Errorf("got %s, want %s", got.body, want)
				}
			})
		}
	}
}

func TestMessagesRejected(t *testing.T) {
	valid := messagesBody(t, false)
	tests := []struct {
		name       string
		provider   string
		body       string
		header     []string
		wantStatus int
		wantType   string
		wantMsg    string
		outcome    string
	}{
		{"missing anthropic-version", "primary", valid, []string{"x-api-key", "sk-ant-test"}, 400, "invalid_request_error",
			"anthropic-version: header is required", "bad_request"},
		{"missing max_tokens", "primary", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders,
			400, "invalid_request_error", "max_tokens: Field required", "bad_request"},
		{"missing model", "primary", `{"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders,
			400, "invalid_request_error", "model: Field required", "bad_request"},
		{"system role in messages", "primary", `{"model":"m","max_tokens":9,"messages":[{"role":"system","content":"hi"}]}`,
			anthropicHeaders, 400, "invalid_request_error", "messages.0.role: Input should be 'user' or 'assistant'", "bad_request"},
		{"invalid JSON", "primary", `{"model":`, anthropicHeaders, 400, "invalid_request_error", "parsing the body", "bad_request"},
		{"wrong key", "primary", valid, []string{"anthropic-version", "2023-06-01", "x-api-key", "sk-wrong"}, 401,
			"authentication_error", "invalid x-api-key", "invalid_api_key"},
		{"key as a bearer token", "primary", valid, []string{"anthropic-version", "2023-06-01", "Authorization", "Bearer sk-ant-test"},
			401, "authentication_error", "invalid x-api-key", "invalid_api_key"},
		{"no prefill", "secondary", messagesBody(t, false, msg("user", "hi"), msg("assistant", "The")), anthropicHeaders,
			400, "invalid_request_error", "does not support assistant message prefill", "reject_prefill"},
		{"unknown provider", "nobody", valid, anthropicHeaders, 404, "not_found_error", `Unknown provider "nobody"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{Keys: map[string]string{"primary": "sk-ant-test"},
				NoPrefill: map[string]bool{"secondary": true}})
			got := postMessages(t, ctx, srv, tt.provider, tt.body, tt.header...)
			if got.err != nil {
				t.Fatal(got.err)
			}
			checkAnthropicError(t, got, tt.wantStatus, tt.wantType, tt.wantMsg)
			if tt.outcome != "" {
				if st := sim.Stats(tt.provider); st.Requests != 1 || st.Outcomes[tt.outcome] != 1 {
					t.Errorf("got stats %+v, want one request with outcome %q", st, tt.outcome)
				}
			}
		})
	}
}

func checkAnthropicError(t *testing.T, got messagesResult, status int, typ, msg string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(got.body), &e); err != nil {
		t.Fatalf("got body %q: %v", got.body, err)
	}
	if got.resp.StatusCode != status || e.Type != "error" || e.Error.Type != typ || !strings.Contains(e.Error.Message, msg) {
		t.Errorf("got %d %s, want %d error of type %q containing %q", got.resp.StatusCode, got.body, status, typ, msg)
	}
}

func TestMessagesErrorFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      simulate.Fault
		wantStatus int
		wantType   string
		wantMsg    string
		retryAfter string
	}{
		{"overloaded", simulate.Fault{Kind: "overloaded"}, 529, "overloaded_error", "Overloaded", ""},
		{"rate_limit", simulate.Fault{Kind: "rate_limit", RetryAfter: "7"}, 429, "rate_limit_error", "rate limit", "7"},
		{"server_error", simulate.Fault{Kind: "server_error"}, 500, "api_error", "Internal server error", ""},
		{"unauthorized", simulate.Fault{Kind: "unauthorized"}, 401, "authentication_error", "invalid x-api-key", ""},
		{"quota", simulate.Fault{Kind: "quota"}, 400, "invalid_request_error", "credit balance is too low", ""},
		{"context_length", simulate.Fault{Kind: "context_length"}, 400, "invalid_request_error", "prompt is too long: 200001 tokens > 200000 maximum", ""},
		{"content_filter", simulate.Fault{Kind: "content_filter"}, 400, "invalid_request_error", "content filtering", ""},
		{"invalid_request", simulate.Fault{Kind: "invalid_request"}, 400, "invalid_request_error", "reject this request", ""},
		{"status 402", simulate.Fault{Kind: "status", Status: 402}, 402, "billing_error", "402 Payment Required", ""},
		{"status 503", simulate.Fault{Kind: "status", Status: 503}, 503, "api_error", "503", ""},
		{"status with type override", simulate.Fault{Kind: "overloaded", Status: 503, Type: "api_error"}, 503, "api_error", "Overloaded", ""},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t)
				sim, srv := MustServe(t, simulate.Options{})
				if err := sim.SetFault("primary", tt.fault); err != nil {
					t.Fatal(err)
				}
				got := postMessages(t, ctx, srv, "primary", messagesBody(t, stream), anthropicHeaders...)
				if got.err != nil {
					t.Fatal(got.err)
				}
				checkAnthropicError(t, got, tt.wantStatus, tt.wantType, tt.wantMsg)
				if h := got.resp.Header.Get("Retry-After"); h != tt.retryAfter {
					t.Errorf("got Retry-After %q, want %q", h, tt.retryAfter)
				}
				if st := sim.Stats("primary"); st.Outcomes[tt.fault.Kind] != 1 {
					t.Errorf("got outcomes %v, want one %q", st.Outcomes, tt.fault.Kind)
				}
			})
		}
	}
}

func TestMessagesStreamFaults(t *testing.T) {
	head := []string{"message_start", "content_block_start", "ping"}
	deltas := func(n int) []string {
		out := slices.Clone(head)
		for range n {
			out = append(out, "content_block_delta")
		}
		return out
	}
	full := simulate.Answer("primary", claude, question)
	tests := []struct {
		name       string
		fault      simulate.Fault
		wantEvents []string
		wantText   string
		wantErr    error
	}{
		{"error_event after message_start", simulate.Fault{Kind: "error_event"}, []string{"message_start", "error"}, "", nil},
		{"cut after two deltas", simulate.Fault{Kind: "cut", AfterChunks: 2}, deltas(2),
			strings.Join(tokensOf(full)[:2], ""), io.ErrUnexpectedEOF},
		{"no_done leaves out message_stop", simulate.Fault{Kind: "no_done"},
			append(deltas(simulate.DefaultAnswerWords), "content_block_stop", "message_delta"), full, nil},
		{"malformed_chunk after one delta", simulate.Fault{Kind: "malformed_chunk", AfterChunks: 1},
			append(deltas(simulate.DefaultAnswerWords+1), "content_block_stop", "message_delta", "message_stop"), full, nil},
		{"reset", simulate.Fault{Kind: "reset"}, nil, "", syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{})
			if err := sim.SetFault("primary", tt.fault); err != nil {
				t.Fatal(err)
			}
			got := postMessages(t, ctx, srv, "primary", messagesBody(t, true), anthropicHeaders...)
			if !errors.Is(got.err, tt.wantErr) {
				t.Errorf("got error %v, want %v", got.err, tt.wantErr)
			}
			if !slices.Equal(got.names(), tt.wantEvents) {
				t.Errorf("got events %v, want %v", got.names(), tt.wantEvents)
			}
			if got.text != tt.wantText {
				t.Errorf("got text %q, want %q", got.text, tt.wantText)
			}
			if tt.fault.Kind == "error_event" &&
				string(got.events[1].Data) != `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` {
				t.Errorf("got error event %s, want Anthropic's overloaded_error", got.events[1].Data)
			}
		})
	}
}

func TestMessagesStall(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	sim, srv := MustServe(t, simulate.Options{})
	if err := sim.SetFault("primary", simulate.Fault{Kind: "stall", AfterChunks: 1}); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/primary/v1/messages",
		strings.NewReader(messagesBody(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := chat.NewSSEReader(resp.Body, 0)
	var names []string
	for len(names) < 4 {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("got %v after %v, want four events", err, names)
		}
		names = append(names, ev.Name)
	}
	if want := []string{"message_start", "content_block_start", "ping", "content_block_delta"}; !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
	cancel() // the stream stalls: only the client giving up ends it
	if _, err := r.Next(); err == nil {
		t.Errorf("got another event after the stall, want an error")
	}
}
