package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestContinue(t *testing.T) {
	in := `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"Why is the sky blue?"}],"seed":7}`
	r, err := ParseRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode      string
		wantLast  []Message
		wantExtra map[string]any
	}{
		{ContinueNative, []Message{{Role: "assistant", Content: json.RawMessage(`"The sky is"`)}}, nil},
		{ContinuePrefix, []Message{{Role: "assistant", Content: json.RawMessage(`"The sky is"`)}}, nil},
		{ContinueFinalMessage, []Message{{Role: "assistant", Content: json.RawMessage(`"The sky is"`)}},
			map[string]any{"continue_final_message": true, "add_generation_prompt": false}},
		{ContinueInstruction, []Message{{Role: "assistant", Content: json.RawMessage(`"The sky is"`)},
			{Role: "user", Content: json.RawMessage(`"` + ContinueInstructionText + `"`)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c := r.Continue("The sky is", tt.mode)
			if len(c.Messages) != 1+len(tt.wantLast) {
				t.Fatalf("got %d messages, want %d", len(c.Messages), 1+len(tt.wantLast))
			}
			for i, want := range tt.wantLast {
				got := c.Messages[1+i]
				if got.Role != want.Role || string(got.Content) != string(want.Content) {
					t.Errorf("message %d: got %s %s, want %s %s", 1+i, got.Role, got.Content, want.Role, want.Content)
				}
			}
			var m map[string]any
			if err := json.Unmarshal(c.Body("gpt"), &m); err != nil {
				t.Fatal(err)
			}
			if m["seed"] != float64(7) || m["stream"] != true || m["model"] != "gpt" {
				t.Errorf("other fields not kept: %v", m)
			}
			for k, v := range tt.wantExtra {
				if m[k] != v {
					t.Errorf("got %s = %v, want %v", k, m[k], v)
				}
			}
			if tt.mode == ContinuePrefix {
				msgs := m["messages"].([]any)
				if last := msgs[len(msgs)-1].(map[string]any); last["prefix"] != true {
					t.Errorf("got last message %v, want prefix: true", last)
				}
			}
		})
	}
}

func TestSeamOverlap(t *testing.T) {
	tests := []struct {
		name, sent, cont string
		want             int
	}{
		{"clean continuation", "The sky is", " blue because", 0},
		{"repeats the last words", "The sky is blue because", " blue because of scattering", len(" blue because")},
		{"repeats the whole text", "The sky", "The sky is blue", len("The sky")},
		{"short chance match is kept", "It is a", " a good day", 0},
		{"one repeated word is kept (it may be genuine)", "notice summary", " summary for users", 0},
		{"mid-word match is kept", "The skyline", "line is long", 0},
		{"no match", "abc", "xyz", 0},
		{"empty", "", "anything", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SeamOverlap(tt.sent, tt.cont); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzSeamOverlap: trimming only ever drops a true repeat of the sent text,
// and a continuation that repeats at least the last word (of 4+ bytes)
// whole is always trimmed back to exactly the new text.
func FuzzSeamOverlap(f *testing.F) {
	f.Add("The sky is blue because", " blue because of scattering", 2)
	f.Add("Hello", "Hello world", 1)
	f.Add("a b c d", " c d e", 3)
	f.Fuzz(func(t *testing.T, sent, cont string, words int) {
		k := SeamOverlap(sent, cont)
		if k < 0 || k > len(cont) || k > len(sent) {
			t.Fatalf("overlap %d out of range", k)
		}
		if k > 0 && !strings.HasSuffix(sent, cont[:k]) {
			t.Fatalf("dropped %q, which is not a repeat of the end of %q", cont[:k], sent)
		}
		// Build a continuation that repeats the last few words of sent.
		fields := strings.Fields(sent)
		if len(fields) == 0 || words <= 0 {
			return
		}
		n := min(words%3+2, len(fields)) // a repeat of 2 to 4 words
		tail := " " + strings.Join(fields[len(fields)-n:], " ")
		if n < minOverlapWords || !strings.HasSuffix(sent, tail) || len(tail) < minOverlap {
			return
		}
		rest := " and more"
		got := SeamOverlap(sent, tail+rest)
		if got < len(tail) {
			t.Fatalf("SeamOverlap(%q, %q) = %d, want at least %d", sent, tail+rest, got, len(tail))
		}
	})
}

func TestSeamPending(t *testing.T) {
	tests := []struct {
		name, sent, cont string
		want             bool
	}{
		{"no repeat in sight", "The sky is", " blue", false},
		{"could be repeating the last words", "The sky is blue because", " blue", true},
		{"repeat complete", "The sky is blue because", " blue because of", false},
		{"nothing yet", "The sky", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SeamPending(tt.sent, tt.cont, 256); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
