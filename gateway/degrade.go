package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/config"
)

// Degrader writes degraded answers (the incident engine). It is called on
// the request path: it must not block.
type Degrader interface {
	// NoticeAnswer is the honest answer for a route no target can serve,
	// in the language acceptLanguage prefers, and that language.
	NoticeAnswer(route, acceptLanguage string) (text, lang string)
}

// FAQ answers from the knowledge base (the "faq" step). It is called on the
// request path: it must be fast (an in-memory index).
type FAQ interface {
	// Answer is the best answer to question in lang (a language tag, may
	// be empty) when its confidence is above the threshold, and the
	// answer's own language.
	Answer(ctx context.Context, question, lang string) (answer, answerLang string, ok bool)
}

// Handoff queues a conversation for a human agent (the "handoff" step). It
// is called on the request path under a timeout (Options.HandoffTimeout):
// an error, or no answer in time, moves on to the ladder's next step.
type Handoff interface {
	// HandOff queues the conversation and returns what to tell the user, in
	// the language acceptLanguage prefers, and the conversation's id.
	HandOff(ctx context.Context, route, priority string, msgs []chat.Message, acceptLanguage string) (text, lang string, id int64, err error)
}

// lastUserText is the text of the conversation's last user message; ""
// when none.
func lastUserText(msgs []chat.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Text()
		}
	}
	return ""
}

// firstLanguage is the first tag of an Accept-Language header ("" when none).
func firstLanguage(acceptLanguage string) string {
	tag, _, _ := strings.Cut(acceptLanguage, ",")
	tag, _, _ = strings.Cut(tag, ";")
	return strings.TrimSpace(tag)
}

// withNotice adds the route's own notice (when it has one) to an answer
// served degraded.
func (x *exchange) withNotice(text string) (string, string) {
	if !x.route.notice || x.g.degrader == nil {
		return text, ""
	}
	n, lang := x.g.degrader.NoticeAnswer(x.route.name, x.acceptLanguage)
	if n == "" {
		return text, lang
	}
	return text + "\n\n— " + n, lang
}

// degrade serves the route's ladder when no target could answer, step by
// step; false when no step could (the caller answers 503).
func (x *exchange) degrade() bool {
	for _, step := range x.route.degrade {
		switch step {
		case config.DegradeCache:
			if x.route.cache == nil || !x.req.Cacheable {
				continue
			}
			e, ok := x.route.cache.get(x.req.ConversationKey(), x.g.clk.Now())
			if !ok {
				continue
			}
			text, lang := x.withNotice(e.answer)
			x.g.metrics.cache.WithLabelValues(x.route.name, "hit").Inc()
			x.writeDegraded("degraded_cache", text, e.model, lang)
			return true
		case config.DegradeFAQ:
			if x.g.faq == nil {
				continue
			}
			q := lastUserText(x.req.Messages)
			if q == "" {
				continue
			}
			answer, answerLang, ok := x.g.faq.Answer(context.Background(), q, firstLanguage(x.acceptLanguage))
			if !ok {
				continue
			}
			text, lang := x.withNotice(answer)
			if answerLang != "" {
				lang = answerLang
			}
			x.writeDegraded("degraded_faq", text, x.route.name, lang)
			return true
		case config.DegradeHandoff:
			if x.g.handoff == nil {
				continue
			}
			// Bounded: the handoff queue is in the database, which may be
			// unreachable; the ladder then goes on to its next step.
			ctx, cancel := context.WithTimeout(context.Background(), x.g.handoffTimeout)
			text, lang, id, err := x.g.handoff.HandOff(ctx, x.route.name, x.key.priority, x.req.Messages, x.acceptLanguage)
			cancel()
			if err != nil {
				x.g.log.Warn("handoff failed", "route", x.route.name, "err", err)
				continue
			}
			x.w.Header().Set("X-Understudy-Handoff", strconv.FormatInt(id, 10))
			x.writeDegraded("handoff", text, x.route.name, lang)
			return true
		case config.DegradeNotice:
			if x.g.degrader == nil {
				continue
			}
			text, lang := x.g.degrader.NoticeAnswer(x.route.name, x.acceptLanguage)
			if text == "" {
				continue
			}
			x.writeDegraded("notice", text, x.route.name, lang)
			return true
		}
	}
	if x.route.cache != nil {
		x.g.metrics.cache.WithLabelValues(x.route.name, "miss").Inc()
	}
	return false
}

// writeDegraded answers with text as a valid chat completion (streamed when
// the client asked for a stream), recording the request as served in mode.
func (x *exchange) writeDegraded(mode, text, model, lang string) {
	x.finish(routeTarget{}, mode, nil)
	h := x.w.Header()
	x.routeHeaders()
	h.Set("X-Understudy-Mode", mode)
	if lang != "" {
		h.Set("Content-Language", lang)
	}
	id := fmt.Sprintf("chatcmpl-%s-%d", mode, x.g.clk.Now().UnixNano())
	created := x.g.clk.Now().Unix()
	if !x.req.Stream {
		body, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
		})
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		x.w.WriteHeader(http.StatusOK)
		_, _ = x.w.Write(body)
		return
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		_, _ = fmt.Fprintf(x.w, "data: %s\n\n", b)
	}
	chunk(map[string]any{"role": "assistant", "content": text}, nil)
	chunk(map[string]any{}, "stop")
	_, _ = fmt.Fprint(x.w, "data: [DONE]\n\n")
	_ = http.NewResponseController(x.w).Flush()
}
