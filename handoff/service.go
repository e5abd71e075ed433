package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
)

// Wait estimate parameters (see the package comment).
const (
	// RecentClosed is how many of the latest closed conversations give the
	// median handling time.
	RecentClosed = 20
	// DefaultHandlingTime is the handling time assumed before any
	// conversation has been closed.
	DefaultHandlingTime = 5 * time.Minute
)

// Options configure a Service.
type Options struct {
	// Store keeps the conversations. Required.
	Store Store
	// Clock stamps messages and status changes. Nil means the real clock.
	Clock clockwork.Clock
	// Logger gets internal errors. Nil means discard.
	Logger *slog.Logger
	// Shutdown, when closed, ends the integrator API's open event streams,
	// so that followers do not hold up the server's shutdown. Nil: a stream
	// ends only with its request or its conversation.
	Shutdown <-chan struct{}
	// OnEvent, when set, is called after every change, in the order of the
	// changes, on the caller's goroutine: it must not block (a connector
	// queues the event and relays it on its own goroutine).
	OnEvent func(Event)
}

// EventType says what changed.
type EventType string

const (
	EventCreated EventType = "created" // queued (Enqueue)
	EventClaimed EventType = "claimed" // an agent took it
	EventMessage EventType = "message" // a message was added (Event.Message)
	EventClosed  EventType = "closed"  // closed
)

// Event is one change to a conversation.
type Event struct {
	Type EventType
	// Conversation is the conversation after the change. For EventCreated
	// it carries the transcript; otherwise Messages is nil.
	Conversation Conversation
	// Message is the added message (EventMessage only).
	Message *Message
}

// Service runs the handoff queue over a Store and fans new messages out to
// subscribers in memory; replicas sharing the store pass each other their
// changes (OnEvent on one, Replay on the others).
type Service struct {
	store Store
	clock clockwork.Clock
	log   *slog.Logger

	onEvent  func(Event)
	shutdown <-chan struct{}

	mu       sync.Mutex
	subs     map[int64]map[chan Message]struct{}
	watchers map[chan Event]struct{}
}

// New returns a Service.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: o.Store, clock: o.Clock, log: o.Logger, onEvent: o.OnEvent, shutdown: o.Shutdown,
		subs: map[int64]map[chan Message]struct{}{}, watchers: map[chan Event]struct{}{}}
}

// Enqueue puts a conversation on route in the queue with the transcript so
// far, and returns it with an estimate of the wait (see the package
// comment). Transcript messages with a zero CreatedAt get the current time.
func (s *Service) Enqueue(ctx context.Context, route, priority string, transcript []Message) (Conversation, time.Duration, error) {
	if strings.TrimSpace(route) == "" {
		return Conversation{}, 0, understudy.Errorf(understudy.EINVALID, "route is required")
	}
	for i, m := range transcript {
		if !m.Role.Valid() {
			return Conversation{}, 0, understudy.Errorf(understudy.EINVALID, "transcript[%d]: unknown role %q", i, m.Role)
		}
	}
	now := s.clock.Now().UTC()
	c := Conversation{Route: route, Status: StatusWaiting, Priority: priority, CreatedAt: now, UpdatedAt: now,
		Messages: slices.Clone(transcript)}
	if err := s.store.CreateConversation(ctx, &c); err != nil {
		return Conversation{}, 0, s.mapErr(err)
	}
	s.emit(Event{Type: EventCreated, Conversation: c})
	wait, err := s.WaitEstimate(ctx, c.ID)
	if err != nil {
		// The conversation is queued: say so, with a rough estimate,
		// rather than fail and leave it queued for nobody's answer.
		s.log.Warn("handoff: estimating the wait failed; using the default handling time", "id", c.ID, "err", err)
		wait = DefaultHandlingTime
	}
	return c, wait, nil
}

