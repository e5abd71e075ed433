package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

// resumeConfig: a primary that will break mid-stream and a secondary that
// continues in the given mode (KIND and CONT are replaced).
const resumeConfig = `
listen: 127.0.0.1:0
keys:
  - {name: test, key: "${TEST_KEY}"}
providers:
  - {name: primary,   base_url: "${SIM_URL}/primary/v1", probe: {disabled: true}}
  - {name: secondary, kind: KIND, base_url: "${SIM_URL}/secondary/BASE", probe: {disabled: true}CONT}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
      - [{provider: secondary, model: m-secondary}]
    timeouts: {first_token: 5s, response: 5s, stream_idle: 5s, total: 60s}
    retry: {backoff: 1ms}
`

func resumeHarness(t *testing.T, kind, cont string, sim simulate.Options) *harness {
	cfg := strings.Replace(resumeConfig, "KIND", kind, 1)
	base := "v1"
	if kind == "anthropic" {
		base = ""
	}
	cfg = strings.Replace(cfg, "/BASE", "/"+base, 1)
	if cont != "" {
		cont = ", continuation: " + cont
	}
	cfg = strings.Replace(cfg, "CONT", cont, 1)
	sim.SameAnswers = true
	return newHarness(t, withConfig(cfg), withSim(sim))
}

// fullAnswer is what every simulated provider answers (SameAnswers).
func fullAnswer() string { return simulate.Answer("", "", question) }

// TestResume: a stream cut at the first, a middle and the last content chunk
// is continued on the secondary, in every continuation mode, and the client
// (the official SDK) receives the whole answer once, without error.
func TestResume(t *testing.T) {
	modes := []struct{ name, kind, cont string }{
		{"instruction", "openai", ""},
		{"prefix", "openai", "prefix"},
		{"continue_final_message", "openai", "continue_final_message"},
		{"anthropic native prefill", "anthropic", ""},
	}
	for _, m := range modes {
		for _, cut := range []int{1, 12, 23} {
			t.Run(fmt.Sprintf("%s/cut after %d", m.name, cut), func(t *testing.T) {
				h := resumeHarness(t, m.kind, m.cont, simulate.Options{})
				ctx := testCtx(t)
				h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: cut})
				got := h.askStream(ctx)
				if got.err != nil {
					t.Fatalf("got error %v after %q", got.err, got.text)
				}
				if got.text != fullAnswer() {
					t.Errorf("got  %q\nwant %q", got.text, fullAnswer())
				}
				if p, s := h.requests("primary"), h.requests("secondary"); p != 1 || s != 1 {
					t.Errorf("got primary %d secondary %d attempts, want 1 and 1", p, s)
				}
			})
		}
	}
}

// TestResumeFromAnthropic: a stream from an Anthropic target cut mid-answer
// (or broken by an overloaded error event) is continued on an
// OpenAI-compatible one.
func TestResumeFromAnthropic(t *testing.T) {
	cfg := strings.NewReplacer(
		`{name: primary,   base_url: "${SIM_URL}/primary/v1", probe: {disabled: true}}`,
		`{name: primary, kind: anthropic, base_url: "${SIM_URL}/primary", probe: {disabled: true}}`,
		"KIND", "openai", "/BASE", "/v1", "CONT", "").Replace(resumeConfig)
	for _, cut := range []int{1, 12, 23} {
		t.Run(fmt.Sprintf("cut after %d", cut), func(t *testing.T) {
			h := newHarness(t, withConfig(cfg), withSim(simulate.Options{SameAnswers: true}))
			ctx := testCtx(t)
			h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: cut})
			got := h.askStream(ctx)
			if got.err != nil || got.text != fullAnswer() {
				t.Fatalf("got %q %v, want the whole answer", got.text, got.err)
			}
			if p, s := h.requests("primary"), h.requests("secondary"); p != 1 || s != 1 {
				t.Errorf("got primary %d secondary %d attempts, want 1 and 1", p, s)
			}
		})
	}
}

