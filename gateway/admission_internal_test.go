package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/health"
)

// fixedAdmission has a limit of n that cannot move (min = max = initial)
// and a queue of queue × n.
func fixedAdmission(n int, queue float64) (*admission, *clockwork.FakeClock) {
	clk := clockwork.NewFakeClock()
	return newAdmission(config.AdaptiveConcurrency{Enabled: true, Min: n, Max: n, Initial: n, Queue: queue}, clk, nil, nil), clk
}

type admitResult struct {
	name string
	p    permit
	err  error
}

// queueUp starts acquire in the background and returns when it waits in
// the queue (its timer is the clock's waiters-th).
func queueUp(t *testing.T, a *admission, clk *clockwork.FakeClock, waiters int, name, priority string, wait time.Duration, out chan<- admitResult) {
	t.Helper()
	go func() {
		p, err := a.acquire(context.Background(), priority, wait)
		out <- admitResult{name, p, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, waiters); err != nil {
		t.Fatalf("%s never queued: %v", name, err)
	}
}

func TestAdmissionOrder(t *testing.T) {
	a, clk := fixedAdmission(2, 2)
	ctx := context.Background()
	first, err := a.acquire(ctx, "batch", 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.acquire(ctx, "batch", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Full: a request that may not wait is refused at once.
	if _, err := a.acquire(ctx, config.PriorityBatch, 0); !errors.Is(err, errAtLimit) {
		t.Fatalf("batch at the limit: %v, want errAtLimit", err)
	}
	out := make(chan admitResult, 4)
	queueUp(t, a, clk, 1, "default", config.PriorityDefault, time.Minute, out)
	queueUp(t, a, clk, 2, "critical", config.PriorityCritical, time.Minute, out)
	if _, _, queued := a.state(); queued != 2 {
		t.Fatalf("queued = %d, want 2", queued)
	}
	// The critical request came second but gets the first free slot.
	first.release(true)
	r := <-out
	if r.name != "critical" || r.err != nil {
		t.Fatalf("first slot went to %s (%v), want critical", r.name, r.err)
	}
	second.release(false)
	r2 := <-out
	if r2.name != "default" || r2.err != nil {
		t.Fatalf("second slot went to %s (%v), want default", r2.name, r2.err)
	}
	r.p.release(true)
	r2.p.release(true)
	if limit, inflight, queued := a.state(); limit != 2 || inflight != 0 || queued != 0 {
		t.Errorf("after all released: limit %d, in flight %d, queued %d; want 2, 0, 0", limit, inflight, queued)
	}
}

func TestAdmissionQueueBoundAndEviction(t *testing.T) {
	a, clk := fixedAdmission(1, 2) // one slot, two queue places
	ctx := context.Background()
	held, err := a.acquire(ctx, config.PriorityDefault, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan admitResult, 4)
	queueUp(t, a, clk, 1, "batch-1", config.PriorityBatch, time.Minute, out)
	queueUp(t, a, clk, 2, "batch-2", config.PriorityBatch, time.Minute, out)
	// Full of batch: another batch request is refused...
	if _, err := a.acquire(ctx, config.PriorityBatch, time.Minute); !errors.Is(err, errQueueFull) {
		t.Fatalf("batch into a full queue: %v, want errQueueFull", err)
	}
	// ...a critical one takes the place of the newest batch request.
	queueUp(t, a, clk, 2, "critical", config.PriorityCritical, time.Minute, out)
	if r := <-out; r.name != "batch-2" || !errors.Is(r.err, errEvicted) {
		t.Fatalf("got %s (%v), want batch-2 evicted", r.name, r.err)
	}
	held.release(true)
	if r := <-out; r.name != "critical" || r.err != nil {
		t.Fatalf("free slot went to %s (%v), want critical", r.name, r.err)
	} else {
		r.p.release(true)
	}
	if r := <-out; r.name != "batch-1" || r.err != nil {
		t.Fatalf("next slot went to %s (%v), want batch-1", r.name, r.err)
	} else {
		r.p.release(true)
	}
}

func TestAdmissionDeadlineAndCancel(t *testing.T) {
	a, clk := fixedAdmission(1, 4)
	held, err := a.acquire(context.Background(), config.PriorityDefault, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan admitResult, 2)
	queueUp(t, a, clk, 1, "default", config.PriorityDefault, time.Second, out)
	clk.Advance(999 * time.Millisecond)
	select {
	case r := <-out:
		t.Fatalf("%s ended before its queue wait: %v", r.name, r.err)
	default:
	}
	clk.Advance(time.Millisecond)
	if r := <-out; !errors.Is(r.err, errQueueWait) {
		t.Fatalf("after the queue wait: %v, want errQueueWait", r.err)
	}

	gone := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		p, err := a.acquire(ctx, config.PriorityCritical, time.Minute)
		out <- admitResult{"critical", p, err}
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := clk.BlockUntilContext(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel(gone)
	if r := <-out; !errors.Is(r.err, gone) {
		t.Fatalf("canceled while queued: %v, want the context's cause", r.err)
	}
	if _, _, queued := a.state(); queued != 0 {
		t.Fatalf("queued = %d after both left, want 0", queued)
	}
	// The slot is still there for the next one.
	held.release(true)
	p, err := a.acquire(context.Background(), config.PriorityBatch, 0)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	p.release(true)
}

// A newcomer does not pass queued requests of its own or a higher
// priority, even when it arrives just as a slot frees.
func TestAdmissionNoOvertaking(t *testing.T) {
	a, clk := fixedAdmission(1, 4)
	held, err := a.acquire(context.Background(), config.PriorityCritical, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan admitResult, 2)
	queueUp(t, a, clk, 1, "queued", config.PriorityDefault, time.Minute, out)
	// Simulate the race: the permit goes back to the library without
	// dispatching, then a newcomer of the same priority arrives.
	held.p.Record()
	if _, err := a.acquire(context.Background(), config.PriorityDefault, 0); !errors.Is(err, errAtLimit) {
		t.Fatalf("newcomer passed a queued request: %v", err)
	}
	a.dispatch()
	if r := <-out; r.name != "queued" || r.err != nil {
		t.Fatalf("got %s (%v), want the queued request admitted", r.name, r.err)
	} else {
		r.p.release(true)
	}
}

// The done of an admitted attempt gives its slot back once, however often
// it is called (a panicking hedge racer is accounted for twice).
func TestAdmitReleasesOnce(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(`
listen: 127.0.0.1:0
providers:
  - name: p
    base_url: http://127.0.0.1:9/v1
    probe: {disabled: true}
    adaptive_concurrency: {enabled: true, min: 2, max: 2, initial: 2}
routes:
  - name: r
    tiers: [[{provider: p, model: m}]]
`), "t.yaml", nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Clock: clockwork.NewFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rt := g.rt.Load()
	route := rt.routes["r"]
	tg := route.tiers[0][0]
	x := &exchange{g: g, rt: rt, route: route, key: &apiKey{name: "k", priority: config.PriorityDefault}}
	first, ok := x.admit(context.Background(), tg, false)
	if !ok {
		t.Fatal("first attempt not admitted")
	}
	second, ok := x.admit(context.Background(), tg, false)
	if !ok {
		t.Fatal("second attempt not admitted")
	}
	first(health.Ignore)
	first(health.Failure) // again
	tg.release()
	if _, inflight, _ := tg.adm.state(); inflight != 1 {
		t.Fatalf("in flight = %d after one of two attempts ended, want 1", inflight)
	}
	if _, ok := x.admit(context.Background(), tg, false); !ok {
		t.Fatal("the freed slot was not admitted")
	}
	if _, ok := x.admit(context.Background(), tg, false); ok {
		t.Fatal("a third attempt was admitted under a limit of 2")
	}
	second(health.Success)
}
