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

// TestTotalOutage: every provider fails, users see errors. One incident
// gathers the providers and the route, critical, and the route shows a
// major outage.
func TestTotalOutage(t *testing.T) {
	h := newHarness(t, baseConfig)
	for range 3 {
		h.second()
	}
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	start := h.clk.Now()
	var opened time.Time
	failed := 0
	for range 30 {
		if code, _ := h.second(); code != 200 {
			failed++
		}
		if opened.IsZero() && len(h.incidents(true)) > 0 {
			opened = h.clk.Now().Add(-time.Second)
		}
	}
	if failed == 0 {
		t.Fatal("no request failed: the outage is not total")
	}
	if opened.IsZero() || opened.Sub(start) > 10*time.Second {
		t.Fatalf("incident opened at %v, %s after the outage began; want ≤ 10s", opened, opened.Sub(start))
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("open incidents: %s; want one", fmtIncidents(incs))
	}
	inc := incs[0]
	want := []string{"assistant", "provider:primary", "provider:secondary"}
	if !slices.Equal(inc.Components, want) || inc.Severity != understudy.SeverityCritical || inc.Cause != understudy.CauseTechnical {
		t.Errorf("incident %s; want components %v, critical, technical", fmtIncidents(incs), want)
	}
	if c := h.component("assistant"); c.Status != understudy.ComponentMajorOutage {
		t.Errorf("assistant is %s, want major_outage", c.Status)
	}
	if !slices.ContainsFunc(inc.Evidence.Signals, func(s string) bool { return strings.Contains(s, "route_errors") }) {
		t.Errorf("signals %q: want the route_errors reading", inc.Evidence.Signals)
	}
	tl := h.timeline(inc.ID)
	if first := types(tl, understudy.EventIncidentEvidence); first[0] != understudy.EventIncidentOpened {
		t.Errorf("timeline starts with %s", first[0])
	}
	raised := slices.ContainsFunc(tl, func(e understudy.Event) bool {
		return e.Type == understudy.EventIncidentUpdated && strings.Contains(e.Message, "severity raised")
	})
	if !raised {
		t.Errorf("timeline %v: want the severity raised to critical", types(tl))
	}
}

// TestProvidersOfOneRoute: with the route detector off, two providers of
// the same route going down make one incident, not one per provider, and a
// failed request per second does not flood its timeline.
func TestProvidersOfOneRoute(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "remind_after: 24h", "remind_after: 24h\n  route_errors: {disabled: true}", 1))
	h.second()
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	for range 120 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 || !slices.Equal(incs[0].Components, []string{"provider:primary", "provider:secondary"}) {
		t.Fatalf("incidents %s; want one on both providers", fmtIncidents(incs))
	}
	exhausted := 0
	for _, e := range h.timeline(incs[0].ID) {
		if e.Details["type"] == understudy.EventRouteExhausted {
			exhausted++
		}
	}
	if exhausted > 3 {
		t.Errorf("%d route.exhausted events on the timeline over 2 minutes; want at most one a minute", exhausted)
	}
}

// TestFlappingTarget: the primary fails for 3 s every 20 s for two
// minutes. One incident, not six; it stays open while the flapping lasts.
func TestFlappingTarget(t *testing.T) {
	h := newHarness(t, baseConfig)
	for cycle := range 6 {
		h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
		for range 8 {
			h.second()
		}
		h.clear("primary")
		for range 12 {
			h.second()
		}
		if got := h.incidents(true); cycle > 0 && len(got) != 1 {
			t.Fatalf("cycle %d: open incidents %s; want one", cycle, fmtIncidents(got))
		}
	}
	if all := h.incidents(false); len(all) != 1 {
		t.Fatalf("incidents %s; want one for the whole flapping", fmtIncidents(all))
	}
	if got := h.events.of(understudy.EventTargetDown); len(got) < 3 {
		t.Errorf("%d target.down events; want one per flap", len(got))
	}
}

