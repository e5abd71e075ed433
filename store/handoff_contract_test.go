package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/store"
)

// Contract cases for handoff conversations; run by testStore on every dialect.

// MustCreateConversation stores a waiting conversation on route created at
// minute m with the given transcript.
func MustCreateConversation(tb testing.TB, s *store.Store, route string, m int, msgs ...handoff.Message) handoff.Conversation {
	tb.Helper()
	c := handoff.Conversation{Route: route, Status: handoff.StatusWaiting, Priority: "normal",
		CreatedAt: at(m), UpdatedAt: at(m), Messages: msgs}
	if err := s.CreateConversation(context.Background(), &c); err != nil {
		tb.Fatalf("CreateConversation: %v", err)
	}
	return c
}

func MustConversation(tb testing.TB, s *store.Store, id int64) handoff.Conversation {
	tb.Helper()
	c, err := s.Conversation(context.Background(), id)
	if err != nil {
		tb.Fatalf("Conversation %d: %v", id, err)
	}
	return c
}

func testHandoffRoundTrip(t *testing.T, s *store.Store) {
	ctx := context.Background()
	c := MustCreateConversation(t, s, "support", 1,
		handoff.Message{Role: handoff.RoleSystem, Content: "You help with billing."},
		handoff.Message{Role: handoff.RoleUser, Content: "I want a person « now » <b>&</b>", CreatedAt: at(0)},
		handoff.Message{Role: handoff.RoleAssistant, Content: "Connecting you."})
	if c.ID == 0 || c.Messages[0].ID == 0 || c.Messages[2].ID <= c.Messages[1].ID {
		t.Fatalf("got ids %d %+v, want set and increasing", c.ID, c.Messages)
	}
	if !c.Messages[0].CreatedAt.Equal(at(1)) {
		t.Errorf("zero message time: got %v, want the conversation's %v", c.Messages[0].CreatedAt, at(1))
	}
	got := MustConversation(t, s, c.ID)
	if !reflect.DeepEqual(got, c) {
		t.Errorf("got %+v\nwant %+v", got, c)
	}
	if _, err := s.Conversation(ctx, c.ID+100); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, handoff.ErrNotFound) {
		t.Errorf("missing: got %v, want ErrNotFound and handoff.ErrNotFound", err)
	}
}

func testHandoffLifecycle(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := MustCreateConversation(t, s, "support", 1)
	b := MustCreateConversation(t, s, "sales", 2)
	c := MustCreateConversation(t, s, "support", 3)

	// Claim, reply, close a; ClaimNext then takes b, the oldest waiting.
	claimed, err := s.Claim(ctx, a.ID, "alice", at(5))
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if claimed.Status != handoff.StatusAssigned || claimed.Assignee != "alice" || !claimed.AssignedAt.Equal(at(5)) ||
		!claimed.UpdatedAt.Equal(at(5)) {
		t.Errorf("claimed: got %+v, want assigned to alice at %v", claimed, at(5))
	}
	m, err := s.AppendMessage(ctx, a.ID, handoff.Message{Role: handoff.RoleAgent, Content: "Hi, Alice here.", CreatedAt: at(6)})
	if err != nil || m.ID == 0 {
		t.Fatalf("AppendMessage: got %+v, %v", m, err)
	}
	if got := MustConversation(t, s, a.ID); len(got.Messages) != 1 || got.Messages[0] != m || !got.UpdatedAt.Equal(at(6)) {
		t.Errorf("after append: got %+v, want the message and updated_at %v", got, at(6))
	}
	closed, err := s.CloseConversation(ctx, a.ID, at(9))
	if err != nil || closed.Status != handoff.StatusClosed || !closed.ClosedAt.Equal(at(9)) {
		t.Fatalf("Close: got %+v, %v", closed, err)
	}
	next, err := s.ClaimNext(ctx, "bob", at(10))
	if err != nil || next.ID != b.ID || next.Assignee != "bob" {
		t.Fatalf("ClaimNext: got %+v, %v, want conversation %d for bob", next, err, b.ID)
	}

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"claim taken", errOf(s.Claim(ctx, b.ID, "carol", at(11))), handoff.ErrClaimed},
		{"claim own again", errOf(s.Claim(ctx, b.ID, "bob", at(11))), handoff.ErrClaimed},
		{"claim closed", errOf(s.Claim(ctx, a.ID, "carol", at(11))), handoff.ErrClosed},
		{"claim missing", errOf(s.Claim(ctx, 9999, "carol", at(11))), handoff.ErrNotFound},
		{"append closed", errOf(s.AppendMessage(ctx, a.ID, handoff.Message{Role: handoff.RoleUser, Content: "x", CreatedAt: at(11)})), handoff.ErrClosed},
		{"append missing", errOf(s.AppendMessage(ctx, 9999, handoff.Message{Role: handoff.RoleUser, Content: "x", CreatedAt: at(11)})), store.ErrNotFound},
		{"close twice", errOf(s.CloseConversation(ctx, a.ID, at(11))), handoff.ErrClosed},
		{"close missing", errOf(s.CloseConversation(ctx, 9999, at(11))), handoff.ErrNotFound},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if _, err := s.ClaimNext(ctx, "dave", at(12)); err != nil { // takes c
		t.Fatalf("ClaimNext c: %v", err)
	}
	if _, err := s.ClaimNext(ctx, "dave", at(12)); !errors.Is(err, handoff.ErrQueueEmpty) {
		t.Errorf("ClaimNext on an empty queue: got %v, want ErrQueueEmpty", err)
	}

	ids := func(cs []handoff.Conversation) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	lists := []struct {
		name string
		f    handoff.Filter
		want []int64
	}{
		{"all oldest first", handoff.Filter{}, []int64{a.ID, b.ID, c.ID}},
		{"assigned", handoff.Filter{Status: handoff.StatusAssigned}, []int64{b.ID, c.ID}},
		{"closed", handoff.Filter{Status: handoff.StatusClosed}, []int64{a.ID}},
		{"waiting", handoff.Filter{Status: handoff.StatusWaiting}, nil},
		{"limit", handoff.Filter{Limit: 1}, []int64{a.ID}},
	}
	for _, tt := range lists {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Conversations(ctx, tt.f)
			if err != nil {
				t.Fatalf("Conversations: %v", err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("got %v, want %v", ids(got), tt.want)
			}
			for _, c := range got {
				if c.Messages != nil {
					t.Errorf("conversation %d: got messages in a list, want none", c.ID)
				}
			}
		})
	}
}

