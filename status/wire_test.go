package status

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
)

func TestComponentID(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"assistant", "assistant"},
		{"chat-fast", "chat-fast"},
		{"gpt4", "gpt4"},
		{"provider:openai", "provider-openai"},
		{"provider:my-llm", "provider-my-llm"},
		{"provider", "provider"},
		{"GPT-4.1", "gpt-4-1-"},                     // hashed: upper case and '.'
		{"gpt-4.1", "gpt-4-1-"},                     // hashed: '.'
		{"team/assistant:v2", "team-assistant-v2-"}, // hashed: '/' and ':'
		{"provider-openai", "provider-openai-"},     // hashed: would be a provider's id
		{"provider:Open.AI", "provider-open-ai-"},   // hashed provider
		{"...", ""}, // hashed, nothing left of the slug
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ComponentID(tt.name)
			if strings.HasSuffix(tt.want, "-") || tt.want == "" {
				// slug, '-', 8 hex digits
				if !strings.HasPrefix(got, tt.want) || len(got) != len(tt.want)+8 {
					t.Errorf("got %q, want %q followed by 8 hex digits", got, tt.want)
				}
			} else if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got != ComponentID(tt.name) {
				t.Errorf("not stable: %q then %q", got, ComponentID(tt.name))
			}
			for _, r := range got {
				if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
					t.Errorf("got %q, want only a-z, 0-9 and '-'", got)
				}
			}
			if other, ok := seen[got]; ok {
				t.Errorf("%q and %q share id %q", tt.name, other, got)
			}
			seen[got] = tt.name
		})
	}
}

func TestComponentName(t *testing.T) {
	for name, want := range map[string]string{
		"assistant":         "assistant",
		"provider:openai":   "Provider openai",
		"team/assistant:v2": "team/assistant:v2",
	} {
		if got := ComponentName(name); got != want {
			t.Errorf("ComponentName(%q): got %q, want %q", name, got, want)
		}
	}
}

func TestOverall(t *testing.T) {
	comp := func(s understudy.ComponentStatus) []understudy.Component {
		return []understudy.Component{{Name: "a", Status: understudy.ComponentOperational}, {Name: "b", Status: s}}
	}
	open := func(st understudy.IncidentStatus, sev understudy.Severity) []understudy.Incident {
		return []understudy.Incident{{ID: 1, Status: st, Severity: sev}}
	}
	inProgress := []understudy.Maintenance{{ID: 1, Status: understudy.MaintenanceInProgress}}
	scheduled := []understudy.Maintenance{{ID: 1, Status: understudy.MaintenanceScheduled}}
	tests := []struct {
		name   string
		comps  []understudy.Component
		open   []understudy.Incident
		active []understudy.Maintenance
		want   string
	}{
		{"all operational", comp(understudy.ComponentOperational), nil, nil, "none"},
		{"degraded", comp(understudy.ComponentDegradedPerformance), nil, nil, "minor"},
		{"partial", comp(understudy.ComponentPartialOutage), nil, nil, "major"},
		{"major outage", comp(understudy.ComponentMajorOutage), nil, nil, "critical"},
		{"component under maintenance", comp(understudy.ComponentUnderMaintenance), nil, nil, "maintenance"},
		{"window in progress", comp(understudy.ComponentOperational), nil, inProgress, "maintenance"},
		{"window only scheduled", comp(understudy.ComponentOperational), nil, scheduled, "none"},
		{"incident worse than components", comp(understudy.ComponentDegradedPerformance), open(understudy.IncidentIdentified, understudy.SeverityCritical), nil, "critical"},
		{"monitoring incident still counts", comp(understudy.ComponentOperational), open(understudy.IncidentMonitoring, understudy.SeverityMajor), nil, "major"},
		{"resolved incident does not", comp(understudy.ComponentOperational), open(understudy.IncidentResolved, understudy.SeverityCritical), nil, "none"},
		{"outage beats maintenance", comp(understudy.ComponentUnderMaintenance), open(understudy.IncidentInvestigating, understudy.SeverityMinor), inProgress, "minor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := overall(tt.comps, tt.open, tt.active)
			if got.Indicator != tt.want || got.Description != indicatorDescription[tt.want] || got.Description == "" {
				t.Errorf("got %+v, want indicator %q", got, tt.want)
			}
		})
	}
}

type emptySource struct{}

func (emptySource) Components(context.Context) ([]understudy.Component, error) { return nil, nil }
func (emptySource) Incidents(context.Context, understudy.IncidentFilter) ([]understudy.Incident, error) {
	return nil, nil
}
func (emptySource) Maintenances(context.Context, understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	return nil, nil
}

var _ Source = emptySource{}

func TestDefaults(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	h := New(Options{Source: emptySource{}, Clock: clockwork.NewFakeClockAt(now)})
	s, err := h.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := s.page()
	tests := []struct {
		name      string
		got, want any
	}{
		{"id", p.ID, "understudy"},
		{"name", p.Name, "Understudy"},
		{"url", p.URL, ""},
		{"time zone", p.TimeZone, "Etc/UTC"},
		{"updated at, from the clock when nothing dates the page", time.Time(p.UpdatedAt), now},
		{"relative links", h.link("7"), "/incidents/7"},
		{"tag host", h.host, "localhost"},
		{"text times", h.human(now), "2026-11-23 15:00 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestTimeZone(t *testing.T) {
	at := time.Date(2026, 7, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		zone, want string
	}{
		{"Etc/UTC", "2026-07-14 12:00 UTC"},
		{"UTC", "2026-07-14 12:00 UTC"},
		{"Not/AZone", "2026-07-14 12:00 UTC"}, // unknown: texts fall back to UTC
		{"Europe/Paris", "2026-07-14 14:00 CEST"},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			if tt.zone == "Europe/Paris" {
				if _, err := time.LoadLocation(tt.zone); err != nil {
					t.Skipf("no tzdata: %v", err)
				}
			}
			h := New(Options{Source: emptySource{}, Page: Page{TimeZone: tt.zone}})
			if got := h.human(at); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if h.page.TimeZone != tt.zone {
				t.Errorf("got page time zone %q, want %q kept", h.page.TimeZone, tt.zone)
			}
		})
	}
}

func TestStamp(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"zero is null", time.Time{}, "null"},
		{"UTC with milliseconds", time.Date(2026, 11, 23, 14, 2, 11, 123456789, time.UTC), `"2026-11-23T14:02:11.123Z"`},
		{"whole second keeps .000", time.Date(2026, 11, 23, 14, 2, 11, 0, time.UTC), `"2026-11-23T14:02:11.000Z"`},
		{"converted to UTC", time.Date(2026, 11, 23, 15, 2, 11, 0, paris), `"2026-11-23T14:02:11.000Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stamp(tt.in).MarshalJSON()
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
