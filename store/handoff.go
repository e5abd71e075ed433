package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/understudy/understudy/handoff"
)

// Handoff conversations are rows of handoff_conversations with their
// transcript in handoff_messages (role user | assistant | agent | system).
//
// Claims are conditional updates (… WHERE status = 'waiting' RETURNING): on
// SQLite the single writer runs them one after the other, on PostgreSQL the
// row lock makes a second claimer re-check the condition after the first
// commits, so exactly one wins. ClaimNext picks its row with FOR UPDATE SKIP
// LOCKED on PostgreSQL, so concurrent callers take different conversations
// instead of queueing on the oldest one.

var _ handoff.Store = (*Store)(nil)

// errConversationNotFound is both ErrNotFound and handoff.ErrNotFound.
var errConversationNotFound = fmt.Errorf("%w: %w", ErrNotFound, handoff.ErrNotFound)

const conversationCols = `id, route, status, priority, assignee, assigned_at, created_at, updated_at, closed_at`

func scanConversation(row interface{ Scan(...any) error }) (handoff.Conversation, error) {
	var c handoff.Conversation
	var status string
	var created, updated int64
	var assigned, closed sql.NullInt64
	if err := row.Scan(&c.ID, &c.Route, &status, &c.Priority, &c.Assignee, &assigned, &created, &updated, &closed); err != nil {
		return handoff.Conversation{}, err
	}
	c.Status = handoff.Status(status)
	c.AssignedAt = fromNullMicros(assigned)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.ClosedAt = fromNullMicros(closed)
	return c, nil
}

// CreateConversation inserts c and its Messages in one transaction and sets
// c.ID and the messages' IDs. A message with a zero CreatedAt gets c.CreatedAt.
func (s *Store) CreateConversation(ctx context.Context, c *handoff.Conversation) error {
	ids := make([]int64, len(c.Messages))
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO handoff_conversations (route, status, priority, assignee,
			assigned_at, created_at, updated_at, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			c.Route, string(c.Status), c.Priority, c.Assignee, nullMicros(c.AssignedAt), c.CreatedAt.UnixMicro(),
			c.UpdatedAt.UnixMicro(), nullMicros(c.ClosedAt)).Scan(&id)
		if err != nil {
			return err
		}
		for i, m := range c.Messages {
			if m.CreatedAt.IsZero() {
				m.CreatedAt = c.CreatedAt
			}
			if ids[i], err = insertMessage(ctx, tx, id, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create conversation: %w", err)
	}
	c.ID = id
	for i := range c.Messages {
		c.Messages[i].ID = ids[i]
		if c.Messages[i].CreatedAt.IsZero() {
			c.Messages[i].CreatedAt = c.CreatedAt
		}
	}
	return nil
}

func insertMessage(ctx context.Context, tx *sql.Tx, conversationID int64, m handoff.Message) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO handoff_messages (conversation_id, role, content, created_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, conversationID, string(m.Role), m.Content, m.CreatedAt.UnixMicro()).Scan(&id)
	return id, err
}

// Conversation returns conversation id with its transcript, oldest message
// first, or an error that is both ErrNotFound and handoff.ErrNotFound.
func (s *Store) Conversation(ctx context.Context, id int64) (handoff.Conversation, error) {
	c, err := scanConversation(s.read.QueryRowContext(ctx,
		`SELECT `+conversationCols+` FROM handoff_conversations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return handoff.Conversation{}, fmt.Errorf("store: conversation %d: %w", id, errConversationNotFound)
	}
	if err != nil {
		return handoff.Conversation{}, fmt.Errorf("store: conversation %d: %w", id, err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, role, content, created_at FROM handoff_messages
		WHERE conversation_id = $1 ORDER BY id`, id)
	if err != nil {
		return handoff.Conversation{}, fmt.Errorf("store: conversation %d messages: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m handoff.Message
		var role string
		var at int64
		if err := rows.Scan(&m.ID, &role, &m.Content, &at); err != nil {
			return handoff.Conversation{}, fmt.Errorf("store: conversation %d messages: %w", id, err)
		}
		m.Role, m.CreatedAt = handoff.Role(role), fromMicros(at)
		c.Messages = append(c.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return handoff.Conversation{}, fmt.Errorf("store: conversation %d messages: %w", id, err)
	}
	return c, nil
}

// Conversations lists conversations oldest first (created_at, then id),
// without their transcripts.
func (s *Store) Conversations(ctx context.Context, f handoff.Filter) ([]handoff.Conversation, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+conversationCols+` FROM handoff_conversations
		WHERE ($1 = '' OR status = $1) ORDER BY created_at, id LIMIT $2`, string(f.Status), limit)
	if err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	defer rows.Close()
	var out []handoff.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: conversations: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	return out, nil
}

// AppendMessage adds m to conversation conversationID and sets the
// conversation's updated_at to m.CreatedAt, in one transaction. It fails
// with handoff.ErrClosed when the conversation is closed.
func (s *Store) AppendMessage(ctx context.Context, conversationID int64, m handoff.Message) (handoff.Message, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE handoff_conversations SET updated_at = $1
			WHERE id = $2 AND status <> 'closed'`, m.CreatedAt.UnixMicro(), conversationID)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); errors.Is(err, ErrNotFound) {
			return whyNot(ctx, tx, conversationID)
		} else if err != nil {
			return err
		}
		m.ID, err = insertMessage(ctx, tx, conversationID, m)
		return err
	})
	if err != nil {
		return handoff.Message{}, fmt.Errorf("store: append message to conversation %d: %w", conversationID, err)
	}
	return m, nil
}

// whyNot explains why a conditional update of conversation id changed no
// row: it is missing, closed, or (otherwise) claimed.
func whyNot(ctx context.Context, tx *sql.Tx, id int64) error {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM handoff_conversations WHERE id = $1`, id).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errConversationNotFound
	case err != nil:
		return err
	case handoff.Status(status) == handoff.StatusClosed:
		return handoff.ErrClosed
	}
	return handoff.ErrClaimed
}

