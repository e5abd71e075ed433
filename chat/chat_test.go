package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string // "" with wantErr means a body-level error
		wantErr   string
	}{
		{"valid", `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`, "", ""},
		{"valid parts and null content", `{"model":"a","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":null,"tool_calls":[]}]}`, "", ""},
		{"not json", `{"model":`, "", "invalid JSON body"},
		{"trailing data", `{"model":"a","messages":[{"role":"user","content":"x"}]} {}`, "", "unexpected data"},
		{"array", `[]`, "", "invalid JSON body"},
		{"null", `null`, "", "expected an object"},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, "model", "required"},
		{"model not string", `{"model":3,"messages":[{"role":"user","content":"hi"}]}`, "model", "must be a string"},
		{"stream not bool", `{"model":"a","stream":"yes","messages":[{"role":"user","content":"hi"}]}`, "stream", "must be a boolean"},
		{"missing messages", `{"model":"a"}`, "messages", "required"},
		{"messages not array", `{"model":"a","messages":{}}`, "messages", "must be an array"},
		{"empty messages", `{"model":"a","messages":[]}`, "messages", "must not be empty"},
		{"message not object", `{"model":"a","messages":["hi"]}`, "messages[0]", "must be an object"},
		{"bad role", `{"model":"a","messages":[{"role":"user","content":"x"},{"role":"robot","content":"x"}]}`, "messages[1].role", "is not one of"},
		{"role not string", `{"model":"a","messages":[{"role":1,"content":"x"}]}`, "messages[0].role", "must be a string"},
		{"content number", `{"model":"a","messages":[{"role":"user","content":5}]}`, "messages[0].content", "must be a string"},
		{"n not a positive integer", `{"model":"a","n":0,"messages":[{"role":"user","content":"x"}]}`, "n", "must be a positive integer"},
		{"stream_options not object", `{"model":"a","stream_options":3,"messages":[{"role":"user","content":"x"}]}`, "stream_options", "must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want *FieldError", err)
			}
			if fe.Field != tt.wantField || !strings.Contains(fe.Message, tt.wantErr) {
				t.Errorf("got field %q message %q, want field %q message containing %q", fe.Field, fe.Message, tt.wantField, tt.wantErr)
			}
		})
	}
}

func TestBodyPassesUnknownFieldsThrough(t *testing.T) {
	in := `{"model":"assistant","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"},"seed":42,"stream":true,"stream_options":{"include_usage":true}}`
	r, err := ParseRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stream || !r.IncludeUsage {
		t.Errorf("got stream=%v include_usage=%v, want both true", r.Stream, r.IncludeUsage)
	}
	var got, want map[string]any
	_ = json.Unmarshal(r.Body("gpt-4o-mini"), &got)
	_ = json.Unmarshal([]byte(in), &want)
	want["model"] = "gpt-4o-mini"
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("got %s, want %s", gb, wb)
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name, body, msg, typ, code string
		ok                         bool
	}{
		{"openai", `{"error":{"message":"m","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, "m", "insufficient_quota", "insufficient_quota", true},
		{"numeric code", `{"error":{"message":"m","type":"t","code":429}}`, "m", "t", "429", true},
		{"null code", `{"error":{"message":"m","type":"t","code":null}}`, "m", "t", "", true},
		{"string error", `{"error":"boom"}`, "boom", "", "", true},
		{"none", `{"choices":[]}`, "", "", "", false},
		{"html", `<html>bad gateway</html>`, "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, typ, code, ok := ParseError([]byte(tt.body))
			if msg != tt.msg || typ != tt.typ || code != tt.code || ok != tt.ok {
				t.Errorf("got (%q,%q,%q,%v), want (%q,%q,%q,%v)", msg, typ, code, ok, tt.msg, tt.typ, tt.code, tt.ok)
			}
		})
	}
}

// FuzzParseRequest: validation never panics, and an accepted request always
// re-encodes to valid JSON with the model replaced.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"model":"a","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"assistant","content":null}]}`))
	f.Add([]byte(`{"model":"","messages":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		out := r.Body("m")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("re-encoded body invalid: %v", err)
		}
		if string(m["model"]) != `"m"` {
			t.Fatalf("model not replaced: %s", m["model"])
		}
	})
}

func TestChunkHasContent(t *testing.T) {
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"role only", `{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`, false},
		{"empty", `{"choices":[{"delta":{},"finish_reason":null}]}`, false},
		{"usage only", `{"choices":[],"usage":{"total_tokens":3}}`, false},
		{"content", `{"choices":[{"delta":{"content":"Hi"}}]}`, true},
		{"refusal", `{"choices":[{"delta":{"refusal":"No"}}]}`, true},
		{"tool call", `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}`, true},
		{"reasoning (vLLM, DeepSeek)", `{"choices":[{"delta":{"reasoning_content":"Let me think"}}]}`, true},
		{"reasoning (Groq, OpenRouter)", `{"choices":[{"delta":{"reasoning":"Hmm"}}]}`, true},
		{"finish", `{"choices":[{"delta":{},"finish_reason":"stop"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Chunk
			if err := json.Unmarshal([]byte(tt.data), &c); err != nil {
				t.Fatal(err)
			}
			if got := c.HasContent(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBodyIsByteExact: only the model value changes; spacing, key order,
// escapes and numbers are kept as the client sent them.
func TestBodyIsByteExact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"assistant","messages":[{"role":"user","content":"<b>&</b>"}],"temperature":1.50}`,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"<b>&</b>"}],"temperature":1.50}`},
		{"{ \"messages\" : [{\"role\":\"user\",\"content\":\"hi\"}] ,\n  \"model\" :   \"assistant\" , \"seed\": 1e3 }",
			"{ \"messages\" : [{\"role\":\"user\",\"content\":\"hi\"}] ,\n  \"model\" :   \"gpt-4o\" , \"seed\": 1e3 }"},
	}
	for _, tt := range tests {
		r, err := ParseRequest([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.Body("gpt-4o")); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestConversationKey(t *testing.T) {
	key := func(body string) [32]byte {
		t.Helper()
		r, err := ParseRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return r.ConversationKey()
	}
	a := key(`{"model":"a","messages":[{"role":"user","content":"hi"}]}`)
	if b := key(`{"model":"b", "stream":true, "messages": [ {"role": "user", "content": "hi"} ]}`); a != b {
		t.Error("whitespace, model and stream changed the key")
	}
	for _, other := range []string{
		`{"model":"a","messages":[{"role":"user","content":"Hi"}]}`,
		`{"model":"a","messages":[{"role":"system","content":"hi"}]}`,
		`{"model":"a","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`,
	} {
		if key(other) == a {
			t.Errorf("%s has the same key", other)
		}
	}
}
