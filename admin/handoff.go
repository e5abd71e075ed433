package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
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
	// Watch returns every change to any conversation from now on, until
	// ctx ends (then the channel is closed).
	Watch(ctx context.Context) <-chan handoff.Event
}

var _ Handoff = (*handoff.Service)(nil)

const (
	// DefaultHandoffSLA is Options.HandoffSLA when zero.
	DefaultHandoffSLA = 2 * time.Minute
	// handoffHeartbeat is how often an idle console event stream gets a
	// comment line (so proxies keep it open), and how often it checks that
	// its session is still valid.
	handoffHeartbeat = 15 * time.Second
	// handoffEventsPath is the stream the handoff pages follow.
	handoffEventsPath = "/console/handoff/events"
)

// handoffJS follows the event stream and ticks the SLA timers of the
// handoff pages; they work without it.
//
//go:embed static/handoff.js
var handoffJS []byte

// handoffJSVersion is a hash of handoffJS: the pages ask for
// /console/static/handoff.js?v=<version>, which may be cached for good.
var handoffJSVersion = func() string {
	sum := sha256.Sum256(handoffJS)
	return hex.EncodeToString(sum[:6])
}()

// registerHandoff adds the agents' pages (agent scope) when a queue exists.
func (h *Handler) registerHandoff() {
	if h.handoff == nil {
		return
	}
	agent := understudy.ScopeAgent
	h.route("GET", "/console/static/handoff.js", agent, http.HandlerFunc(h.handoffScript))
	h.route("GET", "/console/handoff", agent, http.HandlerFunc(h.consoleQueue))
	h.route("GET", handoffEventsPath, agent, http.HandlerFunc(h.consoleHandoffEvents))
	h.route("GET", "/console/handoff/{id}", agent, http.HandlerFunc(h.consoleConversation))
	h.route("POST", "/console/handoff/{id}/claim", agent, http.HandlerFunc(h.consoleClaim))
	h.route("POST", "/console/handoff/{id}/reply", agent, http.HandlerFunc(h.consoleReply))
	h.route("POST", "/console/handoff/{id}/close", agent, http.HandlerFunc(h.consoleCloseConversation))
}

// slaTimer is how long a conversation has waited for an agent (or, once
// claimed, how long it has been assigned). The page shows Elapsed; the
// script ticks it from Since.
type slaTimer struct {
	Since   int64  // the start, in milliseconds since the Unix epoch
	Start   string // the start, for people (UTC)
	Elapsed string // at rendering, e.g. "1m30s"
	What    string // "waiting" or "since claimed"
	Limit   int64  // seconds after which it is late; 0: it never is
	Late    bool
}

// sla is c's timer at now: waiting ones turn late past h.handoffSLA, assigned
// ones count from the claim and are never late.
func (h *Handler) sla(c handoff.Conversation, now time.Time) *slaTimer {
	var t slaTimer
	switch c.Status {
	case handoff.StatusWaiting:
		t = slaTimer{Since: c.CreatedAt.UnixMilli(), What: "waiting", Limit: int64(h.handoffSLA / time.Second)}
		t.Late = now.Sub(c.CreatedAt) > h.handoffSLA
	case handoff.StatusAssigned:
		claimed := c.AssignedAt
		if claimed.IsZero() {
			claimed = c.UpdatedAt
		}
		t = slaTimer{Since: claimed.UnixMilli(), What: "since claimed"}
	default:
		return nil
	}
	start := time.UnixMilli(t.Since).UTC()
	t.Start = start.Format("2006-01-02 15:04:05 UTC")
	t.Elapsed = max(now.Sub(start), 0).Round(time.Second).String()
	return &t
}

// queueRow is a conversation in the queue with its SLA timer.
type queueRow struct {
	handoff.Conversation
	SLA *slaTimer
}

// queueData is the queue page (Conv nil) or a conversation's page.
type queueData struct {
	Rows []queueRow
	// Version changes when the rows do (not when only their timers do):
	// the script swaps the queue only then.
	Version string
	Limit   time.Duration // how long a conversation may wait (Options.HandoffSLA)
	Conv    *handoff.Conversation
	SLA     *slaTimer // the conversation's
	Mine    bool      // the signed-in agent holds the conversation
	// Now is the server's time in milliseconds since the Unix epoch: the
	// script measures the browser's clock against it.
	Now      int64
	Events   string // the event stream's path
	Fragment string // the path of the page's live parts
	Script   string // the script's versioned path
}

