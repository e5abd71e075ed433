package simulate_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/understudy/understudy/simulate"
)

// closeWithin closes srv, which waits for its handlers, failing if that
// takes longer than ctx allows.
func closeWithin(ctx context.Context, t *testing.T, srv *httptest.Server, sim *simulate.Simulator) {
	t.Helper()
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Error("got the server still waiting for a handler, want every handler released")
		sim.Close()
		<-closed
	}
}

func TestHangingHandlersAreReleased(t *testing.T) {
	hang := simulate.Fault{Kind: simulate.KindHang}
	stall := simulate.Fault{Kind: simulate.KindStall}
	tests := []struct {
		name       string
		fault      simulate.Fault
		stream     bool
		byClose    bool // release with Simulator.Close, else by cancelling the client
		wantDeltas int
	}{
		{"hang released by Close", hang, false, true, 0},
		{"hang stream released by Close", hang, true, true, 0},
		{"stall released by Close", stall, true, true, 3},
		{"stall non-stream released by Close", stall, false, true, 0},
		{"hang released by the client", hang, false, false, 0},
		{"stall released by the client", stall, true, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim := simulate.New(simulate.Options{})
			srv := httptest.NewServer(sim)
			defer sim.Close()
			if err := sim.SetFault("primary", tt.fault); err != nil {
				t.Fatal(err)
			}
			reqCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan observed, 1)
			c := newClient(srv, "primary")
			go func() { done <- observe(reqCtx, c, tt.stream, nil) }()
			if err := sim.WaitRequests(ctx, "primary", 1); err != nil {
				t.Fatal(err)
			}
			if tt.byClose {
				sim.Close()
			} else {
				cancel()
			}
			o := <-done
			switch {
			case tt.byClose && (o.err == nil || errors.Is(o.err, context.Canceled)):
				t.Errorf("got error %v, want the connection aborted", o.err)
			case tt.byClose && tt.stream && tt.fault.Kind == simulate.KindStall && !errors.Is(o.err, io.ErrUnexpectedEOF):
				t.Errorf("got error %v, want unexpected EOF", o.err)
			case !tt.byClose && !errors.Is(o.err, context.Canceled):
				t.Errorf("got error %v, want context.Canceled", o.err)
			}
			if tt.wantDeltas >= 0 && o.deltas != tt.wantDeltas {
				t.Errorf("got %d content chunks, want %d", o.deltas, tt.wantDeltas)
			}
			closeWithin(ctx, t, srv, sim)
		})
	}
}

