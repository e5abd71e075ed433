package chatwoot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/handoff/chatwoot"
	"github.com/understudy/understudy/handoff/chatwoot/chatwootfake"
)

// TestRoundTrip follows one conversation: handed off with its transcript,
// the user writes, Chatwoot agents answer, Chatwoot resolves it.
func TestRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, nil)
	conv := mustEnqueue(t, ours.svc,
		handoff.Message{Role: handoff.RoleSystem, Content: "You help with billing."},
		handoff.Message{Role: handoff.RoleUser, Content: "My invoice is wrong"},
		handoff.Message{Role: handoff.RoleAssistant, Content: "Let me find a person."})

	// The contact, the conversation with our id, the transcript.
	got := linkedConversation(t, ctx, cw, conv.ID, 3)
	want := []brief{
		{"outgoing", true, "System: You help with billing."},
		{"incoming", false, "My invoice is wrong"},
		{"outgoing", true, "Assistant (before the handoff): Let me find a person."},
	}
	if !reflect.DeepEqual(briefs(got.Messages), want) {
		t.Errorf("transcript: got %+v\nwant %+v", briefs(got.Messages), want)
	}
	if got.Status != "open" || got.InboxID != inbox {
		t.Errorf("got status %q inbox %d, want open in %d", got.Status, got.InboxID, inbox)
	}
	if id, _ := got.AdditionalAttributes["understudy_conversation_id"].(float64); int64(id) != conv.ID ||
		got.AdditionalAttributes["understudy_route"] != "support" || got.AdditionalAttributes["understudy_priority"] != "high" {
		t.Errorf("additional_attributes: got %v, want our id %d, route and priority", got.AdditionalAttributes, conv.ID)
	}
	contacts := cw.fake.Contacts()
	if len(contacts) != 1 || contacts[0].ID != got.ContactID || contacts[0].InboxID != inbox {
		t.Errorf("contacts: got %+v, want the conversation's one, in inbox %d", contacts, inbox)
	}

	// The user's messages arrive as incoming, in order.
	mustUserMessage(t, ours.svc, conv.ID, "Hello?")
	mustUserMessage(t, ours.svc, conv.ID, "Anyone there?")
	got = waitFor(t, ctx, cw, got.ID, "two user messages", hasMessage("Anyone there?"))
	want = append(want, brief{"incoming", false, "Hello?"}, brief{"incoming", false, "Anyone there?"})
	if !reflect.DeepEqual(briefs(got.Messages), want) {
		t.Errorf("after the user's messages: got %+v\nwant %+v", briefs(got.Messages), want)
	}

	// An agent answers in Chatwoot: ours is claimed, subscribers get the reply.
	sub := ours.svc.Subscribe(ctx, conv.ID)
	if status, err := cw.fake.SendAgentMessage(ctx, got.ID, "Alice", "Hi, Alice here."); err != nil || status != http.StatusOK {
		t.Fatalf("agent message webhook: got %d, %v, want 200", status, err)
	}
	select {
	case m := <-sub:
		if m.Role != handoff.RoleAgent || m.Content != "Hi, Alice here." {
			t.Errorf("subscriber: got %+v, want the agent's reply", m)
		}
	case <-ctx.Done():
		t.Fatalf("subscriber got no message")
	}
	c := mustConversation(t, ours.svc, conv.ID)
	if c.Status != handoff.StatusAssigned || c.Assignee != chatwoot.DefaultAgent {
		t.Errorf("after the reply: got %s assigned to %q, want assigned to %q", c.Status, c.Assignee, chatwoot.DefaultAgent)
	}
	// A second agent of the same Chatwoot conversation replies too.
	if status, err := cw.fake.SendAgentMessage(ctx, got.ID, "Bob", "Bob here, I fixed it."); err != nil || status != http.StatusOK {
		t.Fatalf("second agent message webhook: got %d, %v, want 200", status, err)
	}
	c = mustConversation(t, ours.svc, conv.ID)
	if n := len(c.Messages); n < 2 || c.Messages[n-2].Content != "Hi, Alice here." || c.Messages[n-1].Content != "Bob here, I fixed it." ||
		c.Messages[n-1].Role != handoff.RoleAgent {
		t.Errorf("our transcript: got %+v, want both agents' replies last", c.Messages)
	}

	// Agent replies are not relayed back: the next user message follows the
	// agents' own messages directly.
	mustUserMessage(t, ours.svc, conv.ID, "Thanks!")
	got = waitFor(t, ctx, cw, got.ID, "the thanks", hasMessage("Thanks!"))
	want = append(want, brief{"outgoing", false, "Hi, Alice here."}, brief{"outgoing", false, "Bob here, I fixed it."},
		brief{"incoming", false, "Thanks!"})
	if !reflect.DeepEqual(briefs(got.Messages), want) {
		t.Errorf("after the replies: got %+v\nwant %+v", briefs(got.Messages), want)
	}
	if rs := requestsMatching(cw, "/messages", "Alice here"); len(rs) != 0 {
		t.Errorf("the agent's reply was posted back to Chatwoot: %+v", rs)
	}

	// Chatwoot resolves it: ours is closed, and not resolved back.
	if status, err := cw.fake.Resolve(ctx, got.ID); err != nil || status != http.StatusOK {
		t.Fatalf("resolve webhook: got %d, %v, want 200", status, err)
	}
	if c := mustConversation(t, ours.svc, conv.ID); c.Status != handoff.StatusClosed {
		t.Errorf("after Chatwoot resolved it: got %s, want closed", c.Status)
	}
	// Events are relayed in order: once the next conversation is in
	// Chatwoot, the close has been handled.
	next := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Another question"})
	linkedConversation(t, ctx, cw, next.ID, 1)
	if rs := requestsMatching(cw, "/toggle_status", ""); len(rs) != 0 {
		t.Errorf("a conversation closed by Chatwoot was resolved back: %+v", rs)
	}
}

