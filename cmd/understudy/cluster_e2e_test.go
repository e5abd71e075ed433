package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/internal/replicatest"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/simulate"
)

// The whole of issue 9: three real `understudy serve` processes sharing one
// PostgreSQL database, nginx in front (internal/replicatest). These tests
// need UNDERSTUDY_TEST_POSTGRES_DSN and, for those behind nginx,
// UNDERSTUDY_TEST_NGINX (scripts/test sets both).

// propagation is how soon a change made through one replica must show on
// every other replica's status page and /live stream.
const propagation = time.Second

// TestCluster builds understudy once for its subtests. Outage runs alone
// (it measures propagation times); HandoffClaim and NginxKill then run
// side by side.
func TestCluster(t *testing.T) {
	_ = pgtest.Database(t) // skips (or fails under CI) without PostgreSQL, before the build
	ctx, _ := testCtx(t)
	bin, err := replicatest.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Outage", func(t *testing.T) { testClusterOutage(t, bin) })
	t.Run("HandoffClaim", func(t *testing.T) { t.Parallel(); testClusterHandoffClaim(t, bin) })
	t.Run("NginxKill", func(t *testing.T) { t.Parallel(); testClusterNginxKill(t, bin) })
}

// testClusterOutage: an outage seen only through replica A shows on B's
// status page and B's and C's /live within a second (a); the same outage,
// then seen by every replica through nginx, is one incident per detector
// key, and every notification reaches the webhook subscriber once (b); the
// leader killed with SIGKILL mid-incident, another replica takes over, the
// incident still resolves once the providers are back, and every
// notification — those from before the kill and those after — is
// delivered exactly once (c).
func testClusterOutage(t *testing.T, bin string) {
	ctx, _ := testCtx(t)
	db := pgtest.Database(t)
	hooks := newWebhookReceiver(t)
	c := replicatest.New(t, replicatest.Options{Binary: bin, DSN: db, Nginx: testNginx(t), Dir: t.TempDir()})
	const a, b, cc = 0, 1, 2
	ra := c.Replicas[a]
	if _, err := ra.Admin(ctx, http.MethodPost, "/admin/v1/subscribers", `{"kind":"webhook","address":"`+hooks.url+`/hook"}`); err != nil {
		t.Fatal(err)
	}
	var streams []*replicatest.Stream
	for _, i := range []int{b, cc} {
		s, err := c.Subscribe(ctx, c.Replicas[i].URL+"/live")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		streams = append(streams, s)
	}

	// (a) The outage, through A only, until A's detectors open an incident.
	for _, p := range []string{"primary", "secondary"} {
		if err := c.Sim.SetFault(p, simulate.Fault{Kind: simulate.KindServerError}); err != nil {
			t.Fatal(err)
		}
	}
	var first admin.IncidentJSON
	poll(ctx, t, 50*time.Millisecond, "an incident opened from A's traffic", func() bool {
		sendChat(ctx, c.Client, ra.URL)
		open := incidents(ctx, t, ra, true)
		if len(open) == 0 {
			return false
		}
		first = open[0]
		return true
	})
	t.Logf("incident %d %q (key %s) detected at %s", first.ID, first.Title, first.Key, first.DetectedAt.Format(time.StampMilli))
	id := strconv.FormatInt(first.ID, 10)
	// Each check gets a few seconds, not the test's whole time, so that
	// the checks after it still run when it fails.
	for k, s := range streams {
		sctx, stop := context.WithTimeout(ctx, 3*time.Second)
		e, err := s.Next(sctx, replicatest.IsChange("incident", first.ID))
		stop()
		if err != nil {
			t.Errorf("replica %d's /live: no incident event for incident %d: %v", k+1, first.ID, err)
			continue
		}
		lag := e.At.Sub(first.DetectedAt)
		t.Logf("replica %d's /live: incident event %s after the detection", k+1, lag.Round(time.Millisecond))
		if lag > propagation {
			t.Errorf("replica %d's /live delivered incident %d %s after its detection, want within %s", k+1, first.ID, lag, propagation)
		}
	}
	rb := c.Replicas[b]
	listed := within(ctx, 3*time.Second, 20*time.Millisecond, func() bool {
		var sum struct {
			Incidents []struct{ ID, Name string } `json:"incidents"`
		}
		code, body := get(ctx, t, c.Client, rb.URL+"/api/v2/summary.json")
		if code != http.StatusOK || json.Unmarshal(body, &sum) != nil {
			return false
		}
		return slices.ContainsFunc(sum.Incidents, func(i struct{ ID, Name string }) bool { return i.ID == id })
	})
	if lag := time.Since(first.DetectedAt); !listed || lag > propagation {
		t.Errorf("B's summary.json: incident %d listed %t, %s after its detection; want listed within %s", first.ID, listed, lag.Round(time.Millisecond), propagation)
	}
	if code, page := get(ctx, t, c.Client, rb.URL+"/"); code != http.StatusOK || !strings.Contains(string(page), first.Title) {
		t.Errorf("B's status page: HTTP %d, want %q on it", code, first.Title)
	}

	// (b) The same outage through nginx: every replica sees it. Nothing can
	// prove a duplicate will never come; the assertion holds at every poll
	// over 3 s of traffic (3 detector cycles at incidents.every 1s).
	observe := time.Now().Add(3 * time.Second)
	poll(ctx, t, 50*time.Millisecond, "3 s of outage traffic through nginx", func() bool {
		for range 3 {
			sendChat(ctx, c.Client, c.Proxy)
		}
		if dups := duplicates(incidents(ctx, t, rb, false)); len(dups) > 0 {
			t.Fatalf("several incidents for one outage (by key): %v", dups)
		}
		return time.Now().After(observe)
	})
	waitDelivered(ctx, t, ra, hooks)

	// (c) Kill the leader mid-incident.
	leader, err := c.WaitLeader(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	c.Kill(leader)
	next, err := c.WaitLeader(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %d killed; replica %d leads %s later", leader, next, time.Since(killed).Round(time.Millisecond))
	survivor := c.Replicas[next]
	before := len(deliveries(ctx, t, survivor))
	for _, p := range []string{"primary", "secondary"} {
		if err := c.Sim.ClearFault(p); err != nil {
			t.Fatal(err)
		}
	}
	// recover_after 2s + resolve_after 2s, and detector cycles.
	resolved := within(ctx, 20*time.Second, 100*time.Millisecond, func() bool {
		sendChat(ctx, c.Client, c.Proxy) // healthy traffic
		return len(incidents(ctx, t, survivor, true)) == 0
	})
	all := incidents(ctx, t, survivor, false)
	if !resolved {
		t.Fatalf("incidents still open 20 s after the providers recovered, with replica %d leading: %+v", next, all)
	}
	if dups := duplicates(all); len(dups) > 0 {
		t.Errorf("several incidents for one outage (by key): %v", dups)
	}
	for _, inc := range all {
		if inc.Status != "resolved" || inc.ResolvedAt.IsZero() {
			t.Errorf("incident %d: status %s, resolved at %v; want resolved", inc.ID, inc.Status, inc.ResolvedAt)
		}
	}
	ds := waitDelivered(ctx, t, survivor, hooks)
	if len(ds) <= before {
		t.Errorf("no notification after the leader's death (%d deliveries before, %d after): the resolution was not notified", before, len(ds))
	}
}

// testClusterHandoffClaim: two agents, signed in to the console of two
// different replicas, claim the same handoff conversation at the same
// moment: exactly one gets it, the other gets 409 saying it is already
// claimed. Three conversations, three races.
func testClusterHandoffClaim(t *testing.T, bin string) {
	ctx, _ := testCtx(t)
	db := pgtest.Database(t)
	c := replicatest.New(t, replicatest.Options{Binary: bin, DSN: db, Replicas: 2, Dir: t.TempDir(),
		Config: replicatest.DefaultConfig + "    degrade: [handoff]\n"})
	for _, p := range []string{"primary", "secondary"} {
		if err := c.Sim.SetFault(p, simulate.Fault{Kind: simulate.KindServerError}); err != nil {
			t.Fatal(err)
		}
	}
	agents := []*consoleAgent{
		signIn(ctx, t, c, c.Replicas[0], "agent-ada"),
		signIn(ctx, t, c, c.Replicas[1], "agent-bob"),
	}
	for round := range 3 {
		resp := sendChat(ctx, c.Client, c.Replicas[round%2].URL)
		conv := resp.Header.Get("X-Understudy-Handoff")
		if resp.StatusCode != http.StatusOK || conv == "" {
			t.Fatalf("round %d: no handoff (HTTP %d, mode %q)", round, resp.StatusCode, resp.Header.Get("X-Understudy-Mode"))
		}
		for _, ag := range agents {
			ag.load(ctx, t, conv)
		}
		codes := make([]int, len(agents))
		bodies := make([]string, len(agents))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k, ag := range agents {
			wg.Go(func() {
				<-start
				codes[k], bodies[k] = ag.claim(ctx, t, conv)
			})
		}
		close(start)
		wg.Wait()
		winner := slices.Index(codes, http.StatusSeeOther)
		loser := 1 - winner
		if winner < 0 || codes[loser] != http.StatusConflict || !strings.Contains(bodies[loser], "already claimed") {
			t.Fatalf("round %d: claims answered %v, want one 303 and one 409 saying \"already claimed\":\n%.600s\n%.600s", round, codes, bodies[0], bodies[1])
		}
		var got struct{ Status, Assignee string }
		code, body := get(ctx, t, c.Client, c.Replicas[loser].URL+"/handoff/v1/conversations/"+conv)
		if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil || got.Status != "assigned" || got.Assignee != agents[winner].name {
			t.Errorf("round %d: conversation %s read on the loser's replica: HTTP %d %+v, want assigned to %s", round, conv, code, got, agents[winner].name)
		}
		t.Logf("round %d: %s (replica %d) won", round, agents[winner].name, agents[winner].replica)
	}
}

// testClusterNginxKill: clients send completions, streamed and not,
// through nginx while one replica is killed with SIGKILL. Every request
// started after the kill is answered whole (nginx sends it to another
// replica: a refused connection is retried even for a POST, since nothing
// was sent). Requests in flight at the kill on that replica fail or are
// cut — logged, not asserted: nginx does not retry a POST once sent.
func testClusterNginxKill(t *testing.T, bin string) {
	ctx, _ := testCtx(t)
	db := pgtest.Database(t)
	c := replicatest.New(t, replicatest.Options{Binary: bin, DSN: db, Nginx: testNginx(t), Dir: t.TempDir(),
		Simulator: simulate.Options{FirstTokenDelay: 50 * time.Millisecond, TokenInterval: 5 * time.Millisecond}})
	type result struct {
		start, end time.Time
		err        string // "" when answered whole
	}
	var mu sync.Mutex
	var results []result
	var killedAt time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r := result{start: time.Now()}
				r.err = complete(ctx, c.Client, c.Proxy, (w+n)%2 == 0)
				r.end = time.Now()
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(results) }
	poll(ctx, t, 10*time.Millisecond, "100 answers before the kill", func() bool { return count() >= 100 })
	const victim = 1
	// Requests sent while the process is dying may reach it: they count as
	// in flight; "after the kill" starts once it is gone.
	killing := time.Now()
	c.Kill(victim)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	goal := count() + 300
	poll(ctx, t, 10*time.Millisecond, "300 answers after the kill", func() bool { return count() >= goal })
	// A /live stream through nginx still opens (on a survivor) at once.
	for range 3 {
		s, err := c.Subscribe(ctx, c.Proxy+"/live")
		if err != nil {
			t.Errorf("/live through nginx after the kill: %v", err)
			continue
		}
		s.Close()
	}
	close(stop)
	wg.Wait()
	var after, inflight, inflightFailed int
	for _, r := range results {
		switch {
		case r.start.After(killedAt):
			after++
			if r.err != "" {
				t.Errorf("request started %s after the kill: %s", r.start.Sub(killedAt).Round(time.Microsecond), r.err)
			}
		case r.end.After(killing):
			inflight++
			if r.err != "" {
				inflightFailed++
				t.Logf("in flight at the kill: %s", r.err)
			}
		}
	}
	t.Logf("%d requests in all; %d started after the kill; %d in flight at the kill, of which %d failed or were cut", len(results), after, inflight, inflightFailed)
	if after < 300 {
		t.Errorf("only %d requests started after the kill, want at least 300", after)
	}
}

// testNginx is the nginx binary for the tests behind nginx; they skip
// without one, except under CI=true.
func testNginx(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(replicatest.NginxEnv)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set and CI=true: the tests behind nginx must run", replicatest.NginxEnv)
		}
		t.Skipf("%s is not set (./scripts/nginx-for-tests prints one); skipping a test behind nginx", replicatest.NginxEnv)
	}
	return bin
}