// WaitEstimate is the expected wait of conversation id: the conversations
// waiting ahead of it times the median handling time of the last
// RecentClosed closed ones (DefaultHandlingTime when none).
func (s *Service) WaitEstimate(ctx context.Context, id int64) (time.Duration, error) {
	ahead, err := s.store.WaitingAhead(ctx, id)
	if err != nil {
		return 0, s.mapErr(err)
	}
	times, err := s.store.HandlingTimes(ctx, RecentClosed)
	if err != nil {
		return 0, s.mapErr(err)
	}
	return time.Duration(ahead) * median(times), nil
}

// median of ds (the mean of the middle two for an even count), or
// DefaultHandlingTime when ds is empty.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return DefaultHandlingTime
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	mid := len(ds) / 2
	if len(ds)%2 == 1 {
		return ds[mid]
	}
	return (ds[mid-1] + ds[mid]) / 2
}

// Conversation returns conversation id with its transcript.
func (s *Service) Conversation(ctx context.Context, id int64) (Conversation, error) {
	c, err := s.store.Conversation(ctx, id)
	if err != nil {
		return Conversation{}, s.mapErr(err)
	}
	return c, nil
}

// Claim assigns conversation id to agent and returns it with its transcript.
// When another agent got it first it fails with ECONFLICT.
func (s *Service) Claim(ctx context.Context, id int64, agent string) (Conversation, error) {
	if agent == "" {
		return Conversation{}, understudy.Errorf(understudy.EINVALID, "agent is required")
	}
	c, err := s.store.Claim(ctx, id, agent, s.clock.Now().UTC())
	if err != nil {
		return Conversation{}, s.mapErr(err)
	}
	s.emit(Event{Type: EventClaimed, Conversation: c})
	return s.Conversation(ctx, id)
}

// ClaimNext assigns the oldest waiting conversation to agent and returns it
// with its transcript; ENOTFOUND when none is waiting.
func (s *Service) ClaimNext(ctx context.Context, agent string) (Conversation, error) {
	if agent == "" {
		return Conversation{}, understudy.Errorf(understudy.EINVALID, "agent is required")
	}
	c, err := s.store.ClaimNext(ctx, agent, s.clock.Now().UTC())
	if err != nil {
		return Conversation{}, s.mapErr(err)
	}
	s.emit(Event{Type: EventClaimed, Conversation: c})
	return s.Conversation(ctx, c.ID)
}

// Reply adds the assigned agent's message to conversation id and sends it
// to subscribers. Only the assignee may reply (ECONFLICT otherwise).
func (s *Service) Reply(ctx context.Context, id int64, agent, content string) (Message, error) {
	c, err := s.store.Conversation(ctx, id)
	if err != nil {
		return Message{}, s.mapErr(err)
	}
	if c.Status != StatusAssigned || c.Assignee != agent {
		return Message{}, understudy.Errorf(understudy.ECONFLICT, "conversation %d is not assigned to %q", id, agent)
	}
	return s.append(ctx, id, RoleAgent, content)
}

// UserMessage adds the end user's message to conversation id (waiting or
// assigned) and sends it to subscribers.
func (s *Service) UserMessage(ctx context.Context, id int64, content string) (Message, error) {
	return s.append(ctx, id, RoleUser, content)
}

func (s *Service) append(ctx context.Context, id int64, role Role, content string) (Message, error) {
	if strings.TrimSpace(content) == "" {
		return Message{}, understudy.Errorf(understudy.EINVALID, "content is required")
	}
	m, err := s.store.AppendMessage(ctx, id, Message{Role: role, Content: content, CreatedAt: s.clock.Now().UTC()})
	if err != nil {
		return Message{}, s.mapErr(err)
	}
	s.publish(id, m)
	if c, err := s.store.Conversation(ctx, id); err == nil {
		c.Messages = nil
		s.emit(Event{Type: EventMessage, Conversation: c, Message: &m})
	} else {
		s.log.Error("handoff: reading conversation for its event", "id", id, "err", err)
	}
	return m, nil
}

// Close closes conversation id and ends its subscriptions.
func (s *Service) Close(ctx context.Context, id int64) (Conversation, error) {
	c, err := s.store.CloseConversation(ctx, id, s.clock.Now().UTC())
	if err != nil {
		return Conversation{}, s.mapErr(err)
	}
	s.mu.Lock()
	for ch := range s.subs[id] {
		close(ch)
	}
	delete(s.subs, id)
	s.mu.Unlock()
	s.emit(Event{Type: EventClosed, Conversation: c})
	return c, nil
}

