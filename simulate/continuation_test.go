package simulate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/simulate"
)

const model = "gpt-4o-mini"

// tokensOf splits an answer into its stream deltas: the first word, then
// each later word with its leading space.
func tokensOf(answer string) []string {
	words := strings.Fields(answer)
	for i := 1; i < len(words); i++ {
		words[i] = " " + words[i]
	}
	return words
}

// MustJSON marshals v or fails the test.
func MustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// wireMsg is one message of a raw request body.
type wireMsg = map[string]any

func msg(role, content string) wireMsg { return wireMsg{"role": role, "content": content} }

// chatResult is what a raw OpenAI-side request returned.
type chatResult struct {
	status     int
	body       string // the whole body of a non-200 or non-stream answer
	content    string
	deltas     int // stream chunks carrying content
	completion int // usage.completion_tokens
	done       int // data: [DONE] lines
	err        error
}

// postChat sends body to provider's chat completions endpoint; a stream is
// read to its end with chat.SSEReader.
func postChat(tb testing.TB, ctx context.Context, srv *httptest.Server, provider, body string) chatResult {
	tb.Helper()
	var in struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal([]byte(body), &in)
	resp, raw, err := rawPost(tb, ctx, srv.Client(), srv.URL+"/"+provider+"/v1/chat/completions", body)
	if err != nil {
		return chatResult{err: err}
	}
	res := chatResult{status: resp.StatusCode, body: raw}
	if resp.StatusCode != 200 {
		return res
	}
	if !in.Stream {
		var c struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Usage chat.Usage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(raw), &c); err != nil || len(c.Choices) != 1 {
			tb.Fatalf("got body %s (%v), want one choice", raw, err)
		}
		res.content, res.completion = c.Choices[0].Message.Content, c.Usage.CompletionTokens
		return res
	}
	r := chat.NewSSEReader(strings.NewReader(raw), 0)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			tb.Fatalf("reading stream: %v", err)
		}
		if string(ev.Data) == "[DONE]" {
			res.done++
			continue
		}
		var c chat.Chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			tb.Fatalf("got chunk %s: %v", ev.Data, err)
		}
		if c.Usage != nil {
			res.completion = c.Usage.CompletionTokens
		}
		for _, ch := range c.Choices {
			var text string
			if raw, ok := ch.Delta["content"]; ok && json.Unmarshal(raw, &text) == nil && text != "" {
				res.content += text
				res.deltas++
			}
		}
	}
}