// TestCloseResolvesChatwoot: closing ours resolves the Chatwoot copy; the
// webhooks Chatwoot sends back about it change nothing.
func TestCloseResolvesChatwoot(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, nil)
	conv := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	got := linkedConversation(t, ctx, cw, conv.ID, 1)
	if _, err := ours.svc.Close(ctx, conv.ID); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitFor(t, ctx, cw, got.ID, "resolved", func(c chatwootfake.Conversation) bool { return c.Status == "resolved" })
	err := cw.fake.Wait(ctx, func() bool { return len(requestsMatching(cw, "/toggle_status", "")) > 0 })
	if err != nil {
		t.Fatalf("toggle_status call: %v", err)
	}
	cw.fake.Close() // the echoed webhooks have been answered
	for _, d := range cw.fake.Deliveries() {
		if d.Status != http.StatusOK {
			t.Errorf("echoed webhook %s: got %d, want 200", d.Body, d.Status)
		}
	}
	if c := mustConversation(t, ours.svc, conv.ID); len(c.Messages) != 1 || c.Status != handoff.StatusClosed {
		t.Errorf("ours after the echoes: got %s %+v, want closed with the one message", c.Status, c.Messages)
	}
	if rs := requestsMatching(cw, "/toggle_status", `"resolved"`); len(rs) != 1 {
		t.Errorf("toggle_status calls: got %d, want 1", len(rs))
	}
}

// TestRetries: failed calls are retried on the clock and delivered once;
// a message that fails for good does not hold up the next ones.
func TestRetries(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, func(o *chatwoot.Options) { o.MaxAttempts = 3 })
	conv := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	got := linkedConversation(t, ctx, cw, conv.ID, 1)

	cw.fake.FailNext(2, http.StatusInternalServerError, "")
	mustUserMessage(t, ours.svc, conv.ID, "after two 500s")
	advanceRetries(t, ctx, cw, 2)
	waitFor(t, ctx, cw, got.ID, "the retried message", hasMessage("after two 500s"))

	cw.fake.FailNext(1, http.StatusTooManyRequests, "7")
	mustUserMessage(t, ours.svc, conv.ID, "after a 429")
	advanceRetries(t, ctx, cw, 1)
	waitFor(t, ctx, cw, got.ID, "the message after a 429", hasMessage("after a 429"))

	cw.fake.FailNext(3, http.StatusBadGateway, "")
	mustUserMessage(t, ours.svc, conv.ID, "lost after three 502s")
	advanceRetries(t, ctx, cw, 2)
	cw.fake.FailNext(1, http.StatusBadRequest, "") // final: not retried
	mustUserMessage(t, ours.svc, conv.ID, "refused with 400")
	mustUserMessage(t, ours.svc, conv.ID, "still relayed")
	got = waitFor(t, ctx, cw, got.ID, "the last message", hasMessage("still relayed"))

	want := []string{"Help", "after two 500s", "after a 429", "still relayed"}
	var contents []string
	for _, m := range got.Messages {
		contents = append(contents, m.Content)
	}
	if !reflect.DeepEqual(contents, want) {
		t.Errorf("got messages %q, want %q", contents, want)
	}
	wantStatuses := []int{200, 500, 500, 200, 429, 200, 502, 502, 502, 400, 200}
	var statuses []int
	err := cw.fake.Wait(ctx, func() bool { // a call is recorded once answered
		statuses = nil
		for _, r := range requestsMatching(cw, "/messages", "") {
			statuses = append(statuses, r.Status)
		}
		return len(statuses) >= len(wantStatuses)
	})
	if err != nil || !reflect.DeepEqual(statuses, wantStatuses) {
		t.Errorf("message calls: got statuses %v, want %v", statuses, wantStatuses)
	}
}