// TestResumeWire: one stream on the wire — one id, one finish, one [DONE].
func TestResumeWire(t *testing.T) {
	h := resumeHarness(t, "anthropic", "", simulate.Options{})
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "stall", AfterChunks: 5})
	// The stall is noticed at stream_idle (5 s): use a cut for a quick test
	// and a stall only with the fake clock (TestStreamBreaksAfterCommit).
	h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: 5})
	ids, finishes, dones, text := readRawStream(t, ctx, h)
	if len(ids) != 1 {
		t.Errorf("got chunk ids %v, want one", ids)
	}
	if finishes != 1 || dones != 1 {
		t.Errorf("got %d finish reasons and %d [DONE], want 1 and 1", finishes, dones)
	}
	if text != fullAnswer() {
		t.Errorf("got %q, want %q", text, fullAnswer())
	}
}

func readRawStream(t *testing.T, ctx context.Context, h *harness) (ids map[string]bool, finishes, dones int, text string) {
	t.Helper()
	resp := h.post(ctx, streamBody)
	defer resp.Body.Close()
	ids = map[string]bool{}
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			dones++
			continue
		}
		var c struct {
			ID      string `json:"id"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil || c.Error != nil {
			t.Fatalf("bad chunk %s", data)
		}
		ids[c.ID] = true
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finishes++
			}
		}
	}
	return ids, finishes, dones, b.String()
}

// TestResumePrefillRefused: a backup that refuses the prefill is asked
// again with an instruction; the client never sees the refusal.
func TestResumePrefillRefused(t *testing.T) {
	h := resumeHarness(t, "openai", "prefix", simulate.Options{NoPrefill: map[string]bool{"secondary": true}})
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: 8})
	got := h.askStream(ctx)
	if got.err != nil || got.text != fullAnswer() {
		t.Fatalf("got %q %v, want the whole answer", got.text, got.err)
	}
	if n := h.requests("secondary"); n != 2 {
		t.Errorf("secondary saw %d requests, want 2 (prefill refused, then instruction)", n)
	}
}

// TestResumeTrimsOverlap: a backup that repeats the last words at the seam
// has them trimmed (a repeat of two words or more: one repeated word is as
// likely to be genuine text, and is kept).
func TestResumeTrimsOverlap(t *testing.T) {
	for _, words := range []int{2, 3, 5, 12, 20} {
		t.Run(fmt.Sprintf("%d words", words), func(t *testing.T) {
			h := resumeHarness(t, "openai", "", simulate.Options{})
			ctx := testCtx(t)
			h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: 22})
			h.setFault("secondary", simulate.Fault{Kind: "overlap", Overlap: words})
			got := h.askStream(ctx)
			if got.err != nil || got.text != fullAnswer() {
				t.Errorf("got  %q %v\nwant %q", got.text, got.err, fullAnswer())
			}
		})
	}
}

// TestAnthropicTarget: an Anthropic target answers OpenAI clients, streaming
// and not, and takes over when the OpenAI primary fails.
func TestAnthropicTarget(t *testing.T) {
	h := resumeHarness(t, "anthropic", "", simulate.Options{})
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "server_error"})
	for _, ask := range []func(context.Context) completion{h.ask, h.askStream} {
		got := ask(ctx)
		if got.err != nil || got.text != fullAnswer() {
			t.Fatalf("got %q %v, want the anthropic target's answer", got.text, got.err)
		}
		if got.header.Get("X-Understudy-Target") != "secondary/m-secondary" || got.usage == 0 {
			t.Errorf("got target %q usage %d", got.header.Get("X-Understudy-Target"), got.usage)
		}
	}
	h.setFault("secondary", simulate.Fault{Kind: "overloaded"})
	h.setFault("primary", simulate.Fault{Kind: "server_error"})
	status, _, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	if status != 503 || !strings.Contains(body, "secondary/m-secondary: HTTP 529 overloaded") {
		t.Errorf("got %d %s, want 503 naming the anthropic 529", status, body)
	}
}

// TestSlowStreamContinued: a stream that keeps sending, but below the
// route's minimum rate, is abandoned after the window and continued on the
// secondary; the client still gets the whole answer.
func TestSlowStreamContinued(t *testing.T) {
	clk := clockwork.NewFakeClock()
	words := strings.SplitAfter(fullAnswer(), " ") // "Word ", "word ", …, "word."
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		prev := ""
		for i, word := range words {
			// Deltas in the simulator's shape: a leading space on every word but the first.
			delta := prev + strings.TrimSuffix(word, " ")
			prev = " "
			c, _ := json.Marshal(map[string]any{"id": "slow-1", "object": "chat.completion.chunk", "created": 1, "model": "m-slow",
				"choices": []map[string]any{{"index": 0, "delta": map[string]any{"content": delta}, "finish_reason": nil}}})
			tm := clk.NewTimer(time.Second) // one token a second, armed before the client can react
			fmt.Fprintf(w, "data: %s\n\n", c)
			if rc.Flush() != nil || i == len(words)-1 {
				tm.Stop()
				return
			}
			select {
			case <-tm.Chan():
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer slow.Close()
	cfg := strings.Replace(resumeConfig, `"${SIM_URL}/primary/v1"`, `"${SLOW_URL}/v1"`, 1)
	cfg = strings.NewReplacer("KIND", "openai", "/BASE", "/v1", "CONT", "").Replace(cfg)
	cfg = strings.Replace(cfg, "retry: {backoff: 1ms}", "retry: {backoff: 1ms}\n    resume: {min_chunks_per_second: 2, window: 4s}", 1)
	h := newHarness(t, withClock(clk), withConfig(cfg), withEnv("SLOW_URL", slow.URL), withSim(simulate.Options{SameAnswers: true}))
	ctx := testCtx(t)
	// Lock-step: each chunk the client receives lets the slow upstream's
	// clock move one second, so its rate is exactly one chunk a second.
	resp := h.post(ctx, streamBody)
	defer resp.Body.Close()
	var text strings.Builder
	dones := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			dones++
			continue
		}
		var c struct {
			Model   string `json:"model"`
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("bad chunk %s", data)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
		if c.Model == "m-slow" {
			clk.Advance(time.Second) // the slow upstream's next token
		}
	}
	if text.String() != fullAnswer() || dones != 1 {
		t.Fatalf("got %q with %d [DONE], want the whole answer and one [DONE]", text.String(), dones)
	}
	if n := h.requests("secondary"); n != 1 {
		t.Errorf("secondary saw %d requests, want 1 (the continuation)", n)
	}
	h.events.waitAttempts(ctx, t, 1, class(understudy.ClassStall))
}

// TestToolCallStreamNotContinued: once tool-call data reached the client, a
// break is not continued on another model (the arguments could not be
// resumed safely): the client gets an explicit error.
func TestToolCallStreamNotContinued(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"t1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"ci"}}]},"finish_reason":null}]}`+"\n\n")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // cut mid-arguments
	}))
	defer up.Close()
	cfg := strings.Replace(resumeConfig, `"${SIM_URL}/primary/v1"`, `"${UP_URL}/v1"`, 1)
	cfg = strings.NewReplacer("KIND", "openai", "/BASE", "/v1", "CONT", "").Replace(cfg)
	h := newHarness(t, withConfig(cfg), withEnv("UP_URL", up.URL))
	ctx := testCtx(t)
	status, _, body := h.raw(ctx, `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather"}}]}`)
	if status != 200 || strings.Contains(body, "[DONE]") || !strings.Contains(body, "tool-call data was already sent") {
		t.Errorf("got %d:\n%s\nwant an error event naming the tool call and no [DONE]", status, body)
	}
	if n := h.requests("secondary"); n != 0 {
		t.Errorf("secondary saw %d requests, want 0", n)
	}
}

