package email_test

import (
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/notify/email"
)

// parsed is a received message, parsed as a mail client would.
type parsed struct {
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
}

// MustParse parses data with net/mail and mime/multipart, checking the
// MIME structure on the way: multipart/alternative of a text/plain and a
// text/html part, UTF-8, quoted-printable.
func MustParse(tb testing.TB, data []byte) parsed {
	tb.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		tb.Fatalf("net/mail: %v", err)
	}
	for _, line := range strings.Split(string(data), "\r\n") {
		if len(line) > 998 {
			tb.Errorf("line longer than 998 characters: %.40q…", line)
		}
	}
	p := parsed{Header: m.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		tb.Fatalf("Subject: %v", err)
	}
	if got := m.Header.Get("MIME-Version"); got != "1.0" {
		tb.Errorf("MIME-Version = %q, want 1.0", got)
	}
	typ, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		tb.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for _, want := range []string{"text/plain", "text/html"} {
		part, err := r.NextRawPart()
		if err != nil {
			tb.Fatalf("part %s: %v", want, err)
		}
		typ, params, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil || typ != want || params["charset"] != "utf-8" {
			tb.Fatalf("part Content-Type %q, want %s; charset=utf-8", part.Header.Get("Content-Type"), want)
		}
		if got := part.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
			tb.Errorf("part %s Content-Transfer-Encoding %q, want quoted-printable", want, got)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			tb.Fatalf("part %s: %v", want, err)
		}
		if want == "text/plain" {
			p.Text = string(b)
		} else {
			p.HTML = string(b)
		}
	}
	if _, err := r.NextRawPart(); err != io.EOF {
		tb.Errorf("after two parts: got %v, want io.EOF", err)
	}
	return p
}

var (
	messageIDPattern  = regexp.MustCompile(`^<[0-9a-f]{32}@understudy\.test>$`)
	referencesPattern = regexp.MustCompile(`^<(incident-42|component-assistant|maintenance-5)@understudy\.test>$`)
)

