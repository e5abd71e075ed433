package providerstatus

import "time"

// The types below mirror the public, unauthenticated Atlassian Statuspage API
// v2 summary (GET {page}/api/v2/summary.json). Only the fields Understudy reads
// are declared; unknown fields are ignored. Timestamps are RFC 3339 with a
// fractional part and a zone offset ("2024-06-04T14:02:31.337-07:00"); null
// decodes to the zero time.

// Summary is the body of summary.json.
type Summary struct {
	Page                  Page          `json:"page"`
	Status                PageStatus    `json:"status"`
	Components            []Component   `json:"components"`
	Incidents             []Incident    `json:"incidents"`
	ScheduledMaintenances []Maintenance `json:"scheduled_maintenances"`
}

// Page identifies the status page.
type Page struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	TimeZone  string    `json:"time_zone"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PageStatus is the page's overall rollup.
type PageStatus struct {
	// Indicator is one of IndicatorNone, IndicatorMinor, IndicatorMajor,
	// IndicatorCritical (pages under maintenance may also say "maintenance").
	Indicator   string `json:"indicator"`
	Description string `json:"description"` // e.g. "All Systems Operational"
}

// Overall indicators.
const (
	IndicatorNone     = "none"
	IndicatorMinor    = "minor"
	IndicatorMajor    = "major"
	IndicatorCritical = "critical"
)

// Component is one component (or component group) of the page.
type Component struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Status             string    `json:"status"`
	Description        *string   `json:"description"`
	Position           int       `json:"position"`
	GroupID            *string   `json:"group_id"`
	Group              bool      `json:"group"`
	Components         []string  `json:"components"` // member ids, for a group
	OnlyShowIfDegraded bool      `json:"only_show_if_degraded"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Component statuses.
const (
	ComponentOperational         = "operational"
	ComponentDegradedPerformance = "degraded_performance"
	ComponentPartialOutage       = "partial_outage"
	ComponentMajorOutage         = "major_outage"
	ComponentUnderMaintenance    = "under_maintenance"
)

// Incident is an incident the provider declared. summary.json lists the
// unresolved ones only, newest first.
type Incident struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Status          string           `json:"status"`
	Impact          string           `json:"impact"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
	StartedAt       time.Time        `json:"started_at"`
	MonitoringAt    time.Time        `json:"monitoring_at"`
	ResolvedAt      time.Time        `json:"resolved_at"`
	Shortlink       string           `json:"shortlink"`
	IncidentUpdates []IncidentUpdate `json:"incident_updates"` // newest first
	Components      []Component      `json:"components"`       // affected
}

// Incident statuses.
const (
	IncidentInvestigating = "investigating"
	IncidentIdentified    = "identified"
	IncidentMonitoring    = "monitoring"
	IncidentResolved      = "resolved"
	IncidentPostmortem    = "postmortem"
)

// Incident impacts (scheduled maintenances say "maintenance").
const (
	ImpactNone        = "none"
	ImpactMinor       = "minor"
	ImpactMajor       = "major"
	ImpactCritical    = "critical"
	ImpactMaintenance = "maintenance"
)

// IncidentUpdate is one message posted on an incident or a maintenance.
type IncidentUpdate struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	DisplayAt time.Time `json:"display_at"`
}

// Maintenance is a scheduled maintenance: summary.json lists the upcoming
// and in-progress ones.
type Maintenance struct {
	Incident
	ScheduledFor   time.Time `json:"scheduled_for"`
	ScheduledUntil time.Time `json:"scheduled_until"`
}

// Maintenance statuses.
const (
	MaintenanceScheduled  = "scheduled"
	MaintenanceInProgress = "in_progress"
	MaintenanceVerifying  = "verifying"
	MaintenanceCompleted  = "completed"
)
