package replicatest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/live"
)

// LeaderMetric is the gauge each replica's /metrics has: 1 while it holds
// the leader lock, else 0.
const LeaderMetric = "understudy_cluster_leader"

// Metric is the value of the first series of replica i's /metrics that
// starts with series (a name, or a name with labels such as
// `understudy_breaker_state{target="primary/gpt-4o-mini"}`); ok is false
// when there is none.
func (c *Cluster) Metric(ctx context.Context, i int, series string) (value string, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Replicas[i].URL+"/metrics", nil)
	if err != nil {
		return "", false, err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("GET %s/metrics: HTTP %d", c.Replicas[i].URL, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, series) {
			continue
		}
		rest := line[len(series):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric whose name starts the same
		}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		return f[0], true, nil
	}
	return "", false, sc.Err()
}

// IsLeader reports whether replica i says it leads (its LeaderMetric is 1).
func (c *Cluster) IsLeader(ctx context.Context, i int) (bool, error) {
	v, ok, err := c.Metric(ctx, i, LeaderMetric)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("replica %d's /metrics has no %s", i, LeaderMetric)
	}
	return v == "1", nil
}

// Leader is the running replica that says it leads; ok is false unless
// exactly one does. Replicas that do not answer count as followers.
func (c *Cluster) Leader(ctx context.Context) (int, bool) {
	leader, n := -1, 0
	for i, r := range c.Replicas {
		if !r.Running() {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		is, err := c.IsLeader(rctx, i)
		cancel()
		if err == nil && is {
			leader, n = i, n+1
		}
	}
	return leader, n == 1
}

// WaitLeader polls (every 10 ms) until exactly one running replica other
// than not (-1: any) says it leads, and returns it.
func (c *Cluster) WaitLeader(ctx context.Context, not int) (int, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if i, ok := c.Leader(ctx); ok && i != not {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no single leader (other than replica %d): %w", not, ctx.Err())
		case <-tick.C:
		}
	}
}

// Event is one Server-Sent Event with the time it was read.
type Event struct {
	Name   string      // the event: field ("change", "hello")
	ID     string      // the id: field
	Data   string      // the data: lines, joined by "\n"
	Change live.Change // Data decoded, for "change" events
	At     time.Time   // when its blank line was read
}

// Stream is an open Server-Sent Events subscription.
type Stream struct {
	URL    string
	Events <-chan Event // closed when the stream ends
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Subscribe opens url as an event stream (GET, Accept: text/event-stream)
// and returns once it answers 200 with its first event ("hello" on /live),
// which is not delivered. The stream ends with ctx or Close. Events are
// buffered (1024); when the buffer is full the reader waits.
func (c *Cluster) Subscribe(ctx context.Context, url string) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	// A client of its own: a stream must not hold one of c.Client's idle
	// connections, and closing it must not wait for one.
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: HTTP %d, Content-Type %q", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan Event, 1024)
	s := &Stream{URL: url, Events: events, cancel: cancel, done: make(chan struct{})}
	first := make(chan error, 1)
	go func() {
		defer close(s.done)
		defer close(events)
		defer resp.Body.Close()
		pending := first // until the first event is read
		err := readEvents(resp.Body, func(e Event) {
			if pending != nil {
				pending <- nil
				pending = nil
				return
			}
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
		if pending != nil {
			pending <- fmt.Errorf("GET %s: the stream ended before its first event: %v", url, err)
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	select {
	case err := <-first:
		if err != nil {
			cancel()
			<-s.done
			return nil, err
		}
	case <-ctx.Done():
		<-s.done
		return nil, ctx.Err()
	}
	return s, nil
}

// Close ends the stream and waits for its reader.
func (s *Stream) Close() {
	s.cancel()
	<-s.done
}

// Err is why the stream ended (nil while it is open, io.EOF when the
// server closed it).
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Next returns the next event for which match is true (nil: any), skipping
// the others.
func (s *Stream) Next(ctx context.Context, match func(Event) bool) (Event, error) {
	for {
		select {
		case e, ok := <-s.Events:
			if !ok {
				return Event{}, fmt.Errorf("stream %s ended: %v", s.URL, s.Err())
			}
			if match == nil || match(e) {
				return e, nil
			}
		case <-ctx.Done():
			return Event{}, fmt.Errorf("stream %s: no matching event: %w", s.URL, ctx.Err())
		}
	}
}

// IsChange matches "change" events of kind (and of id, when not 0).
func IsChange(kind string, id int64) func(Event) bool {
	return func(e Event) bool {
		return e.Name == "change" && e.Change.Kind == kind && (id == 0 || e.Change.ID == id)
	}
}

// readEvents parses an event stream, calling emit for each event, until r
// ends; it returns io.EOF then, or the read error.
func readEvents(r io.Reader, emit func(Event)) error {
	br := bufio.NewReader(r)
	var e Event
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if e.Name != "" || len(data) > 0 {
				e.Data = strings.Join(data, "\n")
				e.At = time.Now()
				if e.Name == "change" {
					_ = json.Unmarshal([]byte(e.Data), &e.Change)
				}
				emit(e)
			}
			e, data = Event{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // comment (heartbeat)
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			e.Name = value
		case "id":
			e.ID = value
		case "data":
			data = append(data, value)
		}
	}
}
