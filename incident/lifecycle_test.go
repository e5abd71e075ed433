package incident_test

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/providerstatus"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
)

// TestMaintenanceWindow: announced ahead; at its start the primary is
// drained and traffic goes to the secondary; the component is under
// maintenance and no incident opens; at its end probes must pass (they
// fail at first) before traffic returns.
func TestMaintenanceWindow(t *testing.T) {
	h := newHarness(t, baseConfig)
	start := h.clk.Now().Add(time.Minute)
	m, err := h.eng.ScheduleMaintenance(h.ctx, "alice", understudy.Maintenance{
		Title: "Primary upgrade", Message: "Upgrading the primary model.", Targets: []string{"primary/m-primary"},
		StartsAt: start, EndsAt: start.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != understudy.MaintenanceScheduled || m.ID == 0 {
		t.Fatalf("scheduled: %+v", m)
	}
	for range 30 {
		if _, target := h.second(); target != "primary/m-primary" {
			t.Fatalf("before the window: served by %q", target)
		}
	}
	for h.clk.Now().Before(start) {
		h.second()
	}
	h.tick()
	// The provider goes down during the work: nothing must notice.
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	before := h.sim.Stats("primary").Requests
	for range 60 {
		if code, target := h.second(); code != 200 || target != "secondary/m-secondary" {
			t.Fatalf("during the window: HTTP %d from %q, want 200 from the secondary", code, target)
		}
	}
	if got := h.sim.Stats("primary").Requests; got != before {
		t.Errorf("the drained primary got %d requests", got-before)
	}
	if c := h.component("provider:primary"); c.Status != understudy.ComponentUnderMaintenance {
		t.Errorf("provider:primary is %s, want under_maintenance", c.Status)
	}
	if c := h.component("assistant"); c.Status != understudy.ComponentOperational {
		t.Errorf("assistant is %s, want operational (the other tier serves)", c.Status)
	}
	ms := maint(h, m.ID)
	if ms.Status != understudy.MaintenanceInProgress || !ms.StartedAt.Equal(start) {
		t.Errorf("maintenance %s started %v, want in_progress at %v", ms.Status, ms.StartedAt, start)
	}
	for h.clk.Now().Before(start.Add(5 * time.Minute)) {
		h.second()
	}
	// The window is over but the primary still fails: verifying, drained.
	for range 10 {
		if _, target := h.second(); target != "secondary/m-secondary" {
			t.Fatalf("verifying with failing probes: served by %q", target)
		}
	}
	if ms := maint(h, m.ID); ms.Status != understudy.MaintenanceVerifying {
		t.Fatalf("status %s, want verifying", ms.Status)
	}
	h.clear("primary")
	h.idle(3 * time.Second)
	if ms := maint(h, m.ID); ms.Status != understudy.MaintenanceCompleted || ms.EndedAt.IsZero() {
		t.Fatalf("status %s, want completed once probes pass", ms.Status)
	}
	if _, target := h.second(); target != "primary/m-primary" {
		t.Errorf("after the window: served by %q, want the primary back", target)
	}
	if c := h.component("provider:primary"); c.Status != understudy.ComponentOperational {
		t.Errorf("provider:primary is %s after the window", c.Status)
	}
	if incs := h.incidents(false); len(incs) != 0 {
		t.Errorf("incidents %s: maintenance must not open one", fmtIncidents(incs))
	}
	evs, err := h.st.Events(h.ctx, store.EventQuery{Types: []string{understudy.EventMaintenancePlanned, understudy.EventMaintenanceStarted,
		understudy.EventMaintenanceVerify, understudy.EventMaintenanceDone}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Type)
	}
	want := []string{"maintenance.scheduled", "maintenance.started", "maintenance.verifying", "maintenance.completed"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if evs[0].Author != "alice" || evs[1].Author != incident.Author {
		t.Errorf("authors %q, %q", evs[0].Author, evs[1].Author)
	}
}

func maint(h *harness, id int64) understudy.Maintenance {
	h.t.Helper()
	m, err := h.st.Maintenance(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func TestMaintenanceValidationAndCancel(t *testing.T) {
	h := newHarness(t, baseConfig)
	now := h.clk.Now()
	for _, tc := range []struct {
		name string
		m    understudy.Maintenance
		want string
	}{
		{"no title", understudy.Maintenance{Targets: []string{"primary/m-primary"}, StartsAt: now, EndsAt: now.Add(time.Hour)}, "title is required"},
		{"ends before start", understudy.Maintenance{Title: "x", Targets: []string{"primary/m-primary"}, StartsAt: now, EndsAt: now.Add(-time.Hour)}, "ends_at must be after starts_at"},
		{"unknown target", understudy.Maintenance{Title: "x", Targets: []string{"nope/m"}, StartsAt: now, EndsAt: now.Add(time.Hour)}, `unknown target "nope/m"`},
		{"unknown component", understudy.Maintenance{Title: "x", Components: []string{"assist"}, StartsAt: now, EndsAt: now.Add(time.Hour)}, `unknown component "assist" (known: assistant, provider:primary, provider:secondary)`},
		{"nothing", understudy.Maintenance{Title: "x", StartsAt: now, EndsAt: now.Add(time.Hour)}, "at least one target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.eng.ScheduleMaintenance(h.ctx, "alice", tc.m)
			var e *understudy.Error
			if !errors.As(err, &e) || e.Code != understudy.EINVALID || !strings.Contains(e.Message, tc.want) {
				t.Errorf("got %v, want EINVALID containing %q", err, tc.want)
			}
		})
	}
	m, err := h.eng.ScheduleMaintenance(h.ctx, "alice", understudy.Maintenance{Title: "x", Components: []string{"provider:primary"}, StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = h.eng.CancelMaintenance(h.ctx, "bob", m.ID); err != nil || m.Status != understudy.MaintenanceCanceled {
		t.Fatalf("cancel: %v %+v", err, m)
	}
	if _, err := h.eng.CancelMaintenance(h.ctx, "bob", m.ID); !isCode(err, understudy.ECONFLICT) {
		t.Errorf("cancel twice: %v, want conflict", err)
	}
	if _, err := h.eng.CancelMaintenance(h.ctx, "bob", 999); !isCode(err, understudy.ENOTFOUND) {
		t.Errorf("cancel unknown: %v, want not found", err)
	}
	// A provider component drains every target of the provider; canceling
	// a window in progress ends it early through verification.
	m, err = h.eng.ScheduleMaintenance(h.ctx, "alice", understudy.Maintenance{Title: "y", Components: []string{"provider:primary"}, StartsAt: now, EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	h.second()
	if _, target := h.second(); target != "secondary/m-secondary" {
		t.Fatalf("in progress: served by %q", target)
	}
	if m, err = h.eng.CancelMaintenance(h.ctx, "bob", m.ID); err != nil || m.Status != understudy.MaintenanceVerifying {
		t.Fatalf("cancel in progress: %v %+v", err, m)
	}
	h.idle(3 * time.Second)
	if _, target := h.second(); target != "primary/m-primary" {
		t.Errorf("after early end: served by %q", target)
	}
}

func isCode(err error, code string) bool {
	var e *understudy.Error
	return errors.As(err, &e) && e.Code == code
}

// TestManualLifecycle: people create, update (status, severity, ETA,
// components), merge, resolve and reopen; every change is a timeline
// event with its author.
func TestManualLifecycle(t *testing.T) {
	h := newHarness(t, baseConfig)
	a, err := h.eng.CreateIncident(h.ctx, "alice", understudy.Incident{Title: "Answers are slow", Severity: understudy.SeverityMinor, Components: []string{"assistant"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.eng.CreateIncident(h.ctx, "bob", understudy.Incident{Title: "Primary errors", Cause: understudy.CauseTechnical, Components: []string{"provider:primary"}}, "Primary returns errors.")
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	eta := h.clk.Now().Add(30 * time.Minute)
	a, err = h.eng.UpdateIncident(h.ctx, "alice", a.ID, understudy.IncidentChange{Message: "The provider is rolling back.", Status: understudy.IncidentIdentified, Severity: understudy.SeverityMajor, ETA: &eta, Cause: understudy.CauseMaintenance})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != understudy.IncidentIdentified || a.Severity != understudy.SeverityMajor || !a.ETA.Equal(eta) || a.Cause != understudy.CauseMaintenance {
		t.Errorf("after update: %+v", a)
	}
	for _, tc := range []struct {
		name string
		c    understudy.IncidentChange
		code string
	}{
		{"no message", understudy.IncidentChange{Status: understudy.IncidentMonitoring}, understudy.EINVALID},
		{"bad status", understudy.IncidentChange{Message: "x", Status: "fixed"}, understudy.EINVALID},
		{"bad severity", understudy.IncidentChange{Message: "x", Severity: "huge"}, understudy.EINVALID},
		{"unknown component", understudy.IncidentChange{Message: "x", Components: []string{"nope"}}, understudy.EINVALID},
	} {
		if _, err := h.eng.UpdateIncident(h.ctx, "alice", a.ID, tc.c); !isCode(err, tc.code) {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := h.eng.UpdateIncident(h.ctx, "alice", 999, understudy.IncidentChange{Message: "x"}); !isCode(err, understudy.ENOTFOUND) {
		t.Errorf("unknown incident: %v", err)
	}
	h.clk.Advance(time.Minute)
	merged, err := h.eng.MergeIncident(h.ctx, "carol", b.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(merged.Components, []string{"assistant", "provider:primary"}) {
		t.Errorf("merged components %v", merged.Components)
	}
	if bb, _ := h.eng.Incident(h.ctx, b.ID); bb.Status != understudy.IncidentResolved || bb.MergedInto != a.ID {
		t.Errorf("merged-away incident: %s into %d", bb.Status, bb.MergedInto)
	}
	if _, err := h.eng.MergeIncident(h.ctx, "carol", b.ID, a.ID); !isCode(err, understudy.ECONFLICT) {
		t.Errorf("merge a resolved incident: %v, want conflict", err)
	}
	if _, err := h.eng.ReopenIncident(h.ctx, "carol", b.ID, ""); !isCode(err, understudy.ECONFLICT) {
		t.Errorf("reopen a merged incident: %v, want conflict", err)
	}
	h.clk.Advance(time.Minute)
	if _, err := h.eng.ResolveIncident(h.ctx, "alice", a.ID, "Fixed by the rollback."); err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.ResolveIncident(h.ctx, "alice", a.ID, ""); !isCode(err, understudy.ECONFLICT) {
		t.Errorf("resolve twice: %v", err)
	}
	h.clk.Advance(time.Minute)
	if _, err := h.eng.ReopenIncident(h.ctx, "dave", a.ID, "It is back."); err != nil {
		t.Fatal(err)
	}
	// People own it: quiet detectors do not resolve it.
	h.idle(10 * time.Minute)
	a, _ = h.eng.Incident(h.ctx, a.ID)
	if a.Status != understudy.IncidentInvestigating {
		t.Errorf("reopened incident is %s after 10 quiet minutes, want investigating", a.Status)
	}
	type entry struct{ typ, author string }
	var got []entry
	for _, e := range h.timeline(a.ID) {
		got = append(got, entry{e.Type, e.Author})
	}
	want := []entry{
		{understudy.EventIncidentOpened, "alice"},
		{understudy.EventIncidentUpdated, "alice"},
		{understudy.EventIncidentMerged, "carol"},
		{understudy.EventIncidentResolved, "alice"},
		{understudy.EventIncidentReopened, "dave"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline\n got %v\nwant %v", got, want)
	}
	var authors []string
	for _, u := range a.Updates {
		authors = append(authors, u.Author+":"+string(u.Status))
	}
	if want := []string{"alice:investigating", "alice:identified", "alice:resolved", "dave:investigating"}; !slices.Equal(authors, want) {
		t.Errorf("updates %v, want %v", authors, want)
	}
}

// TestProviderStatusEvidence: the provider's own status page is attached
// to our incident; on its own it opens nothing.
func TestProviderStatusEvidence(t *testing.T) {
	page := httptest.NewServer(providerPage())
	defer page.Close()
	cfg := strings.Replace(baseConfig, `probe: {disabled: true}}
  - {name: secondary`, `probe: {disabled: true}, status_page: "`+page.URL+`/api/v2/summary.json", status_components: ["Chat Completions"]}
  - {name: secondary`, 1)
	h := newHarnessWith(t, cfg, func(o *incident.Options, clk clockwork.Clock) {
		o.Status = providerstatus.New(providerstatus.Options{Clock: clk})
	})
	h.status.PollOnce(h.ctx)
	h.idle(30 * time.Second)
	if incs := h.incidents(false); len(incs) != 0 {
		t.Fatalf("the provider's word alone opened %s", fmtIncidents(incs))
	}
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	for range 10 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("incidents %s", fmtIncidents(incs))
	}
	ev := incs[0].Evidence.Provider
	if len(ev) != 1 || !strings.Contains(ev[0], "Elevated error rates on Chat Completions") {
		t.Errorf("provider evidence %q", ev)
	}
}

// TestSLOBurn: a route burning its error budget 50× over the last hour
// (5% failures against 99.9%) pages: an incident by the slo_burn detector,
// and the budget and burn rates are reported.
func TestSLOBurn(t *testing.T) {
	h := newHarness(t, baseConfig)
	now := h.clk.Now()
	var rs []store.Rollup
	for m := 1; m <= 60; m++ {
		minute := now.Add(-time.Duration(m) * time.Minute)
		rs = append(rs,
			store.Rollup{Minute: minute, Route: "assistant", Target: "primary/m-primary", Class: understudy.ClassSuccess, Mode: "primary", Count: 950},
			store.Rollup{Minute: minute, Route: "assistant", Class: understudy.ClassServer, Mode: "unavailable", Count: 50})
	}
	if err := h.st.AddRollups(h.ctx, rs); err != nil {
		t.Fatal(err)
	}
	h.tick()
	incs := h.incidents(true)
	if len(incs) != 1 || incs[0].Detector != incident.DetectSLOBurn || incs[0].Severity != understudy.SeverityMajor ||
		!slices.Equal(incs[0].Components, []string{"assistant"}) {
		t.Fatalf("incidents %s; want one major slo_burn incident on assistant", fmtIncidents(incs))
	}
	reps, err := h.eng.SLOs(h.ctx)
	if err != nil || len(reps) != 1 {
		t.Fatalf("SLOs: %v %v", reps, err)
	}
	r := reps[0]
	if r.Objective.Availability != 0.999 || len(r.Status.Alerts) == 0 {
		t.Errorf("report %+v", r)
	}
	if burn := r.Status.Burn["fast"]; burn < 49.9 || burn > 50.1 {
		t.Errorf("fast burn %.2f, want 50", burn)
	}
	// 3,000 failures of 60,000 over a 30-day budget of 0.1%: the budget
	// remaining is 1 - (3000/60000)/0.001 = -49 (overspent: all traffic
	// on record is this hour).
	if got := r.Status.BudgetRemaining; got > -48.9 || got < -49.1 {
		t.Errorf("budget remaining %.2f, want -49", got)
	}
}
