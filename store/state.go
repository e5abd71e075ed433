package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutState writes the shared state document name whole (see migration
// 0007: what the leader replica derives and every replica shows).
func (s *Store) PutState(ctx context.Context, name string, value []byte, at time.Time) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO shared_state (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, string(value), at.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: put state %q: %w", name, err)
	}
	return nil
}

// State reads the shared state document name and when it was written; the
// error is ErrNotFound when it has never been.
func (s *Store) State(ctx context.Context, name string) ([]byte, time.Time, error) {
	var value string
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT value, updated_at FROM shared_state WHERE name = $1`, name).Scan(&value, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fmt.Errorf("store: state %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: state %q: %w", name, err)
	}
	return []byte(value), fromMicros(at), nil
}