// TestOverload: the primary refuses with 429 rate limits (a long
// Retry-After cools it down). The incident's cause is overload.
func TestOverload(t *testing.T) {
	h := newHarness(t, baseConfig)
	for range 3 {
		h.second()
	}
	h.fault("primary", simulate.Fault{Kind: simulate.KindOverloaded, Status: 529})
	for range 15 {
		if code, _ := h.second(); code != 200 {
			t.Fatalf("HTTP %d during overload; want 200 from the secondary", code)
		}
	}
	incs := h.incidents(true)
	if len(incs) != 1 || incs[0].Cause != understudy.CauseOverload || incs[0].Title != "provider primary overloaded" {
		t.Fatalf("incidents %s; want one caused by overload", fmtIncidents(incs))
	}
	if incs[0].Evidence.Classes[understudy.ClassOverloaded] == 0 {
		t.Errorf("classes %v: want overloaded", incs[0].Evidence.Classes)
	}
}

// TestShedding: requests the gateway sheds for lack of capacity count as
// overload on the route (fed through the engine's outcome input, as the
// gateway reports them).
func TestShedding(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.second()
	for range 20 {
		for range 5 {
			h.eng.RecordOutcome(understudy.Outcome{Time: h.clk.Now(), Route: "assistant", Class: understudy.ClassOverloaded, Mode: "unavailable"})
		}
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 || incs[0].Cause != understudy.CauseOverload || !slices.Contains(incs[0].Components, "assistant") {
		t.Fatalf("incidents %s; want one overload incident on assistant", fmtIncidents(incs))
	}
}

// TestQuotaExhausted: a billing refusal is its own cause.
func TestQuotaExhausted(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.second()
	h.fault("primary", simulate.Fault{Kind: simulate.KindQuota})
	for range 5 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 || incs[0].Cause != understudy.CauseQuota || incs[0].Title != "Quota exhausted at provider primary" {
		t.Fatalf("incidents %s; want one caused by quota", fmtIncidents(incs))
	}
	if !slices.ContainsFunc(h.timeline(incs[0].ID), func(e understudy.Event) bool { return e.NeedsPerson }) {
		t.Errorf("timeline %v: want the cool-down that needs a person as related evidence", types(h.timeline(incs[0].ID)))
	}
}

// TestComponentHysteresis: a component gets worse at once and better only
// after the hold (60 s by default).
func TestComponentHysteresis(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.second()
	if c := h.component("provider:primary"); c.Status != understudy.ComponentOperational {
		t.Fatalf("start: %s", c.Status)
	}
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	for range 5 {
		h.second()
	}
	if c := h.component("provider:primary"); c.Status != understudy.ComponentMajorOutage {
		t.Fatalf("down: %s, want major_outage at once", c.Status)
	}
	h.clear("primary")
	back := time.Time{}
	for range 10 {
		if _, target := h.second(); target == "primary/m-primary" && back.IsZero() {
			back = h.clk.Now()
		}
	}
	if c := h.component("provider:primary"); c.Status == understudy.ComponentOperational {
		t.Fatalf("%s after recovery: operational before the hold", h.clk.Now().Sub(back))
	}
	changes := len(h.events.of(understudy.EventComponentChanged))
	// The incident goes to monitoring 30 s after the last failure; the
	// component holds its status 60 s more.
	h.idle(100 * time.Second)
	if c := h.component("provider:primary"); c.Status != understudy.ComponentOperational {
		t.Fatalf("after the hold: %s (%s), want operational; incidents %s", c.Status, c.Reason, fmtIncidents(h.incidents(true)))
	}
	var primary []string
	for _, e := range h.events.of(understudy.EventComponentChanged) {
		if e.Details["component"] == "provider:primary" {
			primary = append(primary, e.Details["to"].(string))
		}
	}
	if len(h.events.of(understudy.EventComponentChanged)) <= changes {
		t.Error("no component.changed event on recovery")
	}
	if primary[0] != "major_outage" || primary[len(primary)-1] != "operational" {
		t.Errorf("provider:primary went %v", primary)
	}
}

// TestReminders: an open incident without an update for remind_after
// raises a reminder that needs a person, once per period.
func TestReminders(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "remind_after: 24h", "remind_after: 10m", 1))
	inc, err := h.eng.CreateIncident(h.ctx, "alice", understudy.Incident{Title: "Slow answers", Components: []string{"assistant"}}, "Looking into it.")
	if err != nil {
		t.Fatal(err)
	}
	h.idle(9 * time.Minute)
	if got := reminders(h, inc.ID); got != 0 {
		t.Fatalf("%d reminders before 10 minutes", got)
	}
	h.idle(2 * time.Minute)
	if got := reminders(h, inc.ID); got != 1 {
		t.Fatalf("%d reminders after 11 minutes, want 1", got)
	}
	if _, err := h.eng.UpdateIncident(h.ctx, "alice", inc.ID, understudy.IncidentChange{Message: "Still on it."}); err != nil {
		t.Fatal(err)
	}
	h.idle(9 * time.Minute)
	if got := reminders(h, inc.ID); got != 1 {
		t.Fatalf("%d reminders 9 minutes after an update, want still 1", got)
	}
	h.idle(12 * time.Minute)
	if got := reminders(h, inc.ID); got != 3 {
		t.Fatalf("%d reminders, want 3 (one per 10 minutes without update)", got)
	}
}

