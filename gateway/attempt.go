package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/provider"
)

// Causes of an attempt's cancellation, told apart by context.Cause.
var (
	errFirstToken = errors.New("no first token within the time-to-first-token limit")
	errStall      = errors.New("stream idle past the stream_idle limit")
	errResponse   = errors.New("no complete answer within the response limit")
	errClientGone = errors.New("client went away")
	errDeadline   = fmt.Errorf("request deadline exceeded: %w", context.DeadlineExceeded)
)

const (
	maxErrorBody    = 1 << 20
	maxResponseBody = 64 << 20
	maxPending      = 1 << 20 // bytes of chunks held back before the first content
)

var (
	finishKey  = []byte(`"finish_reason"`)
	finishNull = []byte(`"finish_reason":null`)
	usageKey   = []byte(`"usage"`)
	usageNull  = []byte(`"usage":null`)
	errorKey   = []byte(`"error"`)
)

// plainChunk reports whether data is valid JSON that carries no finish
// reason, usage or error, judged without decoding it. Anything unusual
// (whitespace after a colon, several choices) takes the decoding path.
func plainChunk(data []byte) bool {
	return !bytes.Contains(data, errorKey) &&
		bytes.Count(data, finishKey) == bytes.Count(data, finishNull) &&
		bytes.Count(data, usageKey) == bytes.Count(data, usageNull) &&
		json.Valid(data)
}

// result is what one attempt produced.
type result struct {
	fail      *provider.Failure // nil on success
	lost      bool              // cancelled: another attempt won the hedge
	committed bool              // bytes reached the client: no failover possible
	ttft      time.Duration
	usage     *chat.Usage
	// answer is choice 0's text when the answer is plain text that ended
	// normally (no tool calls): what the answer cache keeps. "" otherwise.
	answer string
}

// attempt sends the request to t once. On success it has written the answer
// to the client; on a failure before commit it has written nothing.
// resume: the client has part of a streamed answer; ask t for the rest.
func (x *exchange) attempt(ctx context.Context, t routeTarget, resume bool) result {
	// The attempt's context follows the request's (client gone, deadline)
	// through a link that a finished stream can cut, so that it may read the
	// end of the upstream response after the client has hung up.
	actx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	unlink := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer unlink()
	actx = withConnectTimeout(actx, x.route.timeouts.Connect.D())
	start := x.g.clk.Now()
	limit, cause := x.route.timeouts.FirstToken.D(), errFirstToken
	if !x.req.Stream {
		limit, cause = x.route.timeouts.Response.D(), errResponse
	}
	ttftTimer := x.g.clk.AfterFunc(limit, func() { cancel(cause) })
	defer ttftTimer.Stop()

	body := x.req.Body(t.model)
	if resume {
		// Continue the answer the client has been receiving. (Hedge racers
		// never resume, so x.stream is not being written concurrently.)
		body = x.req.Continue(x.stream.text.String(), x.continuationMode(t)).Body(t.model)
	}
	req, err := t.up.NewRequest(actx, t.model, body)
	if err != nil {
		var fe *chat.FieldError
		if errors.As(err, &fe) {
			// The request cannot be expressed for this provider (e.g. n > 1
			// for Anthropic): another target may take it.
			return result{fail: &provider.Failure{Class: understudy.ClassInvalid, Message: fmt.Sprintf("cannot be sent to %s: %s", t.provider, fe.Error()), Untranslatable: true}}
		}
		return result{fail: &provider.Failure{Class: understudy.ClassServer, Message: "building upstream request: " + err.Error()}}
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return result{fail: transportFailure(actx, err, false)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return result{fail: provider.ClassifyResponse(resp.StatusCode, resp.Header, body, x.g.clk.Now())}
	}
	if x.req.Stream {
		s := &streamer{x: x, t: t, resp: resp, ctx: actx, cancel: cancel, unlink: unlink, ttftTimer: ttftTimer, start: start, resume: resume}
		return s.run()
	}
	return x.whole(actx, t, resp, start)
}

// whole reads a non-streaming answer and, when it is a real answer, writes it.
func (x *exchange) whole(ctx context.Context, t routeTarget, resp *http.Response, start time.Time) result {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return result{fail: transportFailure(ctx, err, true)}
	}
	if len(body) > maxResponseBody {
		return result{fail: &provider.Failure{Class: understudy.ClassServer, Message: "upstream response over 64 MiB"}}
	}
	if tr, ok := t.up.(Translator); ok {
		translated, err := tr.Response(body, x.g.clk.Now())
		var se *provider.AnthropicStreamError
		switch {
		case errors.As(err, &se):
			return result{fail: provider.ClassifyStreamError(se.Raw)}
		case err != nil:
			return result{fail: &provider.Failure{Class: understudy.ClassServer, Status: resp.StatusCode, Message: "upstream sent a malformed response: " + err.Error()}}
		}
		body = translated
	}
	var r struct {
		chat.Response
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return result{fail: &provider.Failure{Class: understudy.ClassServer, Status: resp.StatusCode, Message: "upstream sent a malformed response: " + err.Error()}}
	}
	if len(r.Error) > 0 && string(r.Error) != "null" {
		return result{fail: provider.ClassifyStreamError(body)}
	}
	if len(r.Choices) == 0 {
		return result{fail: &provider.Failure{Class: understudy.ClassServer, Status: resp.StatusCode, Message: "upstream response has no choices"}}
	}
	answer := ""
	if x.route.cache != nil && x.req.Cacheable && len(r.Choices) == 1 && r.Choices[0].FinishReason != nil && *r.Choices[0].FinishReason == "stop" {
		answer = plainAnswer(body)
	}
	ttft := x.g.clk.Since(start)
	if !x.claim(t.target) {
		return result{fail: &provider.Failure{Class: understudy.ClassCanceled, Message: errHedgeLost.Error()}, lost: true}
	}
	x.setHeaders(t, resp)
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(body)
	return result{committed: true, ttft: ttft, usage: r.Usage, answer: answer}
}

