package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

func TestClientErrors(t *testing.T) {
	h := newHarness(t, withConfig(strings.Replace(baseConfig, "listen: 127.0.0.1:0", "listen: 127.0.0.1:0\nlimits: {max_body_bytes: 2048}", 1)))
	ctx := testCtx(t)
	valid := `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		body       string
		header     []string
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"no key", valid, []string{"Authorization", ""}, 401, "invalid_api_key", "missing API key"},
		{"wrong key", valid, []string{"Authorization", "Bearer sk-wrong"}, 401, "invalid_api_key", "invalid API key"},
		{"unknown model lists the known ones", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`, nil, 404, "model_not_found", `Known models: assistant`},
		{"invalid JSON", `{"model":`, nil, 400, "invalid_request", "invalid JSON body"},
		{"invalid field names it", `{"model":"assistant","messages":[{"role":"robot","content":"hi"}]}`, nil, 400, "invalid_request", `"param":"messages[0].role"`},
		{"oversized body", `{"model":"assistant","messages":[{"role":"user","content":"` + strings.Repeat("x", 4096) + `"}]}`, nil, 413, "request_too_large", "over the limit of 2048 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := h.raw(ctx, tt.body, tt.header...)
			if status != tt.wantStatus {
				t.Errorf("got %d, want %d: %s", status, tt.wantStatus, body)
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == nil || e.Error.Type == "" {
				t.Fatalf("body is not OpenAI's error shape: %s", body)
			}
			if *e.Error.Code != tt.wantCode {
				t.Errorf("got code %q, want %q", *e.Error.Code, tt.wantCode)
			}
			if !strings.Contains(body, tt.wantText) {
				t.Errorf("body %s does not contain %q", body, tt.wantText)
			}
			if header.Get("Content-Type") != "application/json" {
				t.Errorf("got Content-Type %q", header.Get("Content-Type"))
			}
		})
	}
	if n := h.requests("primary"); n != 0 {
		t.Errorf("primary saw %d requests from rejected clients, want 0", n)
	}
}

func TestModels(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	page, err := h.client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range page.Data {
		got = append(got, m.ID)
	}
	if want := []string{"assistant"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	bad := openai.NewClient(option.WithBaseURL(h.srv.URL+"/v1/"), option.WithAPIKey("nope"), option.WithMaxRetries(0))
	if _, err := bad.Models.List(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("got %v, want 401", err)
	}
}

// TestPassThrough: fields the gateway does not use reach the upstream untouched.
func TestPassThrough(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	in := `{"model":"assistant","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],` +
		`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],` +
		`"response_format":{"type":"json_object"},"seed":42,"temperature":0.2,"x_vendor_option":{"a":[1,2]}}`
	if status, _, body := h.raw(ctx, in); status != 200 {
		t.Fatalf("got %d: %s", status, body)
	}
	var got, want map[string]any
	if err := json.Unmarshal(h.sim.Stats("primary").LastRequest, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(in), &want)
	want["model"] = "m-primary"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upstream got %v\nwant %v", got, want)
	}
}

