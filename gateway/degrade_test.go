package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/gateway"
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

// Under a target's adaptive concurrency limit, batch traffic that may not
// wait is degraded (cached answer) or refused with 503 and Retry-After,
// while critical traffic waits in the admission queue and is served.
func TestAdaptiveLimitAdmission(t *testing.T) {
	cfg := `
listen: 127.0.0.1:0
limits:
  queue_wait: {critical: 30s, default: 30s, batch: 0s}
  shed_retry_after: 3s
keys:
  - {name: test, key: "${TEST_KEY}"}
  - {name: nightly, key: "${BATCH_KEY}", priority: batch}
  - {name: web, key: "${CRITICAL_KEY}", priority: critical}
providers:
  - name: primary
    base_url: "${SIM_URL}/primary/v1"
    probe: {disabled: true}
    adaptive_concurrency: {enabled: true, min: 1, max: 1, initial: 1, queue: 2}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
    timeouts: {first_token: 60s, response: 60s, stream_idle: 60s, total: 120s}
    retry: {backoff: 1ms}
    degrade: [cache]
`
	h := newHarness(t, withConfig(cfg), withEnv("BATCH_KEY", "sk-batch"), withEnv("CRITICAL_KEY", "sk-critical"))
	ctx := testCtx(t)
	cached := `{"model":"assistant","messages":[{"role":"user","content":"Cached question"}]}`
	if status, _, _ := h.raw(ctx, cached); status != 200 {
		t.Fatal("warming the cache")
	}
	// One request holds the target's only slot.
	h.setFault("primary", simulate.Fault{Kind: "hang", Count: 1})
	hold, release := context.WithCancel(ctx)
	defer release()
	held := make(chan struct{})
	go func() {
		defer close(held)
		req, _ := http.NewRequestWithContext(hold, http.MethodPost, h.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hold"}]}`))
		req.Header.Set("Authorization", "Bearer "+testKey)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if err := h.sim.WaitRequests(ctx, "primary", 2); err != nil {
		t.Fatal(err)
	}

	status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"new"}]}`, "Authorization", "Bearer sk-batch")
	if status != 503 || header.Get("Retry-After") != "3" || !strings.Contains(body, "adaptive concurrency limit") {
		t.Errorf("batch at the limit: %d Retry-After %q %s; want 503, Retry-After 3, naming the limit", status, header.Get("Retry-After"), body)
	}
	if status, header, _ := h.raw(ctx, cached, "Authorization", "Bearer sk-batch"); status != 200 || header.Get("X-Understudy-Mode") != "degraded_cache" {
		t.Errorf("batch at the limit, cached conversation: %d %q, want 200 degraded_cache", status, header.Get("X-Understudy-Mode"))
	}
	if got := h.counter("understudy_admission_total", "priority", "batch", "result", "at_limit"); got != 2 {
		t.Errorf("batch at_limit admissions = %v, want 2", got)
	}

	// A critical request waits in the queue for the slot.
	served := make(chan string, 1)
	go func() {
		status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"important"}]}`, "Authorization", "Bearer sk-critical")
		served <- fmt.Sprintf("%d %s %s", status, header.Get("X-Understudy-Mode"), body)
	}()
	waitGauge(ctx, t, h, "understudy_admission_queued", 1, "target", "primary/m-primary")
	select {
	case got := <-served:
		t.Fatalf("critical request answered while the slot was held: %s", got)
	default:
	}
	release() // the slot frees
	<-held
	if got := <-served; !strings.HasPrefix(got, "200  ") {
		t.Errorf("queued critical request: %s, want 200 served by the target", got)
	}
	if got := h.counter("understudy_admission_total", "priority", "critical", "result", "admitted"); got != 1 {
		t.Errorf("critical admitted = %v, want 1", got)
	}
	waitGauge(ctx, t, h, "understudy_admission_queued", 0, "target", "primary/m-primary")
}

// waitGauge polls a gauge until it reads want (or the test's deadline).
func waitGauge(ctx context.Context, t *testing.T, h *harness, name string, want float64, labels ...string) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for h.counter(name, labels...) != want {
		select {
		case <-ctx.Done():
			t.Fatalf("%s%v never reached %v (last %v)", name, labels, want, h.counter(name, labels...))
		case <-tick.C:
		}
	}
}

