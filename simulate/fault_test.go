package simulate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/understudy/understudy/simulate"
)

// observed is what the openai-go client saw of one request.
type observed struct {
	content string
	deltas  int
	finish  string
	err     error
}

func observe(ctx context.Context, c *openai.Client, stream bool, msgs []simulate.Message) observed {
	p := params("gpt-4o-mini", msgs...)
	if stream {
		s := readStream(ctx, c, p)
		return observed{content: s.content, deltas: s.deltas, finish: s.finish, err: s.err}
	}
	res, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		return observed{err: err}
	}
	return observed{content: res.Choices[0].Message.Content, finish: res.Choices[0].FinishReason}
}

func wantAPIError(status int, typ, code, retryAfter, msg string) func(*testing.T, observed) {
	return func(t *testing.T, o observed) {
		t.Helper()
		e := apiError(t, o.err)
		if e.StatusCode != status || e.Type != typ || e.Code != code {
			t.Errorf("got %d type=%q code=%q, want %d type=%q code=%q", e.StatusCode, e.Type, e.Code, status, typ, code)
		}
		if got := e.Response.Header.Get("Retry-After"); got != retryAfter {
			t.Errorf("got Retry-After %q, want %q", got, retryAfter)
		}
		if !strings.Contains(e.Message, msg) {
			t.Errorf("got message %q, want it to contain %q", e.Message, msg)
		}
	}
}

// wantWords checks a successful answer's first n words (n < 0: the whole answer).
func wantWords(msgs []simulate.Message, n int) func(*testing.T, observed) {
	return func(t *testing.T, o observed) {
		t.Helper()
		full := simulate.Answer("primary", "gpt-4o-mini", msgs...)
		want := full
		if n >= 0 {
			want = strings.Join(strings.Fields(full)[:n], " ")
		}
		if o.content != want {
			t.Errorf("got content %q, want %q", o.content, want)
		}
	}
}

func wantReset(t *testing.T, o observed) {
	t.Helper()
	if !errors.Is(o.err, syscall.ECONNRESET) {
		t.Errorf("got error %v, want connection reset by peer", o.err)
	}
}

func wantUnexpectedEOF(t *testing.T, o observed) {
	t.Helper()
	if !errors.Is(o.err, io.ErrUnexpectedEOF) {
		t.Errorf("got error %v, want unexpected EOF", o.err)
	}
}

