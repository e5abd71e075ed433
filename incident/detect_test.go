package incident_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/simulate"
)

// TestHardOutageOfPrimary: the primary answers 500 to everything at one
// request per second. Users see nothing (failover), but an incident opens
// within 10 s of the first failure, caused by a technical failure, on the
// provider's component, with the evidence right; it moves to monitoring
// once the primary is back and resolves after the stable period.
func TestHardOutageOfPrimary(t *testing.T) {
	h := newHarness(t, baseConfig)
	for range 5 {
		if code, target := h.second(); code != 200 || target != "primary/m-primary" {
			t.Fatalf("healthy: got %d from %q, want 200 from primary", code, target)
		}
	}
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	firstFailure := h.clk.Now()
	var opened time.Time
	for i := 0; i < 20 && opened.IsZero(); i++ {
		if code, _ := h.second(); code != 200 {
			t.Fatalf("request %d during the outage: HTTP %d, want 200 (failover)", i, code)
		}
		if len(h.incidents(true)) > 0 {
			opened = h.clk.Now().Add(-time.Second)
		}
	}
	if opened.IsZero() {
		t.Fatal("no incident after 20 s of outage")
	}
	t.Logf("time to detect: %s", opened.Sub(firstFailure))
	if ttd := opened.Sub(firstFailure); ttd > 10*time.Second {
		t.Errorf("time to detect %s, want ≤ 10s", ttd)
	}
	for range 10 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("open incidents: %s; want exactly one", fmtIncidents(incs))
	}
	inc := incs[0]
	if inc.Cause != understudy.CauseTechnical || inc.Detector != incident.DetectTargetDown ||
		!slices.Equal(inc.Components, []string{"provider:primary"}) || inc.Status != understudy.IncidentInvestigating {
		t.Errorf("incident: %s", fmtIncidents(incs))
	}
	primaryRequests := h.sim.Stats("primary").Requests
	ev := inc.Evidence
	t.Logf("evidence: %+v", ev)
	if got := ev.Classes[understudy.ClassServer]; got == 0 || got != int64(primaryRequests-5) {
		t.Errorf("evidence classes %v: want server_error = %d (every failed attempt at primary)", ev.Classes, primaryRequests-5)
	}
	if !slices.Equal(ev.Routes, []string{"assistant"}) || !slices.Equal(ev.Targets, []string{"primary/m-primary"}) {
		t.Errorf("evidence routes %v targets %v", ev.Routes, ev.Targets)
	}
	if want := firstFailure.Truncate(time.Minute); !ev.FirstBad.Equal(want) {
		t.Errorf("first bad minute %s, want %s", ev.FirstBad, want)
	}
	if len(ev.Samples) == 0 || !strings.Contains(ev.Samples[0], "primary/m-primary") {
		t.Errorf("samples %q", ev.Samples)
	}
	if c := h.component("provider:primary"); c.Status != understudy.ComponentMajorOutage {
		t.Errorf("provider:primary is %s, want major_outage", c.Status)
	}
	if c := h.component("assistant"); c.Status != understudy.ComponentDegradedPerformance {
		t.Errorf("assistant is %s, want degraded_performance (served by the backup)", c.Status)
	}
	downs := h.events.of(understudy.EventTargetDown)
	if len(downs) != 1 || downs[0].Target != "primary/m-primary" {
		t.Fatalf("target.down events: %+v", downs)
	}
	// The breaker's opening is on the incident's timeline as related
	// evidence; target.down follows it within 2 s.
	var breakerOpened time.Time
	for _, e := range h.timeline(inc.ID) {
		if e.Type == understudy.EventIncidentEvidence && strings.Contains(e.Message, "closed → open") {
			breakerOpened = e.Time
		}
	}
	if breakerOpened.IsZero() {
		t.Fatal("the breaker's opening is not on the timeline")
	}
	if d := downs[0].Time.Sub(breakerOpened); d < 0 || d > 2*time.Second {
		t.Errorf("target.down %s after the breaker opened, want within 2s", d)
	}

	// Recovery: the breaker lets a trial through after open_for; it passes.
	h.clear("primary")
	recovered := time.Time{}
	for i := 0; i < 15; i++ {
		if _, target := h.second(); target == "primary/m-primary" && recovered.IsZero() {
			recovered = h.clk.Now()
		}
	}
	if recovered.IsZero() {
		t.Fatal("traffic never returned to primary")
	}
	h.idle(30 * time.Second)
	if got := h.incidents(true); len(got) != 1 || got[0].Status != understudy.IncidentMonitoring {
		t.Fatalf("after recovery: %s; want one incident in monitoring", fmtIncidents(got))
	}
	h.idle(5 * time.Minute)
	if got := h.incidents(true); len(got) != 0 {
		t.Fatalf("after the stable period: %s still open", fmtIncidents(got))
	}
	all := h.incidents(false)
	if len(all) != 1 || all[0].Status != understudy.IncidentResolved || all[0].ResolvedAt.IsZero() {
		t.Fatalf("incidents: %s", fmtIncidents(all))
	}
	got := types(h.timeline(inc.ID), understudy.EventIncidentEvidence)
	want := []string{understudy.EventIncidentOpened, understudy.EventIncidentMonitoring, understudy.EventIncidentResolved}
	if !slices.Equal(got, want) {
		t.Errorf("timeline %v, want %v", got, want)
	}
	var statuses []understudy.IncidentStatus
	for _, u := range all[0].Updates {
		statuses = append(statuses, u.Status)
		if u.Author != incident.Author {
			t.Errorf("update by %q, want %q", u.Author, incident.Author)
		}
	}
	if want := []understudy.IncidentStatus{"investigating", "monitoring", "resolved"}; !slices.Equal(statuses, want) {
		t.Errorf("updates %v, want %v", statuses, want)
	}
}