// poll calls done every interval until it is true; the test fails when ctx
// ends first.
func poll(ctx context.Context, t *testing.T, interval time.Duration, what string, done func() bool) {
	t.Helper()
	if !within(ctx, 0, interval, done) {
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
}

// within calls done every interval until it is true, for at most d (0: as
// long as ctx lasts), and reports whether it became true.
func within(ctx context.Context, d, interval time.Duration, done func() bool) bool {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// sendChat sends one non-streamed completion to base; the answer's body is
// read and closed. Transport errors give a zero response.
func sendChat(ctx context.Context, client *http.Client, base string) *http.Response {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return &http.Response{Header: http.Header{}}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// complete sends one completion through base and says what was wrong with
// its answer ("" when it came whole: 200 and, for a stream, [DONE]).
func complete(ctx context.Context, client *http.Client, base string, stream bool) string {
	body := fmt.Sprintf(`{"model":"assistant","stream":%t,"messages":[{"role":"user","content":"hi"}]}`, stream)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("stream=%t: %v", stream, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Sprintf("stream=%t: HTTP %d, body cut: %v", stream, resp.StatusCode, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("stream=%t: HTTP %d %.200s", stream, resp.StatusCode, b)
	case stream && !strings.Contains(string(b), "data: [DONE]"):
		return fmt.Sprintf("stream=%t: ended without [DONE]", stream)
	case !stream && !strings.Contains(string(b), `"choices"`):
		return fmt.Sprintf("stream=%t: no choices in %.200s", stream, b)
	}
	return ""
}

// get returns url's status and body.
func get(ctx context.Context, t *testing.T, client *http.Client, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// incidents lists the incidents through r's admin API (open ones only, or
// all).
func incidents(ctx context.Context, t *testing.T, r *replicatest.Replica, open bool) []admin.IncidentJSON {
	t.Helper()
	path := "/admin/v1/incidents"
	if open {
		path += "?open=true"
	}
	b, err := r.Admin(ctx, http.MethodGet, path, "")
	if err != nil {
		t.Fatal(err)
	}
	var list admin.IncidentsJSON
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	return list.Incidents
}

// duplicates lists the keys held by more than one incident that was not
// merged into another, with their ids.
func duplicates(incs []admin.IncidentJSON) map[string][]int64 {
	byKey := map[string][]int64{}
	for _, inc := range incs {
		if inc.MergedInto == 0 {
			key := inc.Key
			if key == "" {
				key = "(title) " + inc.Title
			}
			byKey[key] = append(byKey[key], inc.ID)
		}
	}
	for k, ids := range byKey {
		if len(ids) < 2 {
			delete(byKey, k)
		}
	}
	return byKey
}

// deliveries lists the notification outbox through r's admin API.
func deliveries(ctx context.Context, t *testing.T, r *replicatest.Replica) []notify.DeliveryJSON {
	t.Helper()
	b, err := r.Admin(ctx, http.MethodGet, "/admin/v1/deliveries?limit=1000", "")
	if err != nil {
		t.Fatal(err)
	}
	var list notify.DeliveriesJSON
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	return list.Deliveries
}

// waitDelivered waits until the outbox holds deliveries, all delivered,
// and the receiver has had each of them, then checks that it had each
// exactly once and nothing else. It returns the deliveries.
func waitDelivered(ctx context.Context, t *testing.T, r *replicatest.Replica, hooks *webhookReceiver) []notify.DeliveryJSON {
	t.Helper()
	var ds []notify.DeliveryJSON
	if !within(ctx, 15*time.Second, 50*time.Millisecond, func() bool {
		ds = deliveries(ctx, t, r)
		if len(ds) == 0 {
			return false
		}
		for _, d := range ds {
			if d.Status != notify.DeliveryDelivered || hooks.count(notify.DeliveryID(d.NotificationID, d.SubscriberID)) == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("after 15 s, deliveries not all delivered and received: outbox %+v, received %v", ds, hooks.received())
	}
	want := map[string]bool{}
	for _, d := range ds {
		want[notify.DeliveryID(d.NotificationID, d.SubscriberID)] = true
	}
	for id, n := range hooks.received() {
		switch {
		case !want[id]:
			t.Errorf("webhook %s received %d times, but it is no delivery of the outbox", id, n)
		case n != 1:
			t.Errorf("webhook %s received %d times, want once", id, n)
		}
	}
	return ds
}

// webhookReceiver is a webhook subscriber's endpoint: it checks the
// signature and counts what it gets, by webhook id (one per delivery).
type webhookReceiver struct {
	url    string
	mu     sync.Mutex
	counts map[string]int
	bad    int // requests with a bad signature
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{counts: map[string]int{}}
	secrets := [][]byte{[]byte(replicatest.DefaultWebhookSecret)}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(notify.HeaderWebhookID)
		err := notify.Verify(secrets, id, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature), time.Now(), 5*time.Minute)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.bad++
			http.Error(rw, err.Error(), http.StatusUnauthorized)
			return
		}
		w.counts[id]++
	}))
	w.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		if w.bad > 0 {
			t.Errorf("the webhook receiver got %d requests with a bad signature", w.bad)
		}
	})
	return w
}

