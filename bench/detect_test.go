package main

import (
	"testing"

	"github.com/understudy/understudy"
)

func TestDetectCheck(t *testing.T) {
	primary := []string{"provider:primary"}
	want := detectWant{cause: understudy.CauseTechnical, components: primary}
	inc := func(id int64, c understudy.Cause, s understudy.Severity, comps ...string) understudy.Incident {
		return understudy.Incident{ID: id, Cause: c, Severity: s, Components: comps}
	}
	one := inc(1, understudy.CauseTechnical, understudy.SeverityMinor, "provider:primary")
	tests := []struct {
		name string
		res  detectResult
		want string
	}{
		{"as expected", detectResult{sc: detectScenario{want: want}, detected: true, atOpen: one, incidents: []understudy.Incident{one}}, "ok"},
		{"not detected", detectResult{sc: detectScenario{want: want}}, "not detected"},
		{"users failed", detectResult{sc: detectScenario{want: want}, detected: true, failed: 2, atOpen: one, incidents: []understudy.Incident{one}}, "users saw failures"},
		{"duplicates and wrong cause", detectResult{sc: detectScenario{want: want}, detected: true, atOpen: one,
			incidents: []understudy.Incident{inc(1, understudy.CauseOverload, understudy.SeverityMinor, "provider:primary"), inc(2, understudy.CauseTechnical, understudy.SeverityMinor, "provider:backup")}},
			"2 incidents, want 1; cause overload, want technical"},
		{"severity", detectResult{sc: detectScenario{want: detectWant{usersFail: true, cause: understudy.CauseTechnical, severity: understudy.SeverityCritical}},
			detected: true, failed: 5, atOpen: one, incidents: []understudy.Incident{inc(1, understudy.CauseTechnical, understudy.SeverityMajor, "assistant")}},
			"severity major, want critical"},
		{"false alarm", detectResult{sc: detectScenario{want: want}, detected: true, atOpen: one, incidents: []understudy.Incident{one},
			early: []understudy.Incident{inc(9, understudy.CauseUnknown, understudy.SeverityMinor, "assistant")}},
			"1 incident(s) during the healthy warm-up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.res.check(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTimelineKind(t *testing.T) {
	tests := []struct {
		name string
		ev   understudy.Event
		want string
	}{
		{"opened", understudy.Event{Type: understudy.EventIncidentOpened}, "incident.opened"},
		{"related", understudy.Event{Type: understudy.EventIncidentEvidence, Details: map[string]any{"type": "breaker.changed"}}, "incident.evidence (related breaker.changed)"},
		{"reading", understudy.Event{Type: understudy.EventIncidentEvidence, Message: "detector target_down: …"}, "incident.evidence (detector reading)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := timelineKind(tt.ev); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
