package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
)

// outageCut is how long the test keeps PostgreSQL unreachable.
const outageCut = 5 * time.Second

// TestPostgresOutage: `serve` on PostgreSQL under steady load with the
// primary failing part of the time. PostgreSQL goes away for a few seconds,
// then comes back: cut off by a proxy that closes every connection and
// refuses new ones ("unreachable"), or stopped and started again by
// pg_ctl, as an operator would ("restarted"). Every request is answered in
// full throughout (failing over during the outage too); /readyz stays 200
// and says the database is unreachable during it; /readyz/database answers
// 503 during it and 200 after; the replica leads again; and once the
// recorder has caught up, the rollups in the database count every request
// exactly once.
func TestPostgresOutage(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		pg := pgtest.Database(t)
		proxy := pgtest.NewProxy(t, pgtest.Target(t, pg))
		testPostgresOutage(t, proxy.DSN(pg), pg, proxy.Cut, proxy.Restore)
	})
	t.Run("restarted", func(t *testing.T) {
		srv := pgtest.NewServer(t)
		testPostgresOutage(t, srv.DSN(), srv.DSN(), srv.Stop, srv.Start)
	})
}

// testPostgresOutage runs the scenario with serve on dsn; direct reaches
// the same database for the checks; stop and start make it go away and come
// back.
func testPostgresOutage(t *testing.T, dsn, direct string, stop, start func()) {
	ctx, cancel := testCtx(t)
	cfg := strings.Replace(serveConfig, `storage: {sqlite: "${DB}", flush_every: 1h}`, `storage: {postgres_dsn: "${PG}", flush_every: 200ms}`, 1)
	// The primary's breaker never opens: every request tries it first, so
	// that its failures are failovers (not skipped).
	cfg = strings.Replace(cfg, `probe: {disabled: true}}`, `probe: {disabled: true}, breaker: {consecutive_failures: 1000000, min_requests: 1000000}}`, 1)
	if !strings.Contains(cfg, "postgres_dsn") || !strings.Contains(cfg, "min_requests") {
		t.Fatal("serveConfig has no storage or provider line to replace")
	}
	s := startServed(ctx, t, cfg, map[string]string{"PG": dsn})

	get := func(path string) (int, string) {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// waitFor polls f every 20ms until it is true, failing at the deadline.
	waitFor := func(what string, within time.Duration, f func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := time.NewTimer(within)
		defer deadline.Stop()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !f() {
			select {
			case <-deadline.C:
				t.Fatalf("%s: not within %s", what, within)
			case <-ctx.Done():
				t.Fatalf("%s: %v", what, ctx.Err())
			case <-tick.C:
			}
		}
		return time.Since(start)
	}

	// The primary fails 200ms out of every 500ms — longer than a same-target
	// retry's backoff: failovers all along.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			var err error
			if i%5 < 2 {
				err = s.sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError})
			} else {
				err = s.sim.ClearFault("primary")
			}
			if err != nil {
				t.Error(err)
				return
			}
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// Steady load: each answer must be complete, from either target.
	var cut atomic.Bool
	var sent, failovers, duringCut, failoversDuringCut atomic.Int64
	const clients = 4
	for c := range clients {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				question := fmt.Sprintf("question %d from client %d", i, c)
				inCut := cut.Load()
				// Under ctx: a request under way when the load stops
				// finishes, and counts.
				target, attempts, err := askComplete(ctx, s.base, question)
				sent.Add(1)
				if err != nil {
					t.Errorf("%s: %v", question, err)
					continue
				}
				failover := target == "secondary/claude-haiku-4-5" && attempts > 1
				if failover {
					failovers.Add(1)
				}
				if inCut && cut.Load() {
					duringCut.Add(1)
					if failover {
						failoversDuringCut.Add(1)
					}
				}
			}
		}()
	}
	// /readyz never fails, cut or not.
	var readyChecks, readyNot200 atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			if code, body := get("/readyz"); code != 0 {
				readyChecks.Add(1)
				if code != http.StatusOK {
					readyNot200.Add(1)
					t.Errorf("/readyz: got %d %q, want 200 throughout", code, body)
				}
			}
		}
	}()

	waitFor("requests before the cut", 10*time.Second, func() bool { return sent.Load() >= 50 })
	if code, body := get("/readyz/database"); code != http.StatusOK || body != "database: ok\n" {
		t.Fatalf("/readyz/database before the cut: got %d %q, want 200 database: ok", code, body)
	}

	cut.Store(true)
	stop()
	cutAt := time.Now()
	var readyzDuringCut string
	seen := waitFor("/readyz/database 503 during the cut", outageCut, func() bool {
		code, _ := get("/readyz/database")
		return code == http.StatusServiceUnavailable
	})
	if _, body := get("/readyz"); strings.Contains(body, "database: unreachable since ") {
		readyzDuringCut = body
	} else {
		t.Errorf("/readyz during the cut: got %q, want a line database: unreachable since …", body)
	}
	if m, _ := s.metric(t, "understudy_database_up"); m != "0" {
		t.Errorf("understudy_database_up during the cut: got %s, want 0", m)
	}
	// The cut lasts outageCut (a duration of the scenario, not a wait for state).
	select {
	case <-time.After(outageCut - time.Since(cutAt)):
	case <-ctx.Done():
		t.Fatal("the test's time ran out during the cut")
	}
	cut.Store(false)
	start()
	restoredAt := time.Now()
	backlog := sent.Load() // answered before the restore, the cut's included
	check := MustStorePG(t, direct)
	recorded := func() int64 {
		rs, err := check.Rollups(ctx, store.RollupQuery{Route: "assistant"})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range rs {
			n += r.Count
		}
		return n
	}
	// Both measured from the restore, each when first seen.
	var backIn, backlogIn time.Duration
	waitFor("/readyz/database 200 and the backlog written after the cut", 10*time.Second, func() bool {
		if code, body := get("/readyz/database"); backIn == 0 && code == http.StatusOK && body == "database: ok\n" {
			backIn = time.Since(restoredAt)
		}
		if backlogIn == 0 && recorded() >= backlog {
			backlogIn = time.Since(restoredAt)
		}
		return backIn != 0 && backlogIn != 0
	})
	// It lost its leader lock with its connection; it takes it again, so
	// detection, maintenance and delivery resume.
	var leadsIn time.Duration
	waitFor("leading again after the restore", 10*time.Second, func() bool {
		if s.leads(t) {
			leadsIn = time.Since(restoredAt)
			return true
		}
		return false
	})
	t.Logf("leading again %s after the restore", leadsIn.Round(10*time.Millisecond))
	// Load continues a little after the database is back.
	after := sent.Load()
	waitFor("requests after the cut", 10*time.Second, func() bool { return sent.Load() >= after+50 })
	stopLoad()
	bg.Wait()
	if t.Failed() {
		return
	}

	// Every request is in the rollups once: none lost during the cut,
	// none written twice.
	want := sent.Load()
	var got int64
	caughtUp := waitFor("rollups counting every request", 15*time.Second, func() bool { got = recorded(); return got >= want })
	if got != want {
		t.Errorf("rollups count %d requests, want %d: the client's own count", got, want)
	}
	if failoversDuringCut.Load() == 0 {
		t.Errorf("no failover during the cut (%d requests then): the test did not exercise failover", duringCut.Load())
	}
	t.Logf("%d requests from %d clients, all answered (%d by failover); during the %s cut: %d requests (%d by failover); "+
		"/readyz 200 in %d checks; database seen unreachable %s after the cut, reachable %s after the restore; "+
		"the %d requests answered before the restore were in the rollups %s after it; all of them %s after the load stopped",
		want, clients, failovers.Load(), outageCut, duringCut.Load(), failoversDuringCut.Load(),
		readyChecks.Load(), seen.Round(10*time.Millisecond), backIn.Round(10*time.Millisecond),
		backlog, backlogIn.Round(10*time.Millisecond), caughtUp.Round(10*time.Millisecond))
	t.Logf("/readyz during the cut:\n%s", readyzDuringCut)
	s.stop(t, cancel)
}

