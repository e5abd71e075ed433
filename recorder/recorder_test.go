package recorder_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/store"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// MustStore opens a real SQLite store in a temporary directory.
func MustStore(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(tb.TempDir(), "understudy.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// flaky is the real store behind a switch that makes it unavailable.
type flaky struct {
	*store.Store
	down atomic.Bool
}

var errDown = errors.New("store unavailable")

func (f *flaky) WriteBatch(ctx context.Context, b store.Batch) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.WriteBatch(ctx, b)
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func outcome(at time.Time, mode string, class understudy.Class) understudy.Outcome {
	return understudy.Outcome{Time: at, Route: "assistant", Target: "primary/m", Class: class, Mode: mode,
		Latency: 300 * time.Millisecond, TTFT: 80 * time.Millisecond, PromptTokens: 10, CompletionTokens: 20}
}

func TestAggregatesAndFlushes(t *testing.T) {
	s := MustStore(t)
	r := recorder.New(s, recorder.Options{})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		r.RecordOutcome(outcome(t0.Add(time.Duration(i)*time.Second), "primary", understudy.ClassSuccess))
	}
	r.RecordOutcome(outcome(t0.Add(10*time.Second), "failover", understudy.ClassSuccess))
	r.RecordOutcome(outcome(t0.Add(70*time.Second), "unavailable", understudy.ClassServer))
	r.Emit(understudy.Event{Time: t0, Type: understudy.EventFailover, Route: "assistant", Message: "m"})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	imp, err := s.Impact(ctx, t0, t0.Add(5*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Requests != 7 || imp.Failed != 1 || imp.ServedByFailover != 1 {
		t.Errorf("got %+v, want 7 requests, 1 failed, 1 by failover", imp)
	}
	evs, err := s.Events(ctx, store.EventQuery{From: t0.Add(-time.Minute), To: t0.Add(time.Minute)})
	if err != nil || len(evs) != 1 {
		t.Errorf("got %d events (%v), want 1", len(evs), err)
	}
	// A second flush writes nothing twice.
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if imp2, _ := s.Impact(ctx, t0, t0.Add(5*time.Minute), nil); imp2.Requests != 7 {
		t.Errorf("got %d requests after a second flush, want still 7", imp2.Requests)
	}
}

// TestStoreUnavailable: while the store is down, outcomes keep being
// aggregated and nothing is lost within the bounds; when it returns, the
// next flush writes everything; beyond the bounds, drops are counted.
func TestStoreUnavailable(t *testing.T) {
	s := &flaky{Store: MustStore(t)}
	reg := prometheus.NewRegistry()
	r := recorder.New(s, recorder.Options{Registry: reg, MaxEvents: 3})
	ctx := context.Background()
	s.down.Store(true)
	for i := 0; i < 100; i++ {
		r.RecordOutcome(outcome(t0.Add(time.Duration(i)*time.Second), "primary", understudy.ClassSuccess))
		if i%10 == 0 {
			if err := r.Flush(ctx); !errors.Is(err, errDown) {
				t.Fatalf("flush while down: got %v, want errDown", err)
			}
		}
	}
	for i := 0; i < 5; i++ {
		r.Emit(understudy.Event{Time: t0.Add(time.Duration(i) * time.Second), Type: "x", Message: "m"})
	}
	s.down.Store(false)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	imp, err := s.Impact(ctx, t0, t0.Add(5*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Requests != 100 {
		t.Errorf("got %d requests recorded, want all 100", imp.Requests)
	}
	if got := counter(t, reg, "understudy_recorder_dropped_total", "event"); got != 2 {
		t.Errorf("got %v dropped events, want 2 (over MaxEvents 3)", got)
	}
}

// counter reads one labelled counter from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRunFlushesAndFinalFlush: Run flushes on its ticker and once more when
// stopped.
func TestRunFlushesAndFinalFlush(t *testing.T) {
	s := MustStore(t)
	clk := clockwork.NewFakeClock()
	r := recorder.New(s, recorder.Options{Clock: clk, FlushEvery: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	r.RecordOutcome(outcome(t0, "primary", understudy.ClassSuccess))
	if err := clk.BlockUntilContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	r.RecordOutcome(outcome(t0, "primary", understudy.ClassSuccess))
	cancel()
	<-done
	imp, err := s.Impact(context.Background(), t0, t0.Add(time.Minute), nil)
	if err != nil || imp.Requests != 2 {
		t.Errorf("got %+v %v, want both outcomes written", imp, err)
	}
}

// TestAffectedUsers: end users who saw a failed or degraded answer are
// recorded (once per minute and route), those served well are not, and
// none is lost while the store is down.
func TestAffectedUsers(t *testing.T) {
	s := &flaky{Store: MustStore(t)}
	r := recorder.New(s, recorder.Options{})
	ctx := context.Background()
	with := func(o understudy.Outcome, user string) understudy.Outcome { o.User = user; return o }
	s.down.Store(true)
	r.RecordOutcome(with(outcome(t0, "primary", understudy.ClassSuccess), "served-well"))
	r.RecordOutcome(with(outcome(t0, "failover", understudy.ClassSuccess), "served-by-failover"))
	r.RecordOutcome(with(outcome(t0, "unavailable", understudy.ClassServer), "failed"))
	r.RecordOutcome(with(outcome(t0.Add(time.Second), "unavailable", understudy.ClassServer), "failed"))
	r.RecordOutcome(with(outcome(t0.Add(time.Minute), "notice", understudy.ClassServer), "failed"))
	r.RecordOutcome(with(outcome(t0, "degraded_faq", understudy.ClassServer), "degraded"))
	r.RecordOutcome(with(outcome(t0, "client_canceled", understudy.ClassCanceled), "gone"))
	r.RecordOutcome(outcome(t0, "unavailable", understudy.ClassServer)) // unknown user
	if err := r.Flush(ctx); !errors.Is(err, errDown) {
		t.Fatalf("flush while down: %v", err)
	}
	s.down.Store(false)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.AffectedUsers(ctx, t0, t0.Add(5*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != 2 {
		t.Errorf("got %d affected users, want 2 (failed, degraded)", got)
	}
}

// hiddenCommit is the real store, whose next write goes through but reports
// an error, as when the connection breaks after COMMIT was sent.
type hiddenCommit struct {
	*store.Store
	fail  atomic.Bool
	calls atomic.Int32
}

var errConnLost = errors.New("unexpected EOF")

func (h *hiddenCommit) WriteBatch(ctx context.Context, b store.Batch) error {
	h.calls.Add(1)
	if err := h.Store.WriteBatch(ctx, b); err != nil {
		return err
	}
	if h.fail.CompareAndSwap(true, false) {
		return errConnLost
	}
	return nil
}

// TestRetryAfterHiddenCommit: a flush whose write went through but reported
// an error is retried, and nothing is counted twice; what arrived meanwhile
// is written by the same catching-up flush.
func TestRetryAfterHiddenCommit(t *testing.T) {
	s := &hiddenCommit{Store: MustStore(t)}
	r := recorder.New(s, recorder.Options{})
	ctx := context.Background()
	for i := range 5 {
		r.RecordOutcome(outcome(t0.Add(time.Duration(i)*time.Second), "primary", understudy.ClassSuccess))
	}
	r.Emit(understudy.Event{Time: t0, Type: understudy.EventFailover, Route: "assistant", Message: "m"})
	s.fail.Store(true)
	if err := r.Flush(ctx); !errors.Is(err, errConnLost) {
		t.Fatalf("first flush: got %v, want errConnLost", err)
	}
	for i := range 3 { // same minute and key as before: merged in memory, but not into the failed batch
		r.RecordOutcome(outcome(t0.Add(time.Duration(10+i)*time.Second), "primary", understudy.ClassSuccess))
	}
	s.calls.Store(0)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("the catching-up flush wrote %d batches, want 2 (the retried one, then the newer)", n)
	}
	imp, err := s.Impact(ctx, t0, t0.Add(5*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Requests != 8 {
		t.Errorf("got %d requests recorded, want 8 (5 retried once, 3 newer)", imp.Requests)
	}
	evs, err := s.Events(ctx, store.EventQuery{From: t0.Add(-time.Minute), To: t0.Add(time.Minute)})
	if err != nil || len(evs) != 1 {
		t.Errorf("got %d events (%v), want 1", len(evs), err)
	}
}