func reminders(h *harness, id int64) int {
	n := 0
	for _, e := range h.timeline(id) {
		if e.Type == understudy.EventIncidentReminder {
			if !e.NeedsPerson {
				h.t.Error("reminder without needs_person")
			}
			n++
		}
	}
	return n
}

var _ = incident.Author

// TestLatencyFarAboveBaseline: a target answering in 1.6 s where it took
// 100 ms over the previous hour is overloaded, though nothing fails.
func TestLatencyFarAboveBaseline(t *testing.T) {
	h := newHarness(t, baseConfig)
	attempt := func(d time.Duration) {
		h.eng.RecordAttempt(understudy.Attempt{Time: h.clk.Now(), Route: "assistant", Target: "primary/m-primary", Class: understudy.ClassSuccess, Duration: d})
	}
	for range 60 * 6 { // an hour at one answer every 10 s
		attempt(100 * time.Millisecond)
		h.clk.Advance(10 * time.Second)
	}
	h.tick()
	if incs := h.incidents(true); len(incs) != 0 {
		t.Fatalf("steady latency opened %s", fmtIncidents(incs))
	}
	for range 30 {
		attempt(1600 * time.Millisecond)
		h.clk.Advance(time.Second)
		h.tick()
	}
	incs := h.incidents(true)
	if len(incs) != 1 || incs[0].Cause != understudy.CauseOverload || incs[0].Detector != incident.DetectOverload {
		t.Fatalf("incidents %s; want one overload incident from the latency", fmtIncidents(incs))
	}
	if sig := strings.Join(incs[0].Evidence.Signals, " "); !strings.Contains(sig, "its baseline of 80ms–160ms") {
		t.Errorf("signals %q", sig)
	}
}

// TestUpdateCause: failures that begin right after a configuration reload
// are attributed to that update (cause maintenance); later signals of the
// same failure join the same incident.
func TestUpdateCause(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.second()
	h.clk.Advance(5 * time.Minute) // the first reload is long before anything
	if err := h.gw.Apply(h.cfg); err != nil {
		t.Fatal(err)
	}
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	for range 200 { // past the update window: signals keep coming
		h.second()
	}
	incs := h.incidents(false)
	if len(incs) != 1 || incs[0].Cause != understudy.CauseMaintenance || incs[0].Title != "Maintenance on provider primary" {
		t.Fatalf("incidents %s; want one attributed to the update", fmtIncidents(incs))
	}
	if sig := strings.Join(incs[0].Evidence.Signals, " "); !strings.Contains(sig, "configuration reload") {
		t.Errorf("signals %q: want the reload named", sig)
	}
}
