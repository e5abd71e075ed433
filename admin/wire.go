package admin

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/slo"
)

// The admin API's wire format: snake_case fields, RFC 3339 times, zero times
// omitted. These are the shapes the CLI decodes too; domain types are
// never marshalled directly.

// ErrorJSON is the body of every API error: {"error":{"message","code"}}.
type ErrorJSON struct {
	Error struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

// WhoamiJSON is the answer to GET /admin/v1/whoami.
type WhoamiJSON struct {
	Name  string `json:"name"`
	Scope string `json:"scope"`
}

// IncidentJSON is one incident. Updates and Timeline are filled on GET
// incidents/{id} only.
type IncidentJSON struct {
	ID           int64        `json:"id"`
	Title        string       `json:"title"`
	Status       string       `json:"status"`
	Severity     string       `json:"severity"`
	Cause        string       `json:"cause"`
	Components   []string     `json:"components"`
	Key          string       `json:"key,omitempty"`
	Detector     string       `json:"detector,omitempty"`
	StartedAt    time.Time    `json:"started_at,omitzero"`
	DetectedAt   time.Time    `json:"detected_at,omitzero"`
	ResolvedAt   time.Time    `json:"resolved_at,omitzero"`
	UpdatedAt    time.Time    `json:"updated_at,omitzero"`
	LastUpdateAt time.Time    `json:"last_update_at,omitzero"`
	ETA          time.Time    `json:"eta,omitzero"`
	MergedInto   int64        `json:"merged_into,omitempty"`
	Evidence     EvidenceJSON `json:"evidence"`
	Updates      []UpdateJSON `json:"updates,omitempty"`
	Timeline     []EventJSON  `json:"timeline,omitempty"`
}

// EvidenceJSON is what the detectors saw.
type EvidenceJSON struct {
	Classes  map[string]int64 `json:"classes,omitempty"`
	Routes   []string         `json:"routes,omitempty"`
	Targets  []string         `json:"targets,omitempty"`
	FirstBad time.Time        `json:"first_bad,omitzero"`
	Samples  []string         `json:"samples,omitempty"`
	Signals  []string         `json:"signals,omitempty"`
	Provider []string         `json:"provider,omitempty"`
}

// UpdateJSON is one public update of an incident.
type UpdateJSON struct {
	ID         int64     `json:"id"`
	Status     string    `json:"status"`
	Severity   string    `json:"severity"`
	Message    string    `json:"message"`
	ETA        time.Time `json:"eta,omitzero"`
	Components []string  `json:"components"`
	Author     string    `json:"author"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
}

// EventJSON is one timeline entry.
type EventJSON struct {
	Time        time.Time      `json:"time"`
	Type        string         `json:"type"`
	Route       string         `json:"route,omitempty"`
	Target      string         `json:"target,omitempty"`
	Message     string         `json:"message"`
	Author      string         `json:"author,omitempty"`
	NeedsPerson bool           `json:"needs_person,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
}

// IncidentsJSON is the answer to GET incidents.
type IncidentsJSON struct {
	Incidents []IncidentJSON `json:"incidents"`
}

// MaintenanceJSON is one maintenance window.
type MaintenanceJSON struct {
	ID         int64     `json:"id"`
	Title      string    `json:"title"`
	Message    string    `json:"message"`
	Status     string    `json:"status"`
	Components []string  `json:"components"`
	Targets    []string  `json:"targets"`
	StartsAt   time.Time `json:"starts_at,omitzero"`
	EndsAt     time.Time `json:"ends_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	Author     string    `json:"author,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// MaintenancesJSON is the answer to GET maintenances.
type MaintenancesJSON struct {
	Maintenances []MaintenanceJSON `json:"maintenances"`
}

// ComponentJSON is one component and its status.
type ComponentJSON struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Since    time.Time `json:"since,omitzero"`
	Incident int64     `json:"incident,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// ComponentsJSON is the answer to GET components.
type ComponentsJSON struct {
	Components []ComponentJSON `json:"components"`
}

// SLOJSON is one route's objective and state. Budgets are shares (1 = all
// left; below 0 when overspent); burn rates are per window name.
type SLOJSON struct {
	Route                  string             `json:"route"`
	Availability           float64            `json:"availability"`
	Latency                string             `json:"latency,omitempty"`
	LatencyTarget          float64            `json:"latency_target,omitempty"`
	Period                 string             `json:"period"`
	BudgetRemaining        float64            `json:"budget_remaining"`
	LatencyBudgetRemaining *float64           `json:"latency_budget_remaining,omitempty"`
	Burn                   map[string]float64 `json:"burn"`
	Alerts                 []AlertJSON        `json:"alerts"`
}

// AlertJSON is one firing burn-rate alert.
type AlertJSON struct {
	Window    string  `json:"window"`
	Severity  string  `json:"severity"`
	SLI       string  `json:"sli"`
	Factor    float64 `json:"factor"`
	LongBurn  float64 `json:"long_burn"`
	ShortBurn float64 `json:"short_burn"`
	Message   string  `json:"message"`
}

// SLOsJSON is the answer to GET slos.
type SLOsJSON struct {
	SLOs []SLOJSON `json:"slos"`
}

// TokenJSON is one admin token; Token (the secret) is set once, in the
// answer to POST tokens.
type TokenJSON struct {
	Name      string    `json:"name"`
	Scope     string    `json:"scope"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Token     string    `json:"token,omitempty"`
}

// TokensJSON is the answer to GET tokens.
type TokensJSON struct {
	Tokens []TokenJSON `json:"tokens"`
}

// NewIncidentRequest is the body of POST incidents.
type NewIncidentRequest struct {
	Title      string   `json:"title"`
	Severity   string   `json:"severity"`
	Cause      string   `json:"cause"`
	Components []string `json:"components"`
	Message    string   `json:"message"`
	Status     string   `json:"status,omitempty"`
	ETA        string   `json:"eta,omitempty"` // RFC 3339
}

// IncidentUpdateRequest is the body of POST incidents/{id}/updates. Absent
// fields keep their value; ETA is an RFC 3339 string, or null to clear it.
type IncidentUpdateRequest struct {
	Message    string          `json:"message"`
	Status     string          `json:"status,omitempty"`
	Severity   string          `json:"severity,omitempty"`
	Cause      string          `json:"cause,omitempty"`
	Components []string        `json:"components,omitempty"`
	ETA        json.RawMessage `json:"eta,omitempty"`
	Title      string          `json:"title,omitempty"`
}

// MessageRequest is the body of POST incidents/{id}/resolve and /reopen.
type MessageRequest struct {
	Message string `json:"message,omitempty"`
}

// MergeRequest is the body of POST incidents/{id}/merge.
type MergeRequest struct {
	Into int64 `json:"into"`
}

// MaintenanceRequest is the body of POST maintenances (times in RFC 3339).
type MaintenanceRequest struct {
	Title      string   `json:"title"`
	Message    string   `json:"message"`
	Components []string `json:"components"`
	Targets    []string `json:"targets"`
	StartsAt   string   `json:"starts_at"`
	EndsAt     string   `json:"ends_at"`
}

// TokenRequest is the body of POST tokens.
type TokenRequest struct {
	Name  string `json:"name"`
	Scope string `json:"scope"`
}

func incidentJSON(inc understudy.Incident) IncidentJSON {
	out := IncidentJSON{
		ID: inc.ID, Title: inc.Title, Status: string(inc.Status), Severity: string(inc.Severity),
		Cause: string(inc.Cause), Components: nonNil(inc.Components), Key: inc.Key, Detector: inc.Detector,
		StartedAt: inc.StartedAt, DetectedAt: inc.DetectedAt, ResolvedAt: inc.ResolvedAt,
		UpdatedAt: inc.UpdatedAt, LastUpdateAt: inc.LastUpdateAt, ETA: inc.ETA, MergedInto: inc.MergedInto,
		Evidence: evidenceJSON(inc.Evidence),
	}
	for _, u := range inc.Updates {
		out.Updates = append(out.Updates, UpdateJSON{
			ID: u.ID, Status: string(u.Status), Severity: string(u.Severity), Message: u.Message,
			ETA: u.ETA, Components: nonNil(u.Components), Author: u.Author, CreatedAt: u.CreatedAt,
		})
	}
	return out
}

func evidenceJSON(e understudy.Evidence) EvidenceJSON {
	out := EvidenceJSON{Routes: e.Routes, Targets: e.Targets, FirstBad: e.FirstBad,
		Samples: e.Samples, Signals: e.Signals, Provider: e.Provider}
	if len(e.Classes) > 0 {
		out.Classes = make(map[string]int64, len(e.Classes))
		for c, n := range e.Classes {
			out.Classes[string(c)] = n
		}
	}
	return out
}

func eventJSON(e understudy.Event) EventJSON {
	return EventJSON{Time: e.Time, Type: e.Type, Route: e.Route, Target: e.Target, Message: e.Message,
		Author: e.Author, NeedsPerson: e.NeedsPerson, Details: e.Details}
}

func maintenanceJSON(m understudy.Maintenance) MaintenanceJSON {
	return MaintenanceJSON{ID: m.ID, Title: m.Title, Message: m.Message, Status: string(m.Status),
		Components: nonNil(m.Components), Targets: nonNil(m.Targets), StartsAt: m.StartsAt, EndsAt: m.EndsAt,
		StartedAt: m.StartedAt, EndedAt: m.EndedAt, Author: m.Author, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func componentJSON(c understudy.Component) ComponentJSON {
	return ComponentJSON{Name: c.Name, Kind: c.Kind, Status: string(c.Status), Since: c.Since,
		Incident: c.Incident, Reason: c.Reason}
}

func sloJSON(s SLO) SLOJSON {
	o := s.Objective
	period := o.Period
	if period <= 0 {
		period = 30 * 24 * time.Hour
	}
	out := SLOJSON{Route: s.Route, Availability: o.Availability, LatencyTarget: o.LatencyTarget,
		Period: period.String(), BudgetRemaining: s.Status.BudgetRemaining,
		Burn: make(map[string]float64, len(s.Status.Burn)), Alerts: []AlertJSON{}}
	if o.Latency > 0 {
		out.Latency = o.Latency.String()
		lb := s.Status.LatencyBudgetRemaining
		out.LatencyBudgetRemaining = &lb
	}
	maps.Copy(out.Burn, s.Status.Burn)
	for _, a := range s.Status.Alerts {
		out.Alerts = append(out.Alerts, alertJSON(a))
	}
	return out
}

func alertJSON(a slo.Alert) AlertJSON {
	return AlertJSON{Window: a.Window.Name, Severity: a.Window.Severity, SLI: a.SLI, Factor: a.Window.Factor,
		LongBurn: a.LongBurn, ShortBurn: a.ShortBurn, Message: a.String()}
}

func tokenJSON(t understudy.Token) TokenJSON {
	return TokenJSON{Name: t.Name, Scope: string(t.Scope), CreatedAt: t.CreatedAt, LastUsed: t.LastUsed, RevokedAt: t.RevokedAt}
}

// windowNames are the burn windows of statuses in display order: the
// workbook's first, then any others sorted.
func windowNames(burns ...map[string]float64) []string {
	var names []string
	seen := map[string]bool{}
	for _, w := range slo.Workbook {
		names, seen[w.Name] = append(names, w.Name), true
	}
	var extra []string
	for _, b := range burns {
		for n := range b {
			if !seen[n] {
				extra, seen[n] = append(extra, n), true
			}
		}
	}
	slices.Sort(extra)
	return append(names, extra...)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