func TestMessage(t *testing.T) {
	tests := []struct {
		name        string
		note        notify.Notification
		lang        string
		wantSubject string
		wantText    []string
		wantHTML    []string
	}{{
		name:        "incident en",
		note:        incidentNote(),
		lang:        "en",
		wantSubject: `[Status] Errors on "assistant" <b>&</b>: Identified`,
		wantText: []string{
			"The provider is failing.\r\nWe moved traffic to the fallback.\r\n\r\nNext update in 30 minutes.",
			"Expected resolution: 2026-11-24 15:35 UTC",
			"Affected components: assistant\r\n",
			"Follow this incident: https://status.understudy.test/incidents/42",
			"Unsubscribe: https://status.understudy.test/unsubscribe?s=alice@example.test&t=tok",
		},
		wantHTML: []string{
			`<h1 style="font-size:20px;margin:0 0 16px">Errors on &#34;assistant&#34; &lt;b&gt;&amp;&lt;/b&gt;</h1>`,
			"The provider is failing.<br>We moved traffic to the fallback.",
			`<a href="https://status.understudy.test/incidents/42"`,
			`href="https://status.understudy.test/unsubscribe?s=alice@example.test&amp;t=tok"`,
		},
	}, {
		name:        "incident fr",
		note:        incidentNote(),
		lang:        "fr",
		wantSubject: `[Statut] Errors on "assistant" <b>&</b> : Cause identifiée`,
		wantText: []string{
			"Le fournisseur est en panne.\r\nNous avons basculé le trafic sur le secours.\r\n\r\nProchaine mise à jour dans 30 minutes.",
			"Résolution prévue : 2026-11-24 15:35 UTC",
			"Composants concernés : assistant",
			"Suivre cet incident : https://status.understudy.test/incidents/42",
			"Se désabonner : https://status.understudy.test/unsubscribe",
		},
		wantHTML: []string{`<html lang="fr">`, "Prochaine mise à jour dans 30 minutes.", "Se désabonner"},
	}, {
		name:        "component en",
		note:        componentNote(),
		lang:        "en",
		wantSubject: "[Status] assistant: Partial outage",
		wantText:    []string{"assistant changed from Operational to Partial outage.", "Reason: 42% of requests failed", "Since: 2026-11-24 14:05 UTC"},
		wantHTML:    []string{"assistant changed from Operational to Partial outage."},
	}, {
		name:        "component fr",
		note:        componentNote(),
		lang:        "fr",
		wantSubject: "[Statut] assistant : Panne partielle",
		wantText:    []string{"assistant est passé de « Opérationnel » à « Panne partielle »."},
		wantHTML:    []string{"assistant est passé de « Opérationnel » à « Panne partielle »."},
	}, {
		name:        "maintenance scheduled en",
		note:        maintenanceNote(understudy.MaintenanceScheduled),
		lang:        "en",
		wantSubject: "[Status] Scheduled maintenance: Database upgrade",
		wantText:    []string{"Maintenance is scheduled from 2026-11-25 14:05 UTC to 2026-11-25 16:05 UTC.", "Requests may be slower.", "Affected components: assistant"},
		wantHTML:    []string{"Maintenance is scheduled from 2026-11-25 14:05 UTC to 2026-11-25 16:05 UTC."},
	}, {
		name:        "maintenance started fr",
		note:        maintenanceNote(understudy.MaintenanceInProgress),
		lang:        "fr",
		wantSubject: "[Statut] Maintenance en cours : Database upgrade",
		wantText:    []string{"La maintenance a commencé le 2026-11-25 14:05 UTC et doit se terminer le 2026-11-25 16:05 UTC."},
	}, {
		name:        "maintenance completed en",
		note:        maintenanceNote(understudy.MaintenanceCompleted),
		lang:        "en",
		wantSubject: "[Status] Maintenance completed: Database upgrade",
		wantText:    []string{"Maintenance completed at 2026-11-25 15:05 UTC."},
	}, {
		name:        "maintenance completed fr",
		note:        maintenanceNote(understudy.MaintenanceCompleted),
		lang:        "fr",
		wantSubject: "[Statut] Maintenance terminée : Database upgrade",
		wantText:    []string{"La maintenance s’est terminée le 2026-11-25 15:05 UTC."},
	}}
	ts := startServer(t, serverConfig{})
	ch := MustChannel(t, ts, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ch.Deliver(t.Context(), subscriber("alice@example.test", tt.lang), tt.note); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			msgs := ts.Messages()
			if len(msgs) != i+1 {
				t.Fatalf("got %d messages, want %d", len(msgs), i+1)
			}
			p := MustParse(t, msgs[i].Data)
			if p.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", p.Subject, tt.wantSubject)
			}
			from, err := p.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "Statut Understudy – Équipe" || from[0].Address != "status@understudy.test" {
				t.Errorf("From = %q (%v), want Statut Understudy – Équipe <status@understudy.test>", p.Header.Get("From"), err)
			}
			to, err := p.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != "alice@example.test" {
				t.Errorf("To = %q (%v), want alice@example.test", p.Header.Get("To"), err)
			}
			if date, err := p.Header.Date(); err != nil || !date.Equal(t0) {
				t.Errorf("Date = %q (%v), want %v", p.Header.Get("Date"), err, t0)
			}
			if id := p.Header.Get("Message-ID"); !messageIDPattern.MatchString(id) {
				t.Errorf("Message-ID = %q, want %v", id, messageIDPattern)
			}
			if ref := p.Header.Get("References"); !referencesPattern.MatchString(ref) {
				t.Errorf("References = %q, want %v", ref, referencesPattern)
			}
			for name, want := range map[string]string{
				"List-Unsubscribe":      "<https://status.understudy.test/unsubscribe?s=alice@example.test&t=tok>",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"Auto-Submitted":        "auto-generated",
				"Content-Language":      tt.lang,
			} {
				if got := p.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, want := range tt.wantText {
				if !strings.Contains(p.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, p.Text)
				}
			}
			for _, want := range tt.wantHTML {
				if !strings.Contains(p.HTML, want) {
					t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
				}
			}
			if strings.Contains(p.HTML, "<b>&</b>") {
				t.Errorf("HTML part has the title unescaped:\n%s", p.HTML)
			}
		})
	}
}

