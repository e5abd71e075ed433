package simulate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/understudy/understudy/simulate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx bounds every blocking wait of a test; a broken test fails instead of hanging.
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// MustServe starts a Simulator behind an httptest server. Cleanup closes the
// simulator first, so that hung handlers let the server close.
func MustServe(tb testing.TB, o simulate.Options) (*simulate.Simulator, *httptest.Server) {
	tb.Helper()
	sim := simulate.New(o)
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	tb.Cleanup(sim.Close)
	return sim, srv
}

// newClient returns an openai-go client for one provider of srv, without retries.
func newClient(srv *httptest.Server, provider string, opts ...option.RequestOption) *openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(srv.URL + "/" + provider + "/v1"),
		option.WithAPIKey("sk-test-key-123456"),
		option.WithHTTPClient(srv.Client()),
		option.WithMaxRetries(0),
	}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

var question = simulate.Message{Role: "user", Content: "Why is the sky blue on a clear day?"}

func params(model string, msgs ...simulate.Message) openai.ChatCompletionNewParams {
	if len(msgs) == 0 {
		msgs = []simulate.Message{question}
	}
	p := openai.ChatCompletionNewParams{Model: model}
	for _, m := range msgs {
		switch m.Role {
		case "system":
			p.Messages = append(p.Messages, openai.SystemMessage(m.Content))
		case "assistant":
			p.Messages = append(p.Messages, openai.AssistantMessage(m.Content))
		default:
			p.Messages = append(p.Messages, openai.UserMessage(m.Content))
		}
	}
	return p
}

// streamed is what a client saw of a stream.
type streamed struct {
	chunks  []openai.ChatCompletionChunk
	content string
	deltas  int // chunks carrying content
	finish  string
	usage   *openai.CompletionUsage
	err     error
}

func readStream(ctx context.Context, c *openai.Client, p openai.ChatCompletionNewParams) streamed {
	var s streamed
	stream := c.Chat.Completions.NewStreaming(ctx, p)
	defer stream.Close()
	for stream.Next() {
		ch := stream.Current()
		s.chunks = append(s.chunks, ch)
		if len(ch.Choices) == 0 {
			u := ch.Usage
			s.usage = &u
			continue
		}
		if d := ch.Choices[0].Delta.Content; d != "" {
			s.content += d
			s.deltas++
		}
		if fr := ch.Choices[0].FinishReason; fr != "" {
			s.finish = fr
		}
	}
	s.err = stream.Err()
	return s
}

// rawPost posts body to url and returns the response and its whole body
// (or the error that ended reading it).
func rawPost(tb testing.TB, ctx context.Context, client *http.Client, url, body string, header ...string) (*http.Response, string, error) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, resp.Body)
	return resp, buf.String(), err
}

// apiError returns the *openai.Error in err, failing the test if there is none.
func apiError(tb testing.TB, err error) *openai.Error {
	tb.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		tb.Fatalf("got error %v (%T), want an *openai.Error", err, err)
	}
	return e
}

func fakeClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}
