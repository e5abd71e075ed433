package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/understudy/understudy"
)

// Batch is what the recorder writes at one flush. Its ID makes the write
// idempotent: a batch retried after an error is written at most once, even
// when the error hid a commit that went through (the connection broke after
// COMMIT was sent).
type Batch struct {
	ID      string    // unique per batch, e.g. random; required
	At      time.Time // when it was made; its ID is kept a day after
	Events  []understudy.Event
	Rollups []Rollup
	Users   []AffectedUser
}

// batchesKept is how long written batch ids are remembered: far longer than
// a batch is retried (by the process that made it, at its next flushes).
const batchesKept = 24 * time.Hour

// ErrBatchID is returned by WriteBatch for a batch without an ID.
var ErrBatchID = errors.New("store: batch has no ID")

// WriteBatch writes b's events (on no incident's timeline), rollups (added,
// as AddRollups) and affected users in one transaction, unless a batch with
// the same ID was written before: then it does nothing and returns nil.
func (s *Store) WriteBatch(ctx context.Context, b Batch) error {
	if b.ID == "" {
		return ErrBatchID
	}
	if len(b.Events) == 0 && len(b.Rollups) == 0 && len(b.Users) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO recorder_batches (id, written_at) VALUES ($1, $2)
			ON CONFLICT (id) DO NOTHING`, b.ID, b.At.Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // n == 0: written before
		}
		if err := insertEvents(ctx, tx, 0, b.Events); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if len(b.Rollups) > 0 {
			if err := s.upsertRollups(ctx, tx, b.Rollups); err != nil {
				return fmt.Errorf("rollups: %w", err)
			}
		}
		if len(b.Users) > 0 {
			if err := insertAffectedUsers(ctx, tx, b.Users); err != nil {
				return fmt.Errorf("affected users: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write batch %s: %w", b.ID, err)
	}
	return nil
}