// continuationBody builds a request continuing prefix in one of the ways the
// simulator understands.
func continuationBody(tb testing.TB, mode, prefix string, stream bool) string {
	tb.Helper()
	msgs := []wireMsg{msg("user", question.Content)}
	body := map[string]any{"model": model, "stream": stream}
	if stream {
		body["stream_options"] = map[string]any{"include_usage": true}
	}
	switch mode {
	case "prefill":
		msgs = append(msgs, msg("assistant", prefix))
	case "prefix flag":
		m := msg("assistant", prefix)
		m["prefix"] = true
		msgs = append(msgs, m)
	case "continue_final_message":
		msgs = append(msgs, wireMsg{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": prefix}}})
		body["continue_final_message"] = true
		body["add_generation_prompt"] = false
	case "instruction":
		msgs = append(msgs, msg("assistant", prefix), msg("user", "Continue exactly where you left off."))
	default:
		tb.Fatalf("unknown mode %q", mode)
	}
	body["messages"] = msgs
	return MustJSON(tb, body)
}

var continuationModes = []string{"prefill", "prefix flag", "continue_final_message", "instruction"}

func TestContinuation(t *testing.T) {
	full := simulate.Answer("primary", model, question)
	tok := tokensOf(full)
	join := func(from, to int) string { return strings.Join(tok[from:to], "") }
	n := len(tok)
	tests := []struct {
		name    string
		prefix  string
		overlap int
		want    string
		deltas  int
	}{
		{"cut after the first word", join(0, 1), 0, join(1, n), n - 1},
		{"cut in the middle", join(0, 12), 0, join(12, n), n - 12},
		{"cut before the last word", join(0, n-1), 0, join(n-1, n), 1},
		{"cut inside a word", join(0, 5) + tok[5][:3], 0, tok[5][3:] + join(6, n), n - 5},
		{"trailing space trimmed and given back", join(0, 5) + " ", 0, join(5, n), n - 5},
		{"overlap of two words", join(0, 12), 2, join(10, n), n - 10},
		{"overlap of a cut word", join(0, 5) + tok[5][:3], 1, join(5, n), n - 5},
		{"overlap longer than the prefix", join(0, 1), 3, full, n},
	}
	for _, tt := range tests {
		for _, mode := range continuationModes {
			for _, stream := range []bool{true, false} {
				name := tt.name + "/" + mode
				if stream {
					name += "/stream"
				}
				t.Run(name, func(t *testing.T) {
					ctx := testCtx(t)
					sim, srv := MustServe(t, simulate.Options{})
					if tt.overlap > 0 {
						if err := sim.SetFault("primary", simulate.Fault{Kind: "overlap", Overlap: tt.overlap}); err != nil {
							t.Fatal(err)
						}
					}
					got := postChat(t, ctx, srv, "primary", continuationBody(t, mode, tt.prefix, stream))
					if got.err != nil || got.status != 200 {
						t.Fatalf("got %d %s (%v), want 200", got.status, got.body, got.err)
					}
					if got.content != tt.want {
						t.Errorf("got %q, want %q", got.content, tt.want)
					}
					if tt.overlap == 0 {
						if want := simulate.Continuation(full, tt.prefix); got.content != want {
							t.Errorf("got %q, want Continuation() %q", got.content, want)
						}
						if joined := strings.TrimRight(tt.prefix, " ") + got.content; joined != full {
							t.Errorf("got prefix+continuation %q, want the full answer %q", joined, full)
						}
					}
					if got.completion != tt.deltas {
						t.Errorf("got completion_tokens %d, want %d", got.completion, tt.deltas)
					}
					if stream && (got.deltas != tt.deltas || got.done != 1) {
						t.Errorf("got %d content chunks and %d [DONE], want %d and 1", got.deltas, got.done, tt.deltas)
					}
				})
			}
		}
	}
}

func TestContinuationEdges(t *testing.T) {
	full := simulate.Answer("primary", model, question)
	instruction := msg("user", "Continue.")
	tests := []struct {
		name string
		msgs []wireMsg
		want string
	}{
		{"prefill of the whole answer: nothing left", []wireMsg{msg("user", question.Content), msg("assistant", full)}, ""},
		{"empty prefill: the whole answer", []wireMsg{msg("user", question.Content), msg("assistant", "")}, full},
		{"prefill that is not a prefix: an ordinary answer",
			[]wireMsg{msg("user", question.Content), msg("assistant", "Hello there")},
			simulate.Answer("primary", model, question, simulate.Message{Role: "assistant", Content: "Hello there"})},
		{"whole earlier answer then a user message: multi-turn",
			[]wireMsg{msg("user", question.Content), msg("assistant", full), instruction},
			simulate.Answer("primary", model, question, simulate.Message{Role: "assistant", Content: full},
				simulate.Message{Role: "user", Content: "Continue."})},
		{"empty assistant then a user message: multi-turn",
			[]wireMsg{msg("user", question.Content), msg("assistant", ""), instruction},
			simulate.Answer("primary", model, question, simulate.Message{Role: "assistant"},
				simulate.Message{Role: "user", Content: "Continue."})},
		{"system message is part of the conversation",
			[]wireMsg{msg("system", "Be brief."), msg("user", question.Content), msg("assistant", tokensOf(
				simulate.Answer("primary", model, simulate.Message{Role: "system", Content: "Be brief."}, question))[0])},
			strings.Join(tokensOf(simulate.Answer("primary", model, simulate.Message{Role: "system", Content: "Be brief."}, question))[1:], "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			_, srv := MustServe(t, simulate.Options{})
			got := postChat(t, ctx, srv, "primary", MustJSON(t, map[string]any{"model": model, "messages": tt.msgs}))
			if got.err != nil || got.status != 200 {
				t.Fatalf("got %d %s (%v), want 200", got.status, got.body, got.err)
			}
			if got.content != tt.want {
				t.Errorf("got %q, want %q", got.content, tt.want)
			}
		})
	}
}

func TestContinuationHelper(t *testing.T) {
	tests := []struct{ name, full, prefix, want string }{
		{"word boundary", "The sky is blue.", "The sky", " is blue."},
		{"trailing space", "The sky is blue.", "The sky \n", " is blue."},
		{"inside a word", "The sky is blue.", "The s", "ky is blue."},
		{"whole", "The sky is blue.", "The sky is blue.", ""},
		{"not a prefix", "The sky is blue.", "A sky", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := simulate.Continuation(tt.full, tt.prefix); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoPrefill(t *testing.T) {
	full := simulate.Answer("primary", model, question)
	prefix := strings.Join(tokensOf(full)[:4], "")
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       string // content, or a part of the error body
	}{
		{"prefill rejected", continuationBody(t, "prefill", prefix, false), 400, "does not support assistant message prefill"},
		{"prefix flag rejected", continuationBody(t, "prefix flag", prefix, true), 400, "does not support assistant message prefill"},
		{"continue_final_message rejected", continuationBody(t, "continue_final_message", prefix, false), 400, "invalid_request_error"},
		{"instruction-based continuation served", continuationBody(t, "instruction", prefix, false), 200, simulate.Continuation(full, prefix)},
		{"ordinary request served", MustJSON(t, map[string]any{"model": model, "messages": []wireMsg{msg("user", question.Content)}}), 200, full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{NoPrefill: map[string]bool{"primary": true}})
			got := postChat(t, ctx, srv, "primary", tt.body)
			if got.err != nil || got.status != tt.wantStatus {
				t.Fatalf("got %d %s (%v), want %d", got.status, got.body, got.err, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				if !strings.Contains(got.body, tt.want) {
					t.Errorf("got body %s, want it to contain %q", got.body, tt.want)
				}
				if n := sim.Stats("primary").Outcomes["reject_prefill"]; n != 1 {
					t.Errorf("got %d reject_prefill outcomes, want 1", n)
				}
				return
			}
			if got.content != tt.want {
				t.Errorf("got %q, want %q", got.content, tt.want)
			}
			// other providers keep prefill
			if other := postChat(t, ctx, srv, "backup", continuationBody(t, "prefill", prefix, false)); other.status != 200 {
				t.Errorf("backup: got %d %s, want 200", other.status, other.body)
			}
		})
	}
}

func TestContinueFinalMessageNeedsAssistant(t *testing.T) {
	ctx := testCtx(t)
	_, srv := MustServe(t, simulate.Options{})
	got := postChat(t, ctx, srv, "primary", MustJSON(t, map[string]any{"model": model,
		"messages": []wireMsg{msg("user", "hi")}, "continue_final_message": true}))
	if got.status != 400 || !strings.Contains(got.body, `"param":"continue_final_message"`) {
		t.Errorf("got %d %s, want 400 naming continue_final_message", got.status, got.body)
	}
}

func TestOverlapFault(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	if err := sim.SetFault("primary", simulate.Fault{Kind: "overlap", Count: 1}); err != nil {
		t.Fatal(err)
	}
	full := simulate.Answer("primary", model, question)
	tok := tokensOf(full)
	plain := MustJSON(t, map[string]any{"model": model, "messages": []wireMsg{msg("user", question.Content)}})
	cont := continuationBody(t, "prefill", strings.Join(tok[:6], ""), false)
	steps := []struct {
		name string
		body string
		want string
	}{
		{"ordinary request unaffected and not counted", plain, full},
		{"continuation repeats DefaultOverlap words", cont, strings.Join(tok[6-simulate.DefaultOverlap:], "")},
		{"count spent", cont, strings.Join(tok[6:], "")},
	}
	for _, st := range steps {
		if got := postChat(t, ctx, srv, "primary", st.body); got.content != st.want {
			t.Errorf("%s: got %q (%d %s), want %q", st.name, got.content, got.status, got.body, st.want)
		}
	}

	invalid := []struct {
		name  string
		fault simulate.Fault
		field string
	}{
		{"negative", simulate.Fault{Kind: "overlap", Overlap: -1}, "overlap"},
		{"kind without an answer", simulate.Fault{Kind: "rate_limit", Overlap: 2}, "overlap"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			var ve *simulate.ValidationError
			if err := tt.fault.Validate(); !errors.As(err, &ve) || ve.Field != tt.field {
				t.Errorf("got %v, want a ValidationError on %q", err, tt.field)
			}
		})
	}
	if err := (simulate.Fault{Kind: "cut", Overlap: 1}).Validate(); err != nil {
		t.Errorf("cut with overlap: got %v, want valid", err)
	}
}

func TestContinuationEveryCut(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{AnswerWords: 8})
	full := sim.Answer("primary", model, question)
	for cut := range len(full) + 1 {
		for _, mode := range []string{"prefill", "instruction"} {
			if mode == "instruction" && (cut == 0 || cut == len(full) || strings.TrimSpace(full[:cut]) == "") {
				continue
			}
			got := postChat(t, ctx, srv, "primary", continuationBody(t, mode, full[:cut], true))
			if joined := strings.TrimRight(full[:cut], " ") + got.content; joined != full || got.done != 1 {
				t.Errorf("%s cut at %d: got %q + %q (%d [DONE]), want %q", mode, cut, full[:cut], got.content, got.done, full)
			}
		}
	}
}
