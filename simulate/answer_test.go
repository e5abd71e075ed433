package simulate_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/understudy/understudy/simulate"
)

func TestAnswerIsDeterministic(t *testing.T) {
	a := simulate.Answer("primary", "gpt-4o-mini", question)
	tests := []struct {
		name     string
		provider string
		model    string
		msgs     []simulate.Message
		same     bool
	}{
		{"same inputs", "primary", "gpt-4o-mini", []simulate.Message{question}, true},
		{"other provider", "backup", "gpt-4o-mini", []simulate.Message{question}, false},
		{"other model", "primary", "gpt-4.1-mini", []simulate.Message{question}, false},
		{"other role", "primary", "gpt-4o-mini", []simulate.Message{{Role: "system", Content: question.Content}}, false},
		{"more messages", "primary", "gpt-4o-mini", []simulate.Message{question, question}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := simulate.Answer(tt.provider, tt.model, tt.msgs...)
			if (got == a) != tt.same {
				t.Errorf("got %q, compared with %q: want same=%v", got, a, tt.same)
			}
			if n := len(strings.Fields(got)); n != simulate.DefaultAnswerWords {
				t.Errorf("got %d words, want %d", n, simulate.DefaultAnswerWords)
			}
			if !strings.HasSuffix(got, ".") || strings.HasPrefix(got, " ") {
				t.Errorf("got %q, want a sentence without leading space, ending with a full stop", got)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{AnswerWords: 7})
	system := simulate.Message{Role: "system", Content: "Be brief."}
	res, err := newClient(srv, "secondary").Chat.Completions.New(ctx, params("gpt-4o-mini", system, question))
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	want := sim.Answer("secondary", "gpt-4o-mini", system, question)
	if len(res.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(res.Choices))
	}
	c := res.Choices[0]
	checks := []struct{ name, got, want string }{
		{"content", c.Message.Content, want},
		{"role", string(c.Message.Role), "assistant"},
		{"finish_reason", c.FinishReason, "stop"},
		{"model", res.Model, "gpt-4o-mini"},
		{"object", string(res.Object), "chat.completion"},
		{"id prefix", res.ID[:min(len(res.ID), 13)], "chatcmpl-sim-"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %q, want %q", ck.name, ck.got, ck.want)
		}
	}
	if got := len(strings.Fields(want)); got != 7 {
		t.Errorf("got %d answer words, want 7", got)
	}
	wantUsage := openai.CompletionUsage{PromptTokens: 2 + 9, CompletionTokens: 7, TotalTokens: 18}
	if got := res.Usage; got.PromptTokens != wantUsage.PromptTokens || got.CompletionTokens != wantUsage.CompletionTokens ||
		got.TotalTokens != wantUsage.TotalTokens {
		t.Errorf("got usage %d/%d/%d, want %d/%d/%d", got.PromptTokens, got.CompletionTokens, got.TotalTokens,
			wantUsage.PromptTokens, wantUsage.CompletionTokens, wantUsage.TotalTokens)
	}
	if res.Created == 0 {
		t.Errorf("got created 0, want a Unix time")
	}
}

func TestStreamMatchesCompletion(t *testing.T) {
	tests := []struct {
		name         string
		includeUsage bool
	}{
		{"without usage", false},
		{"include_usage", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{})
			c := newClient(srv, "primary")
			p := params("gpt-4o-mini")
			res, err := c.Chat.Completions.New(ctx, p)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tt.includeUsage {
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			s := readStream(ctx, c, p)
			if s.err != nil {
				t.Fatalf("got stream error %v, want none", s.err)
			}
			if s.content != res.Choices[0].Message.Content {
				t.Errorf("got streamed %q, want the non-stream content %q", s.content, res.Choices[0].Message.Content)
			}
			if want := simulate.Answer("primary", "gpt-4o-mini", question); s.content != want {
				t.Errorf("got %q, want Answer() %q", s.content, want)
			}
			if s.deltas != simulate.DefaultAnswerWords {
				t.Errorf("got %d content chunks, want one per word (%d)", s.deltas, simulate.DefaultAnswerWords)
			}
			if s.finish != "stop" {
				t.Errorf("got finish_reason %q, want stop", s.finish)
			}
			first := s.chunks[0]
			if first.Choices[0].Delta.Role != "assistant" || first.Object != "chat.completion.chunk" || first.Model != "gpt-4o-mini" {
				t.Errorf("got first chunk role %q object %q model %q, want assistant, chat.completion.chunk, gpt-4o-mini",
					first.Choices[0].Delta.Role, first.Object, first.Model)
			}
			for i, ch := range s.chunks {
				if ch.ID != first.ID {
					t.Errorf("chunk %d: got id %q, want %q like the first", i, ch.ID, first.ID)
				}
			}
			switch {
			case tt.includeUsage && s.usage == nil:
				t.Errorf("got no usage chunk, want one")
			case tt.includeUsage && s.usage.CompletionTokens != int64(simulate.DefaultAnswerWords):
				t.Errorf("got completion_tokens %d, want %d", s.usage.CompletionTokens, simulate.DefaultAnswerWords)
			case !tt.includeUsage && s.usage != nil:
				t.Errorf("got a usage chunk %+v, want none without include_usage", s.usage)
			}
			if got := sim.Stats("primary"); got.Requests != 2 || got.Streams != 1 || got.Outcomes["ok"] != 2 {
				t.Errorf("got stats requests=%d streams=%d ok=%d, want 2, 1, 2", got.Requests, got.Streams, got.Outcomes["ok"])
			}
		})
	}
}

