package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Retention says how long rows are kept. Zero keeps them forever.
type Retention struct {
	Events  time.Duration
	Rollups time.Duration
}

// RetainResult counts the rows Retain deleted.
type RetainResult struct {
	Events  int64
	Rollups int64
}

// Retain deletes events older than now-r.Events, rollup minutes starting
// before now-r.Rollups, and the ids of recorder batches written more than a
// day ago, in one transaction.
func (s *Store) Retain(ctx context.Context, r Retention, now time.Time) (RetainResult, error) {
	var out RetainResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if r.Events > 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE ts < $1`, now.Add(-r.Events).UnixMicro())
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			if out.Events, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("events: %w", err)
			}
		}
		if r.Rollups > 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM rollups WHERE minute < $1`, now.Add(-r.Rollups).Unix())
			if err != nil {
				return fmt.Errorf("rollups: %w", err)
			}
			if out.Rollups, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("rollups: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM affected_users WHERE minute < $1`, now.Add(-r.Rollups).Unix()); err != nil {
				return fmt.Errorf("affected users: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recorder_batches WHERE written_at < $1`, now.Add(-batchesKept).Unix()); err != nil {
			return fmt.Errorf("recorder batches: %w", err)
		}
		return nil
	})
	if err != nil {
		return RetainResult{}, fmt.Errorf("store: retain: %w", err)
	}
	return out, nil
}

// ErrBackupUnsupported is returned by Backup on PostgreSQL.
var ErrBackupUnsupported = errors.New("store: backup of a PostgreSQL store is done with pg_dump " +
	"(e.g. pg_dump --format=custom --file=understudy.dump \"$UNDERSTUDY_POSTGRES_DSN\"; restore with pg_restore)")

// Backup writes a consistent copy of the SQLite database to path while the
// store stays in use (VACUUM INTO). It refuses to overwrite an existing file.
// On PostgreSQL it returns ErrBackupUnsupported, which names pg_dump.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.dialect != DialectSQLite {
		return ErrBackupUnsupported
	}
	if path == "" {
		return errors.New("store: backup: empty path")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: backup to %s: %w", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	if _, err := s.read.ExecContext(ctx, `VACUUM INTO $1`, path); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}

// PutKey stores (or replaces) the client key called name. Only the SHA-256 of
// the key is given and kept.
func (s *Store) PutKey(ctx context.Context, name string, hash [32]byte, priority string) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO api_keys (name, hash, priority, created_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, priority = excluded.priority`,
		name, hex.EncodeToString(hash[:]), priority, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("store: put key %q: %w", name, err)
	}
	return nil
}

// KeyByHash finds the client key whose SHA-256 is hash; ok is false when none is.
func (s *Store) KeyByHash(ctx context.Context, hash [32]byte) (name, priority string, ok bool, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT name, priority FROM api_keys WHERE hash = $1`,
		hex.EncodeToString(hash[:])).Scan(&name, &priority)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("store: key by hash: %w", err)
	}
	return name, priority, true, nil
}

// DeleteKey removes the client key called name, ErrNotFound when there is none.
func (s *Store) DeleteKey(ctx context.Context, name string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM api_keys WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store: delete key %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete key %q: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("store: delete key %q: %w", name, ErrNotFound)
	}
	return nil
}
