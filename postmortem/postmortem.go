// Package postmortem writes what the team learns from an incident: a
// postmortem drafted by itself when the incident resolves — impact measured
// from the recorded traffic, detection and response times from the
// incident's record, a timeline from its events and public updates — that
// people complete (trigger, root cause, contributing factors, what went
// well or badly, where we got lucky, action items), review and publish.
//
// # Workflow
//
// draft → in_review → published. A draft and a postmortem in review take
// edits and action item changes; Submit moves a draft to review, Publish a
// reviewed one to published. A published postmortem is read-only except
// the status of its action items (done, dropped), and it is attached to the
// incident on the public status page.
//
// # Drafting
//
// Draft creates the incident's one postmortem (once: the store keeps one
// per incident). Drafting again while it is a draft refreshes the measured
// parts — impact, metrics, timeline, and the incident's title, severity,
// cause and components — and keeps everything people wrote, the summary
// included; a postmortem in review or published is left as it is. The
// serve command calls OnIncidentEvent with the engine's events: an
// incident.resolved queues a draft, written by Run on its own goroutine,
// so the engine never waits on it.
//
// # Figures
//
// Impact is measured over the incident's window: the whole minutes from
// the minute of StartedAt (its first bad minute) through the minute of
// ResolvedAt, on the incident's routes (its components that are routes,
// and the routes in its evidence: those of the targets that failed). The
// rollups are per minute, so the window is whole minutes: requests in the
// first and last minutes count even when they came just before the first
// failure or just after the resolution.
//
//   - Requests: every request answered on those routes (client-canceled
//     ones excluded and counted apart).
//   - Failed as seen by users: requests not served at all (upstream error,
//     unavailable, deadline, broken stream).
//   - Served by failover: answered by a model after another target failed
//     (failover, or a broken stream resumed elsewhere). Users saw no error.
//   - Served degraded, per mode: answered by the degradation ladder from the
//     cache (degraded_cache), the FAQ (degraded_faq), or with the honest
//     notice (notice).
//   - Handed off: conversations handed to a person (mode handoff).
//   - End users affected: distinct end users (the request's user field or
//     the configured header, hashed) who saw a failed or degraded answer.
//   - Duration: ResolvedAt − StartedAt.
//
// Metrics (zero times are unknown):
//
//   - Detector: the detector that opened the incident, or the person who did.
//   - Time to detect (TTD, MTTD over many): DetectedAt − StartedAt.
//   - Time to acknowledge (TTA): from DetectedAt to the first change a
//     person made on the incident (opening it, an update, a status change,
//     resolving, merging: the first timeline event whose author is neither
//     Understudy itself nor the gateway). Unknown when nobody did.
//   - Time to first public update: from StartedAt to the first public
//     update: how long users were affected before the status page said so.
//   - Time to mitigate (TTM): from DetectedAt to the first update in status
//     monitoring; an incident resolved without going through monitoring was
//     mitigated when it was resolved.
//   - Time to resolve (TTR, MTTR over many): ResolvedAt − DetectedAt.
//
// The timeline is the incident's events (opened, evidence, updates, status
// changes, resolution…) with its public updates interleaved, in time order;
// at the same instant an event comes before the update it announced.
package postmortem

import (
	"context"
	"errors"
	"time"

	"github.com/understudy/understudy"
)

// Status is where a postmortem is in its review.
type Status string