func TestContextLength(t *testing.T) {
	const cfg = `
listen: 127.0.0.1:0
providers:
  - {name: primary,   base_url: "${SIM_URL}/primary/v1",   probe: {disabled: true}}
  - {name: secondary, base_url: "${SIM_URL}/secondary/v1", probe: {disabled: true}}
  - {name: backup,    base_url: "${SIM_URL}/backup/v1",    probe: {disabled: true}}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary, context_window: 8000}]
      - [{provider: secondary, model: m-primary, context_window: 8000}]
      - [{provider: backup, model: m-backup, context_window: BACKUP_WINDOW}]
`
	tests := []struct {
		name         string
		backupWindow string
		wantStatus   int
		wantBackup   int
	}{
		{"larger window answers", "128000", 200, 1},
		{"no larger window: the error is returned", "4000", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withConfig(strings.Replace(cfg, "BACKUP_WINDOW", tt.backupWindow, 1)))
			ctx := testCtx(t)
			h.setFault("primary", simulate.Fault{Kind: "context_length"})
			status, _, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"a long story"}]}`)
			if status != tt.wantStatus {
				t.Fatalf("got %d, want %d: %s", status, tt.wantStatus, body)
			}
			if tt.wantStatus == 400 && !strings.Contains(body, "context_length_exceeded") {
				t.Errorf("got %s, want the upstream's context_length_exceeded error", body)
			}
			if n := h.requests("primary"); n != 1 {
				t.Errorf("primary saw %d, want 1 (never retry the same model)", n)
			}
			if n := h.requests("secondary"); n != 0 {
				t.Errorf("secondary (same model) saw %d, want 0", n)
			}
			if n := h.requests("backup"); n != tt.wantBackup {
				t.Errorf("backup saw %d, want %d", n, tt.wantBackup)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	cfg := strings.Replace(baseConfig, `"${SIM_URL}/primary/v1"`, `"${DEAD_URL}/v1"`, 1)
	h := newHarness(t, withConfig(cfg), withEnv("DEAD_URL", dead))
	ctx := testCtx(t)
	for _, ask := range []func(context.Context) completion{h.ask, h.askStream} {
		got := ask(ctx)
		if got.err != nil || got.text != answerOf("secondary") {
			t.Fatalf("got %q %v, want the secondary's answer", got.text, got.err)
		}
	}
}

// TestConcurrencyLimit: a target at its cap is skipped without an attempt.
func TestConcurrencyLimit(t *testing.T) {
	cfg := strings.Replace(baseConfig, "[{provider: primary, model: m-primary}]", "[{provider: primary, model: m-primary, max_concurrency: 1}]", 1)
	h := newHarness(t, withConfig(cfg))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "hang", Count: 1})
	first, cancel := context.WithCancel(ctx)
	done := make(chan completion, 1)
	go func() { done <- h.ask(first) }()
	if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
		t.Fatal(err)
	}
	got := h.ask(ctx)
	if got.err != nil || got.text != answerOf("secondary") || got.header.Get("X-Understudy-Attempts") != "1" {
		t.Errorf("got %q %v attempts %s, want the secondary at the first attempt", got.text, got.err, got.header.Get("X-Understudy-Attempts"))
	}
	cancel()
	<-done
}

// TestShedding: over max_inflight the gateway answers 503 with Retry-After at
// once; over a key's rate it answers 429 with Retry-After.
func TestShedding(t *testing.T) {
	t.Run("inflight limit", func(t *testing.T) {
		h := newHarness(t, withConfig(strings.Replace(baseConfig, "listen: 127.0.0.1:0", "listen: 127.0.0.1:0\nlimits: {max_inflight: 1, shed_retry_after: 3s}", 1)))
		ctx := testCtx(t)
		h.setFault("primary", simulate.Fault{Kind: "hang"})
		first, cancel := context.WithCancel(ctx)
		done := make(chan completion, 1)
		go func() { done <- h.ask(first) }()
		if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
			t.Fatal(err)
		}
		status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
		if status != 503 || header.Get("Retry-After") != "3" {
			t.Errorf("got %d Retry-After %q: %s, want 503 with Retry-After 3", status, header.Get("Retry-After"), body)
		}
		// The shed request is an outcome: overload, as users saw it.
		if o := h.events.lastOutcome(); o.Route != "assistant" || o.Class != understudy.ClassOverloaded || o.Mode != "unavailable" || o.Target != "" {
			t.Errorf("shed outcome %+v, want assistant/overloaded/unavailable", o)
		}
		cancel()
		<-done
	})
	t.Run("key rate limit", func(t *testing.T) {
		clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC))
		h := newHarness(t, withClock(clk), withConfig(strings.Replace(baseConfig, `{name: test, key: "${TEST_KEY}"}`, `{name: test, key: "${TEST_KEY}", requests_per_minute: 2}`, 1)))
		ctx := testCtx(t)
		for i := 0; i < 2; i++ {
			if got := h.ask(ctx); got.err != nil {
				t.Fatalf("request %d: %v", i, got.err)
			}
		}
		status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
		if status != 429 || header.Get("Retry-After") != "50" || !strings.Contains(body, "rate_limit_exceeded") {
			t.Errorf("got %d Retry-After %q: %s, want 429 with Retry-After 50", status, header.Get("Retry-After"), body)
		}
		clk.Advance(50 * time.Second)
		if got := h.ask(ctx); got.err != nil {
			t.Errorf("after the window: %v", got.err)
		}
	})
}

// TestKeyTokenLimit: once a key's requests have used its tokens for the
// minute, it gets 429 with Retry-After until the next minute.
func TestKeyTokenLimit(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC))
	h := newHarness(t, withClock(clk), withConfig(strings.Replace(baseConfig, `{name: test, key: "${TEST_KEY}"}`, `{name: test, key: "${TEST_KEY}", tokens_per_minute: 20}`, 1)))
	ctx := testCtx(t)
	first := h.ask(ctx)
	if first.err != nil || first.usage == 0 {
		t.Fatalf("first request: %v (usage %d)", first.err, first.usage)
	}
	n := 1
	for ; int64(n)*first.usage < 20; n++ {
		if got := h.ask(ctx); got.err != nil {
			t.Fatalf("request %d within the budget: %v", n+1, got.err)
		}
	}
	status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	if status != 429 || header.Get("Retry-After") != "50" || !strings.Contains(body, "tokens for this minute") {
		t.Errorf("after %d requests of %d tokens: %d Retry-After %q: %s, want 429", n, first.usage, status, header.Get("Retry-After"), body)
	}
	clk.Advance(50 * time.Second)
	if got := h.ask(ctx); got.err != nil {
		t.Errorf("next minute: %v", got.err)
	}
}

func TestMaxAttempts(t *testing.T) {
	h := newHarness(t, withConfig(strings.Replace(baseConfig, "retry: {backoff: 1ms}", "retry: {backoff: 1ms, max_attempts: 1}", 1)))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "server_error"})
	got := h.ask(ctx)
	var apiErr *openai.Error
	if !errors.As(got.err, &apiErr) || apiErr.StatusCode != 503 {
		t.Fatalf("got %v, want 503", got.err)
	}
	if n := h.requests("primary") + h.requests("secondary"); n != 1 {
		t.Errorf("got %d attempts, want 1", n)
	}
}

// TestUpstreamKeys: the provider key goes to the upstream (Bearer for
// OpenAI-compatible, api-key plus deployments path for Azure).
func TestUpstreamKeys(t *testing.T) {
	const cfg = `
