package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/simulate"
)

// TestBreakerHintAcrossReplicas: two `serve` replicas on one PostgreSQL.
// Replica A's traffic finds the primary down and opens its breaker; replica
// B, which sent the primary nothing, opens its own at once from A's hint
// (over LISTEN/NOTIFY).
func TestBreakerHintAcrossReplicas(t *testing.T) {
	ctx, cancel := testCtx(t)
	pg := pgtest.Database(t)
	cfg := strings.Replace(serveConfig, `storage: {sqlite: "${DB}", flush_every: 1h}`, `storage: {postgres_dsn: "${PG}", flush_every: 1h}`, 1)
	if cfg == serveConfig {
		t.Fatal("serveConfig has no storage line to replace")
	}
	// One after the other: each migrates the database on start.
	a := startServed(ctx, t, cfg, map[string]string{"PG": pg})
	b := startServed(ctx, t, cfg, map[string]string{"PG": pg})
	if err := a.sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError}); err != nil {
		t.Fatal(err)
	}
	const series = `understudy_breaker_state{target="primary/gpt-4o-mini"} `
	state := func(s *served) string {
		t.Helper()
		resp, err := http.Get(s.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for line := range strings.SplitSeq(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, series); ok {
				return v
			}
		}
		return "none"
	}
	// A fails over until its breaker opens (5 consecutive failures).
	for i := 0; state(a) != "2"; i++ {
		if i == 20 {
			t.Fatalf("replica A's breaker never opened (state %s)", state(a))
		}
		resp, err := http.Post(a.base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for state(b) != "2" {
		select {
		case <-ctx.Done():
			t.Fatalf("replica B's breaker is %s, want open (2) from A's hint", state(b))
		case <-tick.C:
		}
	}
	t.Logf("replica B opened its breaker %s after A's", time.Since(start).Round(time.Millisecond))
	if n := b.sim.Stats("primary").Requests; n != 0 {
		t.Errorf("replica B's primary saw %d requests, want none", n)
	}
	a.stop(t, cancel)
	if err := <-b.done; err != nil {
		t.Errorf("replica B: %v", err)
	}
}
