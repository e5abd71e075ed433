package chatwoot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/handoff"
)

// System names Chatwoot in Links. The external id is
// "<account id>/<Chatwoot conversation id>": conversation ids are only
// unique within an account.
const System = "chatwoot"

// Defaults of Options.
const (
	DefaultAgent       = "chatwoot"
	DefaultQueueSize   = 1024
	DefaultMaxAttempts = 5
	// DefaultHTTPTimeout bounds one call to Chatwoot with the default client.
	DefaultHTTPTimeout = 15 * time.Second
)

// Backoff between tries of a failed call: firstBackoff, doubling, at most
// maxBackoff; a Retry-After is honoured up to maxRetryAfter.
const (
	firstBackoff  = time.Second
	maxBackoff    = 30 * time.Second
	maxRetryAfter = 2 * time.Minute
)

// Links keeps which Chatwoot conversation a handoff conversation is.
// *store.Store implements it; lookups of a missing link fail with an error
// that is handoff.ErrNotFound.
type Links interface {
	SetHandoffLink(ctx context.Context, conversationID int64, system, externalID string) error
	HandoffLink(ctx context.Context, conversationID int64, system string) (string, error)
	HandoffByLink(ctx context.Context, system, externalID string) (int64, error)
}

// Handoff is what the connector does to our side of a conversation.
// *handoff.Service implements it.
type Handoff interface {
	Conversation(ctx context.Context, id int64) (handoff.Conversation, error)
	Claim(ctx context.Context, id int64, agent string) (handoff.Conversation, error)
	Reply(ctx context.Context, id int64, agent, content string) (handoff.Message, error)
	Close(ctx context.Context, id int64) (handoff.Conversation, error)
}

var _ Handoff = (*handoff.Service)(nil)

// Options configure a Connector.
type Options struct {
	// BaseURL is the Chatwoot instance, e.g. https://app.chatwoot.com.
	// Required: an http or https URL.
	BaseURL string
	// AccountID is the Chatwoot account (the number in /app/accounts/{id}/…
	// of the dashboard). Required.
	AccountID int64
	// InboxID is the API-channel inbox the conversations are opened in.
	// Required.
	InboxID int64
	// APIToken is the api_access_token the connector calls Chatwoot with: a
	// Chatwoot user's access token (see the package comment). Required.
	// It is never logged nor put in an error.
	APIToken string
	// WebhookSecret is the secret Chatwoot signs its webhooks with (the
	// webhook's, or the API inbox's, settings). Required. Never logged.
	WebhookSecret string
	// Agent is the assignee that Chatwoot's replies are written as. Empty
	// means DefaultAgent ("chatwoot").
	Agent string
	// Links keeps the mapping to Chatwoot conversations. Required.
	Links Links
	// Handoff is our side of the conversations. Required.
	Handoff Handoff
	// HTTPClient calls Chatwoot. Nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Clock times retries and checks webhook timestamps. Nil means the real
	// clock.
	Clock clockwork.Clock
	// Logger gets failures and dropped events. Nil means discard.
	Logger *slog.Logger
	// QueueSize bounds the events waiting to be relayed; when it is full
	// OnEvent drops the event and logs it. Zero means DefaultQueueSize.
	QueueSize int
	// MaxAttempts bounds the tries of one Chatwoot call (and of one store
	// write). Zero means DefaultMaxAttempts.
	MaxAttempts int
}

// Connector relays handoff conversations to Chatwoot and back. Create it
// with New; run Run on a goroutine; mount Webhook.
type Connector struct {
	api         *client
	links       Links
	handoff     Handoff
	agent       string
	secret      []byte
	clock       clockwork.Clock
	log         *slog.Logger
	maxAttempts int

	queue   chan handoff.Event
	dropped atomic.Int64

	mu sync.Mutex
	// closing holds conversations being closed because Chatwoot resolved
	// them: their EventClosed is not relayed back.
	closing map[int64]bool
	// seen holds the Chatwoot messages relayed or being relayed, so a
	// redelivered webhook is not relayed twice.
	seen recent
}