func TestStreamWireFormat(t *testing.T) {
	ctx := testCtx(t)
	_, srv := MustServe(t, simulate.Options{AnswerWords: 2})
	body := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	resp, got, err := rawPost(t, ctx, srv.Client(), srv.URL+"/primary/v1/chat/completions", body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("got Content-Type %q, want text/event-stream", ct)
	}
	events := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n\n")
	// role, 2 words, finish, usage, [DONE]
	if len(events) != 6 {
		t.Fatalf("got %d events, want 6:\n%s", len(events), got)
	}
	for i, e := range events {
		if !strings.HasPrefix(e, "data: ") {
			t.Errorf("event %d: got %q, want a data line", i, e)
		}
	}
	var usage struct {
		Choices []any          `json:"choices"`
		Usage   map[string]int `json:"usage"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(events[4], "data: ")), &usage); err != nil {
		t.Fatal(err)
	}
	if usage.Choices == nil || len(usage.Choices) != 0 || usage.Usage["total_tokens"] != 3 {
		t.Errorf("got usage event %s, want choices [] and total_tokens 3", events[4])
	}
	if !strings.Contains(events[3], `"delta":{}`) || !strings.Contains(events[3], `"finish_reason":"stop"`) {
		t.Errorf("got finish event %s, want an empty delta and finish_reason stop", events[3])
	}
	if events[5] != "data: [DONE]" {
		t.Errorf("got last event %q, want data: [DONE]", events[5])
	}
}

func TestAzurePath(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string
		key        string
		wantStatus int
	}{
		{"ok", "2024-10-21", "azure-key", 0},
		{"missing api-version", "", "azure-key", http.StatusBadRequest},
		{"wrong key", "2024-10-21", "nope", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{Keys: map[string]string{"primary": "azure-key"}})
			opts := []option.RequestOption{
				option.WithBaseURL(srv.URL + "/primary/openai/deployments/my-gpt4o"),
				option.WithHTTPClient(srv.Client()), option.WithMaxRetries(0),
				option.WithHeader("api-key", tt.key),
			}
			if tt.apiVersion != "" {
				opts = append(opts, option.WithQuery("api-version", tt.apiVersion))
			}
			c := openai.NewClient(opts...)
			res, err := c.Chat.Completions.New(ctx, params("ignored-model"))
			if tt.wantStatus != 0 {
				if got := apiError(t, err).StatusCode; got != tt.wantStatus {
					t.Errorf("got status %d, want %d", got, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if want := simulate.Answer("primary", "my-gpt4o", question); res.Choices[0].Message.Content != want || res.Model != "my-gpt4o" {
				t.Errorf("got model %q content %q, want the deployment my-gpt4o and %q", res.Model, res.Choices[0].Message.Content, want)
			}
			if got := sim.Stats("primary").Models; len(got) != 1 || got[0] != "my-gpt4o" {
				t.Errorf("got models %q, want [my-gpt4o]", got)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		opts     []option.RequestOption
		wantErr  bool
	}{
		{"bearer ok", "primary", []option.RequestOption{option.WithAPIKey("sk-right")}, false},
		{"api-key header ok", "primary", []option.RequestOption{option.WithAPIKey(""), option.WithHeaderDel("Authorization"),
			option.WithHeader("api-key", "sk-right")}, false},
		{"wrong key", "primary", []option.RequestOption{option.WithAPIKey("sk-wrong-key-123")}, true},
		{"missing key", "primary", []option.RequestOption{option.WithHeaderDel("Authorization")}, true},
		{"provider without key", "backup", []option.RequestOption{option.WithAPIKey("anything")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{Keys: map[string]string{"primary": "sk-right"}})
			_, err := newClient(srv, tt.provider, tt.opts...).Chat.Completions.New(ctx, params("m"))
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			e := apiError(t, err)
			if e.StatusCode != 401 || e.Code != "invalid_api_key" {
				t.Errorf("got %d %q, want 401 invalid_api_key", e.StatusCode, e.Code)
			}
			if got := sim.Stats(tt.provider).Outcomes[simulate.OutcomeInvalidKey]; got != 1 {
				t.Errorf("got %d invalid_api_key outcomes, want 1", got)
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		body      string
		wantCode  int
		wantParam string
	}{
		{"invalid JSON", "/primary/v1/chat/completions", `{"model":`, 400, ""},
		{"not an object", "/primary/v1/chat/completions", `[1,2]`, 400, ""},
		{"missing messages", "/primary/v1/chat/completions", `{"model":"m"}`, 400, "messages"},
		{"empty messages", "/primary/v1/chat/completions", `{"model":"m","messages":[]}`, 400, "messages"},
		{"missing model", "/primary/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"bad role", "/primary/v1/chat/completions", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, 400, "messages[0].role"},
		{"bad stream type", "/primary/v1/chat/completions", `{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}`, 400, "stream"},
		{"bad content", "/primary/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":42}]}`, 400, "messages[0].content"},
		{"unknown fields pass", "/primary/v1/chat/completions", `{"model":"m","temperature":0.2,"x_custom":{"a":1},"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`, 200, ""},
		{"unknown provider", "/nobody/v1/chat/completions", `{}`, 404, ""},
		{"unknown path", "/primary/v2/whatever", `{}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			sim, srv := MustServe(t, simulate.Options{})
			resp, body, err := rawPost(t, ctx, srv.Client(), srv.URL+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == 200 {
				if got := string(sim.Stats("primary").LastRequest); got != tt.body {
					t.Errorf("got LastRequest %s, want the raw body %s", got, tt.body)
				}
				return
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
				t.Fatalf("got body %s, want an OpenAI error object", body)
			}
			gotParam := ""
			if e.Error.Param != nil {
				gotParam = *e.Error.Param
			}
			if gotParam != tt.wantParam {
				t.Errorf("got param %q, want %q (message %q)", gotParam, tt.wantParam, e.Error.Message)
			}
		})
	}
}

func TestModels(t *testing.T) {
	ctx := testCtx(t)
	sim, srv := MustServe(t, simulate.Options{})
	if got := strings.Join(sim.Providers(), ","); got != "primary,secondary,backup" {
		t.Errorf("got providers %q, want the defaults primary,secondary,backup", got)
	}
	page, err := newClient(srv, "backup").Models.List(ctx)
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if len(page.Data) == 0 || page.Data[0].OwnedBy != "backup" {
		t.Errorf("got %+v, want models owned by backup", page.Data)
	}
	if got := sim.Stats("backup"); got.Listings != 1 || got.Requests != 0 {
		t.Errorf("got listings=%d requests=%d, want 1 and 0", got.Listings, got.Requests)
	}
	if err := sim.SetFault("backup", simulate.Fault{Kind: simulate.KindOverloaded, Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = newClient(srv, "backup").Models.List(ctx)
	if got := apiError(t, err).StatusCode; got != 503 {
		t.Errorf("got %d, want 503 while overloaded", got)
	}
	if _, ok := sim.CurrentFault("backup"); !ok {
		t.Errorf("got the fault spent by a listing, want Count kept for chat requests")
	}
}
