package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/understudy/understudy/internal/smtpsink"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/simulate"
)

const notifyConfig = serveConfig + `public_url: "${PUBLIC_URL}"
notifications:
  webhook_secrets: ["${WEBHOOK_SECRET}"]
  link_secret: "${LINK_SECRET}"
  allow_private: true          # the test's receiver is on 127.0.0.1
  email: {host: 127.0.0.1, port: SMTP_PORT, from: "Status <status@example.com>"}
`

// TestNotificationsEndToEnd: a reader subscribes by e-mail on the page and
// confirms (double opt-in); an operator adds a webhook through the admin
// API; an outage opens an incident; the webhook arrives signed and the
// e-mail arrives with a one-click unsubscribe link that works.
func TestNotificationsEndToEnd(t *testing.T) {
	ctx, cancel := testCtx(t)
	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	sink, err := smtpsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	hooks := make(chan *http.Request, 100)
	bodies := make(chan []byte, 100)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- b
	}))
	defer receiver.Close()

	const adminToken, secret = "us_e2e-admin", "webhook-secret-0123456789"
	var base string
	db := filepath.Join(t.TempDir(), "u.db")
	env := func(k string) string {
		return map[string]string{"SIM_URL": simSrv.URL, "DB": db, "UNDERSTUDY_ADMIN_TOKEN": adminToken,
			"WEBHOOK_SECRET": secret, "LINK_SECRET": "link-secret-0123456789abcdef", "SMTP_PORT": sink.Addr[strings.LastIndex(sink.Addr, ":")+1:],
			"PUBLIC_URL": base}[k]
	}
	// The public URL must be known before serve starts: take a port first.
	base = "http://" + freeAddr(t)
	path := writeFile(t, t.TempDir(), "understudy.yaml", strings.Replace(notifyConfig, "SMTP_PORT", sink.Addr[strings.LastIndex(sink.Addr, ":")+1:], 1))
	stdout, stderr := newLines(), newLines()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-config", path, "-listen", strings.TrimPrefix(base, "http://")}, env, stdout, stderr)
	}()
	go func() {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		done <- nil
	}()
	stdout.waitFor(ctx, t, "listening on ")

	// A reader subscribes on the page; the confirmation link activates it.
	resp, err := http.PostForm(base+"/subscribe", url.Values{"email": {"Reader@Example.com"}, "lang": {"fr"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	confirm := <-sink.Messages
	link := regexp.MustCompile(`http://[^\s"<>]+/subscribe/confirm\?token=[A-Za-z0-9_-]+`).Find(qpDecode(confirm.Data))
	if link == nil {
		t.Fatalf("no confirmation link in:\n%s", confirm.Data)
	}
	if resp, err = http.Get(string(link)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("confirm: %v %v", resp, err)
	}
	resp.Body.Close()

	// An operator adds a webhook.
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/v1/subscribers", strings.NewReader(`{"kind":"webhook","address":"`+receiver.URL+`/hook"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("add webhook: %v %v %s", resp.StatusCode, err, b)
	}
	resp.Body.Close()

	client := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	if err := sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}); err != nil {
			t.Fatal(err)
		}
	}

	// The webhook: signed, Statuspage-shaped, about the incident.
	var incidentHook []byte
	for incidentHook == nil {
		select {
		case r := <-hooks:
			body := <-bodies
			if err := notify.Verify([][]byte{[]byte(secret)}, r.Header.Get(notify.HeaderWebhookID), r.Header.Get(notify.HeaderTimestamp), body,
				r.Header.Get(notify.HeaderSignature), time.Now(), 0); err != nil {
				t.Fatalf("webhook signature: %v", err)
			}
			if bytes.Contains(body, []byte(`"incident"`)) {
				incidentHook = body
			}
		case <-ctx.Done():
			t.Fatal("no incident webhook")
		}
	}
	var payload struct {
		Incident struct {
			Name    string `json:"name"`
			Status  string `json:"status"`
			Updates []struct {
				Body string `json:"body"`
			} `json:"incident_updates"`
		} `json:"incident"`
	}
	if err := json.Unmarshal(incidentHook, &payload); err != nil || payload.Incident.Name != "Errors from provider primary" ||
		payload.Incident.Status != "investigating" || len(payload.Incident.Updates) == 0 {
		t.Errorf("webhook payload %s (%v)", incidentHook, err)
	}

	// The e-mail, in French, with a working one-click unsubscribe.
	var mail smtpsink.Message
	for {
		select {
		case mail = <-sink.Messages:
		case <-ctx.Done():
			t.Fatal("no incident e-mail")
		}
		if bytes.Contains(mail.Data, []byte("List-Unsubscribe-Post")) || bytes.Contains(mail.Data, []byte("List-Unsubscribe:")) {
			break
		}
	}
	if mail.To[0] != "reader@example.com" {
		t.Errorf("e-mail to %v", mail.To)
	}
	unsub := regexp.MustCompile(`List-Unsubscribe: <([^>]+)>`).FindSubmatch(mail.Data)
	if unsub == nil {
		t.Fatalf("no List-Unsubscribe in:\n%s", mail.Data)
	}
	if resp, err = http.Post(string(unsub[1]), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// qpDecode undoes quoted-printable soft breaks and "=3D" well enough to
// find a link in a raw message.
func qpDecode(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("=\r\n"), nil), []byte("=3D"), []byte("="))
}
