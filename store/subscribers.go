package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy/notify"
)

// Subscribers are rows of subscribers, unique by (kind, address). Components
// are a JSON array, written [] when nil and read back as nil when empty (an
// empty list means every component). Deliveries are the notification outbox:
// one row per (subscriber_id, notification_id), deleted with their
// subscriber.

var _ notify.Store = (*Store)(nil)

const subscriberCols = `id, kind, address, components, status, language, last_error, created_at, updated_at`

// CreateSubscriber inserts sub and sets sub.ID; ErrExists when a subscriber
// already has its kind and address. An empty Language is stored as "en".
func (s *Store) CreateSubscriber(ctx context.Context, sub *notify.Subscriber) error {
	comps, err := encodeList(sub.Components)
	if err != nil {
		return fmt.Errorf("store: create subscriber: components: %w", err)
	}
	lang := sub.Language
	if lang == "" {
		lang = "en"
	}
	var id int64
	err = s.write.QueryRowContext(ctx, `INSERT INTO subscribers (kind, address, components, status, language,
		last_error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		sub.Kind, sub.Address, comps, sub.Status, lang, sub.LastError, sub.CreatedAt.UnixMicro(),
		sub.UpdatedAt.UnixMicro()).Scan(&id)
	if isUniqueViolation(err) {
		err = ErrExists
	}
	if err != nil {
		return fmt.Errorf("store: create %s subscriber: %w", sub.Kind, err)
	}
	sub.ID, sub.Language = id, lang
	return nil
}

// Subscriber returns subscriber id; ErrNotFound when there is none.
func (s *Store) Subscriber(ctx context.Context, id int64) (notify.Subscriber, error) {
	sub, err := scanSubscriber(s.read.QueryRowContext(ctx, `SELECT `+subscriberCols+` FROM subscribers WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return notify.Subscriber{}, fmt.Errorf("store: subscriber %d: %w", id, err)
	}
	return sub, nil
}

// Subscribers lists the subscribers matching f by id.
func (s *Store) Subscribers(ctx context.Context, f notify.SubscriberFilter) ([]notify.Subscriber, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(f.Kind))
	}
	if len(f.Statuses) > 0 {
		ps := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			ps[i] = arg(st)
		}
		where = append(where, "status IN ("+strings.Join(ps, ", ")+")")
	}
	q := `SELECT ` + subscriberCols + ` FROM subscribers`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.read.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: subscribers: %w", err)
	}
	defer rows.Close()
	var out []notify.Subscriber
	for rows.Next() {
		sub, err := scanSubscriber(rows)
		if err != nil {
			return nil, fmt.Errorf("store: subscribers: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: subscribers: %w", err)
	}
	return out, nil
}

