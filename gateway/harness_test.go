package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/simulate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// baseConfig: three simulated providers, route "assistant" with one target
// per tier, probes off, short backoff.
const baseConfig = `
listen: 127.0.0.1:0
keys:
  - {name: test, key: "${TEST_KEY}"}
providers:
  - {name: primary,   base_url: "${SIM_URL}/primary/v1",   probe: {disabled: true}}
  - {name: secondary, base_url: "${SIM_URL}/secondary/v1", probe: {disabled: true}}
  - {name: backup,    base_url: "${SIM_URL}/backup/v1",    probe: {disabled: true}}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
      - [{provider: secondary, model: m-secondary}]
      - [{provider: backup, model: m-backup}]
    timeouts: {first_token: 5s, response: 5s, stream_idle: 5s, total: 60s}
    retry: {backoff: 1ms}
`

const testKey = "sk-test-understudy"

type harness struct {
	t       *testing.T
	sim     *simulate.Simulator
	simSrv  *httptest.Server
	gw      *gateway.Gateway
	srv     *httptest.Server
	reg     *prometheus.Registry
	clk     clockwork.Clock
	events  *eventLog
	client  openai.Client
	logs    *syncBuffer
	getenv  func(string) string
	cfgText string
}

type harnessOpt func(*harnessOpts)

type harnessOpts struct {
	clk     clockwork.Clock
	config  string
	simOpts simulate.Options
	env     map[string]string
	gwOpts  func(*gateway.Options) // may be nil
}

// withOptions changes the gateway's options before it starts.
func withOptions(f func(*gateway.Options)) harnessOpt { return func(o *harnessOpts) { o.gwOpts = f } }

func withClock(c clockwork.Clock) harnessOpt { return func(o *harnessOpts) { o.clk = c } }
func withConfig(c string) harnessOpt         { return func(o *harnessOpts) { o.config = c } }
func withSim(s simulate.Options) harnessOpt  { return func(o *harnessOpts) { o.simOpts = s } }
func withEnv(k, v string) harnessOpt {
	return func(o *harnessOpts) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		o.env[k] = v
	}
}

// newHarness starts the simulator and a gateway in front of it.
func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	o := harnessOpts{clk: clockwork.NewRealClock(), config: baseConfig}
	for _, f := range opts {
		f(&o)
	}
	h := &harness{t: t, clk: o.clk, events: &eventLog{}, logs: &syncBuffer{}, reg: prometheus.NewRegistry(), cfgText: o.config}
	h.sim = simulate.New(o.simOpts)
	h.simSrv = httptest.NewServer(h.sim)
	h.getenv = func(k string) string {
		switch k {
		case "SIM_URL":
			return h.simSrv.URL
		case "TEST_KEY":
			return testKey
		}
		return o.env[k]
	}
	cfg := mustConfig(t, o.config, h.getenv)
	gwOpts := gateway.Options{
		Clock:    o.clk,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: h.reg,
		Events:   h.events,
		Rand:     func() float64 { return 0.5 },
	}
	if o.gwOpts != nil {
		o.gwOpts(&gwOpts)
	}
	gw, err := gateway.New(cfg, gwOpts)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	h.gw = gw
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw.Handler())
	mux.HandleFunc("/readyz", gw.Readyz)
	h.srv = httptest.NewServer(mux)
	h.client = openai.NewClient(option.WithBaseURL(h.srv.URL+"/v1/"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	t.Cleanup(func() {
		h.sim.Close()
		h.srv.Close()
		h.simSrv.Close()
		gw.Close()
		if t.Failed() {
			t.Logf("gateway logs:\n%s", h.logs.String())
		}
	})
	return h
}

func mustConfig(t testing.TB, text string, getenv func(string) string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(text), "test.yaml", getenv)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var question = simulate.Message{Role: "user", Content: "Why is the sky blue?"}

func params() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "assistant",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question.Content)},
	}
}

// answerOf is the exact text the simulated provider answers with.
func answerOf(provider string) string {
	return simulate.Answer(provider, "m-"+provider, question)
}

type completion struct {
	text    string
	model   string
	header  http.Header
	err     error
	chunks  int
	usage   int64
	streams bool
}

