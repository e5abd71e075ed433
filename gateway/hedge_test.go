package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

var hedgeConfig = strings.Replace(baseConfig, "retry: {backoff: 1ms}", "retry: {backoff: 1ms}\n    hedge: {enabled: true, delay: 1s}", 1)

// TestHedge: when the primary stays silent past the hedge delay, a hedge
// starts on the secondary; the first to answer (the whole answer, or the
// first token of a stream) wins and the other is cancelled — without the
// loser counting against its breaker.
func TestHedge(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "non-stream"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			clk := clockwork.NewFakeClock()
			h := newHarness(t, withClock(clk), withConfig(hedgeConfig))
			ctx := testCtx(t)
			h.setFault("primary", simulate.Fault{Kind: "hang"})
			done := make(chan completion, 1)
			go func() {
				if stream {
					done <- h.askStream(ctx)
				} else {
					done <- h.ask(ctx)
				}
			}()
			if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
				t.Fatal(err)
			}
			// The request's deadline, the first-token timer and the hedge timer.
			if err := clk.BlockUntilContext(ctx, 3); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			got := <-done
			if got.err != nil || got.text != answerOf("secondary") {
				t.Fatalf("got %q %v, want the secondary's answer", got.text, got.err)
			}
			if got.header.Get("X-Understudy-Target") != "secondary/m-secondary" {
				t.Errorf("got target %q", got.header.Get("X-Understudy-Target"))
			}
			h.events.waitAttempts(ctx, t, 1, func(a understudy.Attempt) bool {
				return a.Target == "primary/m-primary" && a.Class == understudy.ClassCanceled && strings.Contains(a.Message, "hedge")
			})
			if v := h.counter("understudy_hedges_total", "target", "secondary/m-secondary"); v != 1 {
				t.Errorf("got %v hedges, want 1", v)
			}
			if n := h.requests("backup"); n != 0 {
				t.Errorf("backup saw %d requests, want 0", n)
			}
		})
	}
}

// TestHedgeNotNeeded: a primary that answers before the delay is the only
// attempt.
func TestHedgeNotNeeded(t *testing.T) {
	h := newHarness(t, withConfig(hedgeConfig))
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		if got := h.ask(ctx); got.err != nil || got.text != answerOf("primary") {
			t.Fatalf("got %q %v", got.text, got.err)
		}
	}
	if n := h.requests("secondary"); n != 0 {
		t.Errorf("secondary saw %d requests, want 0", n)
	}
	if v := h.counter("understudy_hedges_total"); v != 0 {
		t.Errorf("got %v hedges, want 0", v)
	}
}

// TestHedgeFirstFails: when the primary fails while the hedge runs, the
// hedge goes on as the failover attempt.
func TestHedgeFirstFails(t *testing.T) {
	clk := clockwork.NewFakeClock()
	h := newHarness(t, withClock(clk), withConfig(hedgeConfig))
	ctx := testCtx(t)
	h.setFault("primary", simulate.Fault{Kind: "hang"})
	h.setFault("secondary", simulate.Fault{Kind: "hang"})
	done := make(chan completion, 1)
	go func() { done <- h.ask(ctx) }()
	if err := h.sim.WaitRequests(ctx, "primary", 1); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // hedge on the secondary, which hangs too
	if err := h.sim.WaitRequests(ctx, "secondary", 1); err != nil {
		t.Fatal(err)
	}
	h.sim.ClearFault("secondary")
	// Deadline, the primary's and the secondary's response timers.
	if err := clk.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second) // the primary's 5 s response limit
	h.events.waitAttempts(ctx, t, 1, func(a understudy.Attempt) bool { return a.Target == "primary/m-primary" })
	clk.Advance(time.Second) // the secondary's limit too: it hung as well
	got := <-done
	if got.err != nil || got.text != answerOf("backup") {
		t.Fatalf("got %q %v, want the backup's answer", got.text, got.err)
	}
}
