package understudy

import "time"

// IncidentStatus is where an incident is in its lifecycle. The values are
// the Atlassian Statuspage ones.
type IncidentStatus string

const (
	IncidentInvestigating IncidentStatus = "investigating"
	IncidentIdentified    IncidentStatus = "identified"
	IncidentMonitoring    IncidentStatus = "monitoring"
	IncidentResolved      IncidentStatus = "resolved"
)

// Valid reports whether s is one of the four statuses.
func (s IncidentStatus) Valid() bool {
	switch s {
	case IncidentInvestigating, IncidentIdentified, IncidentMonitoring, IncidentResolved:
		return true
	}
	return false
}

// Open reports whether an incident in status s is still open.
func (s IncidentStatus) Open() bool { return s != IncidentResolved }

// Severity is an incident's impact (Statuspage's "impact" minus "none").
type Severity string

const (
	SeverityMinor    Severity = "minor"
	SeverityMajor    Severity = "major"
	SeverityCritical Severity = "critical"
)

// Valid reports whether s is one of the three severities.
func (s Severity) Valid() bool {
	return s == SeverityMinor || s == SeverityMajor || s == SeverityCritical
}

// Rank orders severities: minor 1, major 2, critical 3, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityMinor:
		return 1
	case SeverityMajor:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Cause is what an incident is attributed to. It picks the message users read.
type Cause string

const (
	CauseTechnical        Cause = "technical"        // provider errors, timeouts, cut streams
	CauseOverload         Cause = "overload"         // 429s, 503/529 overloaded, shedding, latency far above baseline
	CauseMaintenance      Cause = "maintenance"      // an update or a scheduled window
	CauseQuota            Cause = "quota"            // billing or quota exhausted
	CauseMisconfiguration Cause = "misconfiguration" // our key refused, config rejected
	CauseUnknown          Cause = "unknown"
)

// Valid reports whether c is a known cause.
func (c Cause) Valid() bool {
	switch c {
	case CauseTechnical, CauseOverload, CauseMaintenance, CauseQuota, CauseMisconfiguration, CauseUnknown:
		return true
	}
	return false
}

// CauseOf maps a failure class to the incident cause it points at.
func CauseOf(c Class) Cause {
	switch c {
	case ClassOverloaded, ClassRateLimit:
		return CauseOverload
	case ClassQuota:
		return CauseQuota
	case ClassAuth:
		return CauseMisconfiguration
	case ClassConnect, ClassReset, ClassServer, ClassTimeout, ClassStall, ClassCut, ClassStreamErr, ClassDeadline:
		return CauseTechnical
	}
	return CauseUnknown
}

// Incident is an interruption handled as one case: opened by a detector or
// a person, updated, resolved. Components are component names (see
// ComponentStatus).
type Incident struct {
	ID         int64
	Title      string
	Status     IncidentStatus
	Severity   Severity
	Cause      Cause
	Components []string // sorted
	// Key is the detector's deduplication key (cause and component set): at
	// most one open incident has a given non-empty key. Empty for incidents
	// opened by people.
	Key string
	// Detector that opened it ("target_down", "route_errors", "slo_burn",
	// "overload"); empty when a person did.
	Detector   string
	StartedAt  time.Time // first bad minute
	DetectedAt time.Time // when it was opened
	ResolvedAt time.Time // zero while open
	UpdatedAt  time.Time // last change of any kind
	// LastUpdateAt is when the last update (public message) was posted;
	// reminders count from it.
	LastUpdateAt time.Time
	ETA          time.Time // expected resolution; zero when unknown
	// MergedInto is the incident this one was merged into (and resolved by);
	// 0 when none.
	MergedInto int64
	Evidence   Evidence
	Updates    []IncidentUpdate // oldest first; filled when reading one incident
}

