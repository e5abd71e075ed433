package gateway_test

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

// Timing tests run the gateway on a fake clock: a test waits until the
// gateway is waiting (BlockUntilContext), then moves time. None sleeps.

// TestFirstTokenTimeout: a target that accepts and never answers, or sends
// headers and no first token, is abandoned at the time-to-first-token limit
// and not retried; the next target answers.
func TestFirstTokenTimeout(t *testing.T) {
	tests := []struct {
		name   string
		fault  simulate.Fault
		stream bool
	}{
		{"accept and never answer", simulate.Fault{Kind: "hang"}, false},
		{"accept and never answer/stream", simulate.Fault{Kind: "hang"}, true},
		{"headers then no first token/stream", simulate.Fault{Kind: "slow_first_token", Delay: simulate.Duration(time.Hour)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clockwork.NewFakeClock()
			h := newHarness(t, withClock(clk))
			ctx := testCtx(t)
			h.setFault("primary", tt.fault)
			done := make(chan completion, 1)
			go func() {
				if tt.stream {
					done <- h.askStream(ctx)
				} else {
					done <- h.ask(ctx)
				}
			}()
			if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
				t.Fatal(err)
			}
			// The request's deadline and its first-token timer.
			if err := clk.BlockUntilContext(ctx, 2); err != nil {
				t.Fatal(err)
			}
			start := clk.Now()
			clk.Advance(5*time.Second - time.Millisecond)
			select {
			case got := <-done:
				t.Fatalf("answered before the first-token limit: %+v", got)
			default:
			}
			clk.Advance(time.Millisecond)
			got := <-done
			if got.err != nil {
				t.Fatalf("got error %v, want the secondary's answer", got.err)
			}
			if got.text != answerOf("secondary") {
				t.Errorf("got %q, want the secondary's answer", got.text)
			}
			if n := h.requests("primary"); n != 1 {
				t.Errorf("primary saw %d attempts, want 1 (a silent target is not retried)", n)
			}
			if waited := clk.Since(start); waited != 5*time.Second {
				t.Errorf("failed over after %s, want 5s", waited)
			}
		})
	}
}

// TestShortRetryAfterWaitsAndRetries: a 429 whose Retry-After fits the bound
// is waited out on the same target.
func TestShortRetryAfterWaitsAndRetries(t *testing.T) {
	clk := clockwork.NewFakeClock()
	h := newHarness(t, withClock(clk))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "rate_limit", RetryAfter: "1", Count: 1})
	done := make(chan completion, 1)
	go func() { done <- h.ask(ctx) }()
	h.events.waitAttempts(ctx, t, 1, class(understudy.ClassRateLimit))
	if err := clk.BlockUntilContext(ctx, 2); err != nil { // deadline + the Retry-After wait
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	got := <-done
	if got.err != nil || got.text != answerOf("primary") {
		t.Fatalf("got %q, %v; want the primary's answer", got.text, got.err)
	}
	if n := h.requests("primary"); n != 2 {
		t.Errorf("primary saw %d attempts, want 2", n)
	}
	if got.header.Get("X-Understudy-Attempts") != "2" {
		t.Errorf("got X-Understudy-Attempts %q, want 2", got.header.Get("X-Understudy-Attempts"))
	}
}

// noResume is the base configuration with mid-stream continuation off.
var noResume = strings.Replace(baseConfig, "retry: {backoff: 1ms}", "retry: {backoff: 1ms}\n    resume: {disabled: true}", 1)