// ask sends a non-streaming request with the official SDK.
func (h *harness) ask(ctx context.Context) completion {
	var resp *http.Response
	c, err := h.client.Chat.Completions.New(ctx, params(), option.WithResponseInto(&resp))
	out := completion{err: err}
	if resp != nil {
		out.header = resp.Header
	}
	if err == nil {
		out.text = c.Choices[0].Message.Content
		out.model = c.Model
		out.usage = c.Usage.TotalTokens
	}
	return out
}

// askStream sends a streaming request with the official SDK and gathers it.
func (h *harness) askStream(ctx context.Context) completion {
	var resp *http.Response
	p := params()
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := h.client.Chat.Completions.NewStreaming(ctx, p, option.WithResponseInto(&resp))
	out := completion{streams: true}
	var b strings.Builder
	for s.Next() {
		ch := s.Current()
		out.chunks++
		if ch.Model != "" {
			out.model = ch.Model
		}
		if len(ch.Choices) > 0 {
			b.WriteString(ch.Choices[0].Delta.Content)
		}
		if ch.Usage.TotalTokens > 0 {
			out.usage = ch.Usage.TotalTokens
		}
	}
	out.err = s.Err()
	_ = s.Close()
	out.text = b.String()
	if resp != nil {
		out.header = resp.Header
	}
	return out
}

// post sends body to the gateway with the test key; the caller reads and
// closes the response (a stream, typically).
func (h *harness) post(ctx context.Context, body string, header ...string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	return resp
}

// streamBody is a streaming request for the test question.
var streamBody = `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"` + question.Content + `"}]}`

// raw posts body to the gateway with the test key and returns status, headers, body.
func (h *harness) raw(ctx context.Context, body string, header ...string) (int, http.Header, string) {
	h.t.Helper()
	resp := h.post(ctx, body, header...)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (h *harness) requests(provider string) int { return h.sim.Stats(provider).Requests }

func (h *harness) setFault(provider string, f simulate.Fault) {
	h.t.Helper()
	if err := h.sim.SetFault(provider, f); err != nil {
		h.t.Fatalf("SetFault: %v", err)
	}
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				total += g.GetValue()
			}
		}
	}
	return total
}

// eventLog records events and lets a test wait for one.
type eventLog struct {
	mu       sync.Mutex
	events   []understudy.Event
	attempts []understudy.Attempt
	outcomes []understudy.Outcome
	changed  chan struct{}
}

func (l *eventLog) RecordOutcome(o understudy.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcomes = append(l.outcomes, o)
}

func (l *eventLog) lastOutcome() understudy.Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.outcomes) == 0 {
		return understudy.Outcome{}
	}
	return l.outcomes[len(l.outcomes)-1]
}

var (
	_ gateway.EventSink       = (*eventLog)(nil)
	_ gateway.AttemptRecorder = (*eventLog)(nil)
	_ gateway.OutcomeRecorder = (*eventLog)(nil)
)

func (l *eventLog) RecordAttempt(a understudy.Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, a)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// waitAttempts blocks until n attempts matching f have been recorded.
func (l *eventLog) waitAttempts(ctx context.Context, t *testing.T, n int, f func(understudy.Attempt) bool) {
	t.Helper()
	for {
		l.mu.Lock()
		got := 0
		for _, a := range l.attempts {
			if f(a) {
				got++
			}
		}
		if got >= n {
			l.mu.Unlock()
			return
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("got %d matching attempts, want %d; all: %+v", got, n, l.attempts)
		}
	}
}

func class(c understudy.Class) func(understudy.Attempt) bool {
	return func(a understudy.Attempt) bool { return a.Class == c }
}

func (l *eventLog) Emit(e understudy.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// wait blocks until an event matching f has been emitted.
func (l *eventLog) wait(ctx context.Context, t *testing.T, what string, f func(understudy.Event) bool) understudy.Event {
	t.Helper()
	for {
		l.mu.Lock()
		for _, e := range l.events {
			if f(e) {
				l.mu.Unlock()
				return e
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no %s event; got %+v", what, l.all())
		}
	}
}

func (l *eventLog) all() []understudy.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]understudy.Event(nil), l.events...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
