package chat

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func readAll(t testing.TB, r io.Reader) []Event {
	t.Helper()
	rd := NewSSEReader(r, 0)
	var out []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"one event", "data: {\"a\":1}\n\n", []Event{{Data: []byte(`{"a":1}`)}}},
		{"done", "data: x\n\ndata: [DONE]\n\n", []Event{{Data: []byte("x")}, {Data: []byte("[DONE]")}}},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []Event{{Data: []byte("x")}, {Data: []byte("y")}}},
		{"bare cr", "data: x\r\rdata: y\r\r", []Event{{Data: []byte("x")}, {Data: []byte("y")}}},
		{"comments and keep-alives", ": ping\n\ndata: x\n\n: ping\n\n", []Event{{Data: []byte("x")}}},
		{"named event", "event: error\ndata: {\"error\":{}}\n\n", []Event{{Name: "error", Data: []byte(`{"error":{}}`)}}},
		{"multi-line data", "data: a\ndata: b\n\n", []Event{{Data: []byte("a\nb")}}},
		{"no space after colon", "data:x\n\n", []Event{{Data: []byte("x")}}},
		{"unterminated last event", "data: x\n\ndata: y", []Event{{Data: []byte("x")}, {Data: []byte("y")}}},
		{"event without data is dropped", "event: ping\n\ndata: x\n\n", []Event{{Data: []byte("x")}}},
		{"empty", "", nil},
		{"unknown fields ignored", "id: 3\nretry: 10\ndata: x\n\n", []Event{{Data: []byte("x")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, strings.NewReader(tt.in))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSEReaderLineTooLong(t *testing.T) {
	rd := NewSSEReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 50)
	if _, err := rd.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
}

// splitReader returns its input in pieces of the given sizes.
type splitReader struct {
	data  []byte
	sizes []int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = max(1, min(r.sizes[0], n))
		r.sizes = r.sizes[1:]
	}
	n = min(n, len(p))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzSSESplit: however the stream is split into reads, it parses the same.
func FuzzSSESplit(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"), 3, 7)
	f.Add([]byte("data: a\r\ndata: b\r\n\r\n: c\n\nevent: error\ndata: x\n\n"), 1, 2)
	f.Add([]byte("data: x\r\rdata: y"), 4, 1)
	f.Fuzz(func(t *testing.T, in []byte, a, b int) {
		want := readAll(t, bytes.NewReader(in))
		sizes := []int{}
		for i := 0; i < len(in); i++ {
			if i%2 == 0 {
				sizes = append(sizes, 1+abs(a)%17)
			} else {
				sizes = append(sizes, 1+abs(b)%5)
			}
		}
		got := readAll(t, &splitReader{data: in, sizes: sizes})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split read differs:\n got %q\nwant %q", got, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestSSEReaderDoesNotWaitAfterCR: an event ended by bare CRs is delivered
// at once, without waiting for the next byte of a live stream.
func TestSSEReaderDoesNotWaitAfterCR(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("data: x\r\r")) }()
	ev, err := NewSSEReader(pr, 0).Next()
	if err != nil || string(ev.Data) != "x" {
		t.Fatalf("got %q %v, want x", ev.Data, err)
	}
}

func BenchmarkSSEReader(b *testing.B) {
	chunk := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]}` + "\n\n"
	in := []byte(strings.Repeat(chunk, 100))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		rd := NewSSEReader(bytes.NewReader(in), 0)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
