package simulate_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/simulate"
)

// call makes one control API request and decodes the JSON answer into out (if not nil).
func call(ctx context.Context, t *testing.T, client *http.Client, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: got body %s, want JSON: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func TestControlRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	c := newClient(srv, "primary")
	base := srv.URL + "/_sim"
	var st simulate.ProviderStatus

	if code := call(ctx, t, srv.Client(), "PUT", base+"/providers/primary/fault",
		`{"kind":"rate_limit","count":2,"retry_after":"3"}`, &st); code != 200 {
		t.Fatalf("PUT fault: got %d, want 200", code)
	}
	if st.Fault == nil || st.Fault.Kind != "rate_limit" || st.Fault.Count != 2 {
		t.Fatalf("PUT fault: got %+v, want rate_limit with count 2", st.Fault)
	}
	_, err := c.Chat.Completions.New(ctx, params("gpt-4o-mini"))
	if e := apiError(t, err); e.StatusCode != 429 || e.Response.Header.Get("Retry-After") != "3" {
		t.Errorf("got %d Retry-After %q, want 429 and 3", e.StatusCode, e.Response.Header.Get("Retry-After"))
	}

	var all struct {
		Providers []simulate.ProviderStatus `json:"providers"`
	}
	if code := call(ctx, t, srv.Client(), "GET", base+"/providers", "", &all); code != 200 || len(all.Providers) != 3 {
		t.Fatalf("GET providers: got %d with %d providers, want 200 and 3", code, len(all.Providers))
	}
	if p := all.Providers[0]; p.Name != "primary" || p.Fault == nil || p.Fault.Count != 1 || p.Stats.Requests != 1 {
		t.Errorf("GET providers: got %+v, want primary with 1 rate_limit left and 1 request", p)
	}

	var stats simulate.Stats
	if code := call(ctx, t, srv.Client(), "GET", base+"/providers/primary/stats", "", &stats); code != 200 {
		t.Fatalf("GET stats: got %d, want 200", code)
	}
	if stats.Outcomes["rate_limit"] != 1 || !strings.Contains(string(stats.LastRequest), `"gpt-4o-mini"`) {
		t.Errorf("GET stats: got outcomes %v last request %s, want 1 rate_limit and the request body", stats.Outcomes, stats.LastRequest)
	}

	if code := call(ctx, t, srv.Client(), "DELETE", base+"/providers/primary/fault", "", &st); code != 200 || st.Fault != nil {
		t.Errorf("DELETE fault: got %d fault %+v, want 200 and none", code, st.Fault)
	}
	if _, err := c.Chat.Completions.New(ctx, params("gpt-4o-mini")); err != nil {
		t.Errorf("got %v after DELETE, want a healthy answer", err)
	}

	if code := call(ctx, t, srv.Client(), "POST", base+"/providers/secondary/schedule",
		`{"steps":[{"fault":{"kind":"hang"},"for":"30s"},{"fault":null,"for":"1m"}]}`, &st); code != 200 {
		t.Fatalf("POST schedule: got %d, want 200", code)
	}
	if st.Schedule == nil || len(st.Schedule.Steps) != 2 || st.Fault == nil || st.Fault.Kind != "hang" {
		t.Errorf("POST schedule: got %+v, want 2 steps with hang in force", st)
	}

	if code := call(ctx, t, srv.Client(), "POST", base+"/reset", "", &all); code != 200 {
		t.Fatalf("POST reset: got %d, want 200", code)
	}
	for _, p := range all.Providers {
		if p.Fault != nil || p.Schedule != nil || p.Stats.Requests != 0 {
			t.Errorf("after reset: got %+v, want healthy with no requests", p)
		}
	}
	if got := sim.Stats("primary").Requests; got != 0 {
		t.Errorf("got %d requests after reset, want 0", got)
	}
}

