package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy/cluster"
	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/notify"
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
	state := func(s *served) string {
		t.Helper()
		if v, ok := s.metric(t, `understudy_breaker_state{target="primary/gpt-4o-mini"}`); ok {
			return v
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

// TestOneDeliveryAcrossReplicas: two replicas on one PostgreSQL, a webhook
// subscriber, an incident opened through one of them: each delivery
// reaches the subscriber once — only the leader delivers — even though the
// receiver is slow enough that a second dispatcher polling the outbox would
// send it again.
func TestOneDeliveryAcrossReplicas(t *testing.T) {
	ctx, cancel := testCtx(t)
	pg := pgtest.Database(t)
	cfg := strings.Replace(serveConfig, `storage: {sqlite: "${DB}", flush_every: 1h}`, `storage: {postgres_dsn: "${PG}", flush_every: 1h}`, 1) + `notifications:
  webhook_secrets: ["${WEBHOOK_SECRET}"]
  allow_private: true          # the test's receiver is on 127.0.0.1
`
	const token = "us_replicas-admin"
	vars := map[string]string{"PG": pg, "WEBHOOK_SECRET": "webhook-secret-0123456789", "UNDERSTUDY_ADMIN_TOKEN": token}

	var mu sync.Mutex
	received := map[string]int{} // webhook id → times received
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get(notify.HeaderWebhookID)
		mu.Lock()
		received[id]++
		first := received[id] == 1
		mu.Unlock()
		if first {
			// Slow to answer: a second dispatcher's poll (every second)
			// would find the delivery still pending and send it again.
			select {
			case <-time.After(2500 * time.Millisecond):
			case <-r.Context().Done():
			}
		}
	}))
	defer receiver.Close()

	a := startServed(ctx, t, cfg, vars)
	b := startServed(ctx, t, cfg, vars)
	call := func(s *served, method, path, body string) []byte {
		t.Helper()
		return s.admin(ctx, t, token, method, path, body)
	}
	call(a, http.MethodPost, "/admin/v1/subscribers", `{"kind":"webhook","address":"`+receiver.URL+`/hook"}`)
	call(b, http.MethodPost, "/admin/v1/incidents", `{"title":"Slow answers","severity":"minor","cause":"technical","components":["assistant"],"message":"We are looking into it."}`)

	// Wait until the outbox holds only delivered deliveries.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var list struct {
		Deliveries []struct{ Status, NotificationID string } `json:"deliveries"`
	}
	for {
		if err := json.Unmarshal(call(a, http.MethodGet, "/admin/v1/deliveries", ""), &list); err != nil {
			t.Fatal(err)
		}
		done := len(list.Deliveries) > 0
		for _, d := range list.Deliveries {
			done = done && d.Status == "delivered"
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("deliveries never all delivered: %+v", list.Deliveries)
		case <-tick.C:
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != len(list.Deliveries) {
		t.Errorf("received %d distinct webhooks, want %d (one per delivery): %v", len(received), len(list.Deliveries), received)
	}
	for id, n := range received {
		if n != 1 {
			t.Errorf("webhook %s received %d times, want once", id, n)
		}
	}
	a.stop(t, cancel)
	if err := <-b.done; err != nil {
		t.Errorf("replica B: %v", err)
	}
}

// pgServeConfig is serveConfig on the PostgreSQL database ${PG}.
func pgServeConfig(t *testing.T) string {
	t.Helper()
	cfg := strings.Replace(serveConfig, `storage: {sqlite: "${DB}", flush_every: 1h}`, `storage: {postgres_dsn: "${PG}", flush_every: 1h}`, 1)
	if cfg == serveConfig {
		t.Fatal("serveConfig has no storage line to replace")
	}
	return cfg
}

// metric returns the value of series (name{labels}) on s's /metrics.
func (s *served) metric(t *testing.T, series string) (string, bool) {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v, true
		}
	}
	return "", false
}

// leads reports whether s is the elected leader (its gauge).
func (s *served) leads(t *testing.T) bool {
	t.Helper()
	v, _ := s.metric(t, `understudy_cluster_leader{key="`+strconv.FormatInt(cluster.DefaultKey, 10)+`"}`)
	return v == "1"
}