func TestFaultKinds(t *testing.T) {
	prefill := []simulate.Message{question, {Role: "assistant", Content: "The sky is"}}
	normal := []simulate.Message{question}
	type check = func(*testing.T, observed)
	tests := []struct {
		name   string
		fault  simulate.Fault
		stream bool
		msgs   []simulate.Message
		checks []check
	}{
		{"status", simulate.Fault{Kind: "status", Status: 502, Code: "bad_gateway", Type: "upstream_error", RetryAfter: "7"}, false, nil,
			[]check{wantAPIError(502, "upstream_error", "bad_gateway", "7", "502")}},
		{"status stream", simulate.Fault{Kind: "status", Status: 504}, true, nil,
			[]check{wantAPIError(504, "server_error", "", "", "Gateway Timeout")}},
		{"rate_limit", simulate.Fault{Kind: "rate_limit", RetryAfter: "2"}, false, nil,
			[]check{wantAPIError(429, "requests", "rate_limit_exceeded", "2", "Rate limit reached for gpt-4o-mini")}},
		{"rate_limit without retry_after", simulate.Fault{Kind: "rate_limit"}, true, nil,
			[]check{wantAPIError(429, "requests", "rate_limit_exceeded", "", "Rate limit")}},
		{"quota", simulate.Fault{Kind: "quota"}, false, nil,
			[]check{wantAPIError(429, "insufficient_quota", "insufficient_quota", "", "exceeded your current quota")}},
		{"quota with code", simulate.Fault{Kind: "quota", Code: "credit_balance_exhausted"}, false, nil,
			[]check{wantAPIError(429, "insufficient_quota", "credit_balance_exhausted", "", "quota")}},
		{"overloaded", simulate.Fault{Kind: "overloaded"}, true, nil,
			[]check{wantAPIError(503, "server_error", "", "", "The server is overloaded")}},
		{"overloaded as 529", simulate.Fault{Kind: "overloaded", Status: 529, Type: "overloaded_error"}, false, nil,
			[]check{wantAPIError(529, "overloaded_error", "", "", "overloaded")}},
		{"server_error", simulate.Fault{Kind: "server_error"}, false, nil,
			[]check{wantAPIError(500, "server_error", "", "", "The server had an error")}},
		{"unauthorized", simulate.Fault{Kind: "unauthorized"}, false, nil,
			[]check{wantAPIError(401, "invalid_request_error", "invalid_api_key", "", "Incorrect API key")}},
		{"context_length", simulate.Fault{Kind: "context_length"}, false, nil,
			[]check{wantAPIError(400, "invalid_request_error", "context_length_exceeded", "", "maximum context length is 8192 tokens")}},
		{"content_filter", simulate.Fault{Kind: "content_filter"}, true, nil,
			[]check{wantAPIError(400, "invalid_request_error", "content_policy_violation", "", "safety system")}},
		{"invalid_request", simulate.Fault{Kind: "invalid_request"}, false, nil,
			[]check{wantAPIError(400, "invalid_request_error", "", "", "Invalid request")}},
		{"reject_prefill with prefill", simulate.Fault{Kind: "reject_prefill"}, false, prefill,
			[]check{wantAPIError(400, "invalid_request_error", "", "", "does not support assistant message prefill")}},
		{"reject_prefill without prefill", simulate.Fault{Kind: "reject_prefill"}, true, normal,
			[]check{wantWords(normal, -1)}},
		{"reset", simulate.Fault{Kind: "reset"}, false, nil, []check{wantReset}},
		{"reset stream", simulate.Fault{Kind: "reset"}, true, nil, []check{wantReset}},
		{"cut", simulate.Fault{Kind: "cut"}, true, normal, []check{wantUnexpectedEOF, wantWords(normal, 3)}},
		{"cut after 5", simulate.Fault{Kind: "cut", AfterChunks: 5}, true, normal, []check{wantUnexpectedEOF, wantWords(normal, 5)}},
		{"cut non-stream resets", simulate.Fault{Kind: "cut"}, false, nil, []check{wantReset}},
		{"malformed_chunk", simulate.Fault{Kind: "malformed_chunk", AfterChunks: 2}, true, normal, []check{
			wantWords(normal, 2),
			func(t *testing.T, o observed) {
				if _, ok := errors.AsType[*json.SyntaxError](o.err); !ok {
					t.Errorf("got error %v, want a JSON syntax error", o.err)
				}
			}}},
		{"malformed non-stream", simulate.Fault{Kind: "malformed_chunk"}, false, nil, []check{
			func(t *testing.T, o observed) {
				if o.err == nil || errors.As(o.err, new(*openai.Error)) {
					t.Errorf("got error %v, want a decoding error", o.err)
				}
			}}},
		{"no_done", simulate.Fault{Kind: "no_done"}, true, normal, []check{wantWords(normal, -1)}},
		{"no_done non-stream is normal", simulate.Fault{Kind: "no_done"}, false, normal, []check{wantWords(normal, -1)}},
		{"error_event", simulate.Fault{Kind: "error_event"}, true, normal, []check{
			wantWords(normal, 0),
			func(t *testing.T, o observed) {
				se, ok := errors.AsType[*ssestream.StreamError](o.err)
				if !ok || !strings.Contains(se.Message, "server_error") {
					t.Errorf("got error %v, want a stream error event of type server_error", o.err)
				}
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{})
			if err := sim.SetFault("primary", tt.fault); err != nil {
				t.Fatal(err)
			}
			o := observe(ctx, newClient(srv, "primary"), tt.stream, tt.msgs)
			for _, c := range tt.checks {
				c(t, o)
			}
			st := sim.Stats("primary")
			wantOutcome := tt.fault.Kind
			if tt.name == "reject_prefill without prefill" || tt.name == "no_done non-stream is normal" {
				wantOutcome = simulate.OutcomeOK
			}
			if st.Requests != 1 || st.Outcomes[wantOutcome] != 1 {
				t.Errorf("got requests=%d outcomes=%v, want 1 request with outcome %q", st.Requests, st.Outcomes, wantOutcome)
			}
		})
	}
}

