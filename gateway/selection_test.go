package gateway

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/config"
)

func seq(vals ...float64) func() float64 {
	i := 0
	return func() float64 {
		v := vals[i%len(vals)]
		i++
		return v
	}
}

func ids(ts []routeTarget) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.id
	}
	return out
}

func TestWeightedOrder(t *testing.T) {
	tier := []routeTarget{
		{target: &target{id: "a"}, weight: 3},
		{target: &target{id: "b"}, weight: 1},
	}
	// Over many draws the first choice follows the weights.
	counts := map[string]int{}
	const n = 1000
	for i := 0; i < n; i++ {
		r := float64(i) / n
		counts[order(tier, config.SelectWeighted, seq(r))[0].id]++
	}
	if counts["a"] != 750 || counts["b"] != 250 {
		t.Errorf("got first choices %v, want a:750 b:250", counts)
	}
	// Every target appears once: the rest are fallbacks inside the tier.
	got := ids(order(tier, config.SelectWeighted, seq(0.9)))
	if len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Errorf("got %v, want [b a]", got)
	}
}

func TestLatencyOrder(t *testing.T) {
	fast, slow, idle := &target{id: "fast"}, &target{id: "slow"}, &target{id: "busy"}
	fast.observeLatency(100 * time.Millisecond)
	slow.observeLatency(900 * time.Millisecond)
	idle.observeLatency(100 * time.Millisecond)
	idle.inflight.Store(20) // same latency, but loaded
	tier := []routeTarget{{target: slow, weight: 1}, {target: fast, weight: 1}, {target: idle, weight: 1}}
	tests := []struct {
		name string
		rnd  func() float64
		want []string
	}{
		{"picks the faster of slow and fast", seq(0, 0), []string{"fast", "slow", "busy"}},
		{"picks the faster of slow and busy", seq(0, 0.9), []string{"slow", "fast", "busy"}},
		{"fast beats busy", seq(0.4, 0.9), []string{"fast", "slow", "busy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(order(tier, config.SelectLatency, tt.rnd))
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	clk := clockwork.NewFakeClock()
	b := newRetryBudget(clk, 0.2, 0.1) // floor: 1 retry per 10 s window
	for i := 0; i < 100; i++ {
		b.request()
	}
	allowed := 0
	for i := 0; i < 100; i++ {
		if b.tryRetry() {
			allowed++
		}
	}
	if allowed != 21 { // 20% of 100 plus the floor of 1
		t.Errorf("got %d retries, want 21", allowed)
	}
	clk.Advance(11 * time.Second) // the window forgets
	if !b.tryRetry() {
		t.Errorf("got no retry after the window moved, want the floor")
	}
	if b.tryRetry() {
		t.Errorf("got a second retry with no requests, want only the floor")
	}
}

func TestPlainChunk(t *testing.T) {
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"content", `{"id":"c","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`, true},
		{"content with null usage", `{"choices":[{"delta":{"content":"hi"},"finish_reason":null}],"usage":null}`, true},
		{"finish", `{"choices":[{"delta":{},"finish_reason":"stop"}]}`, false},
		{"finish with spaces", `{"choices":[{"delta":{},"finish_reason": "stop"}]}`, false},
		{"two choices, one finished", `{"choices":[{"finish_reason":null},{"finish_reason":"stop"}]}`, false},
		{"usage", `{"choices":[],"usage":{"total_tokens":3}}`, false},
		{"error", `{"error":{"message":"x"}}`, false},
		{"malformed", `{"choices":[`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plainChunk([]byte(tt.data)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
