package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/handoff"
)

// Handoff is the human-handoff queue as the agents' console uses it;
// *handoff.Service implements it.
type Handoff interface {
	Queue(ctx context.Context) ([]handoff.Conversation, error)
	Conversation(ctx context.Context, id int64) (handoff.Conversation, error)
	Claim(ctx context.Context, id int64, agent string) (handoff.Conversation, error)
	Reply(ctx context.Context, id int64, agent, content string) (handoff.Message, error)
	Close(ctx context.Context, id int64) (handoff.Conversation, error)
}

var _ Handoff = (*handoff.Service)(nil)

// registerHandoff adds the agents' pages (agent scope) when a queue exists.
func (h *Handler) registerHandoff() {
	if h.handoff == nil {
		return
	}
	agent := understudy.ScopeAgent
	h.route("GET", "/console/handoff", agent, http.HandlerFunc(h.consoleQueue))
	h.route("GET", "/console/handoff/{id}", agent, http.HandlerFunc(h.consoleConversation))
	h.route("POST", "/console/handoff/{id}/claim", agent, http.HandlerFunc(h.consoleClaim))
	h.route("POST", "/console/handoff/{id}/reply", agent, http.HandlerFunc(h.consoleReply))
	h.route("POST", "/console/handoff/{id}/close", agent, http.HandlerFunc(h.consoleCloseConversation))
}

// queueRow is a conversation in the queue with its SLA timer.
type queueRow struct {
	handoff.Conversation
	Waiting string // since it was queued (the SLA timer)
}

type queueData struct {
	Rows []queueRow
	Conv *handoff.Conversation
	Mine bool // the signed-in agent holds the conversation
}

func (h *Handler) consoleQueue(w http.ResponseWriter, r *http.Request) {
	cs, err := h.handoff.Queue(r.Context())
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	now := h.clock.Now()
	rows := make([]queueRow, len(cs))
	for i, c := range cs {
		rows[i] = queueRow{Conversation: c, Waiting: now.Sub(c.CreatedAt).Round(time.Second).String()}
	}
	h.render(w, r, http.StatusOK, "handoff", "Handoff queue", queueData{Rows: rows}, "")
}

func (h *Handler) consoleConversation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "conversation")
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	c, err := h.handoff.Conversation(r.Context(), id)
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	me := principalFrom(r.Context()).Name
	h.render(w, r, http.StatusOK, "handoff", fmt.Sprintf("Conversation #%d", id), queueData{Conv: &c, Mine: c.Assignee == me}, "")
}

func (h *Handler) consoleClaim(w http.ResponseWriter, r *http.Request) {
	h.conversationAction(w, r, "claimed", func(ctx context.Context, id int64, agent string) error {
		_, err := h.handoff.Claim(ctx, id, agent)
		return err
	})
}

func (h *Handler) consoleReply(w http.ResponseWriter, r *http.Request) {
	content := strings.TrimSpace(r.PostFormValue("content"))
	h.conversationAction(w, r, "answered", func(ctx context.Context, id int64, agent string) error {
		if content == "" {
			return understudy.Errorf(understudy.EINVALID, "the reply is empty")
		}
		_, err := h.handoff.Reply(ctx, id, agent, content)
		return err
	})
}

func (h *Handler) consoleCloseConversation(w http.ResponseWriter, r *http.Request) {
	h.conversationAction(w, r, "closed", func(ctx context.Context, id int64, _ string) error {
		_, err := h.handoff.Close(ctx, id)
		return err
	})
}

// conversationAction runs a change on the conversation of the path and
// goes back to its page (Post/Redirect/Get).
func (h *Handler) conversationAction(w http.ResponseWriter, r *http.Request, what string, do func(context.Context, int64, string) error) {
	id, err := pathID(r, "conversation")
	if err == nil {
		err = do(r.Context(), id, principalFrom(r.Context()).Name)
	}
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	h.done(w, r, fmt.Sprintf("/console/handoff/%d", id), fmt.Sprintf("Conversation #%d %s.", id, what), "")
}
