package handoff

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/understudy/understudy"
)

// maxMessageBody caps the body of POST …/messages.
const maxMessageBody = 64 << 10

// Heartbeat is how often an idle event stream gets a comment line, so
// proxies keep it open.
const Heartbeat = 15 * time.Second

// Handler serves the integrator API, through which the end user's client
// follows a handed-over conversation:
//
//	GET  /handoff/v1/conversations/{id}           the conversation and its transcript (JSON)
//	POST /handoff/v1/conversations/{id}/messages  the user's message, {"content": "…"}; 201 with the Message
//	GET  /handoff/v1/conversations/{id}/events    Server-Sent Events: "event: message" with a Message
//	                                              for every new message, "event: closed" at the end
//
// Errors are {"error":{"message","type","code"}} with the status of their
// *understudy.Error. Authentication is the caller's to add in front.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /handoff/v1/conversations/{id}", s.handleGet)
	mux.HandleFunc("POST /handoff/v1/conversations/{id}/messages", s.handlePost)
	mux.HandleFunc("GET /handoff/v1/conversations/{id}/events", s.handleEvents)
	mux.HandleFunc("/handoff/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, understudy.Errorf(understudy.ENOTFOUND, "no such path"))
	})
	return mux
}

// conversationView is the GET body: the conversation and, while it waits,
// its wait estimate.
type conversationView struct {
	Conversation
	WaitSeconds *int64 `json:"wait_seconds,omitempty"`
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	c, err := s.Conversation(r.Context(), id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	v := conversationView{Conversation: c}
	if c.Status == StatusWaiting {
		wait, err := s.WaitEstimate(r.Context(), id)
		if err != nil {
			s.writeError(w, err)
			return
		}
		secs := int64(wait / time.Second)
		v.WaitSeconds = &secs
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Service) handlePost(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var body struct {
		Content string `json:"content"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMessageBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, understudy.Errorf(understudy.ETOOLARGE, "body over %d bytes", maxMessageBody))
			return
		}
		s.writeError(w, understudy.Errorf(understudy.EINVALID, "body must be JSON {\"content\": \"…\"}"))
		return
	}
	m, err := s.UserMessage(r.Context(), id, body.Content)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (s *Service) handleEvents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	// Subscribe before reading, so no message falls between the two.
	ch := s.Subscribe(r.Context(), id)
	c, err := s.Conversation(r.Context(), id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	if c.Status == StatusClosed {
		fmt.Fprint(w, "event: closed\ndata: {}\n\n")
		return
	}
	fmt.Fprint(w, "retry: 2000\nevent: hello\ndata: {}\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	beat := s.clock.NewTicker(Heartbeat)
	defer beat.Stop()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				if r.Context().Err() == nil {
					fmt.Fprint(w, "event: closed\ndata: {}\n\n")
					_ = rc.Flush()
				}
				return
			}
			b, _ := json.Marshal(m)
			fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\n\n", m.ID, b)
		case <-beat.Chan():
			fmt.Fprint(w, ": ping\n\n")
		case <-s.shutdown: // nil: never
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, understudy.Errorf(understudy.ENOTFOUND, "conversation not found")
	}
	return id, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes err as {"error":{"message","type","code"}} with
// (*understudy.Error).HTTPStatus; other errors are logged and shown as a
// generic internal error.
func (s *Service) writeError(w http.ResponseWriter, err error) {
	var e *understudy.Error
	if !errors.As(err, &e) {
		s.log.Error("handoff: internal error", "err", err)
		e = &understudy.Error{Code: understudy.EINTERNAL, Message: "internal error"}
	}
	typ := "invalid_request_error"
	if e.HTTPStatus() >= 500 {
		typ = "server_error"
	}
	body := map[string]any{"error": map[string]any{"message": e.Message, "type": typ, "code": e.Code}}
	writeJSON(w, e.HTTPStatus(), body)
}