// plainAnswer is choice 0's message content when it is a plain string and
// the message has no tool calls; "" otherwise.
func plainAnswer(body []byte) string {
	var r struct {
		Choices []struct {
			Message struct {
				Content   *string         `json:"content"`
				ToolCalls json.RawMessage `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &r) != nil || len(r.Choices) != 1 || r.Choices[0].Message.Content == nil {
		return ""
	}
	if tc := r.Choices[0].Message.ToolCalls; len(tc) > 0 && string(tc) != "null" && string(tc) != "[]" {
		return ""
	}
	return *r.Choices[0].Message.Content
}

// setHeaders names the route, the target that served and the attempts made.
func (x *exchange) setHeaders(t routeTarget, resp *http.Response) {
	h := x.w.Header()
	h.Set("X-Understudy-Route", x.route.name)
	h.Set("X-Understudy-Target", t.id)
	h.Set("X-Understudy-Attempts", strconv.Itoa(x.attemptCount()))
	if id := resp.Header.Get("X-Request-Id"); id != "" {
		h.Set("X-Upstream-Request-Id", id)
	}
}

// transportFailure classifies an error from sending or reading. afterHeaders
// tells a reset before headers from a cut body.
func transportFailure(ctx context.Context, err error, afterHeaders bool) *provider.Failure {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errFirstToken), errors.Is(cause, errResponse):
		return &provider.Failure{Class: understudy.ClassTimeout, Message: cause.Error()}
	case errors.Is(cause, errStall):
		return &provider.Failure{Class: understudy.ClassStall, Message: cause.Error()}
	case errors.Is(cause, context.DeadlineExceeded):
		return &provider.Failure{Class: understudy.ClassDeadline, Message: "request deadline exceeded"}
	case errors.Is(cause, errClientGone), errors.Is(cause, context.Canceled):
		return &provider.Failure{Class: understudy.ClassCanceled, Message: "client went away"}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &provider.Failure{Class: understudy.ClassConnect, Message: "connect: " + op.Err.Error()}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &provider.Failure{Class: understudy.ClassConnect, Message: "connect: " + dnsErr.Error()}
	}
	if afterHeaders {
		return &provider.Failure{Class: understudy.ClassCut, Message: "connection lost mid-response: " + err.Error()}
	}
	return &provider.Failure{Class: understudy.ClassReset, Message: "connection closed before response headers: " + err.Error()}
}

type connectTimeoutKey struct{}

func withConnectTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, connectTimeoutKey{}, d)
}

// dialer bounds connecting by the route's connect timeout carried in ctx.
func dialer(base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if d, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return base.DialContext(ctx, network, addr)
	}
}