// TestBreakAfterFinishIsComplete: a stream that breaks after its finish
// chunk (before the usage chunk or [DONE]) is a complete answer: the client
// gets its [DONE], and nothing is continued past the end.
func TestBreakAfterFinishIsComplete(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"f1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Three short words"},"finish_reason":null}]}`+"\n\n")
		fmt.Fprint(w, `data: {"id":"f1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`+"\n\n")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // dropped before the usage chunk and [DONE]
	}))
	defer up.Close()
	cfg := strings.Replace(resumeConfig, `"${SIM_URL}/primary/v1"`, `"${UP_URL}/v1"`, 1)
	cfg = strings.NewReplacer("KIND", "openai", "/BASE", "/v1", "CONT", "").Replace(cfg)
	h := newHarness(t, withConfig(cfg), withEnv("UP_URL", up.URL))
	ctx := testCtx(t)
	ids, finishes, dones, text := readRawStream(t, ctx, h)
	if text != "Three short words" || finishes != 1 || dones != 1 || len(ids) != 1 {
		t.Errorf("got %q with %d finishes and %d [DONE], want the answer as sent, one finish, one [DONE]", text, finishes, dones)
	}
	if n := h.requests("secondary"); n != 0 {
		t.Errorf("secondary saw %d requests, want 0", n)
	}
}
