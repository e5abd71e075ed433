package admin

import (
	"encoding/json"
	"time"

	"github.com/understudy/understudy/postmortem"
)

// The postmortem API's wire format (same conventions as wire.go).
// Durations are seconds; a duration whose end is unknown is left out.

// PostmortemJSON is one postmortem.
type PostmortemJSON struct {
	ID                  int64            `json:"id"`
	IncidentID          int64            `json:"incident_id"`
	Status              string           `json:"status"`
	Title               string           `json:"title"`
	Severity            string           `json:"severity,omitempty"`
	Cause               string           `json:"cause,omitempty"`
	Components          []string         `json:"components"`
	Summary             string           `json:"summary"`
	Impact              ImpactJSON       `json:"impact"`
	Metrics             MetricsJSON      `json:"metrics"`
	Timeline            []TimelineJSON   `json:"timeline"`
	Trigger             string           `json:"trigger"`
	RootCause           string           `json:"root_cause"`
	ContributingFactors string           `json:"contributing_factors"`
	WentWell            string           `json:"went_well"`
	WentBadly           string           `json:"went_badly"`
	Lucky               string           `json:"lucky"`
	ActionItems         []ActionItemJSON `json:"action_items"`
	CreatedAt           time.Time        `json:"created_at,omitzero"`
	UpdatedAt           time.Time        `json:"updated_at,omitzero"`
	PublishedAt         time.Time        `json:"published_at,omitzero"`
	Author              string           `json:"author,omitempty"`
}

// ImpactJSON is the measured impact.
type ImpactJSON struct {
	From             time.Time        `json:"from,omitzero"`
	To               time.Time        `json:"to,omitzero"`
	Routes           []string         `json:"routes"`
	DurationSeconds  float64          `json:"duration_seconds"`
	Requests         int64            `json:"requests"`
	Failed           int64            `json:"failed"`
	ServedByFailover int64            `json:"served_by_failover"`
	Degraded         map[string]int64 `json:"degraded"`
	HandedOff        int64            `json:"handed_off"`
	Canceled         int64            `json:"canceled"`
	UsersAffected    int64            `json:"users_affected"`
}

// MetricsJSON are the detection and response times.
type MetricsJSON struct {
	Detector                 string    `json:"detector,omitempty"`
	OpenedBy                 string    `json:"opened_by,omitempty"`
	StartedAt                time.Time `json:"started_at,omitzero"`
	DetectedAt               time.Time `json:"detected_at,omitzero"`
	AcknowledgedAt           time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy           string    `json:"acknowledged_by,omitempty"`
	FirstUpdateAt            time.Time `json:"first_update_at,omitzero"`
	MitigatedAt              time.Time `json:"mitigated_at,omitzero"`
	ResolvedAt               time.Time `json:"resolved_at,omitzero"`
	TimeToDetectSeconds      *float64  `json:"time_to_detect_seconds,omitempty"`
	TimeToAcknowledgeSeconds *float64  `json:"time_to_acknowledge_seconds,omitempty"`
	TimeToFirstUpdateSeconds *float64  `json:"time_to_first_update_seconds,omitempty"`
	TimeToMitigateSeconds    *float64  `json:"time_to_mitigate_seconds,omitempty"`
	TimeToResolveSeconds     *float64  `json:"time_to_resolve_seconds,omitempty"`
}

// TimelineJSON is one line of the timeline: an event, or a public update
// (type is then its status).
type TimelineJSON struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Type   string    `json:"type"`
	Author string    `json:"author,omitempty"`
	Text   string    `json:"text"`
}