// TestCreateLater: when the handoff could not be relayed, the user's next
// message creates the Chatwoot conversation, with the whole transcript.
func TestCreateLater(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, func(o *chatwoot.Options) { o.MaxAttempts = 2 })
	cw.fake.FailNext(2, http.StatusServiceUnavailable, "")
	conv := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	advanceRetries(t, ctx, cw, 1)
	mustUserMessage(t, ours.svc, conv.ID, "Still there?")
	got := linkedConversation(t, ctx, cw, conv.ID, 2)
	want := []brief{{"incoming", false, "Help"}, {"incoming", false, "Still there?"}}
	if !reflect.DeepEqual(briefs(got.Messages), want) {
		t.Errorf("got %+v, want %+v", briefs(got.Messages), want)
	}
	if n := len(cw.fake.Conversations()); n != 1 {
		t.Errorf("got %d Chatwoot conversations, want 1", n)
	}
}

// TestClaimedInTheConsole: when a console agent takes the conversation,
// Chatwoot is told, and Chatwoot's replies no longer reach the user.
func TestClaimedInTheConsole(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, nil)
	conv := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	got := linkedConversation(t, ctx, cw, conv.ID, 1)
	if _, err := ours.svc.Claim(ctx, conv.ID, "alice"); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	got = waitFor(t, ctx, cw, got.ID, "the note", func(c chatwootfake.Conversation) bool {
		last := c.Messages[len(c.Messages)-1]
		return last.Private && strings.Contains(last.Content, "Taken over in Understudy by alice")
	})
	if status, err := cw.fake.SendAgentMessage(ctx, got.ID, "Bob", "Bob here"); err != nil || status != http.StatusOK {
		t.Fatalf("agent message webhook: got %d, %v, want 200", status, err)
	}
	if c := mustConversation(t, ours.svc, conv.ID); c.Assignee != "alice" || len(c.Messages) != 1 {
		t.Errorf("ours: got assignee %q and %+v, want alice's with only the user's message", c.Assignee, c.Messages)
	}
}

// TestRestart: the link survives a restart, so webhooks about an old
// conversation still map back, and its new messages go to the same place.
func TestRestart(t *testing.T) {
	ctx := testCtx(t)
	cw := newChatwoot(t)
	path := filepath.Join(t.TempDir(), "understudy.db")
	first := startOurs(t, cw, path, nil)
	conv := mustEnqueue(t, first.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	got := linkedConversation(t, ctx, cw, conv.ID, 1)
	first.stop()

	second := startOurs(t, cw, path, nil)
	if status, err := cw.fake.SendAgentMessage(ctx, got.ID, "Alice", "Back after the restart"); err != nil || status != http.StatusOK {
		t.Fatalf("agent message webhook: got %d, %v, want 200", status, err)
	}
	c := mustConversation(t, second.svc, conv.ID)
	if last := c.Messages[len(c.Messages)-1]; last.Role != handoff.RoleAgent || last.Content != "Back after the restart" {
		t.Errorf("after the restart: got %+v, want the agent's reply last", c.Messages)
	}
	mustUserMessage(t, second.svc, conv.ID, "Great")
	waitFor(t, ctx, cw, got.ID, "the user's answer", hasMessage("Great"))
	if n := len(cw.fake.Conversations()); n != 1 {
		t.Errorf("got %d Chatwoot conversations, want 1", n)
	}
}

// TestRedelivery: Chatwoot delivering the same message twice relays it once.
func TestRedelivery(t *testing.T) {
	ctx := testCtx(t)
	cw, ours := setup(t, nil)
	conv := mustEnqueue(t, ours.svc, handoff.Message{Role: handoff.RoleUser, Content: "Help"})
	got := linkedConversation(t, ctx, cw, conv.ID, 1)
	if status, err := cw.fake.SendAgentMessage(ctx, got.ID, "Alice", "Only once"); err != nil || status != http.StatusOK {
		t.Fatalf("agent message webhook: got %d, %v, want 200", status, err)
	}
	i := slices.IndexFunc(cw.fake.Deliveries(), func(d chatwootfake.Delivery) bool { return strings.Contains(string(d.Body), "Only once") })
	if i < 0 {
		t.Fatalf("the agent message webhook is not among the deliveries")
	}
	body := cw.fake.Deliveries()[i].Body
	status, answer := deliver(t, ctx, cw, body)
	if status != http.StatusOK || answer["status"] != "ignored" {
		t.Errorf("redelivery: got %d %v, want 200 ignored", status, answer)
	}
	c := mustConversation(t, ours.svc, conv.ID)
	if n := len(c.Messages); n != 2 {
		t.Errorf("got %d messages, want the user's and one reply: %+v", n, c.Messages)
	}
}

// deliver posts a correctly signed body to our webhook and returns the
// status and the decoded answer.
func deliver(tb testing.TB, ctx context.Context, cw *chatwootSide, body []byte) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cw.fake.WebhookURL, strings.NewReader(string(body)))
	if err != nil {
		tb.Fatalf("request: %v", err)
	}
	ts := cw.clock.Now().Unix()
	req.Header.Set("X-Chatwoot-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Chatwoot-Signature", chatwootfake.Sign(secret, ts, body))
	return post(tb, req)
}

func post(tb testing.TB, req *http.Request) (int, map[string]any) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode, answer
}
