package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestHandoffStep: with `degrade: [handoff]`, when no model can answer the
// conversation is queued for a person with its transcript; the user is told
// so in their language, with a reference the chat UI can follow through the
// integrator API.
func TestHandoffStep(t *testing.T) {
	ctx, cancel := testCtx(t)
	s := startServed(ctx, t, serveConfig+"    degrade: [handoff]\n", nil)
	base := s.base
	s.down(t)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"assistant","messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"Ma commande n'est pas arrivée."}]}`))
	req.Header.Set("Accept-Language", "fr")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Choices []struct{ Message struct{ Content string } } `json:"choices"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	id := resp.Header.Get("X-Understudy-Handoff")
	if resp.StatusCode != 200 || resp.Header.Get("X-Understudy-Mode") != "handoff" || id == "" || len(c.Choices) == 0 ||
		!strings.Contains(c.Choices[0].Message.Content, "Une personne de notre équipe va prendre le relais") ||
		!strings.Contains(c.Choices[0].Message.Content, "n° "+id) {
		t.Fatalf("handoff answer: %d %v %+v", resp.StatusCode, resp.Header, c)
	}
	get, err := http.Get(base + "/handoff/v1/conversations/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var conv struct {
		Status   string `json:"status"`
		Messages []struct {
			Role, Content string
		} `json:"messages"`
	}
	_ = json.NewDecoder(get.Body).Decode(&conv)
	get.Body.Close()
	if get.StatusCode != 200 || conv.Status != "waiting" || len(conv.Messages) != 2 || conv.Messages[1].Content != "Ma commande n'est pas arrivée." {
		t.Errorf("conversation: %d %+v", get.StatusCode, conv)
	}
	post, err := http.Post(base+"/handoff/v1/conversations/"+id+"/messages", "application/json", strings.NewReader(`{"content":"C'est urgent."}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != 201 {
		t.Errorf("user message: %d", post.StatusCode)
	}
	s.stop(t, cancel)
}
