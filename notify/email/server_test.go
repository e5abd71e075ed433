package email_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"go.uber.org/goleak"
)

// serverConfig is how a test SMTP server behaves.
type serverConfig struct {
	// TLS, when set, makes the server offer STARTTLS, and AUTH only over
	// TLS. Nil: no STARTTLS, AUTH allowed in clear.
	TLS *tls.Config
	// User and Pass, when User is set, are the only credentials AUTH PLAIN
	// accepts, and MAIL is refused before AUTH.
	User, Pass string
	// RcptErr refuses RCPT TO for these recipients.
	RcptErr map[string]*gosmtp.SMTPError
	// DataErr, when set, refuses every message at the end of DATA.
	DataErr *gosmtp.SMTPError
}

// received is one message the server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the message came over STARTTLS
	User string // who authenticated, "" nobody
}

// testServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1:0 that
// records what it accepts.
type testServer struct {
	Host string
	Port int
	cfg  serverConfig

	mu   sync.Mutex
	msgs []received
}

// startServer starts a server that stops when the test ends.
func startServer(tb testing.TB, cfg serverConfig) *testServer {
	tb.Helper()
	ts := &testServer{cfg: cfg}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{ts: ts, conn: c}, nil
	}))
	s.Domain = "mx.test"
	s.TLSConfig = cfg.TLS
	s.AllowInsecureAuth = cfg.TLS == nil
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0) // clients that give up on purpose are not news
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		_ = s.Close()
		_ = ln.Close() // Close misses a listener Serve has not registered yet
		if err := <-done; err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
			tb.Errorf("smtp server: %v", err)
		}
	})
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ts.Host = host
	ts.Port, _ = strconv.Atoi(port)
	return ts
}

// Messages returns what the server accepted so far.
func (ts *testServer) Messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

type session struct {
	ts   *testServer
	conn *gosmtp.Conn
	user string
	from string
	to   []string
}

var _ gosmtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if s.ts.cfg.User == "" || username != s.ts.cfg.User || password != s.ts.cfg.Pass {
			return gosmtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.ts.cfg.User != "" && s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if err, ok := s.ts.cfg.RcptErr[to]; ok {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.ts.cfg.DataErr != nil {
		return s.ts.cfg.DataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	s.ts.msgs = append(s.ts.msgs, received{From: s.from, To: s.to, Data: data, TLS: isTLS, User: s.user})
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

// testCert is a self-signed certificate for 127.0.0.1 and localhost: the
// server's tls.Config, and a client tls.Config that trusts it.
func testCert(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "understudy test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}},
		&tls.Config{RootCAs: pool}
}

func TestMain(m *testing.M) {
	// Every SMTP exchange ends with its connection: none may leak.
	goleak.VerifyTestMain(m)
}
