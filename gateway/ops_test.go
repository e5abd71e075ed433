package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/health"
	"github.com/understudy/understudy/simulate"
)

// TestDrain: a drained target takes no new requests, traffic goes to the
// next tier, /readyz counts it out, and the state survives a reload.
func TestDrain(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	if err := h.gw.Drain("primary/m-primary", true); err != nil {
		t.Fatal(err)
	}
	if got := h.ask(ctx); got.err != nil || got.header.Get("X-Understudy-Target") != "secondary/m-secondary" {
		t.Fatalf("drained primary: %v served by %q, want the secondary", got.err, got.header.Get("X-Understudy-Target"))
	}
	if n := h.requests("primary"); n != 0 {
		t.Errorf("the drained primary got %d requests", n)
	}
	if err := h.gw.Apply(mustConfig(t, h.cfgText, h.getenv)); err != nil {
		t.Fatal(err)
	}
	top := h.gw.Topology()
	if st := top.Targets["primary/m-primary"]; !st.Drained || st.Available() {
		t.Errorf("after a reload: %+v, want still drained", st)
	}
	if err := h.gw.Drain("primary/m-primary", false); err != nil {
		t.Fatal(err)
	}
	if got := h.ask(ctx); got.header.Get("X-Understudy-Target") != "primary/m-primary" {
		t.Errorf("undrained: served by %q", got.header.Get("X-Understudy-Target"))
	}
	if err := h.gw.Drain("nope/m", true); err == nil {
		t.Error("draining an unknown target: no error")
	}
	for _, id := range []string{"primary/m-primary", "secondary/m-secondary", "backup/m-backup"} {
		if err := h.gw.Drain(id, true); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get(h.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with every target drained: %d, want 503", resp.StatusCode)
	}
}

// TestTopologyAndProbe: the topology lists routes, targets and their
// providers; ProbeTarget probes now, records the result and closes an open
// breaker when it passes.
func TestTopologyAndProbe(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	top := h.gw.Topology()
	if len(top.Routes) != 1 || top.Routes[0].Name != "assistant" || !slices.Equal(top.Routes[0].Tiers[1], []string{"secondary/m-secondary"}) {
		t.Errorf("routes %+v", top.Routes)
	}
	if !slices.Equal(top.Order, []string{"backup/m-backup", "primary/m-primary", "secondary/m-secondary"}) ||
		!slices.Equal(top.RoutesOf["primary/m-primary"], []string{"assistant"}) || !slices.Equal(top.Providers["backup"], []string{"backup/m-backup"}) {
		t.Errorf("topology %+v", top)
	}
	h.setFault("primary", simulate.Fault{Kind: "server_error"})
	for range 5 {
		h.ask(ctx)
	}
	if st := h.gw.Topology().Targets["primary/m-primary"]; st.Breaker.State != health.Open {
		t.Fatalf("breaker %s, want open after 5 failures", st.Breaker.State)
	}
	if err := h.gw.ProbeTarget(ctx, "primary/m-primary"); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("probe of a failing target: %v", err)
	}
	if st := h.gw.Topology().Targets["primary/m-primary"]; st.ProbeError == "" || st.LastProbe.IsZero() {
		t.Errorf("probe result not recorded: %+v", st)
	}
	if err := h.sim.ClearFault("primary"); err != nil {
		t.Fatal(err)
	}
	if err := h.gw.ProbeTarget(ctx, "primary/m-primary"); err != nil {
		t.Fatal(err)
	}
	if st := h.gw.Topology().Targets["primary/m-primary"]; st.Breaker.State != health.Closed || st.ProbeError != "" {
		t.Errorf("after a passing probe: %+v, want closed", st)
	}
}

// TestSinks: events, attempts and outcomes reach every sink.
func TestSinks(t *testing.T) {
	a, b := &eventLog{}, &eventLog{}
	s := gateway.Sinks(a, nil, b)
	s.Emit(understudy.Event{Type: "x"})
	s.(gateway.AttemptRecorder).RecordAttempt(understudy.Attempt{Target: "t"})
	s.(gateway.OutcomeRecorder).RecordOutcome(understudy.Outcome{Route: "r"})
	for i, l := range []*eventLog{a, b} {
		if len(l.events) != 1 || len(l.attempts) != 1 || len(l.outcomes) != 1 {
			t.Errorf("sink %d got %d events, %d attempts, %d outcomes; want 1 each", i, len(l.events), len(l.attempts), len(l.outcomes))
		}
	}
}

// TestRequireKey: another API guarded by the gateway's client keys.
func TestRequireKey(t *testing.T) {
	h := newHarness(t)
	guarded := httptest.NewServer(h.gw.RequireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
	defer guarded.Close()
	for key, want := range map[string]int{"": 401, "wrong": 401, testKey: 200} {
		req, _ := http.NewRequest(http.MethodGet, guarded.URL, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("key %q: %d, want %d", key, resp.StatusCode, want)
		}
	}
}
