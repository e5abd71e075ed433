package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/understudy/understudy"
)

// CreateConsoleSession stores s, and forgets the sessions expired by now.
func (s *Store) CreateConsoleSession(ctx context.Context, cs understudy.ConsoleSession, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, name, scope, token_hash, csrf, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, hex.EncodeToString(cs.IDHash[:]), cs.Name, string(cs.Scope),
			hex.EncodeToString(cs.TokenHash[:]), cs.CSRF, cs.Expires.UnixMicro())
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create console session: %w", err)
	}
	return nil
}

// ConsoleSession returns the session whose id hashes to idHash, if it has
// not expired by now; ErrNotFound otherwise.
func (s *Store) ConsoleSession(ctx context.Context, idHash [32]byte, now time.Time) (understudy.ConsoleSession, error) {
	var cs understudy.ConsoleSession
	var scope, tokenHash string
	var expires int64
	err := s.read.QueryRowContext(ctx, `SELECT name, scope, token_hash, csrf, expires_at FROM console_sessions
		WHERE id_hash = $1 AND expires_at > $2`, hex.EncodeToString(idHash[:]), now.UnixMicro()).
		Scan(&cs.Name, &scope, &tokenHash, &cs.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return understudy.ConsoleSession{}, fmt.Errorf("store: console session: %w", err)
	}
	b, err := hex.DecodeString(tokenHash)
	if err != nil || len(b) != len(cs.TokenHash) {
		return understudy.ConsoleSession{}, fmt.Errorf("store: console session: bad token hash %q", tokenHash)
	}
	copy(cs.TokenHash[:], b)
	cs.IDHash, cs.Scope, cs.Expires = idHash, understudy.Scope(scope), fromMicros(expires)
	return cs, nil
}

// DeleteConsoleSession forgets a session (signed out); none is fine.
func (s *Store) DeleteConsoleSession(ctx context.Context, idHash [32]byte) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, hex.EncodeToString(idHash[:])); err != nil {
		return fmt.Errorf("store: delete console session: %w", err)
	}
	return nil
}
