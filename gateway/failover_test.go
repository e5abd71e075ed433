package gateway_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

// TestFailureClasses drives every immediate failure class at the primary and
// checks what the client sees and how many attempts each target got, for
// streaming and non-streaming requests alike.
func TestFailureClasses(t *testing.T) {
	tests := []struct {
		name  string
		fault simulate.Fault
		// what the client gets
		wantServedBy string // provider whose answer arrives; "" = an error
		wantStatus   int    // when an error is expected
		wantCode     string
		// attempts seen by the simulator
		wantPrimary, wantSecondary int
	}{
		{name: "healthy", fault: simulate.Fault{}, wantServedBy: "primary", wantPrimary: 1},
		{name: "500 once: one quick retry on the same target", fault: simulate.Fault{Kind: "server_error", Count: 1},
			wantServedBy: "primary", wantPrimary: 2},
		{name: "500 persistent: retry once, then fail over", fault: simulate.Fault{Kind: "server_error"},
			wantServedBy: "secondary", wantPrimary: 2, wantSecondary: 1},
		{name: "reset before headers", fault: simulate.Fault{Kind: "reset"},
			wantServedBy: "secondary", wantPrimary: 2, wantSecondary: 1},
		{name: "503 overloaded fails over without retry", fault: simulate.Fault{Kind: "overloaded"},
			wantServedBy: "secondary", wantPrimary: 1, wantSecondary: 1},
		{name: "429 without Retry-After fails over", fault: simulate.Fault{Kind: "rate_limit"},
			wantServedBy: "secondary", wantPrimary: 1, wantSecondary: 1},
		{name: "429 with long Retry-After fails over", fault: simulate.Fault{Kind: "rate_limit", RetryAfter: "30"},
			wantServedBy: "secondary", wantPrimary: 1, wantSecondary: 1},
		{name: "quota exhausted fails over", fault: simulate.Fault{Kind: "quota"},
			wantServedBy: "secondary", wantPrimary: 1, wantSecondary: 1},
		{name: "our key refused fails over", fault: simulate.Fault{Kind: "unauthorized"},
			wantServedBy: "secondary", wantPrimary: 1, wantSecondary: 1},
		{name: "501 is final", fault: simulate.Fault{Kind: "status", Status: 501},
			wantStatus: 501, wantPrimary: 1},
		{name: "invalid request returned as is", fault: simulate.Fault{Kind: "invalid_request"},
			wantStatus: 400, wantCode: "", wantPrimary: 1},
		{name: "content filter returned as is, never retried", fault: simulate.Fault{Kind: "content_filter"},
			wantStatus: 400, wantCode: "content_policy_violation", wantPrimary: 1},
		{name: "error event in the first chunk fails over", fault: simulate.Fault{Kind: "error_event"},
			wantServedBy: "secondary", wantPrimary: 1, wantSecondary: 1},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				ctx := testCtx(t)
				if tt.fault.Kind != "" {
					h.setFault("primary", tt.fault)
				}
				var got completion
				if stream {
					got = h.askStream(ctx)
				} else {
					got = h.ask(ctx)
				}
				if tt.wantServedBy != "" {
					if got.err != nil {
						t.Fatalf("got error %v, want an answer from %s", got.err, tt.wantServedBy)
					}
					if want := answerOf(tt.wantServedBy); got.text != want {
						t.Errorf("got text %q, want %q", got.text, want)
					}
					if got.model != "m-"+tt.wantServedBy {
						t.Errorf("got model %q, want %q", got.model, "m-"+tt.wantServedBy)
					}
					if target := got.header.Get("X-Understudy-Target"); target != tt.wantServedBy+"/m-"+tt.wantServedBy {
						t.Errorf("got X-Understudy-Target %q, want %s/m-%s", target, tt.wantServedBy, tt.wantServedBy)
					}
					if got.usage == 0 {
						t.Errorf("got no usage, want it reported")
					}
				} else {
					var apiErr *openai.Error
					if !errors.As(got.err, &apiErr) {
						t.Fatalf("got %v (text %q), want an API error %d", got.err, got.text, tt.wantStatus)
					}
					if apiErr.StatusCode != tt.wantStatus {
						t.Errorf("got status %d, want %d", apiErr.StatusCode, tt.wantStatus)
					}
					if tt.wantCode != "" && apiErr.Code != tt.wantCode {
						t.Errorf("got code %q, want %q", apiErr.Code, tt.wantCode)
					}
				}
				if n := h.requests("primary"); n != tt.wantPrimary {
					t.Errorf("primary saw %d attempts, want %d", n, tt.wantPrimary)
				}
				if n := h.requests("secondary"); n != tt.wantSecondary {
					t.Errorf("secondary saw %d attempts, want %d", n, tt.wantSecondary)
				}
				if n := h.requests("backup"); n != 0 {
					t.Errorf("backup saw %d attempts, want 0", n)
				}
			})
		}
	}
}