// liveChanges streams s's /live changes until ctx ends.
func liveChanges(ctx context.Context, t *testing.T, s *served) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "{}" {
				select {
				case out <- data:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// TestIncidentAcrossReplicas: two replicas on one PostgreSQL; the outage
// is seen only by the follower's users (its simulator fails, its traffic
// only). The leader opens exactly one incident from the follower's traffic
// summaries; the follower's status page API shows it and the route's
// outage, and its live stream announces both.
func TestIncidentAcrossReplicas(t *testing.T) {
	ctx, cancel := testCtx(t)
	// Breaker openings travel too (hints), so the target_down detector
	// would see the outage without the traffic: off, to test the traffic.
	cfg := pgServeConfig(t) + "incidents: {every: 200ms, target_down: {disabled: true}}\n"
	const token = "us_replicas-admin"
	vars := map[string]string{"PG": pgtest.Database(t), "UNDERSTUDY_ADMIN_TOKEN": token}
	a := startServed(ctx, t, cfg, vars)
	b := startServed(ctx, t, cfg, vars)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var lead, follow *served
	for lead == nil {
		switch {
		case a.leads(t):
			lead, follow = a, b
		case b.leads(t):
			lead, follow = b, a
		}
		select {
		case <-ctx.Done():
			t.Fatal("no replica leads")
		case <-poll.C:
		}
	}
	changes := liveChanges(ctx, t, follow)
	follow.down(t)
	var incs struct {
		Incidents []struct {
			ID       int64  `json:"id"`
			Status   string `json:"status"`
			Detector string `json:"detector"`
		} `json:"incidents"`
	}
	for sent := 0; ; sent++ {
		resp, err := http.Post(follow.base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if err := json.Unmarshal(lead.admin(ctx, t, token, http.MethodGet, "/admin/v1/incidents?open=true", ""), &incs); err != nil {
			t.Fatal(err)
		}
		if len(incs.Incidents) > 0 {
			t.Logf("incident opened after %d failing requests through the follower", sent+1)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the leader never opened an incident from the follower's traffic")
		case <-poll.C:
		}
	}
	if n := lead.sim.Stats("primary").Requests + lead.sim.Stats("secondary").Requests; n != 0 {
		t.Fatalf("the leader's providers saw %d requests; the outage must be the follower's alone", n)
	}
	id := incs.Incidents[0].ID
	if d := incs.Incidents[0].Detector; d != "route_errors" {
		t.Errorf("incident detected by %q, want route_errors (the follower's failed requests)", d)
	}
	// The follower's live stream announces the incident and the component.
	seen := map[string]bool{}
	for !seen["incident"] || !seen["component"] {
		select {
		case data := <-changes:
			var c struct {
				Kind string `json:"kind"`
				ID   int64  `json:"id"`
			}
			_ = json.Unmarshal([]byte(data), &c)
			if c.Kind == "component" || (c.Kind == "incident" && c.ID == id) {
				seen[c.Kind] = true
			}
		case <-ctx.Done():
			t.Fatalf("follower's live stream: saw %v, want incident %d and component changes", seen, id)
		}
	}
	// Its status page API shows the incident and, once the leader's
	// detectors see the whole route failing, its major outage.
	var summary struct {
		Components []struct{ Name, Status string } `json:"components"`
		Incidents  []struct{ ID string }           `json:"incidents"`
	}
	status := map[string]string{}
	for len(summary.Incidents) != 1 || status["assistant"] != "major_outage" {
		select {
		case <-ctx.Done():
			t.Fatalf("follower's summary: incidents %+v, components %v; want the one incident and assistant major_outage", summary.Incidents, status)
		case <-poll.C:
		}
		resp, err := http.Post(follow.base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp, err = http.Get(follow.base + "/api/v2/summary.json"); err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&summary)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range summary.Components {
			status[c.Name] = c.Status
		}
	}
	// Exactly one incident, whichever replica is asked.
	for _, s := range []*served{a, b} {
		if err := json.Unmarshal(s.admin(ctx, t, token, http.MethodGet, "/admin/v1/incidents", ""), &incs); err != nil {
			t.Fatal(err)
		}
		if len(incs.Incidents) != 1 {
			t.Errorf("%s lists %d incidents, want 1", s.base, len(incs.Incidents))
		}
	}
	cancel()
	for _, s := range []*served{a, b} {
		if err := <-s.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}