// Subscribe returns the messages added to conversation id from now on (the
// agent's replies, and the user's own messages, which another tab of the
// same user may not have). The channel is closed when ctx ends or the
// conversation is closed through this Service. A subscriber that falls 64
// messages behind misses messages; it can re-read the conversation.
func (s *Service) Subscribe(ctx context.Context, id int64) <-chan Message {
	ch := make(chan Message, 64)
	s.mu.Lock()
	if s.subs[id] == nil {
		s.subs[id] = map[chan Message]struct{}{}
	}
	s.subs[id][ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[id][ch]; !ok {
			return // closed by Close
		}
		delete(s.subs[id], ch)
		if len(s.subs[id]) == 0 {
			delete(s.subs, id)
		}
		close(ch)
	}()
	return ch
}

// publish sends m to the subscribers of conversation id without blocking.
func (s *Service) publish(id int64, m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs[id] {
		select {
		case ch <- m:
		default:
		}
	}
}

// mapErr turns store errors into *understudy.Error; anything else is logged
// and shown as an internal error.
func (s *Service) mapErr(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return understudy.Errorf(understudy.ENOTFOUND, "conversation not found")
	case errors.Is(err, ErrQueueEmpty):
		return understudy.Errorf(understudy.ENOTFOUND, "no conversation is waiting")
	case errors.Is(err, ErrClaimed):
		return understudy.Errorf(understudy.ECONFLICT, "conversation already claimed by another agent")
	case errors.Is(err, ErrClosed):
		return understudy.Errorf(understudy.ECONFLICT, "conversation is closed")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	s.log.Error("handoff: store error", "err", err)
	return &understudy.Error{Code: understudy.EINTERNAL, Message: "internal error"}
}

// Queue lists the conversations waiting or assigned, oldest first: what
// the agents' console shows.
func (s *Service) Queue(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	for _, st := range []Status{StatusWaiting, StatusAssigned} {
		cs, err := s.store.Conversations(ctx, Filter{Status: st, Limit: 500})
		if err != nil {
			return nil, s.mapErr(err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// Watch returns every change to any conversation from now on: what the
// agents' console shows live. The channel is closed when ctx ends. A
// watcher that falls 256 events behind misses events; it can re-read the
// queue.
func (s *Service) Watch(ctx context.Context) <-chan Event {
	ch := make(chan Event, 256)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers, ch)
		close(ch)
	})
	return ch
}

// Replay takes a change another replica made to conversation id (typ; for
// EventMessage, the message messageID), read back from the shared store:
// this replica's watchers and the conversation's subscribers see it as if
// it had been made here. OnEvent is not called (the replica that made the
// change did).
func (s *Service) Replay(ctx context.Context, typ EventType, id, messageID int64) error {
	c, err := s.store.Conversation(ctx, id)
	if err != nil {
		return fmt.Errorf("handoff: replay %s of conversation %d: %w", typ, id, err)
	}
	e := Event{Type: typ, Conversation: c}
	switch typ {
	case EventMessage:
		i := slices.IndexFunc(c.Messages, func(m Message) bool { return m.ID == messageID })
		if i < 0 {
			return fmt.Errorf("handoff: replay: conversation %d has no message %d", id, messageID)
		}
		m := c.Messages[i]
		s.publish(id, m)
		e.Message = &m
	case EventClosed:
		s.mu.Lock()
		for ch := range s.subs[id] {
			close(ch)
		}
		delete(s.subs, id)
		s.mu.Unlock()
	}
	if typ != EventCreated {
		e.Conversation.Messages = nil
	}
	s.tell(e)
	return nil
}

// emit tells OnEvent and the watchers about e.
func (s *Service) emit(e Event) {
	if s.onEvent != nil {
		s.onEvent(e)
	}
	s.tell(e)
}

// tell sends e to the watchers.
func (s *Service) tell(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- e:
		default:
		}
	}
}