const (
	StatusDraft     Status = "draft"
	StatusInReview  Status = "in_review"
	StatusPublished Status = "published"
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool {
	return s == StatusDraft || s == StatusInReview || s == StatusPublished
}

// Editable reports whether a postmortem in status s takes edits.
func (s Status) Editable() bool { return s == StatusDraft || s == StatusInReview }

// ItemStatus is where an action item is.
type ItemStatus string

const (
	ItemOpen    ItemStatus = "open"
	ItemDone    ItemStatus = "done"
	ItemDropped ItemStatus = "dropped"
)

// Valid reports whether s is one of the three item statuses.
func (s ItemStatus) Valid() bool { return s == ItemOpen || s == ItemDone || s == ItemDropped }

// Postmortem is what was learned from one incident.
type Postmortem struct {
	ID         int64
	IncidentID int64
	Status     Status

	// The incident as of the last draft: title, severity, cause, components.
	Title      string
	Severity   understudy.Severity
	Cause      understudy.Cause
	Components []string

	// Measured: refreshed by every draft while the postmortem is a draft.
	Impact   Impact
	Metrics  Metrics
	Timeline []TimelineEntry

	// Written by people, in Markdown. Summary starts as a generated
	// sentence; the others start empty.
	Summary             string
	Trigger             string
	RootCause           string
	ContributingFactors string
	WentWell            string
	WentBadly           string
	Lucky               string

	ActionItems []ActionItem // in id order

	CreatedAt   time.Time
	UpdatedAt   time.Time
	PublishedAt time.Time // zero until published
	// Author of the last change: a token name, or "understudy" for drafts.
	Author string
}

// ActionItem is something to do so that it does not happen again, or
// hurts less.
type ActionItem struct {
	ID     int64
	Title  string
	Owner  string
	Due    time.Time // zero: no due date
	Status ItemStatus
	Link   string // an issue or a document, optional
	// Set by the store.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Overdue reports whether the item is open past its due date at now.
func (a ActionItem) Overdue(now time.Time) bool {
	return a.Status == ItemOpen && !a.Due.IsZero() && a.Due.Before(now)
}

// OverdueItem is an open action item past its due date, with the incident
// it came from.
type OverdueItem struct {
	ActionItem
	PostmortemID  int64
	IncidentID    int64
	IncidentTitle string
}

// Traffic is what the store measured over a window on some routes. See
// the package documentation for each figure.
type Traffic struct {
	Requests         int64            `json:"requests"`
	Failed           int64            `json:"failed"`
	ServedByFailover int64            `json:"served_by_failover"`
	Degraded         map[string]int64 `json:"degraded,omitempty"` // degraded_cache, degraded_faq, notice…; not handoff
	HandedOff        int64            `json:"handed_off"`
	Canceled         int64            `json:"canceled"` // client-canceled, outside Requests
	UsersAffected    int64            `json:"users_affected"`
}

// DegradedTotal is the sum of Degraded.
func (t Traffic) DegradedTotal() int64 {
	var n int64
	for _, v := range t.Degraded {
		n += v
	}
	return n
}

// Impact is the incident's measured effect on users.
type Impact struct {
	// From and To bound the window measured: whole minutes, To excluded.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Routes measured; empty when the incident names none (then nothing
	// is measured).
	Routes   []string      `json:"routes,omitempty"`
	Duration time.Duration `json:"duration"` // ResolvedAt − StartedAt
	Traffic
}

// Metrics are the incident's detection and response times. A zero time is
// unknown, and so is the duration computed from it.
type Metrics struct {
	Detector       string    `json:"detector,omitempty"`  // "" when a person opened it
	OpenedBy       string    `json:"opened_by,omitempty"` // who opened it: the detector's author or a person
	StartedAt      time.Time `json:"started_at,omitzero"`
	DetectedAt     time.Time `json:"detected_at,omitzero"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	FirstUpdateAt  time.Time `json:"first_update_at,omitzero"`
	MitigatedAt    time.Time `json:"mitigated_at,omitzero"`
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`

	TimeToDetect      time.Duration `json:"time_to_detect"`
	TimeToAcknowledge time.Duration `json:"time_to_acknowledge"`
	TimeToFirstUpdate time.Duration `json:"time_to_first_update"`
	TimeToMitigate    time.Duration `json:"time_to_mitigate"`
	TimeToResolve     time.Duration `json:"time_to_resolve"`
}

// Timeline entry kinds.
const (
	EntryEvent  = "event"  // a timeline event of the incident
	EntryUpdate = "update" // a public update
)

// TimelineEntry is one line of the timeline.
type TimelineEntry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // EntryEvent or EntryUpdate
	// Type is the event's type (incident.opened…), or the update's status.
	Type   string `json:"type"`
	Author string `json:"author,omitempty"`
	Text   string `json:"text"`
}

// Filter selects postmortems to list. Zero fields do not filter.
type Filter struct {
	Status Status
	Limit  int // 0: the store's default (100)
}

// Change is a person's edit of the written fields; nil fields are kept.
type Change struct {
	Summary, Trigger, RootCause, ContributingFactors, WentWell, WentBadly, Lucky *string
}

// ItemChange is an edit of an action item; nil fields are kept. A zero
// *Due clears the due date.
type ItemChange struct {
	Title, Owner, Link *string
	Due                *time.Time
	Status             *ItemStatus
}

// Store keeps postmortems and their action items. *store.Store implements
// it; its not-found errors wrap ErrNotFound, and CreatePostmortem's
// duplicate wraps ErrExists.
type Store interface {
	// CreatePostmortem inserts p with its ActionItems and sets their IDs;
	// ErrExists when the incident has one already.
	CreatePostmortem(ctx context.Context, p *Postmortem) error
	// SavePostmortem rewrites p's status, fields and times (not its items).
	SavePostmortem(ctx context.Context, p *Postmortem) error
	Postmortem(ctx context.Context, id int64) (Postmortem, error)
	PostmortemByIncident(ctx context.Context, incidentID int64) (Postmortem, error)
	// Postmortems lists the newest first, each with its action items.
	Postmortems(ctx context.Context, f Filter) ([]Postmortem, error)
	// PublishedPostmortems returns the published postmortems of the
	// incidents ids that have one, by incident id.
	PublishedPostmortems(ctx context.Context, incidentIDs []int64) (map[int64]Postmortem, error)
	// AddActionItem inserts it on postmortem id, setting its ID and times.
	AddActionItem(ctx context.Context, postmortemID int64, it *ActionItem) error
	// SaveActionItem rewrites item it.ID of postmortem id.
	SaveActionItem(ctx context.Context, postmortemID int64, it *ActionItem) error
	DeleteActionItem(ctx context.Context, postmortemID, itemID int64) error
	// OverdueActionItems lists open items due before now, soonest first.
	OverdueActionItems(ctx context.Context, now time.Time) ([]OverdueItem, error)
	// MeasureImpact measures the traffic of routes over [from, to).
	MeasureImpact(ctx context.Context, from, to time.Time, routes []string) (Traffic, error)
}

// Source gives the incident a postmortem is about. *incident.Engine
// implements it.
type Source interface {
	Incident(ctx context.Context, id int64) (understudy.Incident, error) // with Updates
	Timeline(ctx context.Context, id int64) ([]understudy.Event, error)  // oldest first
}

// Sentinel errors a Store wraps.
var (
	ErrNotFound = errors.New("postmortem: not found")
	ErrExists   = errors.New("postmortem: the incident has a postmortem already")
)

// SystemAuthor is the author of Understudy's own changes (incident.Author).
const SystemAuthor = "understudy"
