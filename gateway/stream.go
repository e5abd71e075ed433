package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/provider"
)

// streamState is what the client has received of one streamed answer. It
// lives on the exchange from the first byte sent, across attempts, so that a
// break can be continued on another target as one seamless stream.
type streamState struct {
	id, created json.RawMessage // of the first attempt's chunks, kept for every chunk
	text        strings.Builder // content of choice 0 sent so far
	tools       bool            // tool-call data was sent: continuing is not safe
	multi       bool            // several choices: not continued
	usage       chat.Usage      // summed over the attempts that reported it
	broken      *provider.Failure
	rc          *http.ResponseController
}

// continuable says whether a broken stream may be continued, and why not.
func (st *streamState) continuable() (bool, string) {
	switch {
	case st.tools:
		return false, "tool-call data was already sent; continuing it on another model is not safe"
	case st.multi:
		return false, "several choices (n > 1) cannot be continued"
	}
	return true, ""
}

func (st *streamState) addUsage(u *chat.Usage) {
	if u == nil {
		return
	}
	st.usage.PromptTokens += u.PromptTokens
	st.usage.CompletionTokens += u.CompletionTokens
	st.usage.TotalTokens += u.TotalTokens
}

// seamWindow bounds how much continuation text is held back to find and
// trim a repeat of the text already sent (and how far back a repeat is
// looked for); a continuation that cannot be a repeat is relayed at once.
const seamWindow = 256

// pendingChunk is a chunk held back before this attempt sends anything.
type pendingChunk struct {
	data         []byte
	text         string // choice 0 content
	usage        *chat.Usage
	tools, multi bool
}

// streamer relays one streaming attempt. Until the first chunk that carries
// content, everything is held back so that a failure can still fail over
// unseen; from then on, chunks are relayed as they come. When it continues a
// broken stream (resume), it sends no headers, drops the role chunk, trims a
// repeat at the seam and rewrites chunks with the first attempt's id.
type streamer struct {
	x         *exchange
	t         routeTarget
	resp      *http.Response
	ctx       context.Context
	cancel    context.CancelCauseFunc
	unlink    func() bool // cuts the link to the client's context
	ttftTimer clockwork.Timer
	start     time.Time
	resume    bool

	pending      []pendingChunk
	pendingBytes int
	seam         int // bytes of content held in pending (resume)
	firstID      json.RawMessage
	firstCreated json.RawMessage
	committed    bool // this attempt has sent bytes to the client
	finished     bool // a finish_reason was seen
	usage        *chat.Usage
	ttft         time.Duration
	idle         clockwork.Timer
	committedAt  time.Time
	recent       []time.Time // chunk arrivals inside the rate window
	lost         bool        // another attempt won the hedge
}

// tooSlow records a chunk's arrival and reports whether the stream has
// stayed under the route's minimum rate for a whole window.
func (s *streamer) tooSlow() bool {
	r := s.x.route
	if r.minRate <= 0 || !s.committed {
		return false
	}
	now := s.x.g.clk.Now()
	s.recent = append(s.recent, now)
	cut := 0
	for cut < len(s.recent) && now.Sub(s.recent[cut]) > r.rateWindow {
		cut++
	}
	s.recent = s.recent[cut:]
	return now.Sub(s.committedAt) >= r.rateWindow && float64(len(s.recent))/r.rateWindow.Seconds() < r.minRate
}

var doneData = []byte("[DONE]")

var errGone = &provider.Failure{Class: understudy.ClassCanceled, Message: "client went away"}

