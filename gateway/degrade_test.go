package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/understudy/understudy/simulate"
)

// TestCacheStep: with `degrade: [cache]`, an answer served earlier is
// served again to the same conversation (streamed or not, whichever way it
// was first written) when no target can answer; another conversation, or a
// request with tools, gets the 503.
func TestCacheStep(t *testing.T) {
	h := newHarness(t, withConfig(strings.Replace(baseConfig, "    retry: {backoff: 1ms}", "    retry: {backoff: 1ms}\n    degrade: [cache]", 1)))
	ctx := testCtx(t)
	first := h.ask(ctx)
	if first.err != nil {
		t.Fatal(first.err)
	}
	other := `{"model":"assistant","messages":[{"role":"user","content":"Something else"}],"stream":true}`
	if status, _, _ := h.raw(ctx, other); status != 200 {
		t.Fatalf("streamed answer: %d", status)
	}
	for _, p := range []string{"primary", "secondary", "backup"} {
		h.setFault(p, simulate.Fault{Kind: "server_error"})
	}
	got := h.ask(ctx)
	if got.err != nil || got.text != first.text || got.header.Get("X-Understudy-Mode") != "degraded_cache" {
		t.Fatalf("cached answer: %v %q (mode %q), want %q", got.err, got.text, got.header.Get("X-Understudy-Mode"), first.text)
	}
	if got.model != "m-primary" {
		t.Errorf("model %q, want the model that wrote it", got.model)
	}
	// The streamed answer, asked again without streaming.
	status, header, body := h.raw(ctx, strings.Replace(other, `,"stream":true`, "", 1))
	var c struct {
		Choices []struct{ Message struct{ Content string } } `json:"choices"`
	}
	if status != 200 || header.Get("X-Understudy-Mode") != "degraded_cache" || json.Unmarshal([]byte(body), &c) != nil ||
		c.Choices[0].Message.Content != answerOf2("primary", "Something else") {
		t.Errorf("cached streamed answer: %d %s", status, body)
	}
	for name, req := range map[string]string{
		"new conversation": `{"model":"assistant","messages":[{"role":"user","content":"Never asked"}]}`,
		"tools":            `{"model":"assistant","messages":[{"role":"user","content":"Why is the sky blue?"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
	} {
		if status, _, body := h.raw(ctx, req); status != 503 {
			t.Errorf("%s: %d %s, want 503", name, status, body)
		}
	}
	if n := h.counter("understudy_cache_lookups_total", "route", "assistant", "result", "hit"); n != 2 {
		t.Errorf("cache hits %v, want 2", n)
	}
}

func answerOf2(provider, question string) string {
	return simulate.Answer(provider, "m-"+provider, simulate.Message{Role: "user", Content: question})
}

// TestPriorityShedding: with max_inflight 10 and 8 requests in flight,
// batch traffic (shed beyond 7) is answered by the ladder (a cached
// answer) or refused, while default (beyond 9) and critical traffic are
// still admitted.
func TestPriorityShedding(t *testing.T) {
	cfg := strings.Replace(baseConfig, `keys:
  - {name: test, key: "${TEST_KEY}"}`, `limits: {max_inflight: 10}
keys:
  - {name: test, key: "${TEST_KEY}"}
  - {name: nightly, key: "${BATCH_KEY}", priority: batch}
  - {name: web, key: "${CRITICAL_KEY}", priority: critical}`, 1)
	cfg = strings.Replace(cfg, "    retry: {backoff: 1ms}", "    retry: {backoff: 1ms}\n    degrade: [cache]", 1)
	h := newHarness(t, withConfig(cfg), withEnv("BATCH_KEY", "sk-batch"), withEnv("CRITICAL_KEY", "sk-critical"))
	ctx := testCtx(t)
	cached := `{"model":"assistant","messages":[{"role":"user","content":"Cached question"}]}`
	if status, _, _ := h.raw(ctx, cached); status != 200 {
		t.Fatal("warming the cache")
	}
	// Eight requests hang on the primary.
	h.setFault("primary", simulate.Fault{Kind: "hang"})
	hold, release := context.WithCancel(ctx)
	defer release()
	done := make(chan struct{}, 8)
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequestWithContext(hold, http.MethodPost, h.srv.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hold"}]}`))
			req.Header.Set("Authorization", "Bearer "+testKey)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	if err := h.sim.WaitRequests(ctx, "primary", 8); err != nil {
		t.Fatal(err)
	}
	batch := func(body string) (int, string) {
		status, header, _ := h.raw(ctx, body, "Authorization", "Bearer sk-batch")
		return status, header.Get("X-Understudy-Mode")
	}
	if status, mode := batch(`{"model":"assistant","messages":[{"role":"user","content":"new"}]}`); status != 503 {
		t.Errorf("batch over its share: %d %q, want 503", status, mode)
	}
	if status, mode := batch(cached); status != 200 || mode != "degraded_cache" {
		t.Errorf("batch over its share, cached conversation: %d %q, want 200 degraded_cache", status, mode)
	}
	h.setFault("primary", simulate.Fault{Kind: "server_error"}) // new requests fail over at once
	for name, key := range map[string]string{"default": testKey, "critical": "sk-critical"} {
		if status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"important"}]}`, "Authorization", "Bearer "+key); status != 200 || header.Get("X-Understudy-Mode") != "" {
			t.Errorf("%s traffic at 8/10: %d %s, want served", name, status, body)
		}
	}
	release()
	for range 8 {
		<-done
	}
}
