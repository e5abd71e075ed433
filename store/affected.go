package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AffectedUser is one end user who saw a failed or degraded answer on a
// route in a minute: UserHash is the gateway's hash of the end user's id
// (understudy.Outcome.User), never the id itself.
type AffectedUser struct {
	Minute   time.Time // truncated to the minute on write
	Route    string
	UserHash string
}

// AddAffectedUsers records users; a user already recorded for the minute
// and route is not counted twice.
func (s *Store) AddAffectedUsers(ctx context.Context, us []AffectedUser) error {
	if len(us) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return insertAffectedUsers(ctx, tx, us) }); err != nil {
		return fmt.Errorf("store: add affected users: %w", err)
	}
	return nil
}

// insertAffectedUsers is AddAffectedUsers inside tx.
func insertAffectedUsers(ctx context.Context, tx *sql.Tx, us []AffectedUser) error {
	// Sorted, so that concurrent writers on PostgreSQL lock rows in the same order.
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b AffectedUser) int {
		if c := a.Minute.Compare(b.Minute); c != 0 {
			return c
		}
		if c := strings.Compare(a.Route, b.Route); c != 0 {
			return c
		}
		return strings.Compare(a.UserHash, b.UserHash)
	})
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO affected_users (minute, route, user_hash) VALUES ($1, $2, $3)
		ON CONFLICT (minute, route, user_hash) DO NOTHING`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, u := range us {
		if _, err := stmt.ExecContext(ctx, u.Minute.UTC().Truncate(time.Minute).Unix(), u.Route, u.UserHash); err != nil {
			return err
		}
	}
	return nil
}

// AffectedUsers counts the distinct end users who saw a failed or degraded
// answer over [from, to) on routes (all routes when empty).
func (s *Store) AffectedUsers(ctx context.Context, from, to time.Time, routes []string) (int64, error) {
	f, t := minuteBounds(from, to)
	query := `SELECT COUNT(DISTINCT user_hash) FROM affected_users WHERE minute >= $1 AND minute < $2`
	args := []any{f, t}
	if len(routes) > 0 {
		ph := make([]string, len(routes))
		for i, r := range routes {
			args = append(args, r)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		query += ` AND route IN (` + strings.Join(ph, ", ") + `)`
	}
	var n int64
	if err := s.read.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: affected users: %w", err)
	}
	return n, nil
}