// TestStreamFaultsOnTheWire reads the raw SSE bytes, where the SDK hides details.
func TestStreamFaultsOnTheWire(t *testing.T) {
	const body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		fault      simulate.Fault
		wantEvents int
		wantEOF    bool // the body ends with io.ErrUnexpectedEOF
		check      func(t *testing.T, events []string)
	}{
		{"healthy", simulate.Fault{Kind: "no_done", Model: "other"}, 1 + 4 + 1 + 1, false, func(t *testing.T, ev []string) {
			if ev[len(ev)-1] != "data: [DONE]" {
				t.Errorf("got last event %q, want [DONE]", ev[len(ev)-1])
			}
		}},
		{"no_done", simulate.Fault{Kind: "no_done"}, 1 + 4 + 1, false, func(t *testing.T, ev []string) {
			if last := ev[len(ev)-1]; !strings.Contains(last, `"finish_reason":"stop"`) {
				t.Errorf("got last event %q, want the finish chunk and no [DONE]", last)
			}
		}},
		{"cut", simulate.Fault{Kind: "cut", AfterChunks: 2}, 1 + 2, true, nil},
		{"cut capped at the answer", simulate.Fault{Kind: "cut", AfterChunks: 99}, 1 + 4, true, nil},
		{"malformed_chunk", simulate.Fault{Kind: "malformed_chunk", AfterChunks: 1}, 1 + 4 + 1 + 1 + 1, false, func(t *testing.T, ev []string) {
			if json.Valid([]byte(strings.TrimPrefix(ev[2], "data: "))) {
				t.Errorf("got event 2 %q, want invalid JSON", ev[2])
			}
			if ev[len(ev)-1] != "data: [DONE]" {
				t.Errorf("got last event %q, want [DONE] after the malformed chunk", ev[len(ev)-1])
			}
		}},
		{"error_event", simulate.Fault{Kind: "error_event"}, 1, false, func(t *testing.T, ev []string) {
			var e struct {
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(ev[0], "data: ")), &e); err != nil || e.Error.Type != "server_error" {
				t.Errorf("got first event %q, want an error object of type server_error", ev[0])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{AnswerWords: 4})
			if err := sim.SetFault("primary", tt.fault); err != nil {
				t.Fatal(err)
			}
			resp, got, err := rawPost(t, ctx, srv.Client(), srv.URL+"/primary/v1/chat/completions", body)
			if resp == nil {
				t.Fatalf("got no response (%v), want a 200 stream", err)
			}
			if resp.StatusCode != 200 {
				t.Errorf("got status %d, want 200", resp.StatusCode)
			}
			if gotEOF := errors.Is(err, io.ErrUnexpectedEOF); gotEOF != tt.wantEOF || (err != nil && !gotEOF) {
				t.Errorf("got read error %v, want unexpected EOF: %v", err, tt.wantEOF)
			}
			events := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n\n")
			if len(events) != tt.wantEvents {
				t.Fatalf("got %d events, want %d:\n%s", len(events), tt.wantEvents, got)
			}
			if tt.check != nil {
				tt.check(t, events)
			}
		})
	}
}

func TestCount(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	c := newClient(srv, "primary")
	if err := sim.SetFault("primary", simulate.Fault{Kind: "rate_limit", Count: 2}); err != nil {
		t.Fatal(err)
	}
	wantStatus := []int{429, 429, 0, 0}
	for i, want := range wantStatus {
		f, active := sim.CurrentFault("primary")
		if wantLeft := max(2-i, 0); f.Count != wantLeft || active != (wantLeft > 0) {
			t.Errorf("request %d: got fault %+v active=%v, want %d left", i, f, active, wantLeft)
		}
		_, err := c.Chat.Completions.New(ctx, params("gpt-4o-mini"))
		got := 0
		if err != nil {
			got = apiError(t, err).StatusCode
		}
		if got != want {
			t.Errorf("request %d: got status %d, want %d", i, got, want)
		}
	}
	if got := sim.Stats("primary").Outcomes; got["rate_limit"] != 2 || got["ok"] != 2 {
		t.Errorf("got outcomes %v, want 2 rate_limit and 2 ok", got)
	}
}

