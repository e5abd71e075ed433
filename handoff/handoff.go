// Package handoff hands a conversation over from the model to a person:
// a queue of waiting conversations that agents claim, a transcript both
// sides append to, an estimate of the wait, and the integrator API through
// which the end user's client follows the conversation (JSON and
// Server-Sent Events).
//
// # Lifecycle
//
// Enqueue stores the conversation, with the transcript so far, as waiting.
// An agent claims it (Claim for a given one, ClaimNext for the oldest
// waiting one): exactly one agent wins, the others get ErrClaimed (ECONFLICT
// over HTTP). The assigned agent replies, the user writes, and either side's
// messages reach subscribers at once. Close ends it; a closed conversation
// takes no more messages (ErrClosed).
//
// # Wait estimate
//
// Enqueue returns an estimate of the wait: the number of conversations
// waiting ahead of the new one times the median handling time (claim to
// close) of the last RecentClosed closed conversations, DefaultHandlingTime
// when none has been closed yet. First in line, the estimate is zero: the
// next free agent takes it.
//
// The types live here; store implements Store for SQLite and PostgreSQL.
package handoff

import (
	"context"
	"errors"
	"time"

	"github.com/understudy/understudy/chat"
)

// Status is where a conversation is in its lifecycle.
type Status string

const (
	StatusWaiting  Status = "waiting"  // in the queue, no agent yet
	StatusAssigned Status = "assigned" // an agent has claimed it
	StatusClosed   Status = "closed"   // over; takes no more messages
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool {
	return s == StatusWaiting || s == StatusAssigned || s == StatusClosed
}

// Role is who wrote a message.
type Role string

const (
	RoleUser      Role = "user"      // the end user
	RoleAssistant Role = "assistant" // the model, before the handoff
	RoleAgent     Role = "agent"     // the person who took the conversation over
	RoleSystem    Role = "system"    // the system prompt or a notice
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	return r == RoleUser || r == RoleAssistant || r == RoleAgent || r == RoleSystem
}

// Message is one message of a conversation's transcript.
type Message struct {
	ID        int64     `json:"id"`
	Role      Role      `json:"role"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// Conversation is one handed-over conversation.
type Conversation struct {
	ID       int64  `json:"id"`
	Route    string `json:"route"` // the gateway route (model name) it came from
	Status   Status `json:"status"`
	Priority string `json:"priority,omitempty"` // the client key's priority, as is
	Assignee string `json:"assignee,omitempty"` // the agent; empty while waiting
	// AssignedAt is when an agent claimed it; zero while waiting.
	AssignedAt time.Time `json:"assigned_at,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"` // last status change or message
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	// Messages is the transcript, oldest first. Lists leave it nil.
	Messages []Message `json:"messages,omitempty"`
}

// Sentinel errors. A Store returns them (wrapped) and Service maps them to
// *understudy.Error codes.
var (
	// ErrNotFound: no conversation has this id.
	ErrNotFound = errors.New("handoff: conversation not found")
	// ErrClaimed: the conversation is no longer waiting; another agent has it.
	ErrClaimed = errors.New("handoff: conversation already claimed")
	// ErrClosed: the conversation is closed.
	ErrClosed = errors.New("handoff: conversation closed")
	// ErrQueueEmpty: ClaimNext found no waiting conversation.
	ErrQueueEmpty = errors.New("handoff: no conversation is waiting")
)

// Filter selects conversations for Store.Conversations.
type Filter struct {
	// Status keeps only conversations in this status; empty means all.
	Status Status
	// Limit caps the number returned; 0 means the store's default (100).
	Limit int
}

// Store keeps conversations durably. store.Store implements it.
type Store interface {
	// CreateConversation inserts c and its Messages in one transaction and
	// sets c.ID and every message's ID.
	CreateConversation(ctx context.Context, c *Conversation) error
	// Conversation returns conversation id with its transcript, or ErrNotFound.
	Conversation(ctx context.Context, id int64) (Conversation, error)
	// Conversations lists conversations oldest first, without transcripts.
	Conversations(ctx context.Context, f Filter) ([]Conversation, error)
	// AppendMessage adds m to an open conversation and returns it with its
	// ID; ErrNotFound or ErrClosed otherwise.
	AppendMessage(ctx context.Context, conversationID int64, m Message) (Message, error)
	// Claim assigns a waiting conversation to agent. Of concurrent claims
	// exactly one succeeds; the others get ErrClaimed (ErrClosed when
	// closed, ErrNotFound when missing). The result has no transcript.
	Claim(ctx context.Context, id int64, agent string, now time.Time) (Conversation, error)
	// ClaimNext claims the oldest waiting conversation, or fails with
	// ErrQueueEmpty. Concurrent callers get different conversations.
	ClaimNext(ctx context.Context, agent string, now time.Time) (Conversation, error)
	// CloseConversation closes a conversation that is not closed yet (ErrClosed, ErrNotFound).
	CloseConversation(ctx context.Context, id int64, now time.Time) (Conversation, error)
	// WaitingAhead counts the waiting conversations queued before id.
	WaitingAhead(ctx context.Context, id int64) (int, error)
	// HandlingTimes returns claim-to-close durations of the n most recently
	// closed conversations that had been claimed, most recent first.
	HandlingTimes(ctx context.Context, n int) ([]time.Duration, error)
}

// Transcript is a chat conversation as a handoff transcript: each message
// with text, as user, assistant or (anything else) system.
func Transcript(msgs []chat.Message) []Message {
	var out []Message
	for _, m := range msgs {
		text := m.Text()
		if text == "" {
			continue
		}
		role := RoleSystem
		switch m.Role {
		case "user":
			role = RoleUser
		case "assistant":
			role = RoleAssistant
		}
		out = append(out, Message{Role: role, Content: text})
	}
	return out
}