// New checks o and returns a Connector. It starts nothing: call Run.
func New(o Options) (*Connector, error) {
	u, err := url.Parse(o.BaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("chatwoot: Options.BaseURL %q: must be an http or https URL", o.BaseURL)
	case o.AccountID <= 0:
		return nil, fmt.Errorf("chatwoot: Options.AccountID %d: must be positive", o.AccountID)
	case o.InboxID <= 0:
		return nil, fmt.Errorf("chatwoot: Options.InboxID %d: must be positive", o.InboxID)
	case o.APIToken == "":
		return nil, errors.New("chatwoot: Options.APIToken is required")
	case o.WebhookSecret == "":
		return nil, errors.New("chatwoot: Options.WebhookSecret is required")
	case o.Links == nil:
		return nil, errors.New("chatwoot: Options.Links is required")
	case o.Handoff == nil:
		return nil, errors.New("chatwoot: Options.Handoff is required")
	case o.QueueSize < 0:
		return nil, fmt.Errorf("chatwoot: Options.QueueSize %d: must not be negative", o.QueueSize)
	case o.MaxAttempts < 0:
		return nil, fmt.Errorf("chatwoot: Options.MaxAttempts %d: must not be negative", o.MaxAttempts)
	}
	if o.Agent == "" {
		o.Agent = DefaultAgent
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	return &Connector{
		api: &client{base: strings.TrimRight(o.BaseURL, "/"), account: o.AccountID, inbox: o.InboxID,
			token: o.APIToken, http: o.HTTPClient, now: o.Clock.Now},
		links: o.Links, handoff: o.Handoff, agent: o.Agent, secret: []byte(o.WebhookSecret),
		clock: o.Clock, log: o.Logger, maxAttempts: o.MaxAttempts,
		queue: make(chan handoff.Event, o.QueueSize), closing: map[int64]bool{}, seen: newRecent(4096),
	}, nil
}

// OnEvent queues e for Run without blocking: it is handoff.Options.OnEvent.
// When the queue is full the event is dropped and logged. On a nil
// *Connector it does nothing.
func (c *Connector) OnEvent(e handoff.Event) {
	if c == nil {
		return
	}
	select {
	case c.queue <- e:
	default:
		n := c.dropped.Add(1)
		c.log.Warn("chatwoot: queue full, event dropped", "type", e.Type, "conversation", e.Conversation.ID, "dropped", n)
	}
}

// Dropped is the number of events OnEvent dropped because the queue was full.
func (c *Connector) Dropped() int64 { return c.dropped.Load() }

// Run relays the queued events, one at a time and in order, until ctx ends.
// Events still queued then are not relayed. Call it once, on its own
// goroutine: two Runs would break the order.
func (c *Connector) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-c.queue:
			c.relay(ctx, e)
		}
	}
}

func (c *Connector) relay(ctx context.Context, e handoff.Event) {
	id := e.Conversation.ID
	var err error
	switch e.Type {
	case handoff.EventCreated:
		err = c.open(ctx, e.Conversation)
	case handoff.EventMessage:
		if e.Message != nil && e.Message.Role == handoff.RoleUser {
			err = c.userMessage(ctx, id, *e.Message)
		}
	case handoff.EventClaimed:
		if e.Conversation.Assignee != c.agent {
			err = c.note(ctx, id, fmt.Sprintf("Taken over in Understudy by %s: replies from Chatwoot no longer reach the user.",
				e.Conversation.Assignee))
		}
	case handoff.EventClosed:
		err = c.resolve(ctx, id)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Error("chatwoot: relaying an event failed", "type", e.Type, "conversation", id, "err", err)
	}
}

// open creates conversation conv, with its transcript, in Chatwoot, unless
// it is there already.
func (c *Connector) open(ctx context.Context, conv handoff.Conversation) error {
	if _, ok, err := c.linked(ctx, conv.ID); err != nil || ok {
		return err
	}
	attrs := map[string]any{"understudy_conversation_id": conv.ID, "understudy_route": conv.Route}
	if conv.Priority != "" {
		attrs["understudy_priority"] = conv.Priority
	}
	var contactID int64
	var sourceID string
	err := c.retry(ctx, "create contact", conv.ID, func(ctx context.Context) error {
		var err error
		contactID, sourceID, err = c.api.createContact(ctx, fmt.Sprintf("Understudy conversation %d", conv.ID), attrs)
		return err
	})
	if err != nil {
		return err
	}
	var cw int64
	err = c.retry(ctx, "create conversation", conv.ID, func(ctx context.Context) error {
		var err error
		cw, err = c.api.createConversation(ctx, contactID, sourceID,
			map[string]any{"understudy_conversation_id": conv.ID}, attrs)
		return err
	})
	if err != nil {
		return err
	}
	err = c.retry(ctx, "store the link", conv.ID, func(ctx context.Context) error {
		return c.links.SetHandoffLink(ctx, conv.ID, System, c.externalID(cw))
	})
	if err != nil {
		return fmt.Errorf("chatwoot conversation %d is not linked to ours: its webhooks will be ignored: %w", cw, err)
	}
	c.log.Info("chatwoot: conversation opened", "conversation", conv.ID, "chatwoot_conversation", cw)
	var errs []error
	for _, m := range conv.Messages {
		errs = append(errs, c.post(ctx, conv.ID, cw, m))
	}
	return errors.Join(errs...)
}