// TestStreamBreaksAfterCommit: with continuation off, once text reached the
// client, a stall or a cut ends the stream with an explicit error event and
// no [DONE].
func TestStreamBreaksAfterCommit(t *testing.T) {
	tests := []struct {
		name  string
		fault simulate.Fault
		class understudy.Class
	}{
		{"stall", simulate.Fault{Kind: "stall", AfterChunks: 3}, understudy.ClassStall},
		{"cut", simulate.Fault{Kind: "cut", AfterChunks: 3}, understudy.ClassCut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clockwork.NewFakeClock()
			h := newHarness(t, withClock(clk), withConfig(noResume))
			ctx := testCtx(t)
			h.setFault("primary", tt.fault)
			resp := h.post(ctx, streamBody)
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("got %d, want 200", resp.StatusCode)
			}
			sc := bufio.NewScanner(resp.Body)
			var lines []string
			sawFirst := false
			for sc.Scan() {
				line := sc.Text()
				lines = append(lines, line)
				if !sawFirst && strings.HasPrefix(line, "data: ") {
					sawFirst = true
					if tt.class == understudy.ClassStall {
						// Committed: the idle timer is armed beside the deadline.
						if err := clk.BlockUntilContext(ctx, 2); err != nil {
							t.Fatal(err)
						}
						clk.Advance(5 * time.Second)
					}
				}
			}
			body := strings.Join(lines, "\n")
			if strings.Contains(body, "[DONE]") {
				t.Errorf("broken stream ended with [DONE]:\n%s", body)
			}
			if !strings.Contains(body, `"code":"stream_interrupted"`) {
				t.Errorf("no explicit error event:\n%s", body)
			}
			h.events.waitAttempts(ctx, t, 1, class(tt.class))
			if n := h.requests("secondary"); n != 0 {
				t.Errorf("secondary saw %d attempts, want 0 (continuation is off)", n)
			}
		})
	}
}

// TestStreamBreaksAfterCommitSDK: the official client reports the broken
// stream as an error, never as a complete answer.
func TestStreamBreaksAfterCommitSDK(t *testing.T) {
	h := newHarness(t, withConfig(noResume))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: 5})
	got := h.askStream(ctx)
	if got.err == nil {
		t.Fatalf("got a complete-looking stream %q, want an error", got.text)
	}
	if !strings.HasPrefix(answerOf("primary"), got.text) || got.text == answerOf("primary") {
		t.Errorf("got text %q, want a strict prefix of the answer", got.text)
	}
}

