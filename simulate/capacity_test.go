package simulate_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/simulate"
)

// capWire is one wire format as the capacity tests use it: how to ask, how
// a complete stream ends, and what a refusal looks like.
type capWire struct {
	name        string
	path        string // after /primary
	header      []string
	body        func(tb testing.TB, stream bool) string
	streamEnd   string // the last event of a complete stream
	wantRefusal int
	checkBody   func(t *testing.T, body string) // of a refusal
}

var capWires = []capWire{
	{
		name:   "openai",
		path:   "/v1/chat/completions",
		header: []string{"Authorization", "Bearer sk-test-key-123456"},
		body: func(tb testing.TB, stream bool) string {
			return MustJSON(tb, map[string]any{"model": model, "stream": stream, "messages": []wireMsg{msg("user", question.Content)}})
		},
		streamEnd:   "data: [DONE]\n\n",
		wantRefusal: http.StatusServiceUnavailable,
		checkBody: func(t *testing.T, body string) {
			t.Helper()
			want := `{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}` + "\n"
			if body != want {
				t.Errorf("got refusal body %q, want %q", body, want)
			}
		},
	},
	{
		name:        "anthropic",
		path:        "/v1/messages",
		header:      anthropicHeaders,
		body:        func(tb testing.TB, stream bool) string { return messagesBody(tb, stream) },
		streamEnd:   "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		wantRefusal: 529,
		checkBody: func(t *testing.T, body string) {
			t.Helper()
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("got refusal body %q: %v", body, err)
			}
			if e.Type != "error" || e.Error.Type != "overloaded_error" || e.Error.Message != "Overloaded" ||
				!strings.HasPrefix(e.RequestID, "req_sim_") {
				t.Errorf("got refusal body %s, want an overloaded_error \"Overloaded\" with a request_id", body)
			}
		},
	},
}

// reply is what one raw request returned.
type reply struct {
	status int
	header http.Header
	body   string
	err    error
}

// send posts body to primary in the background; the reply arrives on the
// channel returned.
func (cw capWire) send(tb testing.TB, ctx context.Context, srv *httptest.Server, body string) <-chan reply {
	tb.Helper()
	out := make(chan reply, 1)
	go func() {
		resp, raw, err := rawPost(tb, ctx, srv.Client(), srv.URL+"/primary"+cw.path, body, cw.header...)
		r := reply{body: raw, err: err}
		if resp != nil {
			r.status, r.header = resp.StatusCode, resp.Header
		}
		out <- r
	}()
	return out
}

// checkRefusal checks an over-capacity answer: the overloaded fault's
// status and body, plain JSON even for a stream request, no Retry-After.
func (cw capWire) checkRefusal(t *testing.T, r reply) {
	t.Helper()
	if r.err != nil || r.status != cw.wantRefusal {
		t.Fatalf("got %d %q (%v), want %d", r.status, r.body, r.err, cw.wantRefusal)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
	if ra := r.header.Get("Retry-After"); ra != "" {
		t.Errorf("got Retry-After %q, want none (as the overloaded fault)", ra)
	}
	cw.checkBody(t, r.body)
}

func wantOK(t *testing.T, what string, r reply) {
	t.Helper()
	if r.err != nil || r.status != http.StatusOK {
		t.Errorf("%s: got %d %q (%v), want 200", what, r.status, r.body, r.err)
	}
}

// MustWaitStats waits until cond holds for primary's stats.
func MustWaitStats(tb testing.TB, ctx context.Context, sim *simulate.Simulator, cond func(simulate.Stats) bool) {
	tb.Helper()
	if err := sim.WaitStats(ctx, "primary", cond); err != nil {
		tb.Fatal(err)
	}
}

func MustBlockUntil(tb testing.TB, ctx context.Context, clock interface {
	BlockUntilContext(context.Context, int) error
}, n int) {
	tb.Helper()
	if err := clock.BlockUntilContext(ctx, n); err != nil {
		tb.Fatalf("waiting for %d timers: %v", n, err)
	}
}

// TestCapacityQueuesThenRefuses: with 2 slots and 1 queue place, of 4
// requests 2 are answered, 1 waits for a slot and is answered when one
// frees, 1 is refused at once as overloaded.
func TestCapacityQueuesThenRefuses(t *testing.T) {
	for _, cw := range capWires {
		t.Run(cw.name, func(t *testing.T) {
			ctx := testCtx(t)
			clock := fakeClock()
			sim, srv := MustServe(t, simulate.Options{Clock: clock, FirstTokenDelay: time.Second,
				Capacity: map[string]simulate.Capacity{"primary": {Slots: 2, Queue: 1}}})
			body := cw.body(t, false)

			first, second := cw.send(t, ctx, srv, body), cw.send(t, ctx, srv, body)
			MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 2 })
			queued := cw.send(t, ctx, srv, body)
			MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 1 })
			cw.checkRefusal(t, <-cw.send(t, ctx, srv, body)) // no clock move needed: refused at once

			MustBlockUntil(t, ctx, clock, 2) // the two served wait for their first token
			select {
			case r := <-queued:
				t.Fatalf("got the queued request answered (%d) before a slot freed", r.status)
			default:
			}
			clock.Advance(time.Second)
			wantOK(t, "first", <-first)
			wantOK(t, "second", <-second)

			MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 0 && st.Busy == 1 })
			MustBlockUntil(t, ctx, clock, 1) // the queued one now waits for its first token
			clock.Advance(time.Second)
			wantOK(t, "queued", <-queued)

			MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 0 })
			st := sim.Stats("primary")
			if st.Requests != 4 || st.Outcomes[simulate.OutcomeOK] != 3 || st.Outcomes[simulate.OutcomeOverCapacity] != 1 ||
				len(st.Outcomes) != 2 {
				t.Errorf("got %d requests, outcomes %v, want 4: 3 ok and 1 over_capacity", st.Requests, st.Outcomes)
			}
		})
	}
}

