package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
)

// MaxPayload is the largest encoded Message Publish sends: PostgreSQL
// refuses a NOTIFY payload of 8000 bytes or more (default build).
const MaxPayload = 7999

// KindResync is the Kind of the message the Bus delivers to its
// subscribers, locally, when they may have missed notifications: each time
// the listener (re)starts listening — notifications sent while it was
// disconnected are lost — and after a subscriber's buffer overflowed. A
// subscriber receiving it must re-read the state it follows from the store.
// It has no ID and an empty Origin.
const KindResync = "resync"

// SubscriberBuffer is how many messages a subscriber's channel holds.
const SubscriberBuffer = 256

// Reconnection backoff of the listener: it doubles from minBackoff to
// maxBackoff while connecting fails, and starts over after a success.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// ErrTooLarge is returned by Publish for a message whose encoding exceeds
// MaxPayload.
var ErrTooLarge = errors.New("cluster: message too large for NOTIFY")

// Message is what replicas tell each other. Keep it small: a kind and an id
// that receivers look up in the store, not the data itself.
type Message struct {
	// Kind says what happened, e.g. "incident", "status", "target_down".
	Kind string `json:"kind"`
	// ID of the record concerned, if any.
	ID int64 `json:"id,omitempty"`
	// Origin is the publishing Bus's Origin, set by Publish when empty.
	Origin string `json:"origin,omitempty"`
	// Data is optional extra JSON.
	Data json.RawMessage `json:"data,omitempty"`
}

// BusOptions configure a Bus. Zero values get the defaults stated on each
// field.
type BusOptions struct {
	// DSN is the PostgreSQL connection string shared by every replica
	// (notifications do not cross databases). The listener connects
	// directly or through a session-pooling proxy: LISTEN does not work
	// through a transaction pooler. Required.
	DSN string
	// Channel is the NOTIFY channel. Default "understudy".
	Channel string
	// Origin identifies this process in the messages it publishes.
	// Default: 16 random hex digits.
	Origin string
	// Interval is how often the listener pings its connection, busy or
	// idle, so that a dead connection is noticed within Interval + Timeout
	// even when TCP says nothing. The server, in turn, ends a listener
	// session silent for 3×Interval + Timeout (idle_session_timeout), so
	// that a lost listener does not hold back its notification queue.
	// Default 5 s.
	Interval time.Duration
	// Timeout bounds each ping. Default: Interval.
	Timeout time.Duration
	// Clock paces pings and backoff. Default: the real clock.
	Clock clockwork.Clock
	// Logger receives connection errors and dropped messages. Default:
	// discard.
	Logger *slog.Logger
}

// Bus carries Messages between the processes sharing a database over
// LISTEN/NOTIFY, and fans them out to subscribers in process. Publish works
// at once; Subscribe receives once Run listens. Close it when done.
//
// Publishing uses a small pool (pgxpool, at most 2 connections, opened on
// demand), separate from the listener's dedicated connection, which is
// blocked waiting for notifications.
type Bus struct {
	channel  string
	origin   string
	interval time.Duration
	timeout  time.Duration
	clk      clockwork.Clock
	log      *slog.Logger
	listen   connector
	pool     *pgxpool.Pool

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool

	running atomic.Bool
	// pid is the listener's backend pid while connected (tests).
	pid atomic.Uint32
}

type subscriber struct {
	ch chan Message
	// missed is set when a message was dropped on a full buffer: a resync
	// is owed.
	missed bool
}

// NewBus checks o and returns a Bus; it does not connect.
func NewBus(o BusOptions) (*Bus, error) {
	if o.DSN == "" {
		return nil, fmt.Errorf("%w: DSN is required", ErrConfig)
	}
	if o.Interval < 0 || o.Timeout < 0 {
		return nil, fmt.Errorf("%w: Interval %v and Timeout %v must not be negative", ErrConfig, o.Interval, o.Timeout)
	}
	if o.Channel == "" {
		o.Channel = "understudy"
	}
	if len(o.Channel) > 63 {
		return nil, fmt.Errorf("%w: Channel %q is longer than PostgreSQL's 63-byte identifiers", ErrConfig, o.Channel)
	}
	if o.Origin == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Origin = hex.EncodeToString(b[:])
	}
	if o.Interval == 0 {
		o.Interval = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = o.Interval
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// pgxpool's parser also accepts (and strips) pool_* parameters.
	pcfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w: DSN: %w", ErrConfig, err)
	}
	cfg := pcfg.ConnConfig.Copy()
	tune(cfg, "understudy listener")
	tune(pcfg.ConnConfig, "understudy publisher")
	pcfg.MaxConns = 2
	pcfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &Bus{
		channel: o.Channel, origin: o.Origin, interval: o.Interval, timeout: o.Timeout,
		clk: o.Clock, log: o.Logger.With("component", "bus", "channel", o.Channel),
		listen: connector{cfg: cfg, idle: 3*o.Interval + o.Timeout},
		pool:   pool, subs: map[*subscriber]struct{}{},
	}, nil
}

// Origin returns the id this Bus puts in the messages it publishes; compare
// a message's Origin with it to skip one's own.
func (b *Bus) Origin() string { return b.origin }