// Evidence is what the detectors saw: attached to an incident and refreshed
// while it is open.
type Evidence struct {
	// Classes counts failed attempts by failure class.
	Classes map[Class]int64 `json:"classes,omitempty"`
	Routes  []string        `json:"routes,omitempty"`
	Targets []string        `json:"targets,omitempty"`
	// FirstBad is the first minute with failures (UTC, truncated to the minute).
	FirstBad time.Time `json:"first_bad,omitzero"`
	// Samples are a few error messages, redacted (no keys, no prompts).
	Samples []string `json:"samples,omitempty"`
	// Signals are the detectors' readings in words, e.g. "route assistant:
	// 42% of 50 requests failed over 30s" or "SLO availability burn 14.4× over 1h and 5m".
	Signals []string `json:"signals,omitempty"`
	// Provider holds what the providers' own status pages say, e.g.
	// "provider reports: elevated error rates since 14:02 (investigating)".
	Provider []string `json:"provider,omitempty"`
}

// IncidentUpdate is one message on an incident's public timeline.
type IncidentUpdate struct {
	ID         int64
	IncidentID int64
	Status     IncidentStatus
	Severity   Severity // the severity from this update on
	Message    string
	ETA        time.Time // zero when none given
	Components []string  // affected components as of this update
	Author     string    // token name, or "understudy" for the detectors
	CreatedAt  time.Time
	// Translations are the message in other languages (language code →
	// text), when it was written from the communication plan's templates.
	Translations map[string]string
}

// Text is the update's message in lang, or its message when there is no
// translation.
func (u IncidentUpdate) Text(lang string) string {
	if t, ok := u.Translations[lang]; ok && t != "" {
		return t
	}
	return u.Message
}

// ComponentStatus is what the status page shows for one component (a route,
// or a provider named "provider:NAME"). The values are Statuspage's.
type ComponentStatus string

const (
	ComponentOperational         ComponentStatus = "operational"
	ComponentDegradedPerformance ComponentStatus = "degraded_performance"
	ComponentPartialOutage       ComponentStatus = "partial_outage"
	ComponentMajorOutage         ComponentStatus = "major_outage"
	ComponentUnderMaintenance    ComponentStatus = "under_maintenance"
)

// Rank orders statuses by how bad they are: operational 0, under
// maintenance 1, degraded 2, partial 3, major 4.
func (s ComponentStatus) Rank() int {
	switch s {
	case ComponentUnderMaintenance:
		return 1
	case ComponentDegradedPerformance:
		return 2
	case ComponentPartialOutage:
		return 3
	case ComponentMajorOutage:
		return 4
	}
	return 0
}

// Valid reports whether s is one of the five statuses.
func (s ComponentStatus) Valid() bool {
	return s == ComponentOperational || s.Rank() > 0
}

// ProviderComponent is the component name of provider name.
func ProviderComponent(name string) string { return "provider:" + name }

// Component is a route or a provider as the status page shows it.
type Component struct {
	Name     string // route name, or "provider:NAME"
	Kind     string // "route" or "provider"
	Status   ComponentStatus
	Since    time.Time // when Status began
	Incident int64     // the worst open incident on it, 0 when none
	Reason   string    // why, in words
}

// MaintenanceStatus is where a maintenance window is (Statuspage's values,
// plus canceled).
type MaintenanceStatus string

const (
	MaintenanceScheduled  MaintenanceStatus = "scheduled"
	MaintenanceInProgress MaintenanceStatus = "in_progress"
	MaintenanceVerifying  MaintenanceStatus = "verifying"
	MaintenanceCompleted  MaintenanceStatus = "completed"
	MaintenanceCanceled   MaintenanceStatus = "canceled"
)

// Done reports whether the window is over (completed or canceled).
func (s MaintenanceStatus) Done() bool {
	return s == MaintenanceCompleted || s == MaintenanceCanceled
}