func errOf[T any](_ T, err error) error { return err }

// testHandoffClaimRace: agents racing for one conversation, exactly one wins.
func testHandoffClaimRace(t *testing.T, s *store.Store) {
	const agents = 16
	c := MustCreateConversation(t, s, "support", 1)
	var wg sync.WaitGroup
	errs := make([]error, agents)
	for i := range agents {
		wg.Go(func() {
			_, errs[i] = s.Claim(context.Background(), c.ID, fmt.Sprint("agent-", i), at(2))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("agents %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, handoff.ErrClaimed):
			t.Errorf("agent %d: got %v, want ErrClaimed", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no agent won")
	}
	if got := MustConversation(t, s, c.ID); got.Assignee != fmt.Sprint("agent-", winner) {
		t.Errorf("got assignee %q, want agent-%d", got.Assignee, winner)
	}
}

// testHandoffClaimNextRace: concurrent ClaimNext calls take different
// conversations, each exactly once.
func testHandoffClaimNextRace(t *testing.T, s *store.Store) {
	const convs, agents = 6, 12
	for i := range convs {
		MustCreateConversation(t, s, "support", i)
	}
	var wg sync.WaitGroup
	got := make([]int64, agents)
	errs := make([]error, agents)
	for i := range agents {
		wg.Go(func() {
			var c handoff.Conversation
			c, errs[i] = s.ClaimNext(context.Background(), fmt.Sprint("agent-", i), at(10))
			got[i] = c.ID
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, err := range errs {
		switch {
		case err == nil && seen[got[i]]:
			t.Errorf("conversation %d claimed twice", got[i])
		case err == nil:
			seen[got[i]] = true
		case !errors.Is(err, handoff.ErrQueueEmpty):
			t.Errorf("agent %d: got %v, want ErrQueueEmpty", i, err)
		}
	}
	if len(seen) != convs {
		t.Errorf("got %d conversations claimed, want %d", len(seen), convs)
	}
}

func testHandoffWaitInputs(t *testing.T, s *store.Store) {
	ctx := context.Background()
	// Three handled ones: 4, 10 and 2 minutes from claim to close.
	for i, d := range []int{4, 10, 2} {
		c := MustCreateConversation(t, s, "support", i)
		if _, err := s.Claim(ctx, c.ID, "alice", at(20+i)); err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if _, err := s.CloseConversation(ctx, c.ID, at(20+i+d)); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	// Closed without a claim: no handling time.
	unclaimed := MustCreateConversation(t, s, "support", 3)
	if _, err := s.CloseConversation(ctx, unclaimed.ID, at(40)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w1 := MustCreateConversation(t, s, "support", 50)
	w2 := MustCreateConversation(t, s, "sales", 50) // same time: id breaks the tie
	w3 := MustCreateConversation(t, s, "support", 51)

	got, err := s.HandlingTimes(ctx, 20)
	if err != nil {
		t.Fatalf("HandlingTimes: %v", err)
	}
	// Closed at minutes 24, 31 and 24: most recent first, id breaking the tie.
	if want := []time.Duration{10 * time.Minute, 2 * time.Minute, 4 * time.Minute}; !reflect.DeepEqual(got, want) {
		t.Errorf("HandlingTimes: got %v, want %v", got, want)
	}
	if got, _ := s.HandlingTimes(ctx, 1); len(got) != 1 {
		t.Errorf("HandlingTimes(1): got %v, want one", got)
	}
	tests := []struct {
		id   int64
		want int
	}{{w1.ID, 0}, {w2.ID, 1}, {w3.ID, 2}, {unclaimed.ID, 0}, {9999, 0}}
	for _, tt := range tests {
		if n, err := s.WaitingAhead(ctx, tt.id); err != nil || n != tt.want {
			t.Errorf("WaitingAhead(%d): got %d, %v, want %d", tt.id, n, err, tt.want)
		}
	}
}

// testHandoffLinks: a conversation's link to an outside desk, both ways.
func testHandoffLinks(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := MustCreateConversation(t, s, "support", 1)
	b := MustCreateConversation(t, s, "support", 2)

	if err := s.SetHandoffLink(ctx, a.ID, "chatwoot", "1/10"); err != nil {
		t.Fatalf("SetHandoffLink: %v", err)
	}
	if err := s.SetHandoffLink(ctx, a.ID, "chatwoot", "1/10"); err != nil {
		t.Errorf("SetHandoffLink again, same id: got %v, want nil", err)
	}
	if err := s.SetHandoffLink(ctx, b.ID, "zendesk", "1/10"); err != nil {
		t.Errorf("same external id in another system: got %v, want nil", err)
	}
	if got, err := s.HandoffLink(ctx, a.ID, "chatwoot"); err != nil || got != "1/10" {
		t.Errorf("HandoffLink: got %q, %v, want 1/10", got, err)
	}
	if got, err := s.HandoffByLink(ctx, "chatwoot", "1/10"); err != nil || got != a.ID {
		t.Errorf("HandoffByLink: got %d, %v, want %d", got, err, a.ID)
	}
	if got, err := s.HandoffByLink(ctx, "zendesk", "1/10"); err != nil || got != b.ID {
		t.Errorf("HandoffByLink zendesk: got %d, %v, want %d", got, err, b.ID)
	}

	// Relinking replaces: the old external id no longer maps back.
	if err := s.SetHandoffLink(ctx, a.ID, "chatwoot", "1/11"); err != nil {
		t.Fatalf("SetHandoffLink replace: %v", err)
	}
	if got, err := s.HandoffLink(ctx, a.ID, "chatwoot"); err != nil || got != "1/11" {
		t.Errorf("HandoffLink after replace: got %q, %v, want 1/11", got, err)
	}

	tests := []struct {
		name string
		err  error
		want []error
	}{
		{"taken by another conversation", s.SetHandoffLink(ctx, b.ID, "chatwoot", "1/11"), []error{store.ErrExists}},
		{"conversation missing", s.SetHandoffLink(ctx, 9999, "chatwoot", "1/99"), []error{store.ErrNotFound, handoff.ErrNotFound}},
		{"no link in system", errOf(s.HandoffLink(ctx, b.ID, "chatwoot")), []error{store.ErrNotFound, handoff.ErrNotFound}},
		{"no link, conversation missing", errOf(s.HandoffLink(ctx, 9999, "chatwoot")), []error{store.ErrNotFound, handoff.ErrNotFound}},
		{"old external id", errOf(s.HandoffByLink(ctx, "chatwoot", "1/10")), []error{store.ErrNotFound, handoff.ErrNotFound}},
		{"unknown external id", errOf(s.HandoffByLink(ctx, "chatwoot", "nope")), []error{store.ErrNotFound, handoff.ErrNotFound}},
	}
	for _, tt := range tests {
		for _, want := range tt.want {
			if !errors.Is(tt.err, want) {
				t.Errorf("%s: got %v, want %v", tt.name, tt.err, want)
			}
		}
	}
	if err := s.SetHandoffLink(ctx, b.ID, "", "x"); err == nil {
		t.Errorf("empty system: got nil, want an error")
	}

	// Conversations racing for one external id: exactly one gets it.
	const racers = 8
	var ids []int64
	for i := range racers {
		ids = append(ids, MustCreateConversation(t, s, "support", 10+i).ID)
	}
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { errs[i] = s.SetHandoffLink(ctx, ids[i], "chatwoot", "1/42") })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("conversations %d and %d both got the link", ids[winner], ids[i])
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("racer %d: got %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no conversation got the link")
	}
	if got, err := s.HandoffByLink(ctx, "chatwoot", "1/42"); err != nil || got != ids[winner] {
		t.Errorf("HandoffByLink after the race: got %d, %v, want %d", got, err, ids[winner])
	}
}