func (s *streamer) run() result {
	rd := chat.NewSSEReader(s.resp.Body, 0)
	defer func() {
		if s.idle != nil {
			s.idle.Stop()
		}
	}()
	fast := s.x.route.resumeDisabled
	var tr provider.StreamTranslator
	if t, ok := s.t.up.(Translator); ok {
		tr = t.Stream(s.x.req.IncludeUsage, s.x.g.clk.Now())
		fast = false
	}
	var queue []chat.Event // translated events waiting
	for {
		var ev chat.Event
		var err error
		if len(queue) > 0 {
			ev, queue = queue[0], queue[1:]
		} else {
			ev, err = rd.Next()
			if err == nil && tr != nil {
				chunks, done, terr := tr.Event(ev.Name, ev.Data)
				if terr != nil {
					return s.failed(provider.ClassifyStreamError(streamErrorData(terr, ev.Data)))
				}
				for _, c := range chunks {
					queue = append(queue, chat.Event{Data: c})
				}
				if done {
					queue = append(queue, chat.Event{Data: doneData})
				}
				if len(queue) == 0 {
					continue // ping, block start…
				}
				ev, queue = queue[0], queue[1:]
			}
		}
		if err != nil {
			if err == io.EOF && s.finished {
				// Complete answer without [DONE]: finalise at once.
				s.x.g.metrics.missingDone.WithLabelValues(s.t.id).Inc()
				if !s.committed && !s.commit() {
					return s.failed(errGone)
				}
				return s.finish()
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			f := transportFailure(s.ctx, err, true)
			if !s.committed && f.Class == understudy.ClassCut && len(s.pending) == 0 {
				f.Message = "stream ended before any data: " + err.Error()
			}
			return s.failed(f)
		}
		if s.idle != nil {
			s.idle.Reset(s.x.route.timeouts.StreamIdle.D())
		}
		if s.tooSlow() {
			return s.failed(&provider.Failure{Class: understudy.ClassStall,
				Message: fmt.Sprintf("stream slower than %g chunks/s over %s", s.x.route.minRate, s.x.route.rateWindow)})
		}
		if bytes.Equal(ev.Data, doneData) {
			if !s.committed {
				if !s.finished {
					return s.failed(&provider.Failure{Class: understudy.ClassCut, Message: "stream ended with [DONE] before any content"})
				}
				if !s.commit() {
					return s.failed(errGone)
				}
			}
			return s.finish()
		}
		if ev.Name == "error" {
			return s.failed(provider.ClassifyStreamError(ev.Data))
		}
		if fast && s.committed && plainChunk(ev.Data) {
			// Without continuation, the bulk of a stream (valid content
			// chunks with no finish reason, usage or error) needs no decoding.
			if !s.send(ev.Data) {
				return s.failed(errGone)
			}
			continue
		}
		var c chat.Chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			s.x.g.metrics.malformed.WithLabelValues(s.t.id).Inc()
			s.x.g.log.Debug("skipped malformed stream chunk", "route", s.x.route.name, "target", s.t.id, "bytes", len(ev.Data))
			continue
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return s.failed(provider.ClassifyStreamError(ev.Data))
		}
		if s.firstID == nil {
			s.firstID, _ = json.Marshal(c.ID)
			s.firstCreated = c.Created
		}
		if c.Usage != nil {
			s.usage = c.Usage
		}
		if c.Finished() {
			s.finished = true
		}
		text, tools, multi := c.Text()
		if s.committed {
			if !s.relay(ev.Data, &c, text, tools, multi) {
				return s.failed(errGone)
			}
			continue
		}
		s.pending = append(s.pending, pendingChunk{data: ev.Data, text: text, usage: c.Usage, tools: tools, multi: multi})
		s.pendingBytes += len(ev.Data)
		s.seam += len(text)
		if !s.ready(&c) {
			continue
		}
		if !s.commit() {
			return s.failed(errGone)
		}
	}
}

// ready says whether the held-back chunks can be sent: on the first content
// (when resuming, once enough continuation text arrived to trim a repeat at
// the seam), or when they grow past a bound.
func (s *streamer) ready(c *chat.Chunk) bool {
	if s.pendingBytes > maxPending {
		return true
	}
	if !s.resume {
		return c.HasContent()
	}
	if c.HasContent() && s.ttftTimer != nil {
		s.ttftTimer.Stop() // the backup has started answering
	}
	if s.seam >= seamWindow || c.Finished() {
		return true
	}
	// Relay as soon as the continuation cannot be a repeat of the end of
	// the text already sent: usually at its first word.
	var held strings.Builder
	for _, p := range s.pending {
		held.WriteString(p.text)
	}
	return held.Len() > 0 && !chat.SeamPending(s.x.stream.text.String(), held.String(), seamWindow)
}

// commit sends the held-back chunks: with the response headers on a first
// attempt, after trimming the seam on a continuation.
func (s *streamer) commit() bool {
	s.ttftTimer.Stop()
	s.ttft = s.x.g.clk.Since(s.start)
	s.committed = true
	s.committedAt = s.x.g.clk.Now()
	s.idle = s.x.g.clk.AfterFunc(s.x.route.timeouts.StreamIdle.D(), func() { s.cancel(errStall) })
	x := s.x
	if !s.resume {
		if !x.claim(s.t.target) {
			s.lost = true
			s.cancel(errHedgeLost)
			return false
		}
		x.setHeaders(s.t, s.resp)
		h := x.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		x.w.WriteHeader(http.StatusOK)
		x.mu.Lock()
		x.stream = &streamState{id: s.firstID, created: s.firstCreated, rc: http.NewResponseController(x.w)}
		x.mu.Unlock()
		for _, p := range s.pending {
			if !s.track(p.data, p.text, p.tools, p.multi) {
				return false
			}
		}
		s.pending = nil
		return s.flush()
	}
	// Continuation: drop what repeats the end of the text already sent.
	var held strings.Builder
	for _, p := range s.pending {
		held.WriteString(p.text)
	}
	drop := chat.SeamOverlap(x.stream.text.String(), held.String())
	for _, p := range s.pending {
		text := p.text
		cut := min(drop, len(text))
		drop -= cut
		text = text[cut:]
		if text == "" && !p.tools && !s.finishesIn(p.data) && p.usage == nil {
			continue // the role chunk, or a content chunk trimmed away
		}
		out := s.rewrite(p.data, &text, p.usage)
		if !s.track(out, text, p.tools, p.multi) {
			return false
		}
	}
	s.pending = nil
	return s.flush()
}

// finishesIn reports whether a chunk carries a finish reason.
func (s *streamer) finishesIn(data []byte) bool {
	return bytes.Contains(data, finishKey) && bytes.Count(data, finishKey) != bytes.Count(data, finishNull)
}

