package provider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/chat"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testCreated stamps every translated response and chunk.
var testCreated = time.Unix(1700000000, 0)

const anthropicTestdata = "testdata/anthropic"

// MustGolden compares got, pretty-printed, with the golden file at path,
// or rewrites the file under -update.
func MustGolden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		tb.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./provider -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		tb.Errorf("%s: got\n%s\nwant\n%s", path, pretty.Bytes(), want)
	}
}

// MustRead reads a testdata file.
func MustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// casesIn lists the case names in dir: every NAME.in.json or NAME.sse.
func casesIn(tb testing.TB, dir, suffix string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(anthropicTestdata, dir, "*"+suffix))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no %s cases in %s: %v", suffix, dir, err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), suffix))
	}
	return names
}

func TestAnthropicRequestGolden(t *testing.T) {
	for _, name := range casesIn(t, "request", ".in.json") {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(anthropicTestdata, "request")
			got, err := AnthropicRequest(MustRead(t, filepath.Join(dir, name+".in.json")), "claude-sonnet-4-5", 4096)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			MustGolden(t, filepath.Join(dir, name+".golden.json"), got)
		})
	}
}

func TestAnthropicRequestRefused(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string
	}{
		{"n above one", `{"n":2,"messages":[{"role":"user","content":"hi"}]}`, "n"},
		{"invalid json", `{"messages":`, ""},
		{"legacy function role", `{"messages":[{"role":"function","name":"f","content":"1"}]}`, "messages[0].role"},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"image in system", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].type"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].type"},
		{"bad data url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"ftp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"arguments not an object", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1,"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{"tool message without id", `{"messages":[{"role":"tool","content":"1"}]}`, "messages[0].tool_call_id"},
		{"custom tool", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"unknown tool choice", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"always"}`, "tool_choice"},
		{"stop not strings", `{"messages":[{"role":"user","content":"hi"}],"stop":[1]}`, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AnthropicRequest([]byte(tt.body), "claude-sonnet-4-5", 4096)
			var fe *chat.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %s, %v; want a *chat.FieldError", got, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("got field %q (%v), want %q", fe.Field, err, tt.wantField)
			}
		})
	}
}

func TestAnthropicResponseGolden(t *testing.T) {
	for _, name := range casesIn(t, "response", ".in.json") {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(anthropicTestdata, "response")
			got, err := AnthropicResponse(MustRead(t, filepath.Join(dir, name+".in.json")), testCreated)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			MustGolden(t, filepath.Join(dir, name+".golden.json"), got)
		})
	}
}

func TestAnthropicResponseRefused(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStream bool // an *AnthropicStreamError rather than ErrAnthropicResponse
	}{
		{"not json", `<html>`, false},
		{"not a message", `{"type":"completion"}`, false},
		{"error body", `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AnthropicResponse([]byte(tt.body), testCreated)
			var se *AnthropicStreamError
			if got := errors.As(err, &se); got != tt.wantStream {
				t.Fatalf("got %v, want an *AnthropicStreamError: %v", err, tt.wantStream)
			}
			if !tt.wantStream && !errors.Is(err, ErrAnthropicResponse) {
				t.Errorf("got %v, want ErrAnthropicResponse", err)
			}
		})
	}
}

// sseEvent is one event of a recorded stream.
type sseEvent struct {
	name string
	data []byte
}

// MustReadSSE splits a recorded text/event-stream into events.
func MustReadSSE(tb testing.TB, path string) []sseEvent {
	tb.Helper()
	var events []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(bytes.NewReader(MustRead(tb, path)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != nil {
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event:"):
			cur.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			cur.data = append(cur.data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
	if cur.name != "" || cur.data != nil {
		events = append(events, cur)
	}
	return events
}

// streamResult is what a golden stream file records.
type streamResult struct {
	Chunks []json.RawMessage `json:"chunks"`
	Done   bool              `json:"done"`
	Error  string            `json:"error,omitempty"`
	Raw    json.RawMessage   `json:"error_raw,omitempty"`
}

// translateStream feeds every event to a new AnthropicStream, stopping at
// the first error.
func translateStream(tb testing.TB, events []sseEvent, includeUsage bool) streamResult {
	tb.Helper()
	s := NewAnthropicStream(testCreated, includeUsage)
	res := streamResult{Chunks: []json.RawMessage{}}
	for i, ev := range events {
		chunks, done, err := s.Event(ev.name, ev.data)
		for _, c := range chunks {
			res.Chunks = append(res.Chunks, c)
		}
		if err != nil {
			var se *AnthropicStreamError
			if !errors.As(err, &se) {
				tb.Fatalf("event %d (%s): got error %v, want none or *AnthropicStreamError", i, ev.name, err)
			}
			res.Error, res.Raw = err.Error(), se.Raw
			return res
		}
		if done {
			if i != len(events)-1 {
				tb.Fatalf("event %d (%s): got done before the last event", i, ev.name)
			}
			res.Done = true
		}
	}
	return res
}

func TestAnthropicStreamGolden(t *testing.T) {
	for _, name := range casesIn(t, "stream", ".sse") {
		for _, includeUsage := range []bool{false, true} {
			golden := name + ".golden.json"
			if includeUsage {
				golden = name + ".usage.golden.json"
			}
			t.Run(strings.TrimSuffix(golden, ".golden.json"), func(t *testing.T) {
				dir := filepath.Join(anthropicTestdata, "stream")
				res := translateStream(t, MustReadSSE(t, filepath.Join(dir, name+".sse")), includeUsage)
				got, err := json.Marshal(res)
				if err != nil {
					t.Fatal(err)
				}
				MustGolden(t, filepath.Join(dir, golden), got)
			})
		}
	}
}

func TestAnthropicStreamEvents(t *testing.T) {
	start := `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`
	tests := []struct {
		name       string
		events     []sseEvent
		wantChunks int
		wantDone   bool
		wantErr    string
		wantUsage  chat.Usage
	}{
		{"ping without data", []sseEvent{{"ping", nil}}, 0, false, "", chat.Usage{}},
		{"unknown event ignored", []sseEvent{{"message_start", []byte(start)}, {"future_event", []byte(`{"type":"future_event"}`)}}, 1, false, "", chat.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}},
		{"name taken from data", []sseEvent{{"", []byte(start)}, {"", []byte(`{"type":"message_stop"}`)}}, 2, true, "", chat.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}},
		{"stop without data", []sseEvent{{"message_stop", nil}}, 1, true, "", chat.Usage{}},
		{"stop without message_delta still finishes", []sseEvent{{"message_start", []byte(start)}, {"message_stop", []byte(`{"type":"message_stop"}`)}}, 2, true, "", chat.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}},
		{"second message_delta adds no finish", []sseEvent{
			{"message_start", []byte(start)},
			{"message_delta", []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`)},
			{"message_delta", []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`)},
		}, 2, false, "", chat.Usage{PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6}},
		{"json delta of an unmapped block", []sseEvent{{"content_block_delta", []byte(`{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{}"}}`)}}, 0, false, "", chat.Usage{}},
		{"garbage data", []sseEvent{{"content_block_delta", []byte(`{`)}}, 0, false, "unreadable Anthropic response", chat.Usage{}},
		{"rate limit error", []sseEvent{{"error", []byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)}}, 0, false, "anthropic stream error: rate_limit_error: slow down", chat.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewAnthropicStream(testCreated, false)
			var n int
			var done bool
			var err error
			for _, ev := range tt.events {
				var chunks [][]byte
				chunks, done, err = s.Event(ev.name, ev.data)
				n += len(chunks)
				if err != nil {
					break
				}
			}
			if n != tt.wantChunks || done != tt.wantDone {
				t.Errorf("got %d chunks, done %v; want %d, %v", n, done, tt.wantChunks, tt.wantDone)
			}
			if got := s.Usage(); got != tt.wantUsage {
				t.Errorf("got usage %+v, want %+v", got, tt.wantUsage)
			}
			if got := errString(err); !strings.Contains(got, tt.wantErr) || (tt.wantErr == "") != (err == nil) {
				t.Errorf("got error %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
