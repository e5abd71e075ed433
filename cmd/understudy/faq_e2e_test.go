package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestFAQStep: a route with `degrade: [faq, notice]` answers from the FAQ
// when no target can, in the user's language, and falls to the notice when
// the FAQ has nothing confident to say.
func TestFAQStep(t *testing.T) {
	ctx, cancel := testCtx(t)
	dir, _ := filepath.Abs("../../faq/testdata/example")
	s := startServed(ctx, t, serveConfig+"    degrade: [faq, notice]\nfaq: {dir: \"${FAQ}\"}\n", map[string]string{"FAQ": dir})
	base := s.base
	s.down(t)
	ask := func(q, lang string) (string, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":`+strings.TrimSpace(mustJSON(q))+`}]}`))
		req.Header.Set("Accept-Language", lang)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			Choices []struct{ Message struct{ Content string } } `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 || len(c.Choices) == 0 {
			t.Fatalf("%q: HTTP %d %v", q, resp.StatusCode, err)
		}
		return resp.Header.Get("X-Understudy-Mode"), c.Choices[0].Message.Content
	}
	if mode, text := ask("How do I reset my password?", "en"); mode != "degraded_faq" || !strings.Contains(strings.ToLower(text), "password") {
		t.Errorf("English FAQ: %s %q", mode, text)
	}
	if mode, text := ask("Comment réinitialiser mon mot de passe ?", "fr-FR"); mode != "degraded_faq" || !strings.Contains(text, "mot de passe") {
		t.Errorf("French FAQ: %s %q", mode, text)
	}
	if mode, _ := ask("What is the weather on Mars?", "en"); mode != "notice" {
		t.Errorf("no confident FAQ answer: mode %s, want notice", mode)
	}
	s.stop(t, cancel)
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
