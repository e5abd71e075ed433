// Package live fans status changes out to Server-Sent Events clients: the
// status page applies them without a reload. A change only says what kind
// of thing changed; clients fetch what they show.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Change is one status change.
type Change struct {
	Kind string `json:"kind"`         // "incident", "component", "maintenance"
	ID   int64  `json:"id,omitempty"` // the incident or maintenance id
	Seq  uint64 `json:"seq"`          // increasing per hub
}

// Hub broadcasts changes. The zero value is not usable; call New.
type Hub struct {
	mu   sync.Mutex
	seq  uint64
	subs map[chan Change]struct{}
	done chan struct{} // closed by Close
	once sync.Once
	// Heartbeat is how often an idle stream gets a comment line, so proxies
	// keep it open. Default 15s.
	Heartbeat time.Duration
}

// New returns an empty hub.
func New() *Hub {
	return &Hub{subs: map[chan Change]struct{}{}, done: make(chan struct{}), Heartbeat: 15 * time.Second}
}

// Close ends every stream (at server shutdown, so that open pages do not
// hold it up); clients reconnect to the next server.
func (h *Hub) Close() { h.once.Do(func() { close(h.done) }) }

// Publish sends a change to every subscriber without blocking: a
// subscriber whose buffer is full misses it (its next change tells it to
// refresh anyway).
func (h *Hub) Publish(kind string, id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	c := Change{Kind: kind, ID: id, Seq: h.seq}
	for ch := range h.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// Subscribe returns a channel of changes until ctx ends.
func (h *Hub) Subscribe(ctx context.Context) <-chan Change {
	ch := make(chan Change, 16)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-h.done:
		}
		h.mu.Lock()
		delete(h.subs, ch)
		close(ch)
		h.mu.Unlock()
	}()
	return ch
}

// Subscribers is the number of connected subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// ServeHTTP streams changes as Server-Sent Events: "event: change" with the
// Change as JSON data, a ": ping" comment every Heartbeat, and a first
// "event: hello" at once so the client knows it is connected.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ch := h.Subscribe(r.Context())
	fmt.Fprint(w, "retry: 2000\nevent: hello\ndata: {}\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	beat := time.NewTicker(h.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "id: %d\nevent: change\ndata: %s\n\n", c.Seq, b)
		case <-beat.C:
			fmt.Fprint(w, ": ping\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