// askComplete asks the gateway's assistant route and checks the answer is
// a complete one from either target; it returns the target that answered
// and the number of attempts made.
func askComplete(ctx context.Context, base, question string) (string, int, error) {
	body := fmt.Sprintf(`{"model":"assistant","messages":[{"role":"user","content":%q}]}`, question)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("HTTP %d %s", resp.StatusCode, b)
	}
	var c struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
	}
	if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 {
		return "", 0, fmt.Errorf("unreadable answer %s (%v)", b, err)
	}
	target := resp.Header.Get("X-Understudy-Target")
	msg := simulate.Message{Role: "user", Content: question}
	want := map[string]string{
		"primary/gpt-4o-mini":        simulate.Answer("primary", "gpt-4o-mini", msg),
		"secondary/claude-haiku-4-5": simulate.Answer("secondary", "claude-haiku-4-5", msg),
	}[target]
	if want == "" || c.Choices[0].Message.Content != want || c.Choices[0].FinishReason != "stop" {
		return target, 0, fmt.Errorf("incomplete answer from %q: %s", target, b)
	}
	attempts, _ := strconv.Atoi(resp.Header.Get("X-Understudy-Attempts"))
	return target, attempts, nil
}

// MustStorePG opens the store at dsn, closed when tb ends.
func MustStorePG(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), store.Config{PostgresDSN: dsn})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
