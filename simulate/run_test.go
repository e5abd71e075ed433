package simulate_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/understudy/understudy/simulate"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func MustWriteFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr lockedBuffer
	err := simulate.Run(testCtx(t), []string{"-h"}, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("got %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: understudy simulate", "-fault", "-schedule", "-token-interval", "slow_first_token",
		"-no-prefill", "/{provider}/v1/messages", "overlap", "-same-answers", "-capacity", "SLOTS[/QUEUE]"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("got usage %q, want it to mention %q", stderr.String(), want)
		}
	}
}

func TestRunBadArguments(t *testing.T) {
	badSchedule := MustWriteFile(t, "bad.json", `{"primary":[{"for":"0s"}]}`)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown provider", []string{"-fault", "nobody=hang"}, "unknown provider"},
		{"unknown kind", []string{"-fault", "primary=explode"}, "valid kinds"},
		{"fault without kind", []string{"-fault", "primary"}, "provider=kind"},
		{"bad JSON fault", []string{"-fault", `primary={"kind":"hang","x":1}`}, "unknown field"},
		{"no providers", []string{"-providers", " , "}, "names no provider"},
		{"no answer words", []string{"-answer-words", "0"}, "-answer-words"},
		{"missing schedule file", []string{"-schedule", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"bad schedule", []string{"-schedule", badSchedule}, "steps[0].for"},
		{"extra arguments", []string{"serve"}, "unexpected arguments"},
		{"no-prefill of an unknown provider", []string{"-no-prefill", "nobody"}, "not among -providers"},
		{"bad listen address", []string{"-listen", "127.0.0.1:99999"}, "invalid port"},
		{"capacity without slots", []string{"-capacity", "primary"}, `invalid value "primary" for flag -capacity: want provider=SLOTS[/QUEUE]`},
		{"capacity of zero slots", []string{"-capacity", "primary=0"}, "flag -capacity: slots: 0 is less than 1"},
		{"capacity with a bad queue", []string{"-capacity", "primary=2/x"}, `flag -capacity: queue "x"`},
		{"capacity of an unknown provider", []string{"-capacity", "primary=1,nobody=2"}, `-capacity "nobody": not among -providers`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr lockedBuffer
			err := simulate.Run(testCtx(t), append([]string{"-listen", "127.0.0.1:0"}, tt.args...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	schedule := MustWriteFile(t, "schedule.json", `{"b":[{"fault":{"kind":"server_error"},"for":"1h"}]}`)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- simulate.Run(ctx, []string{"-listen", "127.0.0.1:0", "-providers", "a,b,c", "-answer-words", "5",
			"-fault", "a=rate_limit", "-schedule", schedule, "-no-prefill", "c"}, pw, &stderr)
		pw.Close()
	}()
	lines := make(chan string)
	go func() { // drain stdout until Run ends
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	urls := map[string]string{}
	for line := range lines {
		if f := strings.Fields(line); len(f) == 2 && strings.HasSuffix(f[1], "/"+f[0]+"/v1") {
			urls[f[0]] = f[1]
		}
		if strings.Contains(line, "curl") {
			break
		}
	}
	go func() {
		for range lines {
		}
	}()
	if len(urls) != 3 {
		t.Fatalf("got provider URLs %v, want a, b and c", urls)
	}

	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	client := func(p string) *openai.Client {
		c := openai.NewClient(option.WithBaseURL(urls[p]), option.WithAPIKey("k"), option.WithMaxRetries(0),
			option.WithHTTPClient(hc))
		return &c
	}
	tests := []struct {
		provider   string
		wantStatus int
	}{
		{"a", 429}, // -fault
		{"b", 500}, // -schedule
		{"c", 0},
	}
	for _, tt := range tests {
		res, err := client(tt.provider).Chat.Completions.New(ctx, params("m"))
		switch {
		case tt.wantStatus != 0:
			if got := apiError(t, err).StatusCode; got != tt.wantStatus {
				t.Errorf("%s: got %d, want %d", tt.provider, got, tt.wantStatus)
			}
		case err != nil:
			t.Errorf("%s: got %v, want an answer", tt.provider, err)
		case len(strings.Fields(res.Choices[0].Message.Content)) != 5:
			t.Errorf("%s: got %q, want 5 words", tt.provider, res.Choices[0].Message.Content)
		}
	}

	prefill := params("m", question, simulate.Message{Role: "assistant", Content: "The"})
	if _, err := client("c").Chat.Completions.New(ctx, prefill); err == nil || apiError(t, err).StatusCode != 400 {
		t.Errorf("c: got %v for a prefill, want 400 (-no-prefill)", err)
	}

	// A hanging request must not keep Run from returning.
	base := strings.TrimSuffix(urls["c"], "/c/v1")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/_sim/providers/c/fault", strings.NewReader(`{"kind":"hang"}`))
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT fault: got %v %v, want 200", resp, err)
	}
	resp.Body.Close()
	wrote := make(chan struct{})
	hung := make(chan error, 1)
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) }}
		_, err := client("c").Chat.Completions.New(httptrace.WithClientTrace(context.WithoutCancel(ctx), trace), params("m"))
		hung <- err
	}()
	<-wrote
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("got Run error %v, want nil after cancel", err)
	}
	if err := <-hung; err == nil {
		t.Errorf("got an answer from a hanging provider, want the connection closed")
	}
	if !strings.Contains(stderr.String(), "fault set") {
		t.Errorf("got log %q, want the fault changes logged", stderr.String())
	}
}