// relay sends one chunk after commit, rewritten when continuing.
func (s *streamer) relay(data []byte, c *chat.Chunk, text string, tools, multi bool) bool {
	if s.resume {
		data = s.rewrite(data, nil, c.Usage)
	}
	return s.track(data, text, tools, multi) && s.flush()
}

// track writes data and records what it carried as sent.
func (s *streamer) track(data []byte, text string, tools, multi bool) bool {
	if !s.writeNoFlush(data) {
		return false
	}
	st := s.x.stream
	st.text.WriteString(text)
	st.tools = st.tools || tools
	st.multi = st.multi || multi
	return true
}

// rewrite gives a continuation chunk the first attempt's id and creation
// time, drops the role, replaces choice 0's content when text is not nil,
// and sums usage across attempts.
func (s *streamer) rewrite(data []byte, text *string, usage *chat.Usage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	st := s.x.stream
	if st.id != nil {
		m["id"] = st.id
	}
	if st.created != nil {
		m["created"] = st.created
	}
	var choices []map[string]json.RawMessage
	if json.Unmarshal(m["choices"], &choices) == nil && len(choices) > 0 {
		for _, ch := range choices {
			var delta map[string]json.RawMessage
			if json.Unmarshal(ch["delta"], &delta) != nil || delta == nil {
				continue
			}
			delete(delta, "role")
			if text != nil && string(ch["index"]) == "0" {
				delta["content"], _ = json.Marshal(*text)
			}
			ch["delta"], _ = json.Marshal(delta)
		}
		m["choices"], _ = json.Marshal(choices)
	}
	if usage != nil {
		sum := st.usage
		sum.PromptTokens += usage.PromptTokens
		sum.CompletionTokens += usage.CompletionTokens
		sum.TotalTokens += usage.TotalTokens
		m["usage"], _ = json.Marshal(sum)
	}
	out, _ := json.Marshal(m)
	return out
}

func (s *streamer) writeNoFlush(data []byte) bool {
	w := s.x.w
	if _, err := io.WriteString(w, "data: "); err != nil {
		s.cancel(errClientGone)
		return false
	}
	if _, err := w.Write(data); err != nil {
		s.cancel(errClientGone)
		return false
	}
	if _, err := io.WriteString(w, "\n\n"); err != nil {
		s.cancel(errClientGone)
		return false
	}
	return true
}

func (s *streamer) send(data []byte) bool { return s.writeNoFlush(data) && s.flush() }

func (s *streamer) flush() bool {
	if err := s.x.stream.rc.Flush(); err != nil {
		s.cancel(errClientGone)
		return false
	}
	return true
}

func (s *streamer) finish() result {
	s.send(doneData)
	// Read what follows [DONE] (usually nothing) so the upstream connection
	// goes back to the pool instead of being closed, even if the client hangs
	// up on seeing [DONE]; the idle timer bounds it.
	s.unlink()
	_, _ = io.Copy(io.Discard, io.LimitReader(s.resp.Body, 4<<10))
	return result{committed: true, ttft: s.ttft, usage: s.usage}
}

// failed ends the attempt. The exchange decides what the client sees: a
// failover, a continuation on another target, or an explicit error event.
func (s *streamer) failed(f *provider.Failure) result {
	if s.lost {
		return result{fail: &provider.Failure{Class: understudy.ClassCanceled, Message: errHedgeLost.Error()}, lost: true}
	}
	if s.committed && s.finished && f.Class != understudy.ClassCanceled {
		// The answer was complete (a finish reason was sent): whatever broke
		// after it — the usage chunk, [DONE], message_stop — the client gets
		// its [DONE], and nothing is continued past the end.
		s.x.g.metrics.missingDone.WithLabelValues(s.t.id).Inc()
		s.send(doneData)
		return result{committed: true, ttft: s.ttft, usage: s.usage}
	}
	if s.committed && s.usage != nil {
		s.x.stream.addUsage(s.usage)
	}
	return result{fail: f, committed: s.committed, ttft: s.ttft}
}

// streamErrorData is the error JSON behind a translator's error.
func streamErrorData(err error, data []byte) []byte {
	var se *provider.AnthropicStreamError
	if errors.As(err, &se) {
		return se.Raw
	}
	return data
}

// endStream ends a stream whose headers were sent with an explicit error
// event and no [DONE]: never a truncated answer that looks complete.
func (x *exchange) endStream(f *provider.Failure, why string) {
	if why == "" {
		why = "the upstream model stopped responding mid-stream (" + string(f.Class) + ")"
		if f.Class == understudy.ClassDeadline {
			why = "the request reached its total time limit"
		}
	}
	body := chat.NewErrorBody("The answer was interrupted: "+why+". The text received so far is incomplete.",
		"server_error", "", "stream_interrupted")
	b, _ := json.Marshal(body)
	w := x.w
	_, _ = io.WriteString(w, "data: ")
	_, _ = w.Write(b)
	_, _ = io.WriteString(w, "\n\n")
	_ = x.stream.rc.Flush()
}
