// Package email delivers notifications by e-mail over SMTP (net/smtp):
// STARTTLS, AUTH PLAIN, one connection per message, multipart text and HTML
// in English or French, RFC 8058 one-click unsubscribe headers. It also
// sends the double opt-in confirmation message and signs the tokens the
// confirmation and unsubscribe links carry.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy/notify"
)

// STARTTLS modes (Options.StartTLS).
const (
	// StartTLSRequired fails a delivery unless the server offers STARTTLS
	// and the handshake (certificate verified) succeeds.
	StartTLSRequired = "required"
	// StartTLSOpportunistic uses STARTTLS when the server offers it: a
	// failed handshake still fails the delivery.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSNone never uses STARTTLS.
	StartTLSNone = "none"
)

// Defaults.
const (
	DefaultPort    = 587
	DefaultTimeout = 30 * time.Second
)

// ErrNoStartTLS is returned when StartTLS is required and the server does
// not offer it. It is not permanent: the relay is ours to fix, not the
// subscriber's address.
var ErrNoStartTLS = errors.New("email: server does not offer STARTTLS")

// Options configures a Channel.
type Options struct {
	// Host is the SMTP relay's host name or IP address. Required.
	Host string
	// Port is the relay's port. Default (0): 587, submission with STARTTLS.
	// Implicit TLS (465) is not supported.
	Port int
	// Username for AUTH PLAIN. "" (default): no authentication.
	Username string
	// Password for AUTH PLAIN. It comes from the environment, never from a
	// config file: the caller reads it and passes it here. Never logged.
	Password string
	// From is the sender: Address is required, Name is the display name
	// ("" none). Its domain also ends every Message-ID.
	From mail.Address
	// StartTLS is StartTLSRequired, StartTLSOpportunistic or StartTLSNone.
	// Default (""): required, or none when Host is loopback ("localhost",
	// 127.0.0.0/8, ::1), where a local relay rarely has a certificate that
	// verifies and the hop does not leave the machine.
	StartTLS string
	// TLSConfig is used for STARTTLS; tests set RootCAs to trust a test CA.
	// Default (nil): the system roots. ServerName defaults to Host.
	TLSConfig *tls.Config
	// LocalName is the name sent with EHLO. Default (""): "localhost".
	LocalName string
	// Clock gives the Date header. Default (nil): the real clock.
	Clock clockwork.Clock
	// Logger gets one debug line per message sent. Default (nil): discard.
	Logger *slog.Logger
	// PageURL is the public status page, linked from every message. ""
	// (default): no link.
	PageURL string
	// UnsubscribeURL gives a subscriber's one-click unsubscribe URL, used
	// in the footer and the List-Unsubscribe header (List-Unsubscribe-Post
	// too when it is https, RFC 8058). Nil, or "" for a subscriber: none.
	UnsubscribeURL func(notify.Subscriber) string
	// Timeout bounds one message's whole SMTP exchange, dial included (ctx
	// bounds it too). Default (0): 30s.
	Timeout time.Duration
}

// Channel sends notifications by e-mail. It is safe for concurrent use:
// each message has its own connection.
type Channel struct {
	opts     Options
	addr     string
	startTLS string
	domain   string
	clock    clockwork.Clock
	log      *slog.Logger
	timeout  time.Duration
}

var _ notify.Channel = (*Channel)(nil)

