// Package notify tells subscribers what happens: incident updates,
// component status changes and maintenance, by signed webhooks, Slack- and
// Teams-compatible incoming webhooks and e-mail, each delivery retried with
// backoff and never sent twice.
package notify

import (
	"context"
	"errors"
	"time"

	"github.com/understudy/understudy"
)

// Subscriber kinds.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack"
	KindTeams   = "teams"
	KindEmail   = "email"
)

// Subscriber statuses.
const (
	StatusPending  = "pending"  // e-mail not confirmed yet (double opt-in)
	StatusActive   = "active"   // receives notifications
	StatusFailing  = "failing"  // deliveries gave up after their retries; still tried for new ones
	StatusDisabled = "disabled" // unsubscribed or disabled by an operator
)

// Subscriber is one subscription.
type Subscriber struct {
	ID      int64
	Kind    string // KindWebhook, KindSlack, KindTeams, KindEmail
	Address string // URL, or e-mail address
	// Components filters what it hears about: empty = everything.
	Components []string
	Status     string
	Language   string // "en" or "fr"; default "en"
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// LastError is the last delivery failure, "" when the last one worked.
	LastError string
}

// Notification kinds.
const (
	NoteIncident    = "incident"    // a public update was posted on an incident
	NoteComponent   = "component"   // a component's status changed
	NoteMaintenance = "maintenance" // a maintenance window was scheduled, started or completed
	// NoteHandoff: a conversation was handed to a person (handoff.created);
	// for webhook subscribers only (the chat backends that follow it).
	NoteHandoff = "handoff"
)

// Handoff is a conversation handed to a person, as handoff.created says.
type Handoff struct {
	ID        int64     `json:"id"`
	Route     string    `json:"route"`
	Priority  string    `json:"priority,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// URL is the conversation in the integrator API.
	URL string `json:"url,omitempty"`
}

// Notification is what happened, independent of the channel.
type Notification struct {
	// ID is the idempotency key: one delivery per subscriber and ID, ever.
	// "incident-update:42", "component:assistant:17", "maintenance:5:in_progress".
	ID   string
	Kind string // NoteIncident, NoteComponent, NoteMaintenance
	Time time.Time
	// Incident, with its updates; Update is the one being announced.
	Incident *understudy.Incident
	Update   *understudy.IncidentUpdate
	// Component and its previous status, for NoteComponent.
	Component *understudy.Component
	OldStatus understudy.ComponentStatus
	// Maintenance, for NoteMaintenance.
	Maintenance *understudy.Maintenance
	// Handoff, for NoteHandoff.
	Handoff *Handoff
	// Components affected: what subscriber filters match against.
	Components []string
	// URL of the page about it on the public status page ("" when none).
	URL string
}

// Channel delivers notifications of one subscriber kind.
type Channel interface {
	Kind() string
	// Deliver sends n to s once. An error wrapping ErrPermanent is not
	// retried (e.g. the destination is refused); others are.
	Deliver(ctx context.Context, s Subscriber, n Notification) error
}

// ErrPermanent marks a delivery failure that retrying cannot fix.
var ErrPermanent = errors.New("notify: permanent failure")