func TestMessageIDsUnique(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ch := MustChannel(t, ts, nil)
	for range 3 {
		if err := ch.Deliver(t.Context(), subscriber("alice@example.test", "en"), componentNote()); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, m := range ts.Messages() {
		id := MustParse(t, m.Data).Header.Get("Message-ID")
		if seen[id] {
			t.Errorf("Message-ID %q sent twice", id)
		}
		seen[id] = true
	}
}

func TestUnsubscribeHeaders(t *testing.T) {
	tests := []struct {
		name     string
		url      func(notify.Subscriber) string
		wantList string
		wantPost string
	}{
		{"https: one-click", func(notify.Subscriber) string { return "https://s.test/u/1" }, "<https://s.test/u/1>", "List-Unsubscribe=One-Click"},
		{"http: no one-click", func(notify.Subscriber) string { return "http://s.test/u/1" }, "<http://s.test/u/1>", ""},
		{"none", nil, "", ""},
		{"none for this subscriber", func(notify.Subscriber) string { return "" }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, serverConfig{})
			ch := MustChannel(t, ts, func(o *email.Options) { o.UnsubscribeURL = tt.url })
			if err := ch.Deliver(t.Context(), subscriber("alice@example.test", "en"), componentNote()); err != nil {
				t.Fatal(err)
			}
			p := MustParse(t, ts.Messages()[0].Data)
			if got := p.Header.Get("List-Unsubscribe"); got != tt.wantList {
				t.Errorf("List-Unsubscribe = %q, want %q", got, tt.wantList)
			}
			if got := p.Header.Get("List-Unsubscribe-Post"); got != tt.wantPost {
				t.Errorf("List-Unsubscribe-Post = %q, want %q", got, tt.wantPost)
			}
		})
	}
}

func TestSendConfirmation(t *testing.T) {
	const confirm = "https://status.understudy.test/confirm?id=7&token=abc_-"
	tests := []struct {
		lang        string
		wantSubject string
		wantText    []string
	}{
		{"en", "[Status] Confirm your subscription", []string{"Confirm my subscription: " + confirm, "If you did not ask for this, ignore this message"}},
		{"fr", "[Statut] Confirmez votre abonnement", []string{"Confirmer mon abonnement : " + confirm, "Si vous n’avez rien demandé, ignorez ce message"}},
	}
	serverTLS, clientTLS := testCert(t)
	ts := startServer(t, serverConfig{TLS: serverTLS, User: "mailer", Pass: "pw"})
	ch := MustChannel(t, ts, func(o *email.Options) {
		o.StartTLS, o.TLSConfig, o.Username, o.Password = email.StartTLSRequired, clientTLS, "mailer", "pw"
	})
	for i, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			if err := ch.SendConfirmation(t.Context(), subscriber("bob@example.test", tt.lang), confirm); err != nil {
				t.Fatalf("SendConfirmation: %v", err)
			}
			m := ts.Messages()[i]
			if !m.TLS || len(m.To) != 1 || m.To[0] != "bob@example.test" {
				t.Errorf("got TLS %v to %q, want TLS to bob@example.test", m.TLS, m.To)
			}
			p := MustParse(t, m.Data)
			if p.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", p.Subject, tt.wantSubject)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(p.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, p.Text)
				}
			}
			if want := `href="https://status.understudy.test/confirm?id=7&amp;token=abc_-"`; !strings.Contains(p.HTML, want) {
				t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
			}
			if got := p.Header.Get("List-Unsubscribe"); got != "" {
				t.Errorf("List-Unsubscribe = %q on a confirmation, want none", got)
			}
			if got := p.Header.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted = %q, want auto-generated", got)
			}
		})
	}
	t.Run("bad URL", func(t *testing.T) {
		if err := ch.SendConfirmation(t.Context(), subscriber("bob@example.test", "en"), "javascript:alert(1)"); err == nil {
			t.Error("got no error for a javascript: URL, want one")
		}
	})
}