// ActionItemJSON is one action item.
type ActionItemJSON struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Owner     string    `json:"owner"`
	Due       time.Time `json:"due,omitzero"`
	Status    string    `json:"status"`
	Link      string    `json:"link"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Set in the overdue list only.
	PostmortemID  int64  `json:"postmortem_id,omitempty"`
	IncidentID    int64  `json:"incident_id,omitempty"`
	IncidentTitle string `json:"incident_title,omitempty"`
}

// PostmortemsJSON is the answer to GET postmortems.
type PostmortemsJSON struct {
	Postmortems []PostmortemJSON `json:"postmortems"`
}

// ActionItemsJSON is the answer to GET action-items/overdue.
type ActionItemsJSON struct {
	ActionItems []ActionItemJSON `json:"action_items"`
}

// DraftRequest is the body of POST postmortems: draft (or refresh) the
// postmortem of a resolved incident.
type DraftRequest struct {
	IncidentID int64 `json:"incident_id"`
}

// PostmortemChangeRequest is the body of PATCH postmortems/{id}: absent
// fields are kept.
type PostmortemChangeRequest struct {
	Summary             *string `json:"summary,omitempty"`
	Trigger             *string `json:"trigger,omitempty"`
	RootCause           *string `json:"root_cause,omitempty"`
	ContributingFactors *string `json:"contributing_factors,omitempty"`
	WentWell            *string `json:"went_well,omitempty"`
	WentBadly           *string `json:"went_badly,omitempty"`
	Lucky               *string `json:"lucky,omitempty"`
}

// ActionItemRequest is the body of POST postmortems/{id}/action-items and
// PATCH postmortems/{id}/action-items/{item}. On PATCH absent fields are
// kept, and a null due clears it. Due is RFC 3339 or a date (2026-12-01:
// the end of that day, UTC).
type ActionItemRequest struct {
	Title  *string         `json:"title,omitempty"`
	Owner  *string         `json:"owner,omitempty"`
	Due    json.RawMessage `json:"due,omitempty"`
	Status *string         `json:"status,omitempty"`
	Link   *string         `json:"link,omitempty"`
}

func postmortemJSON(p postmortem.Postmortem) PostmortemJSON {
	out := PostmortemJSON{
		ID: p.ID, IncidentID: p.IncidentID, Status: string(p.Status), Title: p.Title, Severity: string(p.Severity),
		Cause: string(p.Cause), Components: nonNil(p.Components), Summary: p.Summary, Trigger: p.Trigger,
		RootCause: p.RootCause, ContributingFactors: p.ContributingFactors, WentWell: p.WentWell, WentBadly: p.WentBadly,
		Lucky: p.Lucky, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, PublishedAt: p.PublishedAt, Author: p.Author,
		Timeline: []TimelineJSON{}, ActionItems: []ActionItemJSON{},
	}
	im := p.Impact
	out.Impact = ImpactJSON{From: im.From, To: im.To, Routes: nonNil(im.Routes), DurationSeconds: im.Duration.Seconds(),
		Requests: im.Requests, Failed: im.Failed, ServedByFailover: im.ServedByFailover, Degraded: map[string]int64{},
		HandedOff: im.HandedOff, Canceled: im.Canceled, UsersAffected: im.UsersAffected}
	for k, v := range im.Degraded {
		out.Impact.Degraded[k] = v
	}
	m := p.Metrics
	secs := func(end, start time.Time, d time.Duration) *float64 {
		if end.IsZero() || start.IsZero() {
			return nil
		}
		s := d.Seconds()
		return &s
	}
	out.Metrics = MetricsJSON{Detector: m.Detector, OpenedBy: m.OpenedBy, StartedAt: m.StartedAt, DetectedAt: m.DetectedAt,
		AcknowledgedAt: m.AcknowledgedAt, AcknowledgedBy: m.AcknowledgedBy, FirstUpdateAt: m.FirstUpdateAt,
		MitigatedAt: m.MitigatedAt, ResolvedAt: m.ResolvedAt,
		TimeToDetectSeconds:      secs(m.DetectedAt, m.StartedAt, m.TimeToDetect),
		TimeToAcknowledgeSeconds: secs(m.AcknowledgedAt, m.DetectedAt, m.TimeToAcknowledge),
		TimeToFirstUpdateSeconds: secs(m.FirstUpdateAt, m.StartedAt, m.TimeToFirstUpdate),
		TimeToMitigateSeconds:    secs(m.MitigatedAt, m.DetectedAt, m.TimeToMitigate),
		TimeToResolveSeconds:     secs(m.ResolvedAt, m.DetectedAt, m.TimeToResolve)}
	for _, e := range p.Timeline {
		out.Timeline = append(out.Timeline, TimelineJSON{Time: e.Time, Kind: e.Kind, Type: e.Type, Author: e.Author, Text: e.Text})
	}
	for _, it := range p.ActionItems {
		out.ActionItems = append(out.ActionItems, actionItemJSON(it))
	}
	return out
}

func actionItemJSON(it postmortem.ActionItem) ActionItemJSON {
	return ActionItemJSON{ID: it.ID, Title: it.Title, Owner: it.Owner, Due: it.Due, Status: string(it.Status), Link: it.Link,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt}
}