listen: 127.0.0.1:0
providers:
  - {name: primary, base_url: "${SIM_URL}/primary/v1", api_key: "${UP_KEY}", probe: {disabled: true}}
  - {name: azure, kind: azure, base_url: "${SIM_URL}/azure", api_key: "${AZ_KEY}", probe: {disabled: true}}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
  - name: azure-chat
    tiers:
      - [{provider: azure, model: my-deployment}]
`
	h := newHarness(t, withConfig(cfg), withEnv("UP_KEY", "sk-upstream"), withEnv("AZ_KEY", "az-secret"),
		withSim(simulate.Options{Providers: []string{"primary", "azure"}, Keys: map[string]string{"primary": "sk-upstream", "azure": "az-secret"}}))
	ctx := testCtx(t)
	if got := h.ask(ctx); got.err != nil || got.text != answerOf("primary") {
		t.Errorf("openai kind: got %q %v", got.text, got.err)
	}
	status, header, body := h.raw(ctx, `{"model":"azure-chat","messages":[{"role":"user","content":"Why is the sky blue?"}]}`)
	if status != 200 || header.Get("X-Understudy-Target") != "azure/my-deployment" {
		t.Fatalf("azure: got %d %s", status, body)
	}
	if want := simulate.Answer("azure", "my-deployment", question); !strings.Contains(body, want) {
		t.Errorf("azure: body %s does not contain %q", body, want)
	}
}

// TestReloadKeepsState: a new config applies at once; unchanged targets keep
// their breaker state.
func TestReloadKeepsState(t *testing.T) {
	cfg := strings.Replace(baseConfig, `probe: {disabled: true}}`, `probe: {disabled: true}, breaker: {consecutive_failures: 1, open_for: 1h, max_open_for: 2h}}`, 1)
	cfg = strings.Replace(cfg, "retry: {backoff: 1ms}", "retry: {budget: 0, min_per_second: 0}", 1)
	h := newHarness(t, withConfig(cfg))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "server_error"})
	if got := h.ask(ctx); got.err != nil {
		t.Fatal(got.err)
	}
	h.sim.ClearFault("primary")
	next := cfg + `
  - name: second-route
    tiers:
      - [{provider: backup, model: m-backup}]
`
	if err := h.gw.Apply(mustConfig(t, next, h.getenv)); err != nil {
		t.Fatal(err)
	}
	page, err := h.client.Models.List(ctx)
	if err != nil || len(page.Data) != 2 {
		t.Fatalf("got %v %v, want two routes", page, err)
	}
	got := h.ask(ctx)
	if got.err != nil || got.text != answerOf("secondary") {
		t.Errorf("got %q %v, want the secondary (primary's breaker still open)", got.text, got.err)
	}
	if n := h.requests("primary"); n != 1 {
		t.Errorf("primary saw %d, want 1", n)
	}
}
