package email

import (
	"bytes"
	"flag"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestCatalogueComplete(t *testing.T) {
	for l, m := range catalogue {
		for key, en := range catalogue[LangEnglish] {
			s, ok := m[key]
			if !ok || s == "" {
				t.Errorf("%s: %s missing", l, key)
				continue
			}
			if got, want := strings.Count(s, "%s"), strings.Count(en, "%s"); got != want {
				t.Errorf("%s: %s has %d %%s, want %d as in English", l, key, got, want)
			}
		}
		for key := range m {
			if _, ok := catalogue[LangEnglish][key]; !ok {
				t.Errorf("%s: %s not in English", l, key)
			}
		}
	}
}

func TestLang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "en"}, {"en", "en"}, {"fr", "fr"}, {"FR", "fr"}, {"fr-CA", "fr"}, {"de", "en"}, {"fra", "en"},
	}
	for _, tt := range tests {
		if got := lang(tt.in); got != tt.want {
			t.Errorf("lang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaultStartTLS(t *testing.T) {
	tests := []struct{ host, want string }{
		{"smtp.example.test", StartTLSRequired},
		{"192.0.2.1", StartTLSRequired},
		{"localhost", StartTLSNone},
		{"127.0.0.1", StartTLSNone},
		{"::1", StartTLSNone},
	}
	for _, tt := range tests {
		c, err := New(Options{Host: tt.host, From: mail.Address{Address: "s@example.test"}})
		if err != nil {
			t.Fatal(err)
		}
		if c.startTLS != tt.want {
			t.Errorf("Host %q: got StartTLS %q, want %q", tt.host, c.startTLS, tt.want)
		}
	}
}

func TestHeaderFolding(t *testing.T) {
	long := "[Statut] " + strings.Repeat("Problème d’accès aux modèles ", 6) + ": Cause identifiée"
	tests := []struct{ name, value string }{
		{"short", "hello"},
		{"ascii long", strings.Repeat("word ", 40)},
		{"encoded-words", mime.QEncoding.Encode("utf-8", long)},
		{"one long word", strings.Repeat("x", 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			header(&b, "Subject", tt.value)
			out := b.String()
			if !strings.HasSuffix(out, "\r\n") {
				t.Fatalf("got %q, want a CRLF at the end", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
			for i, l := range lines {
				if len(l) > maxLine && strings.Contains(strings.TrimSpace(strings.TrimPrefix(l, "Subject: ")), " ") {
					t.Errorf("line %d is %d long and could be folded: %q", i, len(l), l)
				}
				if i > 0 && !strings.HasPrefix(l, " ") {
					t.Errorf("continuation line %d does not start with a space: %q", i, l)
				}
			}
			if got, want := strings.ReplaceAll(out, "\r\n ", " "), "Subject: "+tt.value+"\r\n"; got != want {
				t.Errorf("unfolded: got %q, want %q", got, want)
			}
		})
	}
}

func TestAtext(t *testing.T) {
	if got, want := atext("component-provider:openai/gpt 4é"), "component-provider-openai-gpt-4-"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestHeaderInjection(t *testing.T) {
	var b bytes.Buffer
	header(&b, "Subject", "hi\r\nBcc: x@example.test")
	if got, want := b.String(), "Subject: hi  Bcc: x@example.test\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestGolden renders each kind of message in each language and compares
// both parts with testdata/NAME.txt.golden and NAME.html.golden; -update
// rewrites them.
func TestGolden(t *testing.T) {
	at := time.Date(2026, 11, 24, 14, 5, 0, 0, time.UTC)
	inc := &understudy.Incident{ID: 42, Title: "Errors on <assistant> & co", Status: understudy.IncidentMonitoring, Components: []string{"assistant", "provider:openai"}}
	upd := &understudy.IncidentUpdate{
		Status: understudy.IncidentMonitoring, ETA: at.Add(time.Hour), Components: []string{"assistant"},
		Message:      "A fix is deployed.\nWe are watching error rates.\n\nNext update within the hour.",
		Translations: map[string]string{"fr": "Un correctif est déployé.\nNous surveillons le taux d’erreurs.\n\nProchaine mise à jour dans l’heure."},
	}
	comp := &understudy.Component{Name: "provider:openai", Status: understudy.ComponentMajorOutage, Since: at, Reason: "all requests time out"}
	maint := func(s understudy.MaintenanceStatus) *understudy.Maintenance {
		return &understudy.Maintenance{ID: 5, Title: "Database upgrade", Message: "Requests may be slower.", Status: s,
			Components: []string{"assistant"}, StartsAt: at.Add(24 * time.Hour), EndsAt: at.Add(26 * time.Hour),
			StartedAt: at.Add(24 * time.Hour), EndedAt: at.Add(25 * time.Hour)}
	}
	notes := []struct {
		name string
		n    notify.Notification
	}{
		{"incident", notify.Notification{Kind: notify.NoteIncident, Incident: inc, Update: upd, URL: "https://status.example.test/incidents/42"}},
		{"component", notify.Notification{Kind: notify.NoteComponent, Component: comp, OldStatus: understudy.ComponentDegradedPerformance, URL: "https://status.example.test/"}},
		{"maintenance-scheduled", notify.Notification{Kind: notify.NoteMaintenance, Maintenance: maint(understudy.MaintenanceScheduled), URL: "https://status.example.test/maintenance/5"}},
		{"maintenance-started", notify.Notification{Kind: notify.NoteMaintenance, Maintenance: maint(understudy.MaintenanceInProgress)}},
		{"maintenance-completed", notify.Notification{Kind: notify.NoteMaintenance, Maintenance: maint(understudy.MaintenanceCompleted)}},
	}
	for _, l := range []string{LangEnglish, LangFrench} {
		for _, nt := range notes {
			c, err := compose(nt.n, l, "https://status.example.test/", "https://status.example.test/unsubscribe?t=abc&id=7")
			if err != nil {
				t.Fatalf("%s: %v", nt.name, err)
			}
			checkGolden(t, nt.name+"-"+l, c)
		}
		checkGolden(t, "confirm-"+l, composeConfirmation(l, "https://status.example.test/confirm?t=abc&id=7", "https://status.example.test/"))
	}
}

func checkGolden(t *testing.T, name string, c content) {
	t.Helper()
	html, err := c.html()
	if err != nil {
		t.Fatal(err)
	}
	for ext, got := range map[string]string{
		".txt":  "Subject: " + c.Subject + "\n\n" + c.text(),
		".html": html,
	} {
		path := filepath.Join("testdata", name+ext+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
		}
	}
}
