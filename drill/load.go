package drill

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one request as its client saw it.
type sample struct {
	n          int
	sent, done time.Time
	route      string
	priority   string
	stream     bool
	status     int
	target     string   // X-Understudy-Target: who served (the first part of a continued stream)
	mode       string   // X-Understudy-Mode: degraded modes and the cache's fast path
	attempts   int      // X-Understudy-Attempts
	models     []string // streams: the chunks' models in order, repeats merged
	ttft       time.Duration
	complete   bool   // a whole answer: JSON with a choice, or a stream to [DONE] without an error event
	errEvent   string // a stream's error event
	err        string // transport error
}

// Degraded modes of X-Understudy-Mode (the ladder's steps).
var degradedModes = []string{"degraded_cache", "degraded_faq", "handoff", "notice"}

// Outcomes of a request as its client saw it.
const (
	outcomeOK       = "ok"       // answered by a model, whole
	outcomeDegraded = "degraded" // answered by a step of the degradation ladder
	outcomeFailed   = "failed"   // anything else
)

func (s sample) outcome() string {
	switch {
	case s.err != "" || s.status != http.StatusOK || !s.complete:
		return outcomeFailed
	case slices.Contains(degradedModes, s.mode):
		return outcomeDegraded
	}
	return outcomeOK
}

// class is the sample's line in the report's table of answers.
func (s sample) class() string {
	switch {
	case s.err != "":
		return "no answer (" + s.err + ")"
	case s.status != http.StatusOK:
		return fmt.Sprintf("HTTP %d %s", s.status, http.StatusText(s.status))
	case !s.complete && s.stream:
		if s.errEvent != "" {
			return "HTTP 200, stream ended by an error event"
		}
		return "HTTP 200, stream cut without [DONE]"
	case !s.complete:
		return "HTTP 200, not a chat completion"
	case s.mode != "":
		return "HTTP 200, " + s.mode
	}
	return "HTTP 200, answered by a model"
}

// continued reports whether a stream was finished by another model than
// the one that began it.
func (s sample) continued() bool { return len(s.models) > 1 }

// latency is the whole request, from sending to the last byte.
func (s sample) latency() time.Duration { return s.done.Sub(s.sent) }

// loadGen sends the plan's open-loop load and keeps every sample.
type loadGen struct {
	client *http.Client
	url    string
	plan   *Plan
	routes []string
	team   *team

	sent, ok, degraded, failed, inflight atomic.Int64

	mu      sync.Mutex
	samples []sample
	wg      sync.WaitGroup
}

// questions vary the conversations: a cache can only answer one it has
// seen, as in real traffic.
const questions = 40

// run sends request n at start + n/rate until end or ctx ends, each on its
// own goroutine (the load does not wait for answers), then waits for the
// answers in flight.
func (g *loadGen) run(ctx context.Context, start, end time.Time) {
	prio := newSpreader(g.plan.Load.Priorities)
	streamShare := float64(*g.plan.Load.StreamShare)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for n := 0; ; n++ {
		at := start.Add(time.Duration(float64(n) * float64(time.Second) / g.plan.Load.Rate))
		if !at.Before(end) {
			break
		}
		timer.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			g.wg.Wait()
			return
		case <-timer.C:
		}
		// Spread evenly: request n streams when the running count of
		// streams, share × (n+1) rounded down, goes up.
		stream := int(streamShare*float64(n+1)) > int(streamShare*float64(n))
		s := sample{n: n, route: g.routes[n%len(g.routes)], priority: prio.next(), stream: stream}
		g.wg.Add(1)
		g.sent.Add(1)
		g.inflight.Add(1)
		go g.send(ctx, s)
	}
	g.wg.Wait()
}

