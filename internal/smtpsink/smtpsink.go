// Package smtpsink is a real SMTP server (github.com/emersion/go-smtp) that
// keeps what it receives, for end-to-end tests and the communication
// benchmark: no TLS, no authentication, loopback only.
package smtpsink

import (
	"io"
	"log"
	"net"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Message is one received e-mail.
type Message struct {
	From string
	To   []string
	Data []byte
	At   time.Time // when the server had it all
}

// Sink is a running server. Messages delivers every message received.
type Sink struct {
	Addr     string // host:port
	Messages chan Message
	srv      *gosmtp.Server
	ln       net.Listener
}

// Start listens on 127.0.0.1:0.
func Start() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{Addr: ln.Addr().String(), Messages: make(chan Message, 1000), ln: ln}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &session{sink: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Sink) Close() error {
	err := s.srv.Close()
	_ = s.ln.Close()
	return err
}

type session struct {
	sink *Sink
	msg  Message
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error { s.msg.From = from; return nil }
func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data, s.msg.At = b, time.Now()
	select {
	case s.sink.Messages <- s.msg:
	default:
	}
	s.msg = Message{}
	return nil
}
func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }
