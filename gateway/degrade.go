package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/understudy/understudy/config"
)

// Degrader writes degraded answers (the incident engine). It is called on
// the request path: it must not block.
type Degrader interface {
	// NoticeAnswer is the honest answer for a route no target can serve,
	// in the language acceptLanguage prefers, and that language.
	NoticeAnswer(route, acceptLanguage string) (text, lang string)
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
			text, lang := e.answer, ""
			if x.route.notice && x.g.degrader != nil {
				// The route's own notice goes with answers served degraded.
				var n string
				if n, lang = x.g.degrader.NoticeAnswer(x.route.name, x.acceptLanguage); n != "" {
					text += "\n\n— " + n
				}
			}
			x.g.metrics.cache.WithLabelValues(x.route.name, "hit").Inc()
			x.writeDegraded("degraded_cache", text, e.model, lang)
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
