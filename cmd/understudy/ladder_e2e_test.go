package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestLadderInOrder: the whole degradation ladder through `serve`, in
// English and in French. With every target down, a route with `degrade:
// [cache, faq, handoff, notice]` answers a conversation it answered before
// from the cache; another one from the FAQ when it is confident; else hands
// it to a person; a route without the handoff step gives the notice
// instead. Each answer is a chat completion in the user's language.
func TestLadderInOrder(t *testing.T) {
	ctx, cancel := testCtx(t)
	dir, _ := filepath.Abs("../../faq/testdata/example")
	cfg := serveConfig + `    degrade: [cache, faq, handoff, notice]
  - name: no-agents
    tiers:
      - [{provider: primary, model: gpt-4o-mini}]
      - [{provider: secondary, model: claude-haiku-4-5}]
    degrade: [cache, faq, notice]
faq: {dir: "${FAQ}"}
`
	s := startServed(ctx, t, cfg, map[string]string{"FAQ": dir})
	base := s.base

	type answer struct{ mode, lang, text string }
	ask := func(route, q, lang string) answer {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
			strings.NewReader(`{"model":"`+route+`","messages":[{"role":"user","content":`+mustJSON(q)+`}]}`))
		req.Header.Set("Accept-Language", lang)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Message      struct{ Role, Content string }
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 || len(c.Choices) != 1 {
			t.Fatalf("%s %q: HTTP %d %v", route, q, resp.StatusCode, err)
		}
		if c.Object != "chat.completion" || c.Choices[0].Message.Role != "assistant" || c.Choices[0].FinishReason != "stop" {
			t.Errorf("%s %q: not a whole chat completion: %+v", route, q, c)
		}
		return answer{resp.Header.Get("X-Understudy-Mode"), resp.Header.Get("Content-Language"), c.Choices[0].Message.Content}
	}

	langs := []struct {
		tag, lang           string
		cached, faq, other  string
		faqWord, handoffSay string
	}{
		{"en-GB", "en", "Tell me about the clouds over the sea.", "How do I reset my password?", "What is the weather on Mars?",
			"password", "A person from our team will take over"},
		{"fr-FR", "fr", "Parle-moi des nuages sur la mer.", "Comment réinitialiser mon mot de passe ?", "Quel temps fait-il sur Mars ?",
			"mot de passe", "Une personne de notre équipe va prendre le relais"},
	}
	// While the targets answer, the model's answers are remembered.
	model := map[string]string{}
	for _, l := range langs {
		a := ask("assistant", l.cached, l.tag)
		if a.mode != "" || a.text == "" {
			t.Fatalf("healthy route: mode %q, text %q", a.mode, a.text)
		}
		model[l.lang] = a.text
	}
	s.down(t)
	for _, l := range langs {
		t.Run(l.lang, func(t *testing.T) {
			if a := ask("assistant", l.cached, l.tag); a.mode != "degraded_cache" || a.text != model[l.lang] {
				t.Errorf("1. cache: %+v, want degraded_cache with the model's earlier answer %q", a, model[l.lang])
			}
			if a := ask("assistant", l.faq, l.tag); a.mode != "degraded_faq" || a.lang != l.lang || !strings.Contains(strings.ToLower(a.text), l.faqWord) {
				t.Errorf("2. FAQ: %+v, want degraded_faq in %s mentioning %q", a, l.lang, l.faqWord)
			}
			if a := ask("assistant", l.other, l.tag); a.mode != "handoff" || a.lang != l.lang || !strings.HasPrefix(a.text, l.handoffSay) {
				t.Errorf("3. handoff: %+v, want handoff in %s starting %q", a, l.lang, l.handoffSay)
			}
			if a := ask("no-agents", l.other, l.tag); a.mode != "notice" || a.lang != l.lang || a.text == "" {
				t.Errorf("4. notice (no handoff step): %+v, want notice in %s", a, l.lang)
			}
		})
	}
	s.stop(t, cancel)
}