// Maintenance is a scheduled window on targets or components. At its start
// its targets are drained; at its end probes must pass before traffic
// returns.
type Maintenance struct {
	ID         int64
	Title      string
	Message    string // what is done and what users should expect
	Status     MaintenanceStatus
	Components []string // components shown under maintenance
	Targets    []string // provider/model targets drained during the window
	StartsAt   time.Time
	EndsAt     time.Time
	StartedAt  time.Time // zero until it starts
	EndedAt    time.Time // when it completed or was canceled
	Author     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Scope is what an admin token may do.
type Scope string

const (
	ScopeAdmin    Scope = "admin"    // everything, tokens included
	ScopeOperator Scope = "operator" // incidents, maintenance, read the rest
	ScopeAgent    Scope = "agent"    // the handoff queue; read incidents
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeAdmin || s == ScopeOperator || s == ScopeAgent }

// Allows reports whether a token with scope s may act where need is required:
// admin allows everything, operator allows operator and agent, agent only agent.
func (s Scope) Allows(need Scope) bool {
	switch s {
	case ScopeAdmin:
		return true
	case ScopeOperator:
		return need == ScopeOperator || need == ScopeAgent
	case ScopeAgent:
		return need == ScopeAgent
	}
	return false
}

// Token is an admin API token as stored: only the SHA-256 of its secret.
type Token struct {
	Name      string
	Scope     Scope
	Hash      [32]byte
	CreatedAt time.Time
	LastUsed  time.Time // zero when never used (updated at most once a minute)
	RevokedAt time.Time // zero while valid
}

// ConsoleSession is one signed-in console user, kept in the store so that
// every replica knows it. The cookie holds the session's id; the store only
// its hash, like a token's.
type ConsoleSession struct {
	IDHash    [32]byte // SHA-256 of the id in the cookie
	Name      string   // the token signed in with
	Scope     Scope
	TokenHash [32]byte // re-checked on each request: revoking the token ends the session
	CSRF      string   // the forms' token
	Expires   time.Time
}

// Incident and maintenance event types (timeline entries).
const (
	EventTargetDown          = "target.down"
	EventTargetUp            = "target.up"
	EventComponentChanged    = "component.changed"
	EventIncidentOpened      = "incident.opened"
	EventIncidentUpdated     = "incident.updated"
	EventIncidentEvidence    = "incident.evidence"
	EventIncidentMonitoring  = "incident.monitoring"
	EventIncidentResolved    = "incident.resolved"
	EventIncidentReopened    = "incident.reopened"
	EventIncidentMerged      = "incident.merged"
	EventIncidentReminder    = "incident.reminder"
	EventMaintenancePlanned  = "maintenance.scheduled"
	EventMaintenanceStarted  = "maintenance.started"
	EventMaintenanceVerify   = "maintenance.verifying"
	EventMaintenanceDone     = "maintenance.completed"
	EventMaintenanceCanceled = "maintenance.canceled"
	EventSLOBurn             = "slo.burn"
	EventShed                = "request.shed"
)

// IncidentChange is what a person (or a detector) changes on an incident
// with one update. Nil or zero fields are left as they are; Message is
// required for a public update.
type IncidentChange struct {
	Message    string
	Status     IncidentStatus // "" keeps it
	Severity   Severity       // "" keeps it
	Components []string       // nil keeps them
	ETA        *time.Time     // nil keeps it; a zero time clears it
	Title      string         // "" keeps it
	Cause      Cause          // "" keeps it
}

// IncidentFilter selects incidents to list. Zero fields do not filter.
type IncidentFilter struct {
	Open      bool      // only unresolved ones
	Component string    // only those affecting this component
	Since     time.Time // started at or after
	Limit     int       // 0: the store's default (100)
}

// MaintenanceFilter selects maintenance windows to list.
type MaintenanceFilter struct {
	Active bool // only scheduled, in_progress and verifying ones
	Limit  int  // 0: the store's default (100)
}

// RouteNotice is what users of a route are told while its component is not
// operational: in response headers, the notice API and the banner.
type RouteNotice struct {
	Route  string
	Status ComponentStatus
	Since  time.Time
	// Incident is the worst open incident on the route, if any.
	Incident   int64
	Title      string
	ETA        time.Time
	Cause      Cause
	Components []string // the incident's components (or just the route)
}