func (h *Handler) newQueueData() queueData {
	return queueData{Now: h.clock.Now().UnixMilli(), Limit: h.handoffSLA, Events: handoffEventsPath,
		Script: "/console/static/handoff.js?v=" + handoffJSVersion}
}

func (h *Handler) consoleQueue(w http.ResponseWriter, r *http.Request) {
	cs, err := h.handoff.Queue(r.Context())
	if err != nil {
		h.consoleError(w, r, err)
		return
	}
	d := h.newQueueData()
	d.Fragment = "/console/handoff?fragment=live"
	now := h.clock.Now()
	d.Rows = make([]queueRow, len(cs))
	sum := sha256.New()
	for i, c := range cs {
		d.Rows[i] = queueRow{Conversation: c, SLA: h.sla(c, now)}
		fmt.Fprintf(sum, "%d %s %q %s\n", c.ID, c.Status, c.Assignee, c.Priority)
	}
	d.Version = hex.EncodeToString(sum.Sum(nil)[:8])
	h.renderHandoff(w, r, "Handoff queue", d)
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
	d := h.newQueueData()
	d.Fragment = fmt.Sprintf("/console/handoff/%d?fragment=live", id)
	d.Conv, d.SLA, d.Mine = &c, h.sla(c, h.clock.Now()), c.Assignee == principalFrom(r.Context()).Name
	h.renderHandoff(w, r, fmt.Sprintf("Conversation #%d", id), d)
}

// renderHandoff writes a handoff page, or with ?fragment=live only its
// live parts (what the script swaps in when something changes).
func (h *Handler) renderHandoff(w http.ResponseWriter, r *http.Request, title string, d queueData) {
	if r.URL.Query().Get("fragment") != "live" {
		h.render(w, r, http.StatusOK, "handoff", title, d, "")
		return
	}
	// No flash is taken: it is for the next full page.
	pd := pageData{Title: title, Page: "handoff", Data: d}
	if p := principalFrom(r.Context()); p.sess != nil {
		pd.User, pd.Scope, pd.CSRF = p.Name, p.Scope, p.sess.csrf
	}
	var buf bytes.Buffer
	if err := h.pages["handoff"].ExecuteTemplate(&buf, "fragment", pd); err != nil {
		h.log.Error("admin: rendering a handoff fragment", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}

// handoffChange is the data of a console event: which conversation changed
// and its status now. The page fetches what it shows.
type handoffChange struct {
	ID     int64          `json:"id"`
	Status handoff.Status `json:"status"`
	Role   handoff.Role   `json:"role,omitempty"` // who wrote, for "message"
}

// consoleHandoffEvents streams the queue's changes as Server-Sent Events:
// "event: hello" at once, then "event: created|claimed|message|closed"
// with a handoffChange, and a ": ping" comment every handoffHeartbeat. The
// stream ends when the request does, when Options.Shutdown is closed, or when the session stops being valid (checked at each
// heartbeat).
func (h *Handler) consoleHandoffEvents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Watch before hello: whatever happens after the client sees hello
	// reaches it.
	changes := h.handoff.Watch(ctx)
	beat := h.clock.NewTicker(handoffHeartbeat)
	defer beat.Stop()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	fmt.Fprint(w, "retry: 2000\nevent: hello\ndata: {}\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	for {
		select {
		case e, ok := <-changes:
			if !ok {
				return
			}
			c := handoffChange{ID: e.Conversation.ID, Status: e.Conversation.Status}
			if e.Message != nil {
				c.Role = e.Message.Role
			}
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, b)
		case <-beat.Chan():
			if _, err := h.sessionPrincipal(r); err != nil {
				return // signed out, expired or revoked: the page's next fetch goes to the sign-in
			}
			fmt.Fprint(w, ": ping\n\n")
		case <-h.shutdown:
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// handoffScript serves handoff.js; a request with the current version may
// cache it for good.
func (h *Handler) handoffScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == handoffJSVersion {
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+handoffJSVersion+`"`)
	http.ServeContent(w, r, "handoff.js", time.Time{}, bytes.NewReader(handoffJS))
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
