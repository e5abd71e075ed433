package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/simulate"
)

// postmortemConfig: three routes over the two providers — assistant with
// the cache, the FAQ and human handoff, no-agents with the honest notice,
// bare with no ladder at all (its users see errors).
const postmortemConfig = serveConfig + `    degrade: [cache, faq, handoff]
  - name: no-agents
    tiers:
      - [{provider: primary, model: gpt-4o-mini}]
      - [{provider: secondary, model: claude-haiku-4-5}]
    degrade: [notice]
  - name: bare
    tiers:
      - [{provider: primary, model: gpt-4o-mini}]
      - [{provider: secondary, model: claude-haiku-4-5}]
faq: {dir: "${FAQ}"}
`

// tally counts requests as their users saw them, the way a postmortem
// must count them.
type tally struct {
	requests, failed, failover, handedOff int64
	degraded                              map[string]int64
	affected                              map[string]bool // users who saw a failed or degraded answer
}

// TestPostmortemEndToEnd runs the real serve command through an outage:
// the primary fails (failover), the incident opens by itself, an operator
// acknowledges it, then both providers fail (the ladder answers from the
// cache, the FAQ, a person, the notice, or not at all), the providers come
// back, the operator moves it to monitoring and resolves it. The
// postmortem drafted at resolution counts exactly the requests this test
// sent, as it saw them, and its timeline is the incident's record in order.
func TestPostmortemEndToEnd(t *testing.T) {
	ctx, cancel := testCtx(t)
	faqDir, _ := filepath.Abs("../../faq/testdata/example")
	const token = "us_e2e-postmortem-token"
	s := startServed(ctx, t, postmortemConfig, map[string]string{"FAQ": faqDir, "UNDERSTUDY_ADMIN_TOKEN": token})

	got := tally{degraded: map[string]int64{}, affected: map[string]bool{}}
	ask := func(route, user, question string) string {
		t.Helper()
		body := `{"model":"` + route + `","user":"` + user + `","messages":[{"role":"user","content":` + mustJSON(question) + `}]}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Accept-Language", "en")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got.requests++
		mode := resp.Header.Get("X-Understudy-Mode")
		attempts, _ := strconv.Atoi(resp.Header.Get("X-Understudy-Attempts"))
		switch {
		case resp.StatusCode != http.StatusOK:
			got.failed++
			got.affected[user] = true
			return "failed"
		case mode == "handoff":
			got.handedOff++
			got.affected[user] = true
		case mode != "" && mode != "cached":
			got.degraded[mode]++
			got.affected[user] = true
		case mode == "" && attempts >= 2:
			got.failover++
			return "failover"
		}
		return mode
	}
	adminCall := func(method, path, body string) []byte {
		t.Helper()
		return s.admin(ctx, t, token, method, path, body)
	}
	fault := func(provider string, on bool) {
		t.Helper()
		var err error
		if on {
			err = s.sim.SetFault(provider, simulate.Fault{Kind: simulate.KindServerError})
		} else {
			err = s.sim.ClearFault(provider)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// 1. The primary fails: the backup answers; the incident opens by
	// itself. Nothing is sent before the fault, so that every request lies
	// in the incident's window (from the minute of its first failure).
	fault("primary", true)
	const clouds = "Tell me about the clouds over the sea."
	if m := ask("assistant", "u1", clouds); m != "failover" {
		t.Fatalf("first request: %s, want failover (and its answer cached)", m)
	}
	for i := range 6 {
		ask("assistant", "u1", fmt.Sprintf("Question %d?", i))
	}
	s.stderr.waitFor(ctx, t, "incident opened")
	var list admin.IncidentsJSON
	if err := json.Unmarshal(adminCall("GET", "/admin/v1/incidents?open=true", ""), &list); err != nil || len(list.Incidents) != 1 {
		t.Fatalf("open incidents: %+v %v", list.Incidents, err)
	}
	inc := list.Incidents[0]
	incPath := fmt.Sprintf("/admin/v1/incidents/%d", inc.ID)
	adminCall("POST", incPath+"/updates", `{"message":"The primary provider fails; the backup answers.","status":"identified"}`)

	// 2. Both fail: the ladder answers, or nobody does.
	fault("secondary", true)
	modes := map[string]bool{}
	for round := range 2 {
		for _, q := range []struct{ route, user, question string }{
			{"assistant", "u2", clouds},
			{"assistant", "u3", "How do I reset my password?"},
			{"assistant", fmt.Sprintf("u4-%d", round), "What is the weather on Mars?"},
			{"no-agents", "u5", "What is the weather on Mars?"},
			{"bare", "u6", "Hello?"},
		} {
			modes[ask(q.route, q.user, q.question)] = true
		}
	}
	for _, m := range []string{"degraded_cache", "degraded_faq", "handoff", "notice", "failed"} {
		if !modes[m] {
			t.Errorf("during the total outage no request was answered %s (got %v)", m, modes)
		}
	}

	// 3. The providers are back; the operator watches, then resolves.
	fault("primary", false)
	fault("secondary", false)
	adminCall("POST", incPath+"/updates", `{"message":"The providers answer again; we are watching.","status":"monitoring"}`)
	for i := range 3 {
		ask("bare", "u7", fmt.Sprintf("Back %d?", i))
	}
	adminCall("POST", incPath+"/resolve", `{"message":"Fixed."}`)
	s.stderr.waitFor(ctx, t, "postmortem drafted")

	var pms admin.PostmortemsJSON
	if err := json.Unmarshal(adminCall("GET", "/admin/v1/postmortems", ""), &pms); err != nil || len(pms.Postmortems) != 1 {
		t.Fatalf("postmortems: %+v %v", pms, err)
	}
	p := pms.Postmortems[0]
	if p.IncidentID != inc.ID || p.Status != "draft" {
		t.Fatalf("postmortem %+v, want a draft of incident %d", p, inc.ID)
	}
	im := p.Impact
	if want := []string{"assistant", "bare", "no-agents"}; !slices.Equal(im.Routes, want) {
		t.Errorf("routes measured: %v, want %v", im.Routes, want)
	}
	var users []string
	for u := range got.affected {
		users = append(users, u)
	}
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"requests", im.Requests, got.requests},
		{"failed as users saw them", im.Failed, got.failed},
		{"served by failover", im.ServedByFailover, got.failover},
		{"handed off", im.HandedOff, got.handedOff},
		{"end users affected", im.UsersAffected, int64(len(got.affected))},
		{"canceled", im.Canceled, 0},
	} {
		if f.got != f.want {
			t.Errorf("%s: the postmortem says %d, the test counted %d", f.name, f.got, f.want)
		}
	}
	if !reflect.DeepEqual(im.Degraded, got.degraded) {
		t.Errorf("served degraded: the postmortem says %v, the test counted %v", im.Degraded, got.degraded)
	}
	t.Logf("counted: %d requests, %d failed, %d failover, degraded %v, %d handed off, users %v",
		got.requests, got.failed, got.failover, got.degraded, got.handedOff, users)

	// Its metrics and timeline are the incident's record.
	var full admin.IncidentJSON
	if err := json.Unmarshal(adminCall("GET", incPath, ""), &full); err != nil {
		t.Fatal(err)
	}
	m := p.Metrics
	if m.Detector != "target_down" || m.AcknowledgedBy != admin.BootstrapName || !m.StartedAt.Equal(full.StartedAt) ||
		!m.DetectedAt.Equal(full.DetectedAt) || !m.ResolvedAt.Equal(full.ResolvedAt) || m.TimeToDetectSeconds == nil ||
		*m.TimeToDetectSeconds != full.DetectedAt.Sub(full.StartedAt).Seconds() || m.TimeToResolveSeconds == nil ||
		*m.TimeToResolveSeconds != full.ResolvedAt.Sub(full.DetectedAt).Seconds() {
		t.Errorf("metrics %+v for incident started %v, detected %v, resolved %v", m, full.StartedAt, full.DetectedAt, full.ResolvedAt)
	}
	if !m.MitigatedAt.Equal(full.Updates[len(full.Updates)-2].CreatedAt) {
		t.Errorf("mitigated at %v, want the monitoring update's time %v", m.MitigatedAt, full.Updates[len(full.Updates)-2].CreatedAt)
	}
	var want []string
	for _, e := range full.Timeline {
		want = append(want, e.Time.UTC().Format(time.RFC3339Nano)+" event "+e.Type+" "+e.Message)
	}
	for _, u := range full.Updates {
		want = append(want, u.CreatedAt.UTC().Format(time.RFC3339Nano)+" update "+u.Status+" "+u.Message)
	}
	slices.SortStableFunc(want, func(a, b string) int { // time, then events before updates
		ta, _, _ := strings.Cut(a, " ")
		tb, _, _ := strings.Cut(b, " ")
		x, _ := time.Parse(time.RFC3339Nano, ta)
		y, _ := time.Parse(time.RFC3339Nano, tb)
		if c := x.Compare(y); c != 0 {
			return c
		}
		return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1])
	})
	var timeline []string
	for _, e := range p.Timeline {
		timeline = append(timeline, e.Time.UTC().Format(time.RFC3339Nano)+" "+e.Kind+" "+e.Type+" "+e.Text)
	}
	if !slices.Equal(timeline, want) {
		t.Errorf("timeline:\n got %q\nwant %q", timeline, want)
	}
	order := []string{"event incident.opened", "update investigating", "update identified", "update monitoring", "event incident.resolved", "update resolved"}
	at := 0
	for _, line := range timeline {
		if at < len(order) && strings.Contains(line, " "+order[at]+" ") {
			at++
		}
	}
	if at != len(order) {
		t.Errorf("timeline lacks, in order, %q (found up to %d):\n%s", order, at, strings.Join(timeline, "\n"))
	}

	// The exports, and the workflow to the status page.
	md := adminCall("GET", fmt.Sprintf("/admin/v1/postmortems/%d.md", p.ID), "")
	if !bytes.Contains(md, []byte(fmt.Sprintf("| Requests | %d |", got.requests))) {
		t.Errorf("Markdown export lacks the request count:\n%s", md)
	}
	adminCall("PATCH", fmt.Sprintf("/admin/v1/postmortems/%d", p.ID), `{"root_cause":"Both providers failed at once."}`)
	adminCall("POST", fmt.Sprintf("/admin/v1/postmortems/%d/submit", p.ID), "")
	// An open status page hears of the publication at once.
	liveReq, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/live", nil)
	live, err := http.DefaultClient.Do(liveReq)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Body.Close()
	changes := make(chan string, 16)
	go func() {
		defer close(changes)
		sc := bufio.NewScanner(live.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				changes <- line
			}
		}
	}()
	if hello := <-changes; hello != "data: {}" {
		t.Fatalf("/live began with %q, want the hello", hello)
	}
	adminCall("POST", fmt.Sprintf("/admin/v1/postmortems/%d/publish", p.ID), "")
	wantChange := fmt.Sprintf(`"kind":"incident","id":%d`, inc.ID)
	heard := false
	for line := range changes {
		if heard = strings.Contains(line, wantChange); heard {
			break
		}
	}
	if !heard {
		t.Fatal("no live change for the incident after publishing its postmortem")
	}
	for path, want := range map[string]string{
		"/api/v2/incidents.json":             `"status":"postmortem"`,
		fmt.Sprintf("/incidents/%d", inc.ID): "Both providers failed at once.",
		"/history.atom":                      "Postmortem",
	} {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(want)) {
			t.Errorf("GET %s: %d, want %q in:\n%.1500s", path, resp.StatusCode, want, b)
		}
	}
	s.stop(t, cancel)
}