// TestCooldowns: a long Retry-After, exhausted quota and a refused key keep
// the target out for the next requests, and the last two need a person.
func TestCooldowns(t *testing.T) {
	tests := []struct {
		name        string
		fault       simulate.Fault
		needsPerson bool
	}{
		{"long Retry-After", simulate.Fault{Kind: "rate_limit", RetryAfter: "30"}, false},
		{"absurd Retry-After is capped", simulate.Fault{Kind: "rate_limit", RetryAfter: "31536000"}, false},
		{"no Retry-After", simulate.Fault{Kind: "rate_limit"}, false},
		{"quota", simulate.Fault{Kind: "quota"}, true},
		{"bad key", simulate.Fault{Kind: "unauthorized"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := testCtx(t)
			h.setFault("primary", tt.fault)
			for i := 0; i < 3; i++ {
				if got := h.ask(ctx); got.err != nil {
					t.Fatalf("request %d: %v", i, got.err)
				}
			}
			if n := h.requests("primary"); n != 1 {
				t.Errorf("primary saw %d attempts, want 1 (cooled down after the first)", n)
			}
			e := h.events.wait(ctx, t, "target.cooled_down", func(e understudy.Event) bool { return e.Type == understudy.EventTargetCooled })
			if secs, _ := e.Details["seconds"].(float64); secs <= 0 || secs > 300 {
				t.Errorf("cooled down for %vs, want within max_open_for (300s)", e.Details["seconds"])
			}
			if e.NeedsPerson != tt.needsPerson {
				t.Errorf("got NeedsPerson %v, want %v (%s)", e.NeedsPerson, tt.needsPerson, e.Message)
			}
		})
	}
}

func TestAllTargetsDown(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	for _, p := range []string{"primary", "secondary", "backup"} {
		h.setFault(p, simulate.Fault{Kind: "overloaded"})
	}
	status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	if status != 503 {
		t.Fatalf("got %d, want 503: %s", status, body)
	}
	if header.Get("Retry-After") == "" {
		t.Errorf("got no Retry-After header")
	}
	for _, want := range []string{`"code":"service_unavailable"`, "primary/m-primary", "secondary/m-secondary", "backup/m-backup"} {
		if !strings.Contains(body, want) {
			t.Errorf("body %s does not contain %q", body, want)
		}
	}
	// With every breaker open the answer is immediate and sends nothing upstream.
	for i := 0; i < 10; i++ {
		h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	}
	before := h.requests("primary")
	for i := 0; i < 5; i++ {
		status, _, body = h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
		if status != 503 || !strings.Contains(body, "circuit open") {
			t.Fatalf("got %d %s, want 503 naming open circuits", status, body)
		}
	}
	if after := h.requests("primary"); after != before {
		t.Errorf("primary saw %d more attempts while its circuit was open, want 0", after-before)
	}
}

// TestUpstreamConnectionsReused: a stream's upstream connection goes back
// to the pool after [DONE] even when the upstream ends its response a moment
// later, so sequential requests share one connection.
func TestUpstreamConnectionsReused(t *testing.T) {
	var conns atomic.Int64
	release, gone := make(chan struct{}), make(chan struct{})
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}`+"\n\n")
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		http.NewResponseController(w).Flush()
		// An upstream that ends its response a little after [DONE]: once the
		// client has the whole answer.
		select {
		case <-release:
		case <-r.Context().Done(): // the gateway hung up without reading to the end
			gone <- struct{}{}
		}
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	cfg := strings.Replace(baseConfig, `"${SIM_URL}/primary/v1"`, `"${UP_URL}/v1"`, 1)
	h := newHarness(t, withConfig(cfg), withEnv("UP_URL", up.URL))
	ctx := testCtx(t)
	for i := 0; i < 10; i++ {
		got := h.askStream(ctx)
		if got.err != nil || got.text != "Hi" {
			t.Fatalf("got %q %v", got.text, got.err)
		}
		select { // exactly one: the upstream ends its response, or it was cut off
		case release <- struct{}{}:
		case <-gone:
		}
		// The attempt is recorded once the gateway has finished with the
		// upstream response.
		h.events.waitAttempts(ctx, t, i+1, class(understudy.ClassSuccess))
	}
	// The transport returns a drained connection to its pool from its own
	// goroutine, so the next request sometimes races ahead of it and dials;
	// without the drain every stream needs a new connection.
	if n := conns.Load(); n >= 10 {
		t.Errorf("gateway opened %d upstream connections for 10 sequential streams, want some reused", n)
	}
}

// TestOutcomes: every request's outcome is recorded with its serving mode,
// target, class and tokens — what the rollups will count.
func TestOutcomes(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	tests := []struct {
		name       string
		faults     map[string]simulate.Fault
		wantMode   string
		wantTarget string
		wantClass  understudy.Class
	}{
		{"primary", nil, "primary", "primary/m-primary", understudy.ClassSuccess},
		{"failover", map[string]simulate.Fault{"primary": {Kind: "overloaded"}}, "failover", "secondary/m-secondary", understudy.ClassSuccess},
		{"final upstream error", map[string]simulate.Fault{"primary": {Kind: "content_filter"}}, "upstream_error", "primary/m-primary", understudy.ClassContentFilter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.sim.Reset()
			for p, f := range tt.faults {
				h.setFault(p, f)
			}
			h.ask(ctx)
			o := h.events.lastOutcome()
			if o.Mode != tt.wantMode || o.Target != tt.wantTarget || o.Class != tt.wantClass || o.Route != "assistant" {
				t.Errorf("got %+v, want mode %s target %s class %s", o, tt.wantMode, tt.wantTarget, tt.wantClass)
			}
			if tt.wantClass == understudy.ClassSuccess && (o.PromptTokens == 0 || o.CompletionTokens == 0 || o.TTFT == 0) {
				t.Errorf("got %+v, want tokens and time to first token", o)
			}
		})
	}
}