// With cache.fast_path, a conversation answered moments ago is answered
// from the cache without reaching any target; older answers are not.
func TestCacheFastPath(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	cfg := strings.Replace(baseConfig, "    retry: {backoff: 1ms}", "    retry: {backoff: 1ms, budget: 0, min_per_second: 0}\n    cache: {fast_path: true, fast_path_ttl: 10m}", 1)
	h := newHarness(t, withConfig(cfg), withClock(clk))
	ctx := testCtx(t)
	q := `{"model":"assistant","messages":[{"role":"user","content":"What are your opening hours?"}]}`
	status, header, first := h.raw(ctx, q)
	if status != 200 || header.Get("X-Understudy-Mode") != "" {
		t.Fatalf("first ask: %d %q", status, header.Get("X-Understudy-Mode"))
	}
	if n := h.requests("primary"); n != 1 {
		t.Fatalf("primary saw %d requests, want 1", n)
	}
	clk.Advance(9 * time.Minute)
	status, header, again := h.raw(ctx, q)
	if status != 200 || header.Get("X-Understudy-Mode") != "cached" {
		t.Fatalf("second ask: %d mode %q, want 200 cached", status, header.Get("X-Understudy-Mode"))
	}
	if n := h.requests("primary"); n != 1 {
		t.Errorf("fast path still sent the request upstream: primary saw %d", n)
	}
	var a, b struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(first), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(again), &b); err != nil {
		t.Fatal(err)
	}
	if a.Choices[0].Message.Content == "" || a.Choices[0].Message.Content != b.Choices[0].Message.Content {
		t.Errorf("cached answer %q, want the model's %q", b.Choices[0].Message.Content, a.Choices[0].Message.Content)
	}
	// Another conversation is not served from the cache.
	if _, header, _ := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"Something else"}]}`); header.Get("X-Understudy-Mode") != "" {
		t.Errorf("other conversation served in mode %q", header.Get("X-Understudy-Mode"))
	}
	// Past fast_path_ttl the model answers again (and refreshes the entry).
	clk.Advance(2 * time.Minute)
	if _, header, _ := h.raw(ctx, q); header.Get("X-Understudy-Mode") != "" {
		t.Errorf("after fast_path_ttl: mode %q, want the model", header.Get("X-Understudy-Mode"))
	}
	if n := h.requests("primary"); n != 3 {
		t.Errorf("primary saw %d requests, want 3", n)
	}
	if got := h.counter("understudy_requests_total", "outcome", "cached"); got != 1 {
		t.Errorf("requests counted cached = %v, want 1", got)
	}
}

// The end user of an outcome is a hash of the configured header, else of
// the body's "user" field; never the value itself.
func TestEndUserHashed(t *testing.T) {
	h := newHarness(t, withConfig("end_user_header: X-End-User\n"+baseConfig))
	ctx := testCtx(t)
	hash := func(v string) string { sum := sha256.Sum256([]byte(v)); return hex.EncodeToString(sum[:16]) }
	for _, tt := range []struct {
		name, body, header, want string
	}{
		{"user field", `{"model":"assistant","user":"alice@example.com","messages":[{"role":"user","content":"hi"}]}`, "", hash("alice@example.com")},
		{"header wins", `{"model":"assistant","user":"alice@example.com","messages":[{"role":"user","content":"hi"}]}`, "user-42", hash("user-42")},
		{"neither", `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`, "", ""},
	} {
		hdr := []string{"Authorization", "Bearer " + testKey}
		if tt.header != "" {
			hdr = append(hdr, "X-End-User", tt.header)
		}
		if status, _, _ := h.raw(ctx, tt.body, hdr...); status != 200 {
			t.Fatalf("%s: %d", tt.name, status)
		}
		if got := h.events.lastOutcome().User; got != tt.want {
			t.Errorf("%s: Outcome.User = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// stuckHandoff never answers: its queue is in a database that does not
// respond. It reports the time it was given.
type stuckHandoff struct{ given chan time.Duration }

var _ gateway.Handoff = (*stuckHandoff)(nil)

func (s *stuckHandoff) HandOff(ctx context.Context, _, _ string, _ []chat.Message, _ string) (string, string, int64, error) {
	d := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	s.given <- d
	<-ctx.Done()
	return "", "", 0, ctx.Err()
}

// fixedNotice is a Degrader answering every route with text.
type fixedNotice string

var _ gateway.Degrader = fixedNotice("")

func (f fixedNotice) NoticeAnswer(string, string) (string, string) { return string(f), "en" }

// TestHandoffStepBounded: a handoff step that does not answer is given up
// after HandoffTimeout, and the ladder's next step answers the client.
func TestHandoffStepBounded(t *testing.T) {
	const timeout = 50 * time.Millisecond
	stuck := &stuckHandoff{given: make(chan time.Duration, 1)}
	h := newHarness(t, withConfig(strings.Replace(baseConfig, "    retry: {backoff: 1ms}", "    retry: {backoff: 1ms}\n    degrade: [handoff, notice]", 1)),
		withOptions(func(o *gateway.Options) {
			o.Handoff, o.HandoffTimeout, o.Degrader = stuck, timeout, fixedNotice("We are on it.")
		}))
	ctx := testCtx(t)
	for _, p := range []string{"primary", "secondary", "backup"} {
		h.setFault(p, simulate.Fault{Kind: "server_error"})
	}
	status, header, body := h.raw(ctx, `{"model":"assistant","messages":[{"role":"user","content":"Help"}]}`)
	if status != 200 || header.Get("X-Understudy-Mode") != "notice" || !strings.Contains(body, "We are on it.") {
		t.Errorf("got %d (mode %q) %s, want the notice after the handoff step gave up", status, header.Get("X-Understudy-Mode"), body)
	}
	if d := <-stuck.given; d < 0 || d > timeout {
		t.Errorf("the handoff step was given %v, want a deadline within %v", d, timeout)
	}
}