// TestStreamIntegrity: malformed chunks are skipped and counted; a complete
// stream without [DONE] is finalised at once.
func TestStreamIntegrity(t *testing.T) {
	tests := []struct {
		name   string
		fault  simulate.Fault
		metric string
	}{
		{"malformed chunk skipped", simulate.Fault{Kind: "malformed_chunk", AfterChunks: 2}, "understudy_malformed_chunks_total"},
		{"missing [DONE] finalised", simulate.Fault{Kind: "no_done"}, "understudy_streams_missing_done_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := testCtx(t)
			h.setFault("primary", tt.fault)
			got := h.askStream(ctx)
			if got.err != nil {
				t.Fatalf("got error %v, want a complete stream", got.err)
			}
			if got.text != answerOf("primary") {
				t.Errorf("got %q, want %q", got.text, answerOf("primary"))
			}
			if v := h.counter(tt.metric, "target", "primary/m-primary"); v != 1 {
				t.Errorf("got %s = %v, want 1", tt.metric, v)
			}
			status, _, body := h.raw(ctx, `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if status != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") {
				t.Errorf("got %d, body not ending in [DONE]:\n%s", status, body)
			}
		})
	}
}

// TestDeadline: the overall deadline bounds the whole request.
func TestDeadline(t *testing.T) {
	clk := clockwork.NewFakeClock()
	h := newHarness(t, withClock(clk), withConfig(strings.Replace(baseConfig, "total: 60s", "total: 8s", 1)))
	ctx := testCtx(t)
	for _, p := range []string{"primary", "secondary", "backup"} {
		h.setFault(p, simulate.Fault{Kind: "hang"})
	}
	done := make(chan completion, 1)
	go func() { done <- h.ask(ctx) }()
	if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second) // primary's first-token limit
	if err := h.sim.WaitRequests(ctx, "secondary", 1); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second) // the 8 s deadline
	got := <-done
	if got.err == nil || !strings.Contains(got.err.Error(), "504") {
		t.Fatalf("got %v, want 504", got.err)
	}
	if n := h.requests("backup"); n != 0 {
		t.Errorf("backup saw %d attempts after the deadline, want 0", n)
	}
}

// TestClientDisconnectCancelsUpstream: when the client goes away, the
// upstream request is cancelled and nothing else is tried.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "hang"})
	reqCtx, cancel := context.WithCancel(ctx)
	done := make(chan completion, 1)
	go func() { done <- h.ask(reqCtx) }()
	if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	h.events.waitAttempts(ctx, t, 1, class(understudy.ClassCanceled))
	if n := h.requests("secondary"); n != 0 {
		t.Errorf("secondary saw %d attempts after the client left, want 0", n)
	}
}

// TestBreakerOpensAndProbesClose: consecutive failures open the primary's
// breaker (later requests skip it), and once it recovers an active probe
// closes the breaker so traffic returns to it.
func TestBreakerOpensAndProbesClose(t *testing.T) {
	clk := clockwork.NewFakeClock()
	cfg := strings.Replace(baseConfig, `{name: primary,   base_url: "${SIM_URL}/primary/v1",   probe: {disabled: true}}`,
		`{name: primary, base_url: "${SIM_URL}/primary/v1", probe: {interval: 1s}, breaker: {consecutive_failures: 2, open_for: 1m}}`, 1)
	// A spent retry budget: no quick same-target retry, straight failover.
	cfg = strings.Replace(cfg, "retry: {backoff: 1ms}", "retry: {budget: 0, min_per_second: 0}", 1)
	h := newHarness(t, withClock(clk), withConfig(cfg))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "server_error"})
	for i := 0; i < 2; i++ {
		if got := h.ask(ctx); got.err != nil || got.text != answerOf("secondary") || got.header.Get("X-Understudy-Attempts") != "2" {
			t.Fatalf("got %q %v after %s attempts, want the secondary's answer at the second", got.text, got.err, got.header.Get("X-Understudy-Attempts"))
		}
	}
	h.events.wait(ctx, t, "breaker opened", func(e understudy.Event) bool {
		return e.Type == understudy.EventBreakerChanged && e.Target == "primary/m-primary" && e.Details["to"] == "open"
	})
	for i := 0; i < 3; i++ {
		if got := h.ask(ctx); got.err != nil || got.header.Get("X-Understudy-Attempts") != "1" {
			t.Fatalf("request %d: got %v attempts %q, want the secondary at the first attempt", i, got.err, got.header.Get("X-Understudy-Attempts"))
		}
	}
	if n := h.requests("primary"); n != 2 {
		t.Errorf("primary saw %d attempts, want 2 (skipped while open)", n)
	}
	h.sim.ClearFault("primary")
	// The probe loop waits its 1 s interval.
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	h.events.wait(ctx, t, "breaker closed", func(e understudy.Event) bool {
		return e.Type == understudy.EventBreakerChanged && e.Target == "primary/m-primary" && e.Details["to"] == "closed"
	})
	if got := h.ask(ctx); got.err != nil || got.text != answerOf("primary") {
		t.Fatalf("got %q %v, want the primary's answer again", got.text, got.err)
	}
}

// TestStreamNoTargetCanContinue: when the stream breaks and no other target
// can continue it, the client gets an explicit error event and no [DONE].
func TestStreamNoTargetCanContinue(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "cut", AfterChunks: 4})
	h.setFault("secondary", simulate.Fault{Kind: "server_error"})
	h.setFault("backup", simulate.Fault{Kind: "overloaded"})
	status, _, body := h.raw(ctx, `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"Why is the sky blue?"}]}`)
	if status != 200 {
		t.Fatalf("got %d", status)
	}
	if strings.Contains(body, "[DONE]") || !strings.Contains(body, `"code":"stream_interrupted"`) {
		t.Errorf("want an error event and no [DONE]:\n%s", body)
	}
	if h.requests("secondary") == 0 || h.requests("backup") != 1 {
		t.Errorf("got secondary %d backup %d attempts, want both tried", h.requests("secondary"), h.requests("backup"))
	}
}