func TestWaitRequests(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	waited := make(chan error, 1)
	go func() { waited <- sim.WaitRequests(ctx, "backup", 2) }()
	c := newClient(srv, "backup")
	for range 2 {
		if _, err := c.Chat.Completions.New(ctx, params("m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-waited; err != nil {
		t.Errorf("got %v, want nil after 2 requests", err)
	}

	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := sim.WaitRequests(short, "backup", 3); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if err := sim.WaitRequests(ctx, "nobody", 1); !errors.Is(err, simulate.ErrUnknownProvider) {
		t.Errorf("got %v, want ErrUnknownProvider", err)
	}
	sim.Close()
	if err := sim.WaitRequests(ctx, "backup", 3); !errors.Is(err, simulate.ErrClosed) {
		t.Errorf("got %v, want ErrClosed", err)
	}
}

func TestSchedule(t *testing.T) {
	ctx := testCtx(t)
	clock := fakeClock()
	sim, srv := MustServe(t, simulate.Options{Clock: clock})
	c := newClient(srv, "primary")
	err := sim.Schedule("primary", []simulate.Step{
		{Fault: &simulate.Fault{Kind: simulate.KindRateLimit}, For: simulate.Duration(10 * time.Second)},
		{Fault: nil, For: simulate.Duration(5 * time.Second)},
		{Fault: &simulate.Fault{Kind: simulate.KindServerError, Count: 1}, For: simulate.Duration(10 * time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		advance    time.Duration
		wantStatus int
		wantStep   int // -1: no schedule left
	}{
		{"first step at once", 0, 429, 0},
		{"still the first step", 10*time.Second - time.Millisecond, 429, 0},
		{"healthy step", time.Millisecond, 0, 1},
		{"third step", 5 * time.Second, 500, 2},
		{"third step's count spent", 0, 0, 2},
		{"healthy after the last step", 10 * time.Second, 0, -1},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		_, err := c.Chat.Completions.New(ctx, params("m"))
		got := 0
		if err != nil {
			got = apiError(t, err).StatusCode
		}
		if got != st.wantStatus {
			t.Errorf("%s: got status %d, want %d", st.name, got, st.wantStatus)
		}
		status, err := sim.Status("primary")
		if err != nil {
			t.Fatal(err)
		}
		gotStep := -1
		if status.Schedule != nil {
			gotStep = status.Schedule.Step
		}
		if gotStep != st.wantStep {
			t.Errorf("%s: got step %d, want %d", st.name, gotStep, st.wantStep)
		}
	}
}

func TestSetFaultStopsSchedule(t *testing.T) {
	sim := simulate.New(simulate.Options{Clock: fakeClock()})
	defer sim.Close()
	steps := []simulate.Step{{Fault: &simulate.Fault{Kind: simulate.KindHang}, For: simulate.Duration(time.Hour)}}
	if err := sim.Schedule("primary", steps); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetFault("primary", simulate.Fault{Kind: simulate.KindQuota}); err != nil {
		t.Fatal(err)
	}
	if f, _ := sim.CurrentFault("primary"); f.Kind != simulate.KindQuota {
		t.Errorf("got fault %q, want quota", f.Kind)
	}
	if err := sim.Schedule("primary", steps); err != nil {
		t.Fatal(err)
	}
	if err := sim.ClearFault("primary"); err != nil {
		t.Fatal(err)
	}
	if f, ok := sim.CurrentFault("primary"); ok {
		t.Errorf("got fault %+v after ClearFault, want none", f)
	}
}

func TestValidation(t *testing.T) {
	hour := simulate.Duration(time.Hour)
	tests := []struct {
		name      string
		fault     *simulate.Fault // SetFault when set, else Schedule(steps)
		steps     []simulate.Step
		wantField string
	}{
		{"missing kind", &simulate.Fault{}, nil, "kind"},
		{"unknown kind", &simulate.Fault{Kind: "explode"}, nil, "kind"},
		{"status without status", &simulate.Fault{Kind: "status"}, nil, "status"},
		{"status out of range", &simulate.Fault{Kind: "status", Status: 302}, nil, "status"},
		{"status on a stream kind", &simulate.Fault{Kind: "cut", Status: 500}, nil, "status"},
		{"negative count", &simulate.Fault{Kind: "hang", Count: -1}, nil, "count"},
		{"negative delay", &simulate.Fault{Kind: "slow_first_token", Delay: -1}, nil, "delay"},
		{"negative after_chunks", &simulate.Fault{Kind: "cut", AfterChunks: -2}, nil, "after_chunks"},
		{"header injection", &simulate.Fault{Kind: "rate_limit", RetryAfter: "1\r\nX: y"}, nil, "retry_after"},
		{"no steps", nil, []simulate.Step{}, "steps"},
		{"zero duration", nil, []simulate.Step{{For: 0}}, "steps[0].for"},
		{"bad step fault", nil, []simulate.Step{{For: hour}, {Fault: &simulate.Fault{Kind: "x"}, For: hour}}, "steps[1].fault.kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := simulate.New(simulate.Options{})
			defer sim.Close()
			var err error
			if tt.fault != nil {
				err = sim.SetFault("primary", *tt.fault)
			} else {
				err = sim.Schedule("primary", tt.steps)
			}
			ve, ok := errors.AsType[*simulate.ValidationError](err)
			if !ok || ve.Field != tt.wantField {
				t.Errorf("got %v, want a ValidationError on %q", err, tt.wantField)
			}
		})
	}
	sim := simulate.New(simulate.Options{})
	defer sim.Close()
	if err := sim.SetFault("nobody", simulate.Fault{Kind: "hang"}); !errors.Is(err, simulate.ErrUnknownProvider) {
		t.Errorf("got %v, want ErrUnknownProvider", err)
	}
}
