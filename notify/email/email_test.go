package email_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/notify/email"
)

var t0 = time.Date(2026, 11, 24, 14, 5, 0, 0, time.UTC)

// MustChannel returns a channel to ts; edit adjusts the options first.
func MustChannel(tb testing.TB, ts *testServer, edit func(*email.Options)) *email.Channel {
	tb.Helper()
	o := email.Options{
		Host:     ts.Host,
		Port:     ts.Port,
		From:     mail.Address{Name: "Statut Understudy – Équipe", Address: "status@understudy.test"},
		StartTLS: email.StartTLSOpportunistic,
		Clock:    clockwork.NewFakeClockAt(t0),
		PageURL:  "https://status.understudy.test/",
		UnsubscribeURL: func(s notify.Subscriber) string {
			return "https://status.understudy.test/unsubscribe?s=" + s.Address + "&t=tok"
		},
		Timeout: 10 * time.Second,
	}
	if edit != nil {
		edit(&o)
	}
	c, err := email.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func subscriber(addr, lang string) notify.Subscriber {
	return notify.Subscriber{ID: 7, Kind: notify.KindEmail, Address: addr, Status: notify.StatusActive, Language: lang}
}

func incidentNote() notify.Notification {
	inc := &understudy.Incident{
		ID:         42,
		Title:      `Errors on "assistant" <b>&</b>`,
		Status:     understudy.IncidentIdentified,
		Severity:   understudy.SeverityMajor,
		Components: []string{"assistant", "provider:openai"},
	}
	u := &understudy.IncidentUpdate{
		ID:         3,
		IncidentID: 42,
		Status:     understudy.IncidentIdentified,
		Message:    "The provider is failing.\nWe moved traffic to the fallback.\n\nNext update in 30 minutes.",
		ETA:        t0.Add(90 * time.Minute),
		Components: []string{"assistant"},
		Translations: map[string]string{
			"fr": "Le fournisseur est en panne.\nNous avons basculé le trafic sur le secours.\n\nProchaine mise à jour dans 30 minutes.",
		},
		CreatedAt: t0,
	}
	return notify.Notification{
		ID: "incident-update:3", Kind: notify.NoteIncident, Time: t0,
		Incident: inc, Update: u, Components: []string{"assistant"},
		URL: "https://status.understudy.test/incidents/42",
	}
}

func componentNote() notify.Notification {
	return notify.Notification{
		ID: "component:assistant:17", Kind: notify.NoteComponent, Time: t0,
		Component: &understudy.Component{Name: "assistant", Kind: "route", Status: understudy.ComponentPartialOutage, Since: t0, Reason: "42% of requests failed"},
		OldStatus: understudy.ComponentOperational,
		URL:       "https://status.understudy.test/",
	}
}

func maintenanceNote(status understudy.MaintenanceStatus) notify.Notification {
	m := &understudy.Maintenance{
		ID: 5, Title: "Database upgrade", Message: "Requests may be slower.", Status: status,
		Components: []string{"assistant"},
		StartsAt:   t0.Add(24 * time.Hour), EndsAt: t0.Add(26 * time.Hour),
	}
	if status == understudy.MaintenanceInProgress || status == understudy.MaintenanceCompleted {
		m.StartedAt = m.StartsAt
	}
	if status == understudy.MaintenanceCompleted {
		m.EndedAt = t0.Add(25 * time.Hour)
	}
	return notify.Notification{
		ID: "maintenance:5:" + string(status), Kind: notify.NoteMaintenance, Time: t0,
		Maintenance: m, URL: "https://status.understudy.test/maintenance/5",
	}
}

func TestChannelKind(t *testing.T) {
	ts := startServer(t, serverConfig{})
	if got := MustChannel(t, ts, nil).Kind(); got != notify.KindEmail {
		t.Errorf("Kind() = %q, want %q", got, notify.KindEmail)
	}
}

func TestDeliver(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	tests := []struct {
		name   string
		server serverConfig
		opts   func(*email.Options)
		to     string
		// wantErr is nil for success; else an error errors.Is must find
		// (notify.ErrPermanent for permanent ones), or errAny.
		wantErr       error
		wantPermanent bool
		wantTLS       bool
		wantUser      string
	}{{
		name:   "STARTTLS and AUTH PLAIN",
		server: serverConfig{TLS: serverTLS, User: "mailer", Pass: "s3cret"},
		opts: func(o *email.Options) {
			o.StartTLS, o.TLSConfig, o.Username, o.Password = email.StartTLSRequired, clientTLS, "mailer", "s3cret"
		},
		to: "alice@example.test", wantTLS: true, wantUser: "mailer",
	}, {
		name:   "opportunistic uses STARTTLS when offered",
		server: serverConfig{TLS: serverTLS},
		opts:   func(o *email.Options) { o.TLSConfig = clientTLS },
		to:     "alice@example.test", wantTLS: true,
	}, {
		name:   "opportunistic goes on in clear when not offered",
		server: serverConfig{},
		to:     "alice@example.test",
	}, {
		name:   "default on loopback is no STARTTLS, AUTH allowed in clear there",
		server: serverConfig{User: "mailer", Pass: "s3cret"},
		opts:   func(o *email.Options) { o.StartTLS, o.Username, o.Password = "", "mailer", "s3cret" },
		to:     "alice@example.test", wantUser: "mailer",
	}, {
		name:    "required STARTTLS not offered",
		server:  serverConfig{},
		opts:    func(o *email.Options) { o.StartTLS = email.StartTLSRequired },
		to:      "alice@example.test",
		wantErr: email.ErrNoStartTLS,
	}, {
		name:    "certificate not trusted",
		server:  serverConfig{TLS: serverTLS},
		opts:    func(o *email.Options) { o.StartTLS = email.StartTLSRequired },
		to:      "alice@example.test",
		wantErr: errAny,
	}, {
		name:   "wrong password",
		server: serverConfig{TLS: serverTLS, User: "mailer", Pass: "s3cret"},
		opts: func(o *email.Options) {
			o.StartTLS, o.TLSConfig, o.Username, o.Password = email.StartTLSRequired, clientTLS, "mailer", "wr0ng-pass"
		},
		to:      "alice@example.test",
		wantErr: errAny,
	}, {
		name:          "550 mailbox unavailable",
		server:        serverConfig{RcptErr: map[string]*gosmtp.SMTPError{"gone@example.test": {Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}}},
		to:            "gone@example.test",
		wantErr:       notify.ErrPermanent,
		wantPermanent: true,
	}, {
		name:          "553 mailbox name not allowed",
		server:        serverConfig{RcptErr: map[string]*gosmtp.SMTPError{"x@example.test": {Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Not allowed"}}},
		to:            "x@example.test",
		wantErr:       notify.ErrPermanent,
		wantPermanent: true,
	}, {
		name:    "451 try again later",
		server:  serverConfig{RcptErr: map[string]*gosmtp.SMTPError{"busy@example.test": {Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}}},
		to:      "busy@example.test",
		wantErr: errAny,
	}, {
		name:          "550 at end of DATA",
		server:        serverConfig{DataErr: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Rejected"}},
		to:            "alice@example.test",
		wantErr:       notify.ErrPermanent,
		wantPermanent: true,
	}, {
		name:    "554 at end of DATA is temporary",
		server:  serverConfig{DataErr: &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 3, 0}, Message: "Transaction failed"}},
		to:      "alice@example.test",
		wantErr: errAny,
	}, {
		name:          "address syntax",
		server:        serverConfig{},
		to:            "not an address",
		wantErr:       notify.ErrPermanent,
		wantPermanent: true,
	}, {
		name:          "header injection in address",
		server:        serverConfig{},
		to:            "a@example.test\r\nBcc: b@example.test",
		wantErr:       notify.ErrPermanent,
		wantPermanent: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.server)
			ch := MustChannel(t, ts, tt.opts)
			err := ch.Deliver(t.Context(), subscriber(tt.to, "en"), incidentNote())
			msgs := ts.Messages()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Deliver: %v", err)
				}
				if len(msgs) != 1 {
					t.Fatalf("got %d messages, want 1", len(msgs))
				}
				m := msgs[0]
				if m.From != "status@understudy.test" || len(m.To) != 1 || m.To[0] != tt.to {
					t.Errorf("got envelope %q → %q, want status@understudy.test → %q", m.From, m.To, tt.to)
				}
				if m.TLS != tt.wantTLS || m.User != tt.wantUser {
					t.Errorf("got TLS %v user %q, want TLS %v user %q", m.TLS, m.User, tt.wantTLS, tt.wantUser)
				}
				return
			}
			if err == nil {
				t.Fatalf("Deliver: got no error, want one")
			}
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wr0ng-pass") {
				t.Errorf("error shows a password: %v", err)
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("got permanent %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			if len(msgs) != 0 {
				t.Errorf("got %d messages accepted, want none", len(msgs))
			}
		})
	}
}

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")

