package chat

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one Server-Sent Event.
type Event struct {
	Name string // the event: field; empty means "message"
	Data []byte // data: lines joined with "\n"
}

// ErrLineTooLong is returned when one SSE line exceeds the reader's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// SSEReader reads Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html)
// from a stream, however the stream is split into reads.
type SSEReader struct {
	r       *bufio.Reader
	maxLine int
	line    []byte
	sawCR   bool // the last line ended in \r: skip a \n that follows
}

// NewSSEReader reads events from r; lines longer than maxLine bytes fail with
// ErrLineTooLong (0 means 1 MiB).
func NewSSEReader(r io.Reader, maxLine int) *SSEReader {
	if maxLine <= 0 {
		maxLine = 1 << 20
	}
	return &SSEReader{r: bufio.NewReaderSize(r, 4<<10), maxLine: maxLine}
}

// Next returns the next event with data. It returns io.EOF at a clean end of
// input (a trailing event without its blank line is still returned first), and
// io.ErrUnexpectedEOF never: an unterminated last event is delivered as is.
func (s *SSEReader) Next() (Event, error) {
	var ev Event
	var data []byte
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && hasData {
				ev.Data = data
				return ev, nil
			}
			return Event{}, err
		}
		if len(line) == 0 { // dispatch
			if hasData {
				ev.Data = data
				return ev, nil
			}
			ev = Event{}
			continue
		}
		if line[0] == ':' {
			continue // comment, e.g. ": keep-alive"
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "event":
			ev.Name = string(value)
		}
	}
}

// readLine returns one line without its terminator (\n, \r\n or \r). A line
// ending in \r is returned at once, without waiting to see whether \n follows.
func (s *SSEReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		n := s.r.Buffered()
		if n == 0 {
			if _, err := s.r.Peek(1); err != nil {
				if err == io.EOF && len(s.line) > 0 {
					return s.line, nil
				}
				return nil, err
			}
			n = s.r.Buffered()
		}
		buf, _ := s.r.Peek(n)
		if s.sawCR {
			s.sawCR = false
			if buf[0] == '\n' {
				_, _ = s.r.Discard(1)
				continue
			}
		}
		if i := bytes.IndexAny(buf, "\r\n"); i >= 0 {
			if len(s.line)+i > s.maxLine {
				return nil, ErrLineTooLong
			}
			s.line = append(s.line, buf[:i]...)
			s.sawCR = buf[i] == '\r'
			_, _ = s.r.Discard(i + 1)
			return s.line, nil
		}
		if len(s.line)+len(buf) > s.maxLine {
			return nil, ErrLineTooLong
		}
		s.line = append(s.line, buf...)
		_, _ = s.r.Discard(len(buf))
	}
}
