package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The mock upstream is a minimal, fast OpenAI-compatible server:
//
//	POST /v1/chat/completions       a fixed chat.completion, or a stream of
//	                                -chunks content chunks without delay
//	POST /idle/v1/chat/completions  a stream that sends its role chunk and one
//	                                content chunk, then holds the connection
//	                                open silently until the client leaves
//	GET  /healthz                   readiness
//
// Every answer is prepared once at start so the upstream does as little work
// per request as possible: the benchmark measures what sits in front of it.

const mockID, mockModel, mockCreated = "chatcmpl-bench", "bench-model", 1700000000

// mockAnswer is the fixed reply content, one word per stream chunk.
const mockAnswer = "Hello! How can I help you today?"

func runUpstream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	chunks := fs.Int("chunks", 20, "content chunks per stream")
	idleMax := fs.Duration("idle-max", 10*time.Minute, "longest an idle stream is held open")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*listen); err != nil {
		return err
	}
	m := newMock(*chunks, *idleMax)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", m.serveChat)
	mux.HandleFunc("POST /idle/v1/chat/completions", m.serveIdle)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return serveHTTP(ctx, *listen, mux, stdout)
}

// mock holds the prepared wire bytes of every answer.
type mock struct {
	whole   []byte // a complete non-streaming chat.completion
	wholeCL string // its Content-Length
	stream  []byte // a complete SSE stream, every event ending in "\n\n"
	events  [][]byte
	idle    [][]byte // role chunk and one content chunk
	idleMax time.Duration
}

func newMock(chunks int, idleMax time.Duration) *mock {
	m := &mock{idleMax: idleMax}
	m.whole = fmt.Appendf(nil, `{"id":%q,"object":"chat.completion","created":%d,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null},"logprobs":null,"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18},"system_fingerprint":"fp_bench"}`,
		mockID, mockCreated, mockModel, mockAnswer)
	m.wholeCL = strconv.Itoa(len(m.whole))

	chunk := func(delta, finish string) []byte {
		return fmt.Appendf(nil, `data: {"id":%q,"object":"chat.completion.chunk","created":%d,"model":%q,`+
			`"system_fingerprint":"fp_bench","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`+"\n\n",
			mockID, mockCreated, mockModel, delta, finish)
	}
	role := chunk(`{"role":"assistant","content":"","refusal":null}`, "null")
	content := func(i int) []byte { return chunk(fmt.Sprintf(`{"content":"tok%d "}`, i), "null") }
	m.events = append(m.events, role)
	for i := range chunks {
		m.events = append(m.events, content(i))
	}
	m.events = append(m.events, chunk(`{}`, `"stop"`), []byte("data: [DONE]\n\n"))
	m.stream = bytes.Join(m.events, nil)
	m.idle = [][]byte{role, content(0)}
	return m
}

var streamTrue = []byte(`"stream"`)

// wantsStream reports whether a request body has "stream": true, without
// decoding the JSON: the field name, optional spaces, a colon, then true.
func wantsStream(body []byte) bool {
	for {
		i := bytes.Index(body, streamTrue)
		if i < 0 {
			return false
		}
		body = bytes.TrimLeft(body[i+len(streamTrue):], " \t\r\n")
		if len(body) > 0 && body[0] == ':' {
			if bytes.HasPrefix(bytes.TrimLeft(body[1:], " \t\r\n"), []byte("true")) {
				return true
			}
		}
	}
}

func (m *mock) serveChat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	h := w.Header()
	if !wantsStream(body) {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", m.wholeCL)
		_, _ = w.Write(m.whole)
		return
	}
	setSSEHeaders(h)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, ev := range m.events {
		if _, err := w.Write(ev); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (m *mock) serveIdle(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	setSSEHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	for _, ev := range m.idle {
		if _, err := w.Write(ev); err != nil {
			return
		}
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	t := time.NewTimer(m.idleMax)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
}

func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
}

// serveHTTP listens on addr, announces "listening on http://ADDR" on stdout
// (the parent reads it to learn the port) and serves until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return nil
}

// checkLoopback refuses any listen address that is not a loopback IP.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: only loopback addresses are allowed", addr)
	}
	return nil
}