// Publish sends m to every listening Bus on the channel, this one included,
// setting m.Origin to Origin() when empty. A message whose JSON encoding
// exceeds MaxPayload is refused with ErrTooLarge. Delivery is at most once:
// a replica that is not listening at that moment misses it (and gets a
// resync when it listens again).
func (b *Bus) Publish(ctx context.Context, m Message) error {
	if m.Kind == "" {
		return errors.New("cluster: publish: message has no Kind")
	}
	if m.Origin == "" {
		m.Origin = b.origin
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("cluster: publish %s: %w", m.Kind, err)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: %s message is %d bytes encoded, over %d: send an id and let receivers read the rest from the store",
			ErrTooLarge, m.Kind, len(payload), MaxPayload)
	}
	if _, err := b.pool.Exec(ctx, "SELECT pg_notify($1, $2)", b.channel, string(payload)); err != nil {
		return fmt.Errorf("cluster: publish %s: %w", m.Kind, err)
	}
	return nil
}

// Subscribe returns a channel receiving every message the listener gets
// (and resyncs), and a cancel function that unsubscribes and closes the
// channel; it may be called more than once. The channel holds
// SubscriberBuffer messages: when it is full, messages are dropped for that
// subscriber and a resync is delivered as soon as there is room. Close also
// closes the channel.
func (b *Bus) Subscribe() (<-chan Message, func()) {
	s := &subscriber{ch: make(chan Message, SubscriberBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	b.subs[s] = struct{}{}
	return s.ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[s]; ok {
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// Close closes the publishing pool and every subscriber's channel. Stop Run
// first.
func (b *Bus) Close() {
	b.mu.Lock()
	b.closed = true
	for s := range b.subs {
		close(s.ch)
	}
	clear(b.subs)
	b.mu.Unlock()
	b.pool.Close()
}

// deliver fans m out without blocking; a nil m only pays owed resyncs.
func (b *Bus) deliver(m *Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	dropped := 0
	for s := range b.subs {
		if s.missed {
			select {
			case s.ch <- Message{Kind: KindResync}:
				s.missed = false
			default:
			}
		}
		if m == nil {
			continue
		}
		if s.missed {
			dropped++ // the resync owed covers it
			continue
		}
		select {
		case s.ch <- *m:
		default:
			s.missed = true
			dropped++
		}
	}
	if dropped > 0 {
		b.log.Warn("subscriber buffers full: message dropped, resync owed", "kind", m.Kind, "subscribers", dropped)
	}
}

// Run listens on the channel until ctx is done, on a dedicated connection:
// it delivers each notification to the subscribers and, each time it starts
// listening (the first time and after every reconnection), a KindResync
// message. When the connection fails (or a ping gets no answer within
// Timeout) it reconnects with backoff (100 ms doubling to 5 s).
//
// Run returns nil once ctx is done; ErrRunning if the Bus is already
// running.
func (b *Bus) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer b.running.Store(false)
	backoff := minBackoff
	var lastErr string
	for ctx.Err() == nil {
		conn, err := b.connect(ctx)
		if err == nil {
			backoff = minBackoff
			lastErr = ""
			b.pid.Store(conn.PgConn().PID())
			b.log.Info("listening")
			b.deliver(&Message{Kind: KindResync})
			err = b.receive(ctx, conn)
			b.pid.Store(0)
			closeConn(conn, b.timeout)
		}
		if ctx.Err() != nil {
			break
		}
		if msg := err.Error(); msg != lastErr {
			b.log.Warn("listener connection failed; reconnecting", "err", err, "backoff", backoff)
			lastErr = msg
		} else {
			b.log.Debug("listener connection failed; reconnecting", "err", err, "backoff", backoff)
		}
		t := b.clk.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.Chan():
		}
		t.Stop()
		backoff = min(2*backoff, maxBackoff)
	}
	return nil
}

// connect opens the listener's connection and LISTENs.
func (b *Bus) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := b.listen.connect(ctx)
	if err != nil {
		return nil, err
	}
	lctx, cancel := clockwork.WithTimeout(ctx, b.clk, b.timeout)
	defer cancel()
	if _, err := conn.Exec(lctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		closeConn(conn, b.timeout)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// receive delivers notifications until ctx is done or the connection fails.
// It pings every Interval, busy or not: the server counts a session that
// only receives notifications as idle, and its idle_session_timeout would
// otherwise end a listener that is kept busy.
func (b *Bus) receive(ctx context.Context, conn *pgx.Conn) error {
	next := b.clk.Now().Add(b.interval)
	for {
		wctx, cancel := clockwork.WithDeadline(ctx, b.clk, next)
		n, err := conn.WaitForNotification(wctx)
		waited := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			var m Message
			if err := json.Unmarshal([]byte(n.Payload), &m); err != nil || m.Kind == "" {
				b.log.Warn("ignoring a notification that is not a message", "payload_bytes", len(n.Payload), "err", err)
			} else {
				b.deliver(&m)
			}
			if b.clk.Now().Before(next) {
				continue
			}
		} else if !waited {
			return fmt.Errorf("wait for notification: %w", err)
		}
		b.deliver(nil)
		pctx, cancel := clockwork.WithTimeout(ctx, b.clk, b.timeout)
		_, err = conn.Exec(pctx, "SELECT 1")
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("ping: %w", err)
		}
		next = b.clk.Now().Add(b.interval)
	}
}