// TestCapacityQueuedClientLeaves: a waiting request that ends — its client
// goes away, or the simulator is closed — gives back its queue place.
func TestCapacityQueuedClientLeaves(t *testing.T) {
	cw := capWires[0]
	t.Run("client goes away", func(t *testing.T) {
		ctx := testCtx(t)
		clock := fakeClock()
		sim, srv := MustServe(t, simulate.Options{Clock: clock, FirstTokenDelay: time.Second,
			Capacity: map[string]simulate.Capacity{"primary": {Slots: 1, Queue: 1}}})
		body := cw.body(t, false)

		served := cw.send(t, ctx, srv, body)
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 1 })
		leaving, leave := context.WithCancel(ctx)
		gone := cw.send(t, leaving, srv, body)
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 1 })
		leave()
		if r := <-gone; !errors.Is(r.err, context.Canceled) {
			t.Errorf("got %d %v, want context.Canceled", r.status, r.err)
		}
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool {
			return st.Queued == 0 && st.Outcomes[simulate.OutcomeLeftQueue] == 1
		})

		next := cw.send(t, ctx, srv, body) // takes the place freed, not refused
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 1 })
		MustBlockUntil(t, ctx, clock, 1)
		clock.Advance(time.Second)
		wantOK(t, "served", <-served)
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 0 && st.Busy == 1 })
		MustBlockUntil(t, ctx, clock, 1)
		clock.Advance(time.Second)
		wantOK(t, "next", <-next)
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 0 })
		if got := sim.Stats("primary").Outcomes; got[simulate.OutcomeOK] != 2 || got[simulate.OutcomeOverCapacity] != 0 {
			t.Errorf("got outcomes %v, want 2 ok, 1 left_queue and no over_capacity", got)
		}
	})
	t.Run("simulator closes", func(t *testing.T) {
		ctx := testCtx(t)
		sim, srv := MustServe(t, simulate.Options{Clock: fakeClock(), FirstTokenDelay: time.Second,
			Capacity: map[string]simulate.Capacity{"primary": {Slots: 1, Queue: 1}}})
		body := cw.body(t, false)
		served := cw.send(t, ctx, srv, body)
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 1 })
		queued := cw.send(t, ctx, srv, body)
		MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 1 })
		sim.Close()
		for _, r := range []reply{<-served, <-queued} {
			if r.err == nil {
				t.Errorf("got %d %q, want the connection aborted", r.status, r.body)
			}
		}
		closeWithin(ctx, t, srv, sim) // every handler has returned
		st := sim.Stats("primary")
		if st.Busy != 0 || st.Queued != 0 || st.Outcomes[simulate.OutcomeLeftQueue] != 1 {
			t.Errorf("got %d busy, %d queued, outcomes %v, want none busy or queued and 1 left_queue",
				st.Busy, st.Queued, st.Outcomes)
		}
	})
}