// New validates o and returns a Channel. Errors name the Options field.
func New(o Options) (*Channel, error) {
	if o.Host == "" || strings.ContainsAny(o.Host, " \t\r\n/") {
		return nil, fmt.Errorf("email: Options.Host %q: want a host name or IP address", o.Host)
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return nil, fmt.Errorf("email: Options.Port %d: want 1 to 65535", o.Port)
	}
	from, err := mail.ParseAddress(o.From.Address)
	if err != nil || from.Address != o.From.Address || !strings.Contains(o.From.Address, "@") {
		return nil, fmt.Errorf("email: Options.From.Address %q: want a bare address like status@example.com", o.From.Address)
	}
	loopback := isLoopback(o.Host)
	switch o.StartTLS {
	case "":
		o.StartTLS = StartTLSRequired
		if loopback {
			o.StartTLS = StartTLSNone
		}
	case StartTLSRequired, StartTLSOpportunistic, StartTLSNone:
	default:
		return nil, fmt.Errorf("email: Options.StartTLS %q: want %q, %q or %q", o.StartTLS, StartTLSRequired, StartTLSOpportunistic, StartTLSNone)
	}
	if o.Username != "" && o.StartTLS == StartTLSNone && !loopback {
		return nil, fmt.Errorf("email: Options.StartTLS %q with Options.Username set and Host %q not loopback: the password would cross the network in clear", o.StartTLS, o.Host)
	}
	if o.PageURL != "" {
		if err := checkURL(o.PageURL); err != nil {
			return nil, fmt.Errorf("email: Options.PageURL %q: %w", o.PageURL, err)
		}
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("email: Options.Timeout %s: want 0 (default %s) or more", o.Timeout, DefaultTimeout)
	}
	c := &Channel{
		opts:     o,
		addr:     net.JoinHostPort(o.Host, strconv.Itoa(o.Port)),
		startTLS: o.StartTLS,
		domain:   o.From.Address[strings.LastIndexByte(o.From.Address, '@')+1:],
		clock:    o.Clock,
		log:      o.Logger,
		timeout:  o.Timeout,
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// Kind is notify.KindEmail.
func (c *Channel) Kind() string { return notify.KindEmail }

// Deliver sends n to s. An invalid address, a notification that cannot be
// rendered, and a recipient refused with 550, 553 (or 501 to RCPT: address
// syntax) wrap notify.ErrPermanent; everything else (connection failures,
// 4xx, other 5xx such as a failed AUTH) may be retried.
func (c *Channel) Deliver(ctx context.Context, s notify.Subscriber, n notify.Notification) error {
	if s.Kind != notify.KindEmail {
		return fmt.Errorf("email: %w: subscriber %d is of kind %q", notify.ErrPermanent, s.ID, s.Kind)
	}
	to, err := recipient(s.Address)
	if err != nil {
		return err
	}
	var unsub string
	if c.opts.UnsubscribeURL != nil {
		unsub = c.opts.UnsubscribeURL(s)
		if err := checkURL(unsub); unsub != "" && err != nil {
			return fmt.Errorf("email: Options.UnsubscribeURL gave %q for subscriber %d: %w", unsub, s.ID, err)
		}
	}
	ct, err := compose(n, s.Language, c.opts.PageURL, unsub)
	if err != nil {
		return fmt.Errorf("email: %w: %w", notify.ErrPermanent, err)
	}
	return c.sendContent(ctx, to, unsub, ct, slog.Int64("subscriber", s.ID), slog.String("notification", n.ID))
}

// SendConfirmation sends s the double opt-in message, in s's language,
// asking to open confirmURL (the caller builds it, with a token from
// Tokens.Make). Errors are classified as Deliver's are.
func (c *Channel) SendConfirmation(ctx context.Context, s notify.Subscriber, confirmURL string) error {
	if err := checkURL(confirmURL); err != nil {
		return fmt.Errorf("email: confirmation URL: %w", err)
	}
	to, err := recipient(s.Address)
	if err != nil {
		return err
	}
	ct := composeConfirmation(s.Language, confirmURL, c.opts.PageURL)
	return c.sendContent(ctx, to, "", ct, slog.Int64("subscriber", s.ID), slog.String("notification", "confirmation"))
}

func (c *Channel) sendContent(ctx context.Context, to, unsub string, ct content, attrs ...any) error {
	msg, id, err := build(envelope{
		From:    c.opts.From,
		To:      to,
		Date:    c.clock.Now(),
		Unsub:   unsub,
		Domain:  c.domain,
		Content: ct,
	})
	if err != nil {
		return fmt.Errorf("email: build message: %w", err)
	}
	if err := c.send(ctx, to, msg); err != nil {
		return err
	}
	c.log.DebugContext(ctx, "email sent", append(attrs, slog.String("message_id", id))...)
	return nil
}

// SMTP stages, for errors and their classification.
const (
	stageDial     = "dial"
	stageGreeting = "greeting"
	stageHello    = "EHLO"
	stageStartTLS = "STARTTLS"
	stageAuth     = "AUTH"
	stageMail     = "MAIL FROM"
	stageRcpt     = "RCPT TO"
	stageData     = "DATA"
)

// send runs one SMTP exchange: connect, EHLO, STARTTLS, AUTH, MAIL, RCPT,
// DATA, QUIT, all within ctx and the timeout.
func (c *Channel) send(ctx context.Context, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return c.fail(ctx, stageDial, err)
	}
	// net/smtp takes no context: a deadline bounds every read and write,
	// and cancelling ctx moves it to the past, which unblocks them.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	client, err := smtp.NewClient(conn, c.opts.Host)
	if err != nil {
		_ = conn.Close()
		return c.fail(ctx, stageGreeting, err)
	}
	defer client.Close()
	localName := c.opts.LocalName
	if localName == "" {
		localName = "localhost"
	}
	if err := client.Hello(localName); err != nil {
		return c.fail(ctx, stageHello, err)
	}
	if c.startTLS != StartTLSNone {
		if ok, _ := client.Extension("STARTTLS"); ok {
			if err := client.StartTLS(c.tlsConfig()); err != nil {
				return c.fail(ctx, stageStartTLS, err)
			}
		} else if c.startTLS == StartTLSRequired {
			return fmt.Errorf("%w (%s, StartTLS %s)", ErrNoStartTLS, c.addr, c.startTLS)
		}
	}
	if c.opts.Username != "" {
		if ok, _ := client.Extension("AUTH"); !ok {
			return fmt.Errorf("email: %s: %s offers no AUTH (over TLS: %v)", stageAuth, c.addr, isTLS(client))
		}
		if err := client.Auth(smtp.PlainAuth("", c.opts.Username, c.opts.Password, c.opts.Host)); err != nil {
			return c.fail(ctx, stageAuth, err)
		}
	}
	if err := client.Mail(c.opts.From.Address); err != nil {
		return c.fail(ctx, stageMail, err)
	}
	if err := client.Rcpt(to); err != nil {
		return c.fail(ctx, stageRcpt, err)
	}
	w, err := client.Data()
	if err != nil {
		return c.fail(ctx, stageData, err)
	}
	if _, err := w.Write(msg); err != nil {
		return c.fail(ctx, stageData, err)
	}
	if err := w.Close(); err != nil {
		return c.fail(ctx, stageData, err)
	}
	// The message is accepted: a failed QUIT must not make the caller send
	// it again.
	if err := client.Quit(); err != nil {
		c.log.DebugContext(ctx, "email: QUIT failed after the message was accepted", slog.String("server", c.addr), slog.Any("err", err))
	}
	return nil
}

func (c *Channel) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if c.opts.TLSConfig != nil {
		cfg = c.opts.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = c.opts.Host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

func isTLS(client *smtp.Client) bool {
	_, ok := client.TLSConnectionState()
	return ok
}

// fail wraps an error from stage, as permanent when the server refused
// the recipient or the message for good: 550 (mailbox unavailable) or 553
// (mailbox name not allowed) to RCPT or DATA, 501 (syntax error in the
// address) to RCPT. Anything else is temporary: a refused sender or AUTH
// is the relay's configuration to fix, not the subscriber's address.
func (c *Channel) fail(ctx context.Context, stage string, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline is ctx's: it can fire before ctx's
		// own timer does.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		switch {
		case (stage == stageRcpt || stage == stageData) && (reply.Code == 550 || reply.Code == 553),
			stage == stageRcpt && reply.Code == 501:
			return fmt.Errorf("email: %w: %s %s: %w", notify.ErrPermanent, c.addr, stage, err)
		}
	}
	return fmt.Errorf("email: %s %s: %w", c.addr, stage, err)
}

// recipient checks a subscriber's address: a bad one is permanent.
func recipient(address string) (string, error) {
	a, err := mail.ParseAddress(address)
	if err != nil {
		return "", fmt.Errorf("email: %w: address %q: %w", notify.ErrPermanent, address, err)
	}
	if !strings.Contains(a.Address, "@") || strings.ContainsAny(a.Address, "\r\n") {
		return "", fmt.Errorf("email: %w: address %q: no domain", notify.ErrPermanent, address)
	}
	return a.Address, nil
}

// checkURL accepts absolute http and https URLs that can stand between
// angle brackets in a header: no spaces, controls, '<' or '>'.
func checkURL(s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) {
		return errors.New("want a URL without spaces, control characters, '<' or '>'")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("want an absolute http or https URL")
	}
	return nil
}

// isLoopback reports whether host is "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