// Claim assigns waiting conversation id to agent. Of concurrent claims
// exactly one succeeds; the others fail with handoff.ErrClaimed (or
// handoff.ErrClosed, ErrNotFound). Claiming a conversation the same agent
// already holds fails with handoff.ErrClaimed too.
func (s *Store) Claim(ctx context.Context, id int64, agent string, now time.Time) (handoff.Conversation, error) {
	var c handoff.Conversation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConversation(tx.QueryRowContext(ctx, `UPDATE handoff_conversations
			SET status = 'assigned', assignee = $1, assigned_at = $2, updated_at = $2
			WHERE id = $3 AND status = 'waiting' RETURNING `+conversationCols, agent, now.UnixMicro(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return whyNot(ctx, tx, id)
		}
		return err
	})
	if err != nil {
		return handoff.Conversation{}, fmt.Errorf("store: claim conversation %d for %q: %w", id, agent, err)
	}
	return c, nil
}

// ClaimNext claims the oldest waiting conversation (created_at, then id) for
// agent, or fails with handoff.ErrQueueEmpty.
func (s *Store) ClaimNext(ctx context.Context, agent string, now time.Time) (handoff.Conversation, error) {
	lock := ""
	if s.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var c handoff.Conversation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConversation(tx.QueryRowContext(ctx, `UPDATE handoff_conversations
			SET status = 'assigned', assignee = $1, assigned_at = $2, updated_at = $2
			WHERE status = 'waiting' AND id = (SELECT id FROM handoff_conversations WHERE status = 'waiting'
				ORDER BY created_at, id LIMIT 1`+lock+`)
			RETURNING `+conversationCols, agent, now.UnixMicro()))
		if errors.Is(err, sql.ErrNoRows) {
			return handoff.ErrQueueEmpty
		}
		return err
	})
	if err != nil {
		return handoff.Conversation{}, fmt.Errorf("store: claim next conversation for %q: %w", agent, err)
	}
	return c, nil
}

// CloseConversation closes conversation id at now. It fails with handoff.ErrClosed when
// it is closed already.
func (s *Store) CloseConversation(ctx context.Context, id int64, now time.Time) (handoff.Conversation, error) {
	var c handoff.Conversation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConversation(tx.QueryRowContext(ctx, `UPDATE handoff_conversations
			SET status = 'closed', closed_at = $1, updated_at = $1
			WHERE id = $2 AND status <> 'closed' RETURNING `+conversationCols, now.UnixMicro(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return whyNot(ctx, tx, id)
		}
		return err
	})
	if err != nil {
		return handoff.Conversation{}, fmt.Errorf("store: close conversation %d: %w", id, err)
	}
	return c, nil
}

// WaitingAhead counts the waiting conversations queued before conversation
// id (earlier created_at, or the same and a smaller id). A conversation that
// does not exist has none ahead.
func (s *Store) WaitingAhead(ctx context.Context, id int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM handoff_conversations w, handoff_conversations c
		WHERE c.id = $1 AND w.status = 'waiting'
			AND (w.created_at < c.created_at OR (w.created_at = c.created_at AND w.id < c.id))`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: conversations waiting ahead of %d: %w", id, err)
	}
	return n, nil
}

// HandlingTimes returns closed_at − assigned_at of the n most recently
// closed conversations that had been claimed, most recent first.
func (s *Store) HandlingTimes(ctx context.Context, n int) ([]time.Duration, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT closed_at - assigned_at FROM handoff_conversations
		WHERE status = 'closed' AND closed_at IS NOT NULL AND assigned_at IS NOT NULL
		ORDER BY closed_at DESC, id DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("store: handling times: %w", err)
	}
	defer rows.Close()
	var out []time.Duration
	for rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			return nil, fmt.Errorf("store: handling times: %w", err)
		}
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: handling times: %w", err)
	}
	return out, nil
}
