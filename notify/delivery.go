package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliveryDelivered = "delivered" // the receiver accepted it
	DeliveryFailed    = "failed"    // given up: permanent error or MaxAttempts reached
)

// Delivery is one notification to one subscriber: a row of the outbox. The
// pair (SubscriberID, NotificationID) is unique: a notification is never
// queued twice for the same subscriber.
type Delivery struct {
	ID             int64
	SubscriberID   int64
	NotificationID string
	Status         string // DeliveryPending, DeliveryDelivered, DeliveryFailed
	Attempts       int    // attempts made so far
	// NextAttemptAt is when a pending delivery is due.
	NextAttemptAt time.Time
	LastError     string // "" when none
	// Payload is the Notification as JSON (see EncodeNotification): what is
	// rendered and sent, kept so deliveries survive restarts.
	Payload     []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeliveredAt time.Time // zero until delivered
}

// SubscriberFilter selects subscribers. Zero fields do not filter.
type SubscriberFilter struct {
	Statuses []string // any of these statuses
	Kind     string
}

// DeliveryFilter selects deliveries, newest first. Zero fields do not filter.
type DeliveryFilter struct {
	SubscriberID   int64
	NotificationID string
	Status         string
	Limit          int // 0: the store's default (100)
}

// SubscriberUpdate changes a subscriber. Zero fields keep what is there.
type SubscriberUpdate struct {
	Status     string   // "" keeps it
	Components []string // nil keeps them; an empty non-nil slice means everything
	Language   string   // "" keeps it
	LastError  *string  // nil keeps it; "" clears it
	// IfStatus, when not empty, applies the update only when the current
	// status is one of these (no error when it is not).
	IfStatus []string
	At       time.Time // the new updated_at
}

// Errors the Store reports, as recognised by Options.IsNotFound and
// Options.IsExists by default. The SQL store has its own (store.ErrNotFound,
// store.ErrExists): pass matching functions in Options.
var (
	ErrNotFound = errors.New("notify: not found")
	ErrExists   = errors.New("notify: already exists")
)

// Store keeps subscribers and the delivery outbox. *store.Store implements it.
type Store interface {
	CreateSubscriber(ctx context.Context, s *Subscriber) error
	Subscriber(ctx context.Context, id int64) (Subscriber, error)
	Subscribers(ctx context.Context, f SubscriberFilter) ([]Subscriber, error)
	// UpdateSubscriber applies u and reports whether it changed the row.
	UpdateSubscriber(ctx context.Context, id int64, u SubscriberUpdate) (bool, error)
	DeleteSubscriber(ctx context.Context, id int64) error

	// EnqueueDeliveries queues payload for each subscriber once, due at at,
	// ignoring those already queued for notificationID; it returns how many
	// rows it inserted.
	EnqueueDeliveries(ctx context.Context, notificationID string, payload []byte, subscriberIDs []int64, at time.Time) (int, error)
	// DueDeliveries returns pending deliveries due at now, oldest due first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	MarkDelivered(ctx context.Context, id int64, at time.Time) error
	MarkRetry(ctx context.Context, id int64, nextAt time.Time, errMsg string, at time.Time) error
	MarkFailed(ctx context.Context, id int64, errMsg string, at time.Time) error
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
}

// DeliveryID is the idempotency id of the delivery of notification
// notificationID to subscriber subscriberID: the same on every attempt, sent
// as X-Understudy-Webhook-Id so that receivers can drop duplicates.
func DeliveryID(notificationID string, subscriberID int64) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(subscriberID, 10) + "\x00" + notificationID))
	return "dlv_" + hex.EncodeToString(sum[:16])
}
