package handoff_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/handoff"
)

// TestReplay: two replicas' services on one store. Replica A has the
// user's conversation stream and an agents' console open; an agent claims,
// answers and closes through replica B; A replays B's changes (as the
// cluster bus tells it) and its streams see them as if made there.
func TestReplay(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	st := MustOpenStore(t, filepath.Join(t.TempDir(), "understudy.db"))
	var told []handoff.Event // B's changes, for A to replay
	a := handoff.New(handoff.Options{Store: st, Clock: clock, OnEvent: func(e handoff.Event) { t.Errorf("A's OnEvent called with %s: replays must not call it", e.Type) }})
	b := handoff.New(handoff.Options{Store: st, Clock: clock, OnEvent: func(e handoff.Event) { told = append(told, e) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _, err := b.Enqueue(ctx, "assistant", "default", []handoff.Message{{Role: handoff.RoleUser, Content: "help"}})
	if err != nil {
		t.Fatal(err)
	}
	console := a.Watch(ctx)
	user := a.Subscribe(ctx, c.ID)
	if _, err := b.Claim(ctx, c.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	reply, err := b.Reply(ctx, c.ID, "ana", "Ana here")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Close(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	for _, e := range told {
		var mid int64
		if e.Message != nil {
			mid = e.Message.ID
		}
		if err := a.Replay(ctx, e.Type, e.Conversation.ID, mid); err != nil {
			t.Fatal(err)
		}
	}
	var types []handoff.EventType
	for range told {
		e := <-console
		types = append(types, e.Type)
		// Replays read the store as it is now: the transcript so far.
		if e.Type == handoff.EventCreated && (len(e.Conversation.Messages) == 0 || e.Conversation.Messages[0].Content != "help") {
			t.Errorf("created replayed with %+v, want the transcript", e.Conversation.Messages)
		}
		if e.Type == handoff.EventClaimed && e.Conversation.Assignee != "ana" {
			t.Errorf("claimed replayed with assignee %q", e.Conversation.Assignee)
		}
	}
	if want := []handoff.EventType{handoff.EventCreated, handoff.EventClaimed, handoff.EventMessage, handoff.EventClosed}; !slices.Equal(types, want) {
		t.Errorf("A's console saw %v, want %v", types, want)
	}
	m, ok := <-user
	if !ok || m.ID != reply.ID || m.Content != "Ana here" {
		t.Errorf("A's user stream got %+v (%v), want the reply %+v", m, ok, reply)
	}
	if _, ok := <-user; ok {
		t.Error("A's user stream still open after the close was replayed")
	}
	if err := a.Replay(ctx, handoff.EventMessage, c.ID, 999); err == nil {
		t.Error("replaying a message that is not in the store: no error")
	}
}

// failingEstimates is a store whose wait estimates fail (the database went
// away between the insert and the estimate).
type failingEstimates struct{ handoff.Store }

func (failingEstimates) WaitingAhead(context.Context, int64) (int, error) {
	return 0, errors.New("connection refused")
}

// TestEnqueueWithoutEstimate: a conversation queued whose wait cannot be
// estimated is still handed over (the user is told so, with the default
// estimate), not reported failed while it waits in the agents' queue.
func TestEnqueueWithoutEstimate(t *testing.T) {
	st := MustOpenStore(t, filepath.Join(t.TempDir(), "understudy.db"))
	svc := handoff.New(handoff.Options{Store: failingEstimates{st}})
	c, wait, err := svc.Enqueue(context.Background(), "assistant", "default", []handoff.Message{{Role: handoff.RoleUser, Content: "help"}})
	if err != nil || c.ID == 0 || wait != handoff.DefaultHandlingTime {
		t.Fatalf("Enqueue: %+v, wait %s, err %v; want the conversation with the default wait", c, wait, err)
	}
}
