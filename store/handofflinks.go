package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/understudy/understudy/handoff"
)

// Handoff links are rows of handoff_links: where a handoff conversation
// lives in an outside support desk (system "chatwoot", …), so that the
// desk's webhooks map back to the conversation after a restart and on any
// replica. A conversation has at most one link per system, and an external
// id belongs to at most one conversation per system.

// errLinkNotFound is both ErrNotFound and handoff.ErrNotFound.
var errLinkNotFound = fmt.Errorf("%w: %w", ErrNotFound, handoff.ErrNotFound)

// SetHandoffLink records that conversation conversationID is externalID in
// system, replacing the conversation's previous link to that system. It
// fails with an error that is both ErrNotFound and handoff.ErrNotFound when
// the conversation does not exist, and with ErrExists when another
// conversation already holds externalID in system.
func (s *Store) SetHandoffLink(ctx context.Context, conversationID int64, system, externalID string) error {
	if system == "" || externalID == "" {
		return fmt.Errorf("store: set handoff link of conversation %d: system and external id are required", conversationID)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM handoff_conversations WHERE id = $1`,
			conversationID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errConversationNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO handoff_links (conversation_id, system, external_id)
			VALUES ($1, $2, $3)
			ON CONFLICT (conversation_id, system) DO UPDATE SET external_id = excluded.external_id`,
			conversationID, system, externalID)
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set %s link %q of conversation %d: %w", system, externalID, conversationID, err)
	}
	return nil
}

// HandoffLink returns the external id of conversation conversationID in
// system; the error is both ErrNotFound and handoff.ErrNotFound when it has
// none (or the conversation does not exist).
func (s *Store) HandoffLink(ctx context.Context, conversationID int64, system string) (string, error) {
	var ext string
	err := s.read.QueryRowContext(ctx, `SELECT external_id FROM handoff_links
		WHERE conversation_id = $1 AND system = $2`, conversationID, system).Scan(&ext)
	if errors.Is(err, sql.ErrNoRows) {
		err = errLinkNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: %s link of conversation %d: %w", system, conversationID, err)
	}
	return ext, nil
}

// HandoffByLink returns the id of the conversation that is externalID in
// system; the error is both ErrNotFound and handoff.ErrNotFound when none is.
func (s *Store) HandoffByLink(ctx context.Context, system, externalID string) (int64, error) {
	var id int64
	err := s.read.QueryRowContext(ctx, `SELECT conversation_id FROM handoff_links
		WHERE system = $1 AND external_id = $2`, system, externalID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = errLinkNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: conversation of %s link %q: %w", system, externalID, err)
	}
	return id, nil
}