func TestControlBadInput(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		wantCode  int
		wantParam string
		wantMsg   string
	}{
		{"unknown kind", "PUT", "/providers/primary/fault", `{"kind":"explode"}`, 400, "kind",
			"valid kinds: status, rate_limit, quota"},
		{"status required", "PUT", "/providers/primary/fault", `{"kind":"status"}`, 400, "status", "required"},
		{"status out of range", "PUT", "/providers/primary/fault", `{"kind":"status","status":200}`, 400, "status", "400-599"},
		{"negative count", "PUT", "/providers/primary/fault", `{"kind":"hang","count":-1}`, 400, "count", "negative"},
		{"unknown field", "PUT", "/providers/primary/fault", `{"kind":"hang","kin":"x"}`, 400, "kin", "unknown field"},
		{"wrong type", "PUT", "/providers/primary/fault", `{"kind":5}`, 400, "kind", "want a string"},
		{"bad duration", "PUT", "/providers/primary/fault", `{"kind":"slow_first_token","delay":"soon"}`, 400, "delay",
			`duration string such as "30s"`},
		{"empty body", "PUT", "/providers/primary/fault", ``, 400, "body", "empty"},
		{"invalid JSON", "PUT", "/providers/primary/fault", `{"kind":`, 400, "body", "invalid JSON"},
		{"trailing data", "PUT", "/providers/primary/fault", `{"kind":"hang"} {}`, 400, "body", "unexpected data"},
		{"unknown provider", "PUT", "/providers/nobody/fault", `{"kind":"hang"}`, 404, "", "unknown provider"},
		{"unknown provider delete", "DELETE", "/providers/nobody/fault", ``, 404, "", "unknown provider"},
		{"unknown provider stats", "GET", "/providers/nobody/stats", ``, 404, "", "primary, secondary, backup"},
		{"no steps", "POST", "/providers/primary/schedule", `{"steps":[]}`, 400, "steps", "at least one"},
		{"zero step", "POST", "/providers/primary/schedule", `{"steps":[{"fault":{"kind":"hang"},"for":"0s"}]}`, 400,
			"steps[0].for", "positive duration"},
		{"bad step kind", "POST", "/providers/primary/schedule", `{"steps":[{"fault":{"kind":"nope"},"for":"1s"}]}`, 400,
			"steps[0].fault.kind", "valid kinds"},
		{"numeric step duration", "POST", "/providers/primary/schedule", `{"steps":[{"for":5}]}`, 400, "steps.for", "duration"},
		{"zero slots", "PUT", "/providers/primary/capacity", `{"slots":0,"queue":2}`, 400, "slots", "less than 1"},
		{"negative queue", "PUT", "/providers/primary/capacity", `{"slots":1,"queue":-1}`, 400, "queue", "negative"},
		{"capacity unknown field", "PUT", "/providers/primary/capacity", `{"slots":1,"queu":1}`, 400, "queu", "unknown field"},
		{"capacity not an integer", "PUT", "/providers/primary/capacity", `{"slots":"4"}`, 400, "slots", "want an integer"},
		{"capacity unknown provider", "PUT", "/providers/nobody/capacity", `{"slots":1}`, 404, "", "unknown provider"},
		{"capacity unknown provider delete", "DELETE", "/providers/nobody/capacity", ``, 404, "", "unknown provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{})
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			code := call(ctx, t, srv.Client(), tt.method, srv.URL+"/_sim"+tt.path, tt.body, &e)
			gotParam := ""
			if e.Error.Param != nil {
				gotParam = *e.Error.Param
			}
			if code != tt.wantCode || gotParam != tt.wantParam || !strings.Contains(e.Error.Message, tt.wantMsg) {
				t.Errorf("got %d param %q message %q, want %d param %q message containing %q",
					code, gotParam, e.Error.Message, tt.wantCode, tt.wantParam, tt.wantMsg)
			}
			if f, ok := sim.CurrentFault("primary"); ok {
				t.Errorf("got fault %+v after bad input, want none", f)
			}
			if st, _ := sim.Status("primary"); st.Capacity != nil {
				t.Errorf("got capacity %+v after bad input, want none", st.Capacity)
			}
		})
	}
}

// TestControlCapacity: PUT and DELETE …/capacity; the provider's status
// shows the capacity and how much of it is taken, and reset keeps it.
func TestControlCapacity(t *testing.T) {
	ctx := testCtx(t)
	clock := fakeClock()
	sim, srv := MustServe(t, simulate.Options{Clock: clock, FirstTokenDelay: time.Second})
	base := srv.URL + "/_sim/providers/primary"
	var st simulate.ProviderStatus
	if code := call(ctx, t, srv.Client(), "GET", base, "", &st); code != 200 || st.Capacity != nil {
		t.Fatalf("GET: got %d capacity %+v, want 200 and none", code, st.Capacity)
	}
	if code := call(ctx, t, srv.Client(), "PUT", base+"/capacity", `{"slots":1,"queue":1}`, &st); code != 200 {
		t.Fatalf("PUT capacity: got %d, want 200", code)
	}
	if want := (simulate.Capacity{Slots: 1, Queue: 1}); st.Capacity == nil || *st.Capacity != want {
		t.Fatalf("PUT capacity: got %+v, want %+v", st.Capacity, want)
	}

	cw := capWires[0]
	body := cw.body(t, false)
	served := cw.send(t, ctx, srv, body)
	queued := cw.send(t, ctx, srv, body)
	var all struct {
		Providers []simulate.ProviderStatus `json:"providers"`
	}
	MustWaitStats(t, ctx, sim, func(st simulate.Stats) bool { return st.Busy == 1 && st.Queued == 1 })
	if code := call(ctx, t, srv.Client(), "GET", base, "", &st); code != 200 || st.Stats.Busy != 1 || st.Stats.Queued != 1 {
		t.Errorf("GET: got %d stats %+v, want 200 with 1 busy and 1 queued", code, st.Stats)
	}
	if code := call(ctx, t, srv.Client(), "POST", srv.URL+"/_sim/reset", "", &all); code != 200 {
		t.Fatalf("POST reset: got %d, want 200", code)
	}
	if p := all.Providers[0]; p.Capacity == nil || p.Stats.Busy != 1 || p.Stats.Queued != 1 || p.Stats.Requests != 0 {
		t.Errorf("after reset: got capacity %+v, stats %+v, want the capacity, 1 busy, 1 queued and no requests",
			p.Capacity, p.Stats)
	}
	if code := call(ctx, t, srv.Client(), "DELETE", base+"/capacity", "", &st); code != 200 || st.Capacity != nil {
		t.Errorf("DELETE capacity: got %d capacity %+v, want 200 and none", code, st.Capacity)
	}
	if st.Stats.Busy != 2 || st.Stats.Queued != 0 {
		t.Errorf("DELETE capacity: got %d busy, %d queued, want the waiter let in: 2 and 0", st.Stats.Busy, st.Stats.Queued)
	}
	if err := clock.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	wantOK(t, "served", <-served)
	wantOK(t, "queued", <-queued)
}
