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

// Admin tokens are rows of admin_tokens, keyed by name; only the hex SHA-256
// of the secret is kept. Zero LastUsed and RevokedAt are NULL.

const tokenCols = `name, hash, scope, created_at, last_used_at, revoked_at`

// CreateToken stores t; ErrExists when a token already has its name or its
// hash (revoked tokens included).
func (s *Store) CreateToken(ctx context.Context, t understudy.Token) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO admin_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Name, hex.EncodeToString(t.Hash[:]), string(t.Scope), t.CreatedAt.UnixMicro(),
		nullMicros(t.LastUsed), nullMicros(t.RevokedAt))
	if isUniqueViolation(err) {
		err = ErrExists
	}
	if err != nil {
		return fmt.Errorf("store: create token %q: %w", t.Name, err)
	}
	return nil
}

// TokenByHash returns the token whose secret's SHA-256 is hash, revoked or
// not (RevokedAt says); ErrNotFound when none is.
func (s *Store) TokenByHash(ctx context.Context, hash [32]byte) (understudy.Token, error) {
	t, err := scanToken(s.read.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM admin_tokens WHERE hash = $1`,
		hex.EncodeToString(hash[:])))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return understudy.Token{}, fmt.Errorf("store: token by hash: %w", err)
	}
	return t, nil
}

// Tokens lists every token, revoked ones included, by name.
func (s *Store) Tokens(ctx context.Context) ([]understudy.Token, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+tokenCols+` FROM admin_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	defer rows.Close()
	var out []understudy.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks token name revoked at at; revoking it again keeps the
// first time. ErrNotFound when there is no such token.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $2)
		WHERE name = $1`, name, at.UnixMicro())
	if err == nil {
		err = rowsAffected(res)
	}
	if err != nil {
		return fmt.Errorf("store: revoke token %q: %w", name, err)
	}
	return nil
}

// TouchToken records that token name was used at at. ErrNotFound when there
// is no such token.
func (s *Store) TouchToken(ctx context.Context, name string, at time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE admin_tokens SET last_used_at = $2 WHERE name = $1`,
		name, at.UnixMicro())
	if err == nil {
		err = rowsAffected(res)
	}
	if err != nil {
		return fmt.Errorf("store: touch token %q: %w", name, err)
	}
	return nil
}

func scanToken(sc scanner) (understudy.Token, error) {
	var (
		t             understudy.Token
		hash, scope   string
		created       int64
		used, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.Name, &hash, &scope, &created, &used, &revoked); err != nil {
		return understudy.Token{}, err
	}
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != len(t.Hash) {
		return understudy.Token{}, fmt.Errorf("token %q: bad hash in the database", t.Name)
	}
	copy(t.Hash[:], b)
	t.Scope = understudy.Scope(scope)
	t.CreatedAt, t.LastUsed, t.RevokedAt = fromMicros(created), fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}
