package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understudy/understudy/simulate"
)

// TestFAQStep: a route with `degrade: [faq, notice]` answers from the FAQ
// when no target can, in the user's language, and falls to the notice when
// the FAQ has nothing confident to say.
func TestFAQStep(t *testing.T) {
	ctx, cancel := testCtx(t)
	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	dir, _ := filepath.Abs("../../faq/testdata/example")
	db := filepath.Join(t.TempDir(), "u.db")
	env := func(k string) string { return map[string]string{"SIM_URL": simSrv.URL, "DB": db, "FAQ": dir}[k] }
	cfg := serveConfig + "    degrade: [faq, notice]\nfaq: {dir: \"${FAQ}\"}\n"
	path := writeFile(t, t.TempDir(), "understudy.yaml", cfg)
	stdout, stderr := newLines(), newLines()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", path}, env, stdout, stderr) }()
	line := stdout.waitFor(ctx, t, "listening on ")
	base := strings.TrimSpace(line[strings.Index(line, "http://"):])
	for _, p := range []string{"primary", "secondary"} {
		if err := sim.SetFault(p, simulate.Fault{Kind: simulate.KindServerError}); err != nil {
			t.Fatal(err)
		}
	}
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
