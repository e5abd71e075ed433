package gateway_test

import (
	"encoding/json"
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