// userMessage posts the user's message m into the Chatwoot conversation,
// creating the conversation when it is not there yet.
func (c *Connector) userMessage(ctx context.Context, id int64, m handoff.Message) error {
	cw, ok, err := c.linked(ctx, id)
	if err != nil {
		return err
	}
	if ok {
		return c.post(ctx, id, cw, m)
	}
	conv, err := c.handoff.Conversation(ctx, id)
	if err != nil {
		return err
	}
	if conv.Status == handoff.StatusClosed {
		return nil
	}
	return c.open(ctx, conv) // its transcript has m
}

// post adds transcript message m to Chatwoot conversation cw: the user's as
// incoming, anything else as a private note saying who wrote it.
func (c *Connector) post(ctx context.Context, id, cw int64, m handoff.Message) error {
	if strings.TrimSpace(m.Content) == "" {
		return nil
	}
	typ, private, content := messageIncoming, false, m.Content
	if m.Role != handoff.RoleUser {
		typ, private, content = messageOutgoing, true, roleLabel(m.Role)+": "+m.Content
	}
	return c.retry(ctx, "post a message", id, func(ctx context.Context) error {
		return c.api.createMessage(ctx, cw, content, typ, private)
	})
}

func roleLabel(r handoff.Role) string {
	switch r {
	case handoff.RoleAssistant:
		return "Assistant (before the handoff)"
	case handoff.RoleSystem:
		return "System"
	case handoff.RoleAgent:
		return "Agent"
	}
	return string(r)
}

// note adds a private note to the Chatwoot conversation of id, if any.
func (c *Connector) note(ctx context.Context, id int64, text string) error {
	cw, ok, err := c.linked(ctx, id)
	if err != nil || !ok {
		return err
	}
	return c.retry(ctx, "post a note", id, func(ctx context.Context) error {
		return c.api.createMessage(ctx, cw, text, messageOutgoing, true)
	})
}

// resolve resolves the Chatwoot conversation of id, unless Chatwoot closed
// ours in the first place.
func (c *Connector) resolve(ctx context.Context, id int64) error {
	c.mu.Lock()
	fromChatwoot := c.closing[id]
	delete(c.closing, id)
	c.mu.Unlock()
	if fromChatwoot {
		return nil
	}
	cw, ok, err := c.linked(ctx, id)
	if err != nil || !ok {
		return err
	}
	return c.retry(ctx, "resolve", id, func(ctx context.Context) error { return c.api.resolve(ctx, cw) })
}

// linked returns the Chatwoot conversation of id in this account, if any.
func (c *Connector) linked(ctx context.Context, id int64) (int64, bool, error) {
	var ext string
	err := c.retry(ctx, "read the link", id, func(ctx context.Context) error {
		var err error
		ext, err = c.links.HandoffLink(ctx, id, System)
		if errors.Is(err, handoff.ErrNotFound) {
			ext, err = "", nil
		}
		return err
	})
	if err != nil || ext == "" {
		return 0, false, err
	}
	account, conv, ok := strings.Cut(ext, "/")
	cw, err := strconv.ParseInt(conv, 10, 64)
	if !ok || err != nil || account != strconv.FormatInt(c.api.account, 10) {
		return 0, false, nil // another account's (or unreadable): not ours any more
	}
	return cw, true, nil
}

func (c *Connector) externalID(cw int64) string {
	return strconv.FormatInt(c.api.account, 10) + "/" + strconv.FormatInt(cw, 10)
}

// retry calls fn until it succeeds, fails for good, or MaxAttempts tries
// are spent, waiting on the clock between tries.
func (c *Connector) retry(ctx context.Context, what string, id int64, fn func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if !retryable(err) || attempt >= c.maxAttempts {
			return fmt.Errorf("%s (attempt %d of at most %d): %w", what, attempt, c.maxAttempts, err)
		}
		d := retryDelay(err, attempt)
		c.log.Warn("chatwoot: call failed, retrying", "call", what, "conversation", id, "attempt", attempt, "in", d, "err", err)
		t := c.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.Chan():
		}
	}
}

// retryDelay is the wait after the attempt-th failed try: the answer's
// Retry-After (up to maxRetryAfter), or firstBackoff doubling up to
// maxBackoff.
func retryDelay(err error, attempt int) time.Duration {
	var ae *apiError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, maxRetryAfter)
	}
	d := firstBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// recent is a bounded set of ids, oldest forgotten first.
type recent struct {
	ids   map[int64]bool
	order []int64
	max   int
}

func newRecent(max int) recent { return recent{ids: map[int64]bool{}, max: max} }

// add adds id and reports whether it was new.
func (r *recent) add(id int64) bool {
	if r.ids[id] {
		return false
	}
	if len(r.order) >= r.max {
		delete(r.ids, r.order[0])
		r.order = r.order[1:]
	}
	r.ids[id] = true
	r.order = append(r.order, id)
	return true
}

// remove forgets id (its relay failed: a redelivery may try again).
func (r *recent) remove(id int64) {
	if !r.ids[id] {
		return
	}
	delete(r.ids, id)
	for i, x := range r.order {
		if x == id {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}