func TestCountOnlySpentWhenApplied(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	c := newClient(srv, "primary")
	prefill := []simulate.Message{question, {Role: "assistant", Content: "Because"}}
	if err := sim.SetFault("primary", simulate.Fault{Kind: "reject_prefill", Count: 1}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		msgs    []simulate.Message
		wantErr bool
	}{
		{"plain request passes and keeps the count", []simulate.Message{question}, false},
		{"prefill is rejected", prefill, true},
		{"count spent: prefill passes", prefill, false},
	}
	for _, st := range steps {
		_, err := c.Chat.Completions.New(ctx, params("gpt-4o-mini", st.msgs...))
		if (err != nil) != st.wantErr {
			t.Errorf("%s: got error %v, want error: %v", st.name, err, st.wantErr)
		}
	}
}

func TestModelFilter(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	c := newClient(srv, "primary")
	if err := sim.SetFault("primary", simulate.Fault{Kind: "server_error", Model: "gpt-4o-mini", Count: 1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model      string
		wantStatus int
	}{
		{"gpt-4.1-mini", 0},
		{"gpt-4o-mini", 500},
		{"gpt-4o-mini", 0}, // count spent on the matching model only
		{"gpt-4.1-mini", 0},
	}
	for i, tt := range tests {
		_, err := c.Chat.Completions.New(ctx, params(tt.model))
		got := 0
		if err != nil {
			got = apiError(t, err).StatusCode
		}
		if got != tt.wantStatus {
			t.Errorf("request %d (%s): got status %d, want %d", i, tt.model, got, tt.wantStatus)
		}
	}
	st := sim.Stats("primary")
	if len(st.Models) != 2 || st.Models[0] != "gpt-4.1-mini" || st.ModelRequests["gpt-4o-mini"] != 2 {
		t.Errorf("got models %v counts %v, want [gpt-4.1-mini gpt-4o-mini] with 2 each", st.Models, st.ModelRequests)
	}
}

func TestSlowFirstToken(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "non-stream", true: "stream"}[stream], func(t *testing.T) {
			ctx := testCtx(t)
			clock := fakeClock()
			sim, srv := MustServe(t, simulate.Options{Clock: clock, FirstTokenDelay: time.Second})
			if err := sim.SetFault("primary", simulate.Fault{Kind: "slow_first_token", Delay: simulate.Duration(2 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			c := newClient(srv, "primary")
			if stream {
				// NewStreaming returns once the headers are in: before the delay.
				s := c.Chat.Completions.NewStreaming(ctx, params("gpt-4o-mini"))
				defer s.Close()
				if err := clock.BlockUntilContext(ctx, 1); err != nil {
					t.Fatal(err)
				}
				clock.Advance(3 * time.Second)
				var content string
				for s.Next() {
					if ch := s.Current(); len(ch.Choices) > 0 {
						content += ch.Choices[0].Delta.Content
					}
				}
				if want := simulate.Answer("primary", "gpt-4o-mini", question); content != want || s.Err() != nil {
					t.Errorf("got %q (err %v), want %q", content, s.Err(), want)
				}
				return
			}
			done := make(chan observed, 1)
			go func() {
				res, err := c.Chat.Completions.New(ctx, params("gpt-4o-mini"))
				o := observed{err: err}
				if err == nil {
					o.content = res.Choices[0].Message.Content
				}
				done <- o
			}()
			if err := clock.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(3*time.Second - time.Millisecond)
			select {
			case o := <-done:
				t.Fatalf("got an answer (%v) before the 3s delay, want none", o.err)
			default:
			}
			clock.Advance(time.Millisecond)
			o := <-done
			wantWords([]simulate.Message{question}, -1)(t, o)
		})
	}
}

func TestTokenInterval(t *testing.T) {
	ctx := testCtx(t)
	clock := fakeClock()
	sim, srv := MustServe(t, simulate.Options{Clock: clock, TokenInterval: 100 * time.Millisecond, AnswerWords: 5})
	advanced := make(chan error, 1)
	go func() { // 4 pauses between 5 words
		for range 4 {
			if err := clock.BlockUntilContext(ctx, 1); err != nil {
				advanced <- err
				return
			}
			clock.Advance(100 * time.Millisecond)
		}
		advanced <- nil
	}()
	s := readStream(ctx, newClient(srv, "primary"), params("gpt-4o-mini"))
	if err := <-advanced; err != nil {
		t.Fatal(err)
	}
	if want := sim.Answer("primary", "gpt-4o-mini", question); s.content != want || s.deltas != 5 || s.err != nil {
		t.Errorf("got %q in %d chunks (err %v), want %q in 5", s.content, s.deltas, s.err, want)
	}
}
