package live_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/live"
)

// TestStream: a client gets hello, then each change as an SSE event; Close
// ends the stream (at shutdown).
func TestStream(t *testing.T) {
	hub := live.New()
	srv := httptest.NewServer(hub)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	readEvent := func() string {
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return b.String() + "EOF"
			}
			if line == "\n" {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	if ev := readEvent(); !strings.Contains(ev, "event: hello") {
		t.Fatalf("first event %q", ev)
	}
	if hub.Subscribers() != 1 { // the handler subscribes before hello is flushed
		t.Fatal("not subscribed after hello")
	}
	hub.Publish("incident", 7)
	if ev := readEvent(); !strings.Contains(ev, "event: change") || !strings.Contains(ev, `"kind":"incident","id":7,"seq":1`) {
		t.Errorf("change event %q", ev)
	}
	hub.Close()
	if ev := readEvent(); !strings.HasSuffix(ev, "EOF") {
		t.Errorf("after Close: %q, want the stream ended", ev)
	}
}