// TestCapacityStreamHoldsSlot: a stream holds its slot until its last
// chunk; a stream request refused meanwhile gets the plain JSON refusal.
func TestCapacityStreamHoldsSlot(t *testing.T) {
	for _, cw := range capWires {
		t.Run(cw.name, func(t *testing.T) {
			ctx := testCtx(t)
			clock := fakeClock()
			sim, srv := MustServe(t, simulate.Options{Clock: clock, TokenInterval: time.Second, AnswerWords: 3,
				Capacity: map[string]simulate.Capacity{"primary": {Slots: 1}}})

			stream := cw.send(t, ctx, srv, cw.body(t, true))
			MustBlockUntil(t, ctx, clock, 1) // before the 2nd word
			clock.Advance(time.Second)
			MustBlockUntil(t, ctx, clock, 1) // before the 3rd and last word
			cw.checkRefusal(t, <-cw.send(t, ctx, srv, cw.body(t, true)))
			clock.Advance(time.Second)
			r := <-stream
			wantOK(t, "stream", r)
			if !strings.HasSuffix(r.body, cw.streamEnd) {
				t.Errorf("got stream %q, want it to end with %q", r.body, cw.streamEnd)
			}

			MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 0 })
			wantOK(t, "after the stream", <-cw.send(t, ctx, srv, cw.body(t, false)))
			st := sim.Stats("primary")
			if st.Outcomes[simulate.OutcomeOK] != 2 || st.Outcomes[simulate.OutcomeOverCapacity] != 1 {
				t.Errorf("got outcomes %v, want 2 ok and 1 over_capacity", st.Outcomes)
			}
		})
	}
}

// TestCapacityBeforeFaults: a refused request does not count against a
// fault's Count; an admitted hang holds its slot until its client leaves.
func TestCapacityBeforeFaults(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{Capacity: map[string]simulate.Capacity{"primary": {Slots: 1}}})
	cw := capWires[0]
	body := cw.body(t, false)
	if err := sim.SetFault("primary", simulate.Fault{Kind: simulate.KindHang, Count: 1}); err != nil {
		t.Fatal(err)
	}
	leaving, leave := context.WithCancel(ctx)
	hung := cw.send(t, leaving, srv, body)
	MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Outcomes[simulate.KindHang] == 1 })
	if err := sim.SetFault("primary", simulate.Fault{Kind: simulate.KindRateLimit, Count: 1}); err != nil {
		t.Fatal(err)
	}
	cw.checkRefusal(t, <-cw.send(t, ctx, srv, body))
	if f, ok := sim.CurrentFault("primary"); !ok || f.Count != 1 {
		t.Errorf("got fault %+v after a refusal, want rate_limit with its count of 1 untouched", f)
	}
	leave()
	<-hung
	MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 0 })
	if r := <-cw.send(t, ctx, srv, body); r.status != http.StatusTooManyRequests {
		t.Errorf("got %d %q, want the rate_limit fault's 429 once the slot is free", r.status, r.body)
	}
}

// TestCapacityAtRuntime: SetCapacity limits a provider already serving,
// counting the requests in flight; ClearCapacity lets the queue in.
func TestCapacityAtRuntime(t *testing.T) {
	ctx := testCtx(t)
	clock := fakeClock()
	sim, srv := MustServe(t, simulate.Options{Clock: clock, FirstTokenDelay: time.Second})
	cw := capWires[1]
	body := cw.body(t, false)
	first := cw.send(t, ctx, srv, body)
	MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 1 })
	if err := sim.SetCapacity("primary", simulate.Capacity{Slots: 1, Queue: 1}); err != nil {
		t.Fatal(err)
	}
	queued := cw.send(t, ctx, srv, body)
	MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Queued == 1 })
	cw.checkRefusal(t, <-cw.send(t, ctx, srv, body))
	if err := sim.ClearCapacity("primary"); err != nil {
		t.Fatal(err)
	}
	MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 2 && st.Queued == 0 })
	MustBlockUntil(t, ctx, clock, 2)
	clock.Advance(time.Second)
	wantOK(t, "first", <-first)
	wantOK(t, "queued", <-queued)

	err := sim.SetCapacity("primary", simulate.Capacity{Slots: 0})
	if ve, ok := errors.AsType[*simulate.ValidationError](err); !ok || ve.Field != "slots" {
		t.Errorf("got %v, want a ValidationError on slots", err)
	}
	if err := sim.SetCapacity("nobody", simulate.Capacity{Slots: 1}); !errors.Is(err, simulate.ErrUnknownProvider) {
		t.Errorf("got %v, want ErrUnknownProvider", err)
	}
}
