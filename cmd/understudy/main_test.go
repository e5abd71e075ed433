package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// os/signal's dispatcher goroutine lives for the process once SIGHUP is
	// subscribed; it is not a leak of ours.
	// bleve (the FAQ index) keeps a pool of analysis workers for the life
	// of the process, started when the package loads.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"), goleak.IgnoreTopFunction("os/signal.loop"),
		goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

func testCtx(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, cancel
}

func TestVersionAndUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
		wantOut string
	}{
		{"version", []string{"version"}, nil, "understudy dev"},
		{"help", []string{"help"}, nil, "understudy serve"},
		{"no command", nil, errUsage, "Usage:"},
		{"unknown command", []string{"frobnicate"}, errUsage, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, func(string) string { return "" }, &out, &out)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q does not contain %q", out.String(), tt.wantOut)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const serveConfig = `listen: 127.0.0.1:0
log: {level: info}
storage: {sqlite: "${DB}", flush_every: 1h}
providers:
  - {name: primary, base_url: "${SIM_URL}/primary/v1", probe: {disabled: true}}
  - {name: secondary, base_url: "${SIM_URL}/secondary/v1", probe: {disabled: true}}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: gpt-4o-mini}]
      - [{provider: secondary, model: claude-haiku-4-5}]
`

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(t.TempDir(), "u.db")
	env := func(k string) string {
		switch k {
		case "SIM_URL":
			return "http://127.0.0.1:9"
		case "DB":
			return db
		}
		return ""
	}
	good := writeFile(t, dir, "good.yaml", serveConfig)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", good}, env, &out, &out); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	for _, want := range []string{"valid", "assistant", "primary/gpt-4o-mini", "secondary/claude-haiku-4-5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, out.String())
		}
	}
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(serveConfig, "provider: secondary", "provider: secondry", 1))
	out.Reset()
	err := run(context.Background(), []string{"check", bad}, env, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:11:") || !strings.Contains(err.Error(), `unknown provider "secondry"`) {
		t.Errorf("got %v, want an error naming bad.yaml, line 11 and the provider", err)
	}
}

// lines feeds a writer's lines to a channel.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 1000)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf.Next(i + 1))
		select {
		case l.ch <- strings.TrimSpace(line):
		default:
		}
	}
}

// waitFor returns the first line containing s.
func (l *lines) waitFor(ctx context.Context, t *testing.T, s string) string {
	t.Helper()
	for {
		select {
		case line := <-l.ch:
			if strings.Contains(line, s) {
				return line
			}
		case <-ctx.Done():
			t.Fatalf("no line containing %q", s)
		}
	}
}

// TestServe runs the real serve command end to end: the official client gets
// answers (with failover), /metrics, /healthz and /readyz answer, a SIGHUP
// reloads a changed file, an invalid file is rejected and the running config
// kept, and cancelling the context shuts down cleanly.
func TestServe(t *testing.T) {
	ctx, cancel := testCtx(t)
	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	db := filepath.Join(t.TempDir(), "u.db")
	env := func(k string) string {
		switch k {
		case "SIM_URL":
			return simSrv.URL
		case "DB":
			return db
		}
		return ""
	}
	path := writeFile(t, t.TempDir(), "understudy.yaml", serveConfig)
	stdout, stderr := newLines(), newLines()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", path}, env, stdout, stderr) }()
	line := stdout.waitFor(ctx, t, "listening on ")
	base := strings.TrimSpace(line[strings.Index(line, "http://"):])

	client := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ask := func() (*openai.ChatCompletion, error) {
		return client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}})
	}
	c, err := ask()
	if err != nil || c.Model != "gpt-4o-mini" {
		t.Fatalf("got %v %v, want an answer from gpt-4o-mini", c, err)
	}
	if err := sim.SetFault("primary", simulate.Fault{Kind: "server_error"}); err != nil {
		t.Fatal(err)
	}
	if c, err = ask(); err != nil || c.Model != "claude-haiku-4-5" {
		t.Fatalf("got %v %v, want failover to claude-haiku-4-5", c, err)
	}
	for path, want := range map[string]string{
		"/healthz":         "ok",
		"/readyz":          "ready\ndatabase: ok\n",
		"/readyz/database": "database: ok",
		"/metrics":         `understudy_requests_total{outcome="failover",route="assistant",target="secondary/claude-haiku-4-5"} 1`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: got %d, body without %q:\n%.2000s", path, resp.StatusCode, want, b)
		}
	}

	// An invalid file is rejected with the reason; the running config stays.
	if err := os.WriteFile(path, []byte(strings.Replace(serveConfig, "provider: secondary", "provider: nope", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	stderr.waitFor(ctx, t, `unknown provider \"nope\"`)
	if _, err := ask(); err != nil {
		t.Errorf("after a rejected reload: %v", err)
	}
	// A valid change applies.
	next := serveConfig + "  - name: second\n    tiers:\n      - [{provider: secondary, model: claude-haiku-4-5}]\n"
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	stderr.waitFor(ctx, t, "config reloaded")
	page, err := client.Models.List(ctx)
	if err != nil || len(page.Data) != 2 {
		t.Errorf("got %v %v, want two models after reload", page, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
	// Shutting down flushed the recorder: the outcomes are in the store.
	st, err := store.Open(context.Background(), store.Config{SQLitePath: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	imp, err := st.Impact(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), []string{"assistant"})
	if err != nil || imp.Requests != 3 || imp.ServedByFailover != 2 {
		t.Errorf("got %+v %v, want the 3 requests recorded, 2 served by failover", imp, err)
	}
	evs, err := st.Events(context.Background(), store.EventQuery{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || len(evs) == 0 {
		t.Errorf("got %d events %v, want the failover and reload events", len(evs), err)
	}

	// migrate and backup work on the same file.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "-config", path}, env, &out, &out); err != nil || !strings.Contains(out.String(), "migration 0001") {
		t.Errorf("migrate: %v\n%s", err, out.String())
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	out.Reset()
	if err := run(context.Background(), []string{"backup", "-config", path, copyPath}, env, &out, &out); err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	cp, err := store.Open(context.Background(), store.Config{SQLitePath: copyPath})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if imp, err := cp.Impact(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil); err != nil || imp.Requests != 3 {
		t.Errorf("backup copy: got %+v %v, want the 3 requests", imp, err)
	}
}

// TestDemo: the demo starts the simulator and the gateway, prints where they
// are, and keeps answering through an outage of the primary.
func TestDemo(t *testing.T) {
	ctx, cancel := testCtx(t)
	stdout := newLines()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-listen", "127.0.0.1:0", "-sim-listen", "127.0.0.1:0", "-traffic", "0", "-outage-at", "0"},
			func(string) string { return "" }, stdout, io.Discard)
	}()
	gw := stdout.waitFor(ctx, t, "gateway    http://")
	sim := stdout.waitFor(ctx, t, "simulator  http://")
	url := func(line string) string { return strings.Fields(line)[1] }
	post := func() (int, http.Header) {
		resp, err := http.Post(url(gw)+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"Hello"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if status, h := post(); status != 200 || h.Get("X-Understudy-Target") != "primary/gpt-4o-mini" {
		t.Fatalf("got %d from %q, want 200 from the primary", status, h.Get("X-Understudy-Target"))
	}
	req, _ := http.NewRequest(http.MethodPut, url(sim)+"/_sim/providers/primary/fault", strings.NewReader(`{"kind":"server_error"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("setting the fault: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, h := post(); status != 200 || h.Get("X-Understudy-Target") != "secondary/claude-haiku-4-5" {
		t.Fatalf("got %d from %q, want 200 from the secondary", status, h.Get("X-Understudy-Target"))
	}
	// Two more failing requests open the primary's breaker (five
	// consecutive failures): the demo shows the incident opening.
	for range 2 {
		post()
	}
	stdout.waitFor(ctx, t, "⚑ incident #1 incident.opened")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo returned %v, want nil", err)
	}
}
