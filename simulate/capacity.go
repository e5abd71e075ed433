package simulate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Capacity is a provider's fixed concurrency, as a real inference server has
// (see Options.Capacity): Slots requests are answered at once, Queue more
// wait for a slot, first come first served, and beyond those a request is
// refused as overloaded.
type Capacity struct {
	// Slots is how many requests are answered at once; at least 1.
	Slots int `json:"slots"`
	// Queue is how many requests may wait for a slot; 0 means none: a
	// request that finds every slot busy is refused at once.
	Queue int `json:"queue"`
}

// Validate reports the first field of c that cannot be used.
func (c Capacity) Validate() error {
	switch {
	case c.Slots < 1:
		return &ValidationError{Field: "slots", Reason: fmt.Sprintf("%d is less than 1 (requests answered at once)", c.Slots)}
	case c.Queue < 0:
		return &ValidationError{Field: "queue", Reason: fmt.Sprintf("%d is negative (0 means refuse at once when every slot is busy)", c.Queue)}
	}
	return nil
}

// errOverCapacity is acquire's answer when every slot and queue place is taken.
var errOverCapacity = errors.New("over capacity")

// gate admits a provider's requests to its slots; guarded by provider.mu.
// It counts busy slots even without a limit, so that a limit set at runtime
// sees the requests already being answered.
type gate struct {
	limit   *Capacity // nil means unlimited
	busy    int       // requests holding a slot
	waiters []*waiter // first come first served
}

// waiter is a request in the queue.
type waiter struct {
	ready   chan struct{} // closed when granted a slot
	granted bool          // set with ready closed, under provider.mu
}

// grant hands free slots to waiters in order.
func (g *gate) grant() {
	for len(g.waiters) > 0 && (g.limit == nil || g.busy < g.limit.Slots) {
		w := g.waiters[0]
		g.waiters[0] = nil
		g.waiters = g.waiters[1:]
		g.busy++
		w.granted = true
		close(w.ready)
	}
}

// acquire takes one of p's slots for a request, waiting in p's queue while
// there is room there. It returns release, to call once when the answer is
// over (however it ends); errOverCapacity when every slot and queue place is
// taken; or, when the wait ends first, ctx's error or ErrClosed.
func (s *Simulator) acquire(ctx context.Context, p *provider) (release func(), err error) {
	release = p.release
	p.mu.Lock()
	g := &p.gate
	var w *waiter
	switch {
	case g.limit == nil || g.busy < g.limit.Slots && len(g.waiters) == 0:
		g.busy++
	case len(g.waiters) < g.limit.Queue:
		w = &waiter{ready: make(chan struct{})}
		g.waiters = append(g.waiters, w)
	default:
		p.mu.Unlock()
		return nil, errOverCapacity
	}
	p.notify()
	p.mu.Unlock()
	if w == nil {
		return release, nil
	}
	select {
	case <-w.ready:
		select {
		case <-s.done: // granted as the simulator closed: it answers nothing more
			release()
			return nil, ErrClosed
		default:
			return release, nil
		}
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
		err = ErrClosed
	}
	p.mu.Lock()
	granted := w.granted
	if !granted {
		g.waiters = slices.DeleteFunc(g.waiters, func(x *waiter) bool { return x == w })
		p.notify()
	}
	p.mu.Unlock()
	if granted { // the slot came as the wait ended: pass it on
		release()
	}
	return nil, err
}

// release gives back a slot taken by acquire.
func (p *provider) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate.busy--
	p.gate.grant()
	p.notify()
}

// SetCapacity gives provider a fixed concurrency (see Options.Capacity) from
// now on. Requests already being answered keep their slots, even beyond the
// new Slots; requests already waiting keep their places, even beyond the new
// Queue. More slots go to the waiters at once.
func (s *Simulator) SetCapacity(provider string, c Capacity) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.gate.limit = &c
	p.gate.grant()
	p.notify()
	p.mu.Unlock()
	s.log.Info("capacity set", "provider", provider, "slots", c.Slots, "queue", c.Queue)
	return nil
}

// ClearCapacity makes provider unlimited again; every waiting request gets
// a slot at once.
func (s *Simulator) ClearCapacity(provider string) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.gate.limit = nil
	p.gate.grant()
	p.notify()
	p.mu.Unlock()
	s.log.Info("capacity cleared", "provider", provider)
	return nil
}

// parseCapacityFlag reads one -capacity value, "name=SLOTS[/QUEUE]" items
// separated by commas, into caps; a later item for a name replaces an
// earlier one. An error names the item when there are several.
func parseCapacityFlag(v string, caps map[string]Capacity) error {
	items := strings.Split(v, ",")
	for _, item := range items {
		name, c, err := parseCapacityItem(strings.TrimSpace(item))
		if err != nil && len(items) > 1 {
			return fmt.Errorf("item %q: %w", item, err)
		}
		if err != nil {
			return err
		}
		caps[name] = c
	}
	return nil
}

func parseCapacityItem(item string) (string, Capacity, error) {
	var c Capacity
	name, spec, ok := strings.Cut(item, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.TrimSpace(spec) == "" {
		return "", c, errors.New("want provider=SLOTS[/QUEUE], e.g. primary=4/8")
	}
	slots, queue, hasQueue := strings.Cut(spec, "/")
	var err error
	if c.Slots, err = strconv.Atoi(strings.TrimSpace(slots)); err != nil {
		return "", c, fmt.Errorf("slots %q: want a whole number of at least 1", slots)
	}
	if hasQueue {
		if c.Queue, err = strconv.Atoi(strings.TrimSpace(queue)); err != nil {
			return "", c, fmt.Errorf("queue %q: want a whole number of at least 0", queue)
		}
	}
	if err := c.Validate(); err != nil {
		return "", c, err
	}
	return name, c, nil
}
