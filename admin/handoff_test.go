package admin_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/store"
)

// TestHandoffConsole: an agent sees the queue with its waiting time, claims
// a conversation, answers the user and closes it; another agent cannot
// answer a conversation it does not hold.
func TestHandoffConsole(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var svc *handoff.Service
	f := newFixture(t, func(o *admin.Options) {
		svc = handoff.New(handoff.Options{Store: st, Clock: o.Clock})
		o.Handoff = svc
	})
	conv, _, err := svc.Enqueue(ctx, "assistant", "default", []handoff.Message{{Role: handoff.RoleUser, Content: "My order <never> arrived"}})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(conv.ID, 10)
	f.clock.Advance(90e9) // 90 s in the queue
	if status, _, res := f.browser(t).get(t, "/console/handoff"); status != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/console/signin") {
		t.Errorf("queue without signing in: %d", status)
	}
	agent := f.signIn(t, agentTok)
	if status, page, _ := agent.get(t, "/console/handoff"); status != 200 || !strings.Contains(page, "#"+id) || !strings.Contains(page, "1m30s") {
		t.Fatalf("queue: %d\n%s", status, page)
	}
	if _, page, _ := agent.get(t, "/console/handoff/"+id); !strings.Contains(page, "My order &lt;never&gt; arrived") || !strings.Contains(page, "Claim #"+id) {
		t.Fatalf("conversation page:\n%s", page)
	}
	if status, _, _ := agent.post(t, "/console/handoff/"+id+"/claim", nil); status != 303 {
		t.Fatalf("claim: %d", status)
	}
	other := f.signIn(t, operatorTok)
	if status, _, _ := other.post(t, "/console/handoff/"+id+"/reply", url.Values{"content": {"Hi"}}); status == 303 {
		t.Error("an agent who does not hold the conversation answered it")
	}
	if status, _, _ := agent.post(t, "/console/handoff/"+id+"/reply", url.Values{"content": {"Hello, I am looking into it."}}); status != 303 {
		t.Fatalf("reply: %d", status)
	}
	if status, _, _ := agent.post(t, "/console/handoff/"+id+"/close", nil); status != 303 {
		t.Fatalf("close: %d", status)
	}
	c, err := svc.Conversation(ctx, conv.ID)
	if err != nil || c.Status != handoff.StatusClosed || len(c.Messages) != 2 || c.Messages[1].Content != "Hello, I am looking into it." || c.Assignee != "agent" {
		t.Errorf("conversation after the console: %+v %v", c, err)
	}
}
