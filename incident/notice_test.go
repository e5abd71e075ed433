package incident_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/notice"
	"github.com/understudy/understudy/simulate"
)

// TestInBandNotices: while the route is degraded (its primary is down and
// an incident is open), every answer carries its status, the incident and
// the status page; GET /api/notice tells users in their language; once
// the route is operational again, nothing is added.
func TestInBandNotices(t *testing.T) {
	h := newHarness(t, baseConfig)
	if resp := h.askHeaders(); resp.Header.Get("X-Understudy-Status") != "" {
		t.Fatalf("healthy route: X-Understudy-Status %q", resp.Header.Get("X-Understudy-Status"))
	}
	h.tick()
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	for range 8 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("incidents %s", fmtIncidents(incs))
	}
	id := strconv.FormatInt(incs[0].ID, 10)
	resp := h.askHeaders()
	for k, want := range map[string]string{
		"X-Understudy-Status":      "degraded_performance",
		"X-Understudy-Incident":    id,
		"X-Understudy-Status-Page": "https://status.example.com/incidents/" + id,
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}

	srv := httptest.NewServer(notice.New(h.eng, func() string { return h.cfg.PublicURL }, func() []string { return []string{"assistant"} }))
	defer srv.Close()
	get := func(q string, header string) (int, notice.JSON) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/notice?"+q, nil)
		if header != "" {
			req.Header.Set("Accept-Language", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var n notice.JSON
		_ = json.NewDecoder(resp.Body).Decode(&n)
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no CORS header: chat UIs on other origins cannot read it")
		}
		return resp.StatusCode, n
	}
	code, n := get("route=assistant", "fr-CA,fr;q=0.9,en;q=0.5")
	if code != 200 || !n.Active || n.Lang != "fr" || n.Status != "degraded_performance" || n.Incident == nil ||
		!strings.HasPrefix(n.Message, "Nous rencontrons des difficultés avec fournisseur primary") {
		t.Errorf("notice: %d %+v", code, n)
	}
	if _, n := get("route=assistant&lang=en", "fr"); n.Lang != "en" || !strings.HasPrefix(n.Message, "We are having trouble with provider primary") {
		t.Errorf("explicit lang: %+v", n)
	}
	if code, _ := get("route=nope", ""); code != 404 {
		t.Errorf("unknown route: %d", code)
	}
	if code, _ := get("", ""); code != 400 {
		t.Errorf("no route: %d", code)
	}

	h.clear("primary")
	for range 20 {
		h.second()
	}
	h.idle(3 * time.Minute)
	if resp := h.askHeaders(); resp.Header.Get("X-Understudy-Status") != "" {
		t.Errorf("recovered route: X-Understudy-Status %q", resp.Header.Get("X-Understudy-Status"))
	}
	if _, n := get("route=assistant", ""); n.Active {
		t.Errorf("recovered route: notice %+v", n)
	}
}

// TestNoticeDegradation: with `degrade: [notice]`, a route no target can
// serve answers with an honest, valid chat completion in the user's
// language (streamed or not) instead of a 503; users served that way count
// as degraded, so an incident opens, and the answer then links to it.
func TestNoticeDegradation(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "    retry: {budget: 0", "    degrade: [notice]\n    retry: {budget: 0", 1))
	h.second()
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	post := func(stream bool, lang string) (*http.Response, string) {
		t.Helper()
		body := `{"model":"assistant","stream":` + strconv.FormatBool(stream) + `,"messages":[{"role":"user","content":"Bonjour"}]}`
		req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Accept-Language", lang)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp, b.String()
	}
	resp, body := post(false, "fr-FR,fr;q=0.9")
	var c struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role, Content string
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil || resp.StatusCode != 200 || c.Object != "chat.completion" || len(c.Choices) != 1 ||
		c.Choices[0].FinishReason != "stop" || !strings.HasPrefix(c.Choices[0].Message.Content, "Nous rencontrons des difficultés avec assistant") {
		t.Fatalf("degraded answer: %d %s (%v)", resp.StatusCode, body, err)
	}
	if resp.Header.Get("X-Understudy-Mode") != "notice" || resp.Header.Get("Content-Language") != "fr" {
		t.Errorf("headers %v", resp.Header)
	}
	resp, body = post(true, "en")
	if resp.StatusCode != 200 || !strings.Contains(body, `"content":"We are having trouble with assistant`) || !strings.HasSuffix(strings.TrimSpace(body), "data: [DONE]") {
		t.Errorf("streamed degraded answer: %d %s", resp.StatusCode, body)
	}
	for range 10 {
		post(false, "en")
		h.tick()
		h.clk.Advance(time.Second)
	}
	incs := h.incidents(true)
	if len(incs) != 1 || !slices.Contains(incs[0].Components, "assistant") {
		t.Fatalf("incidents %s; want one on assistant (users were served degraded)", fmtIncidents(incs))
	}
	_, body = post(false, "en")
	if want := "Status: https://status.example.com/incidents/" + strconv.FormatInt(incs[0].ID, 10); !strings.Contains(body, want) {
		t.Errorf("answer %s; want the incident's link %q", body, want)
	}
}

// TestLadderCacheThenNotice: the ladder in order — a cached answer (with
// the route's own notice added) for a conversation already answered, the
// notice for a new one.
func TestLadderCacheThenNotice(t *testing.T) {
	cfg := strings.Replace(baseConfig, "    retry: {budget: 0", "    degrade: [cache, notice]\n    notice: {en: \"Our assistant is degraded; details on the status page.\"}\n    retry: {budget: 0", 1)
	h := newHarness(t, cfg)
	ask := func(q string) (string, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"`+q+`"}]}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			Choices []struct{ Message struct{ Content string } } `json:"choices"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&c)
		if resp.StatusCode != 200 || len(c.Choices) == 0 {
			t.Fatalf("%q: HTTP %d", q, resp.StatusCode)
		}
		return resp.Header.Get("X-Understudy-Mode"), c.Choices[0].Message.Content
	}
	_, first := ask("Why is the sky blue?")
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	h.fault("secondary", simulate.Fault{Kind: simulate.KindServerError})
	mode, text := ask("Why is the sky blue?")
	if mode != "degraded_cache" || text != first+"\n\n— Our assistant is degraded; details on the status page. Status: https://status.example.com" {
		t.Errorf("cached: %s %q", mode, text)
	}
	if mode, text := ask("Something new"); mode != "notice" || !strings.HasPrefix(text, "Our assistant is degraded") {
		t.Errorf("new conversation: %s %q", mode, text)
	}
}