func (g *loadGen) send(ctx context.Context, s sample) {
	defer g.wg.Done()
	body, _ := json.Marshal(map[string]any{
		"model": s.route, "stream": s.stream,
		"messages": []map[string]string{{"role": "user", "content": fmt.Sprintf("Drill question %d: how do I change the delivery address of my order?", s.n%questions)}},
	})
	s.sent = time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		if key := g.team.key(s.priority); key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		var resp *http.Response
		if resp, err = g.client.Do(req); err == nil {
			s.status = resp.StatusCode
			s.target, s.mode = resp.Header.Get("X-Understudy-Target"), resp.Header.Get("X-Understudy-Mode")
			s.attempts, _ = strconv.Atoi(resp.Header.Get("X-Understudy-Attempts"))
			if s.stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				err = readStream(resp.Body, &s)
			} else {
				err = readAnswer(resp.Body, &s)
			}
			resp.Body.Close()
		}
	}
	s.done = time.Now()
	if err != nil {
		s.err = shortError(err)
	}
	switch s.outcome() {
	case outcomeOK:
		g.ok.Add(1)
	case outcomeDegraded:
		g.degraded.Add(1)
	default:
		g.failed.Add(1)
	}
	g.inflight.Add(-1)
	g.mu.Lock()
	g.samples = append(g.samples, s)
	g.mu.Unlock()
}

// readAnswer reads a non-stream answer: whole when it is a chat completion
// with at least one choice.
func readAnswer(r io.Reader, s *sample) error {
	b, err := io.ReadAll(io.LimitReader(r, 8<<20))
	if err != nil {
		return err
	}
	var c struct {
		Choices []json.RawMessage `json:"choices"`
	}
	s.complete = json.Unmarshal(b, &c) == nil && len(c.Choices) > 0
	return nil
}

// readStream reads an SSE stream: the time to its first content, the
// models that wrote it, an error event, and [DONE].
func readStream(r io.Reader, s *sample) error {
	br := bufio.NewReaderSize(r, 64<<10)
	done := false
	for {
		line, err := br.ReadBytes('\n')
		if data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data:")); ok {
			data = bytes.TrimSpace(data)
			if string(data) == "[DONE]" {
				done = true
			} else {
				var c struct {
					Model   string `json:"model"`
					Choices []struct {
						Delta struct {
							Content   string          `json:"content"`
							ToolCalls json.RawMessage `json:"tool_calls"`
						} `json:"delta"`
					} `json:"choices"`
					Error *struct {
						Message string `json:"message"`
					} `json:"error"`
				}
				if json.Unmarshal(data, &c) == nil {
					if c.Error != nil {
						s.errEvent = c.Error.Message
						if s.errEvent == "" {
							s.errEvent = "error"
						}
					}
					if c.Model != "" && (len(s.models) == 0 || s.models[len(s.models)-1] != c.Model) {
						s.models = append(s.models, c.Model)
					}
					for _, ch := range c.Choices {
						if s.ttft == 0 && (ch.Delta.Content != "" || len(ch.Delta.ToolCalls) > 0) {
							s.ttft = time.Since(s.sent)
						}
					}
				}
			}
		}
		if err == io.EOF {
			s.complete = done && s.errEvent == ""
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// shortError is a transport error without the URL Go puts in front.
func shortError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "http://") {
		msg = msg[i+2:]
	}
	return msg
}

// result returns the samples sorted by number.
func (g *loadGen) result() []sample {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.samples)
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

// spreader picks priorities in the plan's shares, evenly spread and the
// same every run: each time the one furthest behind its share.
type spreader struct {
	names  []string
	shares []float64
	counts []float64
	total  float64
}

func newSpreader(shares map[string]Percent) *spreader {
	s := &spreader{}
	for _, name := range slices.Sorted(maps.Keys(shares)) {
		if shares[name] > 0 {
			s.names = append(s.names, name)
			s.shares = append(s.shares, float64(shares[name]))
			s.counts = append(s.counts, 0)
		}
	}
	return s
}

// next is the next request's priority; "" without shares.
func (s *spreader) next() string {
	if len(s.names) == 0 {
		return ""
	}
	s.total++
	best, bestGap := 0, -1.0
	for i := range s.names {
		if gap := s.shares[i]*s.total - s.counts[i]; gap > bestGap {
			best, bestGap = i, gap
		}
	}
	s.counts[best]++
	return s.names[best]
}