func (w *webhookReceiver) count(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[id]
}

func (w *webhookReceiver) received() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

// consoleAgent is an agent signed in to one replica's console.
type consoleAgent struct {
	name    string
	replica int
	base    string
	client  *http.Client // with the session cookie; follows no redirect
	csrf    string       // the session's, from the last page loaded
}

// signIn creates an agent token named name (through the admin API) and
// signs in with it to replica r's console.
func signIn(ctx context.Context, t *testing.T, c *replicatest.Cluster, r *replicatest.Replica, name string) *consoleAgent {
	t.Helper()
	b, err := r.Admin(ctx, http.MethodPost, "/admin/v1/tokens", `{"name":"`+name+`","scope":"agent"}`)
	if err != nil {
		t.Fatal(err)
	}
	var tok admin.TokenJSON
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		t.Fatalf("token %s: %v %s", name, err, b)
	}
	jar, _ := cookiejar.New(nil)
	ag := &consoleAgent{name: name, replica: r.Index, base: r.URL, client: &http.Client{Jar: jar, Transport: c.Client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	code, page := ag.do(ctx, t, http.MethodGet, "/console/signin", nil)
	m := csrfField.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("sign-in page: HTTP %d, no CSRF field", code)
	}
	if code, page := ag.do(ctx, t, http.MethodPost, "/console/signin", url.Values{"token": {tok.Token}, "csrf": {m[1]}}); code != http.StatusSeeOther {
		t.Fatalf("%s signing in: HTTP %d %.300s", name, code, page)
	}
	return ag
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// load opens conversation conv's page, for its CSRF token.
func (ag *consoleAgent) load(ctx context.Context, t *testing.T, conv string) {
	t.Helper()
	code, page := ag.do(ctx, t, http.MethodGet, "/console/handoff/"+conv, nil)
	m := csrfField.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("%s: conversation %s's page: HTTP %d, no CSRF field:\n%.300s", ag.name, conv, code, page)
	}
	ag.csrf = m[1]
}

// claim presses the page's "claim" button.
func (ag *consoleAgent) claim(ctx context.Context, t *testing.T, conv string) (int, string) {
	return ag.do(ctx, t, http.MethodPost, "/console/handoff/"+conv+"/claim", url.Values{"csrf": {ag.csrf}})
}

func (ag *consoleAgent) do(ctx context.Context, t *testing.T, method, path string, form url.Values) (int, string) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(ctx, method, ag.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := ag.client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