// UpdateSubscriber applies u to subscriber id and reports whether it changed
// the row: false when u.IfStatus does not hold the current status.
// ErrNotFound when there is no such subscriber.
func (s *Store) UpdateSubscriber(ctx context.Context, id int64, u notify.SubscriberUpdate) (bool, error) {
	set := []string{"updated_at = $2"}
	args := []any{id, u.At.UnixMicro()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if u.Status != "" {
		set = append(set, "status = "+arg(u.Status))
	}
	if u.Components != nil {
		comps, err := encodeList(u.Components)
		if err != nil {
			return false, fmt.Errorf("store: update subscriber %d: components: %w", id, err)
		}
		set = append(set, "components = "+arg(comps))
	}
	if u.Language != "" {
		set = append(set, "language = "+arg(u.Language))
	}
	if u.LastError != nil {
		set = append(set, "last_error = "+arg(*u.LastError))
	}
	where := "id = $1"
	if len(u.IfStatus) > 0 {
		ps := make([]string, len(u.IfStatus))
		for i, st := range u.IfStatus {
			ps[i] = arg(st)
		}
		where += " AND status IN (" + strings.Join(ps, ", ") + ")"
	}
	var changed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE subscribers SET `+strings.Join(set, ", ")+` WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n > 0 {
			changed = n > 0
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM subscribers WHERE id = $1`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: update subscriber %d: %w", id, err)
	}
	return changed, nil
}

// DeleteSubscriber deletes subscriber id and its deliveries; ErrNotFound
// when there is no such subscriber.
func (s *Store) DeleteSubscriber(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Explicit, not only ON DELETE CASCADE: the store does not depend on
		// SQLite's foreign_keys pragma for it.
		if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE subscriber_id = $1`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id = $1`, id)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	})
	if err != nil {
		return fmt.Errorf("store: delete subscriber %d: %w", id, err)
	}
	return nil
}

// SubscriberSecretRef returns the name of subscriber id's signing secret
// ("" when none); ErrNotFound when there is no such subscriber.
func (s *Store) SubscriberSecretRef(ctx context.Context, id int64) (string, error) {
	var ref string
	err := s.read.QueryRowContext(ctx, `SELECT secret_ref FROM subscribers WHERE id = $1`, id).Scan(&ref)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: subscriber %d secret ref: %w", id, err)
	}
	return ref, nil
}

// SetSubscriberSecretRef sets the name of subscriber id's signing secret;
// ErrNotFound when there is no such subscriber.
func (s *Store) SetSubscriberSecretRef(ctx context.Context, id int64, ref string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE subscribers SET secret_ref = $2 WHERE id = $1`, id, ref)
	if err == nil {
		err = rowsAffected(res)
	}
	if err != nil {
		return fmt.Errorf("store: set subscriber %d secret ref: %w", id, err)
	}
	return nil
}

func scanSubscriber(sc scanner) (notify.Subscriber, error) {
	var (
		sub              notify.Subscriber
		comps            []byte
		created, updated int64
	)
	if err := sc.Scan(&sub.ID, &sub.Kind, &sub.Address, &comps, &sub.Status, &sub.Language, &sub.LastError,
		&created, &updated); err != nil {
		return notify.Subscriber{}, err
	}
	var err error
	if sub.Components, err = decodeList(comps); err != nil {
		return notify.Subscriber{}, fmt.Errorf("subscriber %d: components: %w", sub.ID, err)
	}
	sub.CreatedAt, sub.UpdatedAt = fromMicros(created), fromMicros(updated)
	return sub, nil
}

// enqueueBatch bounds the subscriber ids of one INSERT (one parameter each).
const enqueueBatch = 500

// EnqueueDeliveries queues payload (a JSON document) for each of
// subscriberIDs, due at at, in one transaction. A subscriber that already has
// a delivery of notificationID is left as it is (INSERT … ON CONFLICT DO
// NOTHING on the unique (subscriber_id, notification_id)), and ids of
// subscribers that do not exist are skipped. It returns the number of
// deliveries it inserted.
func (s *Store) EnqueueDeliveries(ctx context.Context, notificationID string, payload []byte, subscriberIDs []int64, at time.Time) (int, error) {
	if !json.Valid(payload) {
		return 0, fmt.Errorf("store: enqueue %q: payload is not valid JSON", notificationID)
	}
	var total int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(subscriberIDs); start += enqueueBatch {
			ids := subscriberIDs[start:min(start+enqueueBatch, len(subscriberIDs))]
			args := []any{notificationID, string(payload), at.UnixMicro()}
			ps := make([]string, len(ids))
			for i, id := range ids {
				args = append(args, id)
				ps[i] = "$" + strconv.Itoa(len(args))
			}
			// The WHERE clause also keeps SQLite from reading ON CONFLICT as
			// part of the SELECT's join.
			res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (subscriber_id, notification_id, status,
				attempts, next_attempt_at, last_error, payload, created_at, updated_at)
				SELECT id, $1, 'pending', 0, $3, '', $2, $3, $3 FROM subscribers WHERE id IN (`+strings.Join(ps, ", ")+`)
				ON CONFLICT (subscriber_id, notification_id) DO NOTHING`, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: enqueue %q: %w", notificationID, err)
	}
	return total, nil
}

const deliveryCols = `id, subscriber_id, notification_id, status, attempts, next_attempt_at, last_error, payload,
	created_at, updated_at, delivered_at`

// DueDeliveries returns at most limit pending deliveries whose next attempt
// is at or before now, the longest due first.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]notify.Delivery, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	out, err := s.queryDeliveries(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2`, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	return out, nil
}

// Deliveries lists the deliveries matching f, newest first, at most f.Limit
// (DefaultListLimit when 0).
func (s *Store) Deliveries(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.SubscriberID != 0 {
		where = append(where, "subscriber_id = "+arg(f.SubscriberID))
	}
	if f.NotificationID != "" {
		where = append(where, "notification_id = "+arg(f.NotificationID))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	q := `SELECT ` + deliveryCols + ` FROM deliveries`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	out, err := s.queryDeliveries(ctx, q+" ORDER BY id DESC LIMIT "+arg(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	return out, nil
}

func (s *Store) queryDeliveries(ctx context.Context, q string, args ...any) ([]notify.Delivery, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []notify.Delivery
	for rows.Next() {
		var (
			d                      notify.Delivery
			next, created, updated int64
			delivered              sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.SubscriberID, &d.NotificationID, &d.Status, &d.Attempts, &next, &d.LastError,
			&d.Payload, &created, &updated, &delivered); err != nil {
			return nil, err
		}
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
		d.DeliveredAt = fromNullMicros(delivered)
		out = append(out, d)
	}
	return out, rows.Err()
}

// MarkDelivered records a successful attempt of pending delivery id at at.
// ErrNotFound when there is no such pending delivery.
func (s *Store) MarkDelivered(ctx context.Context, id int64, at time.Time) error {
	return s.markDelivery(ctx, "delivered", id, `status = 'delivered', attempts = attempts + 1, last_error = '',
		delivered_at = $2, updated_at = $2`, at.UnixMicro())
}

// MarkRetry records a failed attempt of pending delivery id at at, to be
// retried at nextAt. ErrNotFound when there is no such pending delivery.
func (s *Store) MarkRetry(ctx context.Context, id int64, nextAt time.Time, errMsg string, at time.Time) error {
	return s.markDelivery(ctx, "retry", id, `attempts = attempts + 1, next_attempt_at = $2, last_error = $3,
		updated_at = $4`, nextAt.UnixMicro(), errMsg, at.UnixMicro())
}

// MarkFailed records the last, failed attempt of pending delivery id at at:
// it is not retried. ErrNotFound when there is no such pending delivery.
func (s *Store) MarkFailed(ctx context.Context, id int64, errMsg string, at time.Time) error {
	return s.markDelivery(ctx, "fail", id, `status = 'failed', attempts = attempts + 1, last_error = $2,
		updated_at = $3`, errMsg, at.UnixMicro())
}

func (s *Store) markDelivery(ctx context.Context, what string, id int64, set string, args ...any) error {
	res, err := s.write.ExecContext(ctx, `UPDATE deliveries SET `+set+` WHERE id = $1 AND status = 'pending'`,
		append([]any{id}, args...)...)
	if err == nil {
		err = rowsAffected(res)
	}
	if err != nil {
		return fmt.Errorf("store: %s delivery %d: %w", what, id, err)
	}
	return nil
}