func TestDeliverConnection(t *testing.T) {
	tests := []struct {
		name string
		// listen returns the address to dial and what the test does with
		// ctx's cancel.
		listen  func(t *testing.T, cancel context.CancelFunc) string
		timeout time.Duration
		wantIs  error
	}{{
		name: "connection refused",
		listen: func(t *testing.T, _ context.CancelFunc) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return addr
		},
	}, {
		name: "server never greets, caller cancels",
		listen: func(t *testing.T, cancel context.CancelFunc) string {
			return silentServer(t, cancel)
		},
		wantIs: context.Canceled,
	}, {
		name: "server never greets, Timeout elapses",
		listen: func(t *testing.T, _ context.CancelFunc) string {
			return silentServer(t, func() {})
		},
		timeout: 50 * time.Millisecond,
		wantIs:  context.DeadlineExceeded,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			host, port, _ := net.SplitHostPort(tt.listen(t, cancel))
			p, err := strconv.Atoi(port)
			if err != nil {
				t.Fatal(err)
			}
			ts := &testServer{Host: host, Port: p}
			ch := MustChannel(t, ts, func(o *email.Options) {
				if tt.timeout > 0 {
					o.Timeout = tt.timeout
				}
			})
			err = ch.Deliver(ctx, subscriber("alice@example.test", "en"), incidentNote())
			if err == nil {
				t.Fatal("Deliver: got no error, want one")
			}
			if errors.Is(err, notify.ErrPermanent) {
				t.Errorf("got permanent %v, want temporary", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}

// silentServer accepts one connection and says nothing; accepted is
// called once it has.
func silentServer(t *testing.T, accepted func()) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted()
		_, _ = io.Copy(io.Discard, c) // until the client gives up
		c.Close()
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestDeliverMalformed(t *testing.T) {
	tests := []struct {
		name string
		s    notify.Subscriber
		n    notify.Notification
	}{
		{"unknown kind", subscriber("a@example.test", "en"), notify.Notification{ID: "x", Kind: "weather"}},
		{"incident without incident", subscriber("a@example.test", "en"), notify.Notification{ID: "x", Kind: notify.NoteIncident}},
		{"component without component", subscriber("a@example.test", "en"), notify.Notification{ID: "x", Kind: notify.NoteComponent}},
		{"maintenance without maintenance", subscriber("a@example.test", "en"), notify.Notification{ID: "x", Kind: notify.NoteMaintenance}},
		{"webhook subscriber", notify.Subscriber{ID: 1, Kind: notify.KindWebhook, Address: "https://x.test"}, componentNote()},
	}
	ts := startServer(t, serverConfig{})
	ch := MustChannel(t, ts, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ch.Deliver(t.Context(), tt.s, tt.n)
			if !errors.Is(err, notify.ErrPermanent) {
				t.Errorf("got %v, want notify.ErrPermanent", err)
			}
		})
	}
	t.Run("header injection in the unsubscribe URL", func(t *testing.T) {
		ch := MustChannel(t, ts, func(o *email.Options) {
			o.UnsubscribeURL = func(notify.Subscriber) string { return "https://s.test/u>\r\nBcc: x@example.test" }
		})
		if err := ch.Deliver(t.Context(), subscriber("a@example.test", "en"), componentNote()); err == nil {
			t.Error("got no error, want one")
		}
	})
	if n := len(ts.Messages()); n != 0 {
		t.Errorf("got %d messages, want none", n)
	}
}

func TestNewValidates(t *testing.T) {
	ok := func() email.Options {
		return email.Options{Host: "smtp.example.test", From: mail.Address{Address: "status@example.test"}}
	}
	tests := []struct {
		name      string
		edit      func(*email.Options)
		wantField string // "" for success
	}{
		{"defaults", func(*email.Options) {}, ""},
		{"no host", func(o *email.Options) { o.Host = "" }, "Options.Host"},
		{"bad port", func(o *email.Options) { o.Port = 70000 }, "Options.Port"},
		{"no from", func(o *email.Options) { o.From.Address = "" }, "Options.From.Address"},
		{"from with name inside", func(o *email.Options) { o.From.Address = "S <s@example.test>" }, "Options.From.Address"},
		{"bad StartTLS", func(o *email.Options) { o.StartTLS = "yes" }, "Options.StartTLS"},
		{"password in clear over the network", func(o *email.Options) { o.StartTLS, o.Username = email.StartTLSNone, "u" }, "Options.StartTLS"},
		{"password in clear on loopback", func(o *email.Options) { o.Host, o.StartTLS, o.Username = "127.0.0.1", email.StartTLSNone, "u" }, ""},
		{"relative PageURL", func(o *email.Options) { o.PageURL = "/status" }, "Options.PageURL"},
		{"negative timeout", func(o *email.Options) { o.Timeout = -time.Second }, "Options.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok()
			tt.edit(&o)
			c, err := email.New(o)
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.wantField == "" && c == nil:
				t.Error("New returned nil")
			case tt.wantField != "" && (err == nil || !strings.Contains(err.Error(), tt.wantField)):
				t.Errorf("New: got %v, want an error naming %s", err, tt.wantField)
			}
		})
	}
}
