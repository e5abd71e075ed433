package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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

// degrade serves the route's ladder when no target could answer; false
// when the route has none (or nothing serves), and the caller answers 503.
func (x *exchange) degrade() bool {
	if x.g.degrader == nil || !slices.Contains(x.route.degrade, config.DegradeNotice) {
		return false
	}
	text, lang := x.g.degrader.NoticeAnswer(x.route.name, x.acceptLanguage)
	if text == "" {
		return false
	}
	x.finish(routeTarget{}, "notice", nil)
	h := x.w.Header()
	x.routeHeaders()
	h.Set("X-Understudy-Mode", "notice")
	h.Set("Content-Language", lang)
	id := fmt.Sprintf("chatcmpl-notice-%d", x.g.clk.Now().UnixNano())
	created := x.g.clk.Now().Unix()
	if !x.req.Stream {
		body, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": x.route.name,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
		})
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		x.w.WriteHeader(http.StatusOK)
		_, _ = x.w.Write(body)
		return true
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": x.route.name,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		_, _ = fmt.Fprintf(x.w, "data: %s\n\n", b)
	}
	chunk(map[string]any{"role": "assistant", "content": text}, nil)
	chunk(map[string]any{}, "stop")
	_, _ = fmt.Fprint(x.w, "data: [DONE]\n\n")
	_ = http.NewResponseController(x.w).Flush()
	return true
}
