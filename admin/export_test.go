package admin

import "net/http"

// MuxPatterns lists every pattern registered on the handler's mux.
func (h *Handler) MuxPatterns() []string { return append([]string(nil), h.mux.patterns...) }

// MatchedPattern is the mux pattern r matches, "" when none.
func (h *Handler) MatchedPattern(r *http.Request) string {
	_, p := h.mux.Handler(r)
	return p
}