// TestRunSameAnswers: with -same-answers every provider and model answers the
// same messages with Answer("", "", messages...); without, they differ.
func TestRunSameAnswers(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(fmt.Sprintf("same-answers=%v", same), func(t *testing.T) {
			args := []string{"-providers", "a,b"}
			if same {
				args = append(args, "-same-answers")
			}
			urls := startRun(t, args...)
			hc := &http.Client{Transport: &http.Transport{}}
			defer hc.CloseIdleConnections()
			ctx := testCtx(t)
			got := map[string]string{}
			for _, q := range []struct{ provider, model string }{{"a", "m1"}, {"b", "m1"}, {"b", "m2"}} {
				c := openai.NewClient(option.WithBaseURL(urls[q.provider]), option.WithAPIKey("k"), option.WithMaxRetries(0),
					option.WithHTTPClient(hc))
				res, err := c.Chat.Completions.New(ctx, params(q.model))
				if err != nil {
					t.Fatalf("%s/%s: %v", q.provider, q.model, err)
				}
				got[q.provider+"/"+q.model] = res.Choices[0].Message.Content
			}
			for k, v := range got {
				want := simulate.Answer("", "", question)
				if !same {
					p, m, _ := strings.Cut(k, "/")
					want = simulate.Answer(p, m, question)
				}
				if v != want {
					t.Errorf("%s: got %q, want %q", k, v, want)
				}
			}
			if !same && got["a/m1"] == got["b/m1"] {
				t.Errorf("got the same answer %q from a and b without -same-answers", got["a/m1"])
			}
		})
	}
}

// startRun runs simulate.Run with args on a free port until the test ends and
// returns each provider's base URL from the banner.
func startRun(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- simulate.Run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("got Run error %v, want nil after cancel", err)
		}
	})
	urls := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 2 && strings.HasSuffix(f[1], "/"+f[0]+"/v1") {
			urls[f[0]] = f[1]
		}
		if strings.Contains(line, "curl") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // drain stdout until Run ends
	if len(urls) == 0 {
		t.Fatalf("no provider URLs in the banner; stderr: %s", stderr.String())
	}
	return urls
}

// TestRunCapacity: -capacity, repeated and comma-separated, reaches the
// simulator; the control API shows it.
func TestRunCapacity(t *testing.T) {
	urls := startRun(t, "-providers", "a,b,c", "-capacity", "a=2/1,b=3", "-capacity", "c=1/4", "-capacity", "a=5")
	ctx := testCtx(t)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var all struct {
		Providers []simulate.ProviderStatus `json:"providers"`
	}
	if code := call(ctx, t, hc, "GET", strings.TrimSuffix(urls["a"], "/a/v1")+"/_sim/providers", "", &all); code != 200 {
		t.Fatalf("GET providers: got %d, want 200", code)
	}
	want := map[string]simulate.Capacity{"a": {Slots: 5}, "b": {Slots: 3}, "c": {Slots: 1, Queue: 4}}
	for _, p := range all.Providers {
		if p.Capacity == nil || *p.Capacity != want[p.Name] {
			t.Errorf("%s: got capacity %+v, want %+v", p.Name, p.Capacity, want[p.Name])
		}
	}
}
