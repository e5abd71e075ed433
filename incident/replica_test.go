package incident_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/simulate"
)

// follower is a second replica beside a harness: its own engine and
// gateway on the harness's store, clock and simulator.
type follower struct {
	eng    *incident.Engine
	gw     *gateway.Gateway
	srv    *httptest.Server
	shared atomic.Int32 // Options.Shared(false) calls
}

func newFollower(h *harness) *follower {
	h.t.Helper()
	f := &follower{}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", "follower")
	f.eng = incident.New(h.cfg, incident.Options{Store: h.st, Clock: h.clk, Logger: log, Shared: func(leading bool) {
		if !leading {
			f.shared.Add(1)
		}
	}})
	f.eng.SetLeading(false)
	gw, err := gateway.New(h.cfg, gateway.Options{Clock: h.clk, Events: f.eng, Notices: f.eng, Degrader: f.eng, Rand: func() float64 { return 0.5 }})
	if err != nil {
		h.t.Fatal(err)
	}
	f.eng.SetGateway(gw)
	f.gw = gw
	f.srv = httptest.NewServer(gw.Handler())
	h.t.Cleanup(func() { f.srv.Close(); gw.Close() })
	return f
}

// second: one request through the follower, its summary to the leader,
// both engines tick, one second passes.
func (f *follower) second(h *harness) int {
	h.t.Helper()
	resp, err := http.Post(f.srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	h.eng.Absorb(f.eng.TakeSummary())
	for _, e := range []*incident.Engine{h.eng, f.eng} {
		// A save that found another replica's change is retried by the
		// next tick: that is how the engines meet here.
		var ue *understudy.Error
		if err := e.Tick(h.ctx); err != nil && !(errors.As(err, &ue) && ue.Code == understudy.ECONFLICT) {
			h.t.Fatalf("tick: %v", err)
		}
	}
	h.clk.Advance(time.Second)
	return resp.StatusCode
}

// TestFollowerTraffic: an outage only a follower's users see opens one
// incident on the leader (from the follower's summaries), and the follower
// shows the leader's component statuses and notices.
func TestFollowerTraffic(t *testing.T) {
	h := newHarness(t, baseConfig)
	f := newFollower(h)
	f.second(h)
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	failed := 0
	for range 20 {
		if f.second(h) != 200 {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no request failed through the follower")
	}
	incs := h.incidents(true)
	if len(incs) != 1 || incs[0].Severity != understudy.SeverityCritical {
		t.Fatalf("open incidents %s; want one critical, opened by the leader from the follower's traffic", fmtIncidents(incs))
	}
	if n := incs[0].Evidence.Classes[understudy.ClassServer]; n == 0 {
		t.Errorf("evidence classes %v: want the follower's server errors counted", incs[0].Evidence.Classes)
	}
	cs, err := f.eng.Components(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var route understudy.Component
	for _, c := range cs {
		if c.Name == "assistant" {
			route = c
		}
	}
	if route.Status != understudy.ComponentMajorOutage || route.Incident != incs[0].ID {
		t.Errorf("follower shows assistant %+v; want major_outage with incident %d", route, incs[0].ID)
	}
	if n, ok := f.eng.RouteNotice("assistant"); !ok || n.Incident != incs[0].ID {
		t.Errorf("follower's notice %+v (%v); want one naming incident %d", n, ok, incs[0].ID)
	}
	if f.shared.Load() == 0 {
		t.Error("the follower never reported a shared state change")
	}
	if f.eng.Leading() || !h.eng.Leading() {
		t.Error("roles changed by themselves")
	}
}

// TestReplicaChanges: a person's change through a follower reaches the
// leader (Refresh), and when the leader did not hear of it, its own save
// does not overwrite it: the save fails as changed, the leader re-reads.
func TestReplicaChanges(t *testing.T) {
	h := newHarness(t, baseConfig)
	f := newFollower(h)
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	for range 10 {
		f.second(h)
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("open incidents %s; want one", fmtIncidents(incs))
	}
	id := incs[0].ID
	// A person sets it to identified through the follower; the leader is
	// not told (a lost message). The follower keeps sending failures, so
	// the leader attaches evidence and saves.
	if _, err := f.eng.UpdateIncident(h.ctx, "alice", id, understudy.IncidentChange{Status: understudy.IncidentIdentified, Message: "We found it."}); err != nil {
		t.Fatal(err)
	}
	for range 70 { // evidence is saved at most every minute
		f.second(h)
	}
	got, err := h.eng.Incident(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != understudy.IncidentIdentified {
		t.Fatalf("status %s; want alice's identified kept", got.Status)
	}
	// Recovery: the leader must not resolve a person's incident by itself.
	f.recover(h)
	if got, _ := h.eng.Incident(h.ctx, id); got.Status != understudy.IncidentIdentified {
		t.Errorf("status %s after recovery; want identified (a person owns it)", got.Status)
	}
	// Resolved through the follower, told to the leader: it stops following it.
	if _, err := f.eng.ResolveIncident(h.ctx, "alice", id, "Fixed."); err != nil {
		t.Fatal(err)
	}
	if err := h.eng.Refresh(h.ctx, id, 0, true); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f.second(h)
	}
	if got, _ := h.eng.Incident(h.ctx, id); got.Status != understudy.IncidentResolved {
		t.Errorf("status %s; want resolved", got.Status)
	}
	if incs := h.incidents(true); len(incs) != 0 {
		t.Errorf("open incidents %s; want none", fmtIncidents(incs))
	}
}

// TestTakeover: the follower becomes the leader and carries on from the
// shared state and the store: the open incident is resolved once traffic
// recovers, components keep their status meanwhile.
func TestTakeover(t *testing.T) {
	h := newHarness(t, baseConfig)
	f := newFollower(h)
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	for range 10 {
		f.second(h)
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("open incidents %s; want one", fmtIncidents(incs))
	}
	h.eng.SetLeading(false)
	f.eng.SetLeading(true)
	if err := f.eng.Tick(h.ctx); err != nil {
		t.Fatal(err)
	}
	cs, _ := f.eng.Components(h.ctx)
	for _, c := range cs {
		if c.Name == "assistant" && c.Status != understudy.ComponentMajorOutage {
			t.Errorf("new leader shows assistant %s; want major_outage carried over", c.Status)
		}
	}
	f.recover(h)
	got, err := f.eng.Incident(h.ctx, incs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != understudy.IncidentResolved {
		t.Errorf("status %s after recovery under the new leader; want resolved", got.Status)
	}
	if open := h.incidents(true); len(open) != 0 {
		t.Errorf("open incidents %s; want none (and no second one)", fmtIncidents(open))
	}
}

// TestMaintenanceAcrossReplicas: a window scheduled through a follower is
// started by the leader (told of it), and the follower drains the target
// too; the follower's traffic goes to the other tier, no incident opens,
// and once the leader completes the window the follower takes traffic back.
func TestMaintenanceAcrossReplicas(t *testing.T) {
	h := newHarness(t, baseConfig)
	f := newFollower(h)
	start := h.clk.Now().Add(10 * time.Second)
	m, err := f.eng.ScheduleMaintenance(h.ctx, "alice", understudy.Maintenance{Title: "Primary upgrade",
		Targets: []string{"primary/m-primary"}, StartsAt: start, EndsAt: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.eng.Refresh(h.ctx, 0, m.ID, true); err != nil {
		t.Fatal(err)
	}
	drained := func() bool { return f.gw.Topology().Targets["primary/m-primary"].Drained }
	for h.clk.Now().Before(start) {
		f.second(h)
		if drained() {
			t.Fatal("drained before the window")
		}
	}
	f.second(h)
	if !drained() {
		t.Fatal("the follower did not drain the target once the leader started the window")
	}
	before := h.sim.Stats("primary").Requests
	for range 30 {
		f.second(h)
	}
	if n := h.sim.Stats("primary").Requests - before; n != 0 {
		t.Errorf("the drained primary got %d requests through the follower", n)
	}
	for range 60 { // window ends; the leader's probes pass; traffic returns
		f.second(h)
	}
	if drained() {
		t.Error("still drained on the follower after the window completed")
	}
	if got, _ := h.eng.Maintenances(h.ctx, understudy.MaintenanceFilter{}); len(got) != 1 || got[0].Status != understudy.MaintenanceCompleted {
		t.Errorf("maintenance %+v; want one, completed", got)
	}
	if incs := h.incidents(false); len(incs) != 0 {
		t.Errorf("incidents %s; want none", fmtIncidents(incs))
	}
}

// recover clears the outage, one provider after the other so that each
// breaker gets its trial request (probes are off here), and lets 440 s of
// healthy traffic through the follower.
func (f *follower) recover(h *harness) {
	h.clear("secondary")
	for range 40 {
		f.second(h)
	}
	h.clear("primary")
	for range 400 {
		f.second(h)
	}
}
