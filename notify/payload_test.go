package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
)

func itoa(n int) string               { return strconv.Itoa(n) }
func contains(s, sub string) bool     { return strings.Contains(s, sub) }
func tm(minute int) time.Time         { return t0.Add(time.Duration(minute) * time.Minute) }
func providerName(name string) string { return strings.Replace(name, "provider:", "Provider ", 1) }

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func incidentNote() notify.Notification {
	upd1 := understudy.IncidentUpdate{ID: 11, IncidentID: 42, Status: understudy.IncidentInvestigating,
		Severity: understudy.SeverityMajor, Message: "Answers are slow or failing; we are looking into it.",
		Components: []string{"assistant"}, Author: "understudy", CreatedAt: tm(2)}
	upd2 := understudy.IncidentUpdate{ID: 12, IncidentID: 42, Status: understudy.IncidentIdentified,
		Severity: understudy.SeverityMajor, Message: "OpenAI is overloaded; traffic moved to Anthropic <fallback> & co.",
		ETA: tm(45), Components: []string{"assistant", "provider:openai"}, Author: "alice", CreatedAt: tm(10)}
	inc := &understudy.Incident{ID: 42, Title: "Assistant answers slowly", Status: understudy.IncidentIdentified,
		Severity: understudy.SeverityMajor, Cause: understudy.CauseOverload,
		Components: []string{"assistant", "provider:openai"}, StartedAt: tm(0), DetectedAt: tm(2), UpdatedAt: tm(10),
		LastUpdateAt: tm(10), ETA: tm(45), Updates: []understudy.IncidentUpdate{upd1, upd2}}
	return notify.Notification{ID: "incident-update:12", Kind: notify.NoteIncident, Time: tm(10), Incident: inc,
		Update: &upd2, Components: inc.Components, URL: "https://status.example.com/incidents/42"}
}

func componentNote() notify.Notification {
	c := &understudy.Component{Name: "provider:openai", Kind: "provider", Status: understudy.ComponentMajorOutage,
		Since: tm(3), Incident: 42, Reason: "every attempt failed over 2 minutes"}
	return notify.Notification{ID: "component:provider:openai:7", Kind: notify.NoteComponent, Time: tm(3),
		Component: c, OldStatus: understudy.ComponentOperational, Components: []string{"provider:openai"},
		URL: "https://status.example.com/"}
}

func maintenanceNote() notify.Notification {
	m := &understudy.Maintenance{ID: 5, Title: "Database upgrade", Message: "Answers may be slower for 30 minutes.",
		Status: understudy.MaintenanceInProgress, Components: []string{"assistant"},
		Targets: []string{"openai/gpt-4o-mini"}, StartsAt: tm(60), EndsAt: tm(90), StartedAt: tm(60),
		Author: "alice", CreatedAt: tm(-1440), UpdatedAt: tm(60)}
	return notify.Notification{ID: "maintenance:5:in_progress", Kind: notify.NoteMaintenance, Time: tm(60),
		Maintenance: m, Components: m.Components, URL: "https://status.example.com/incidents/m5"}
}

func resolvedNote() notify.Notification {
	n := incidentNote()
	inc := *n.Incident
	upd := understudy.IncidentUpdate{ID: 13, IncidentID: 42, Status: understudy.IncidentResolved,
		Severity: understudy.SeverityMajor, Message: "Answers are back to normal.", Components: inc.Components,
		Author: "alice", CreatedAt: tm(40)}
	inc.Status, inc.ResolvedAt, inc.UpdatedAt, inc.ETA = understudy.IncidentResolved, tm(40), tm(40), time.Time{}
	inc.Updates = append(inc.Updates, upd)
	n.ID, n.Incident, n.Update, n.Time = "incident-update:13", &inc, &upd, tm(40)
	return n
}

// golden compares got (JSON) with testdata/name, indented; -update rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if !json.Valid(got) {
		t.Fatalf("not JSON: %s", got)
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	ind.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, ind.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to write it): %v", err)
	}
	if !bytes.Equal(ind.Bytes(), want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, ind.Bytes(), want)
	}
}

var notes = []struct {
	name string
	n    func() notify.Notification
	lang string
}{
	{"incident", incidentNote, "en"},
	{"incident_fr", incidentNote, "fr"},
	{"resolved", resolvedNote, "en"},
	{"component", componentNote, "en"},
	{"maintenance", maintenanceNote, "en"},
	{"maintenance_fr", maintenanceNote, "fr"},
}

func TestSlackGolden(t *testing.T) {
	ch := notify.NewSlack(notify.ChatOptions{ComponentName: providerName})
	for _, tt := range notes {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ch.Payload(notify.Subscriber{ID: 1, Kind: notify.KindSlack, Language: tt.lang}, tt.n())
			if err != nil {
				t.Fatalf("Payload: %v", err)
			}
			golden(t, "slack_"+tt.name+".json", b)
		})
	}
}

func TestTeamsGolden(t *testing.T) {
	ch := notify.NewTeams(notify.ChatOptions{ComponentName: providerName})
	for _, tt := range notes {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ch.Payload(notify.Subscriber{ID: 1, Kind: notify.KindTeams, Language: tt.lang}, tt.n())
			if err != nil {
				t.Fatalf("Payload: %v", err)
			}
			golden(t, "teams_"+tt.name+".json", b)
			var msg struct {
				Type        string `json:"type"`
				Attachments []struct {
					ContentType string `json:"contentType"`
					Content     struct {
						Type    string `json:"type"`
						Version string `json:"version"`
						Body    []any  `json:"body"`
					} `json:"content"`
				} `json:"attachments"`
			}
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Type != "message" || len(msg.Attachments) != 1 ||
				msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" ||
				msg.Attachments[0].Content.Type != "AdaptiveCard" || len(msg.Attachments[0].Content.Body) == 0 {
				t.Errorf("not a Teams message with one Adaptive Card: %s", b)
			}
		})
	}
}

func TestWebhookGolden(t *testing.T) {
	wh, err := notify.NewWebhook(notify.WebhookOptions{Secrets: [][]byte{[]byte("s")}, Objects: objects,
		DocumentationURL: "https://status.example.com/docs/webhooks",
		UnsubscribeURL:   func(s notify.Subscriber) string { return "https://status.example.com/unsubscribe/" + itoa(int(s.ID)) },
		ComponentID:      func(n string) string { return strings.Replace(n, "provider:", "provider-", 1) },
		ComponentName:    providerName})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range notes {
		if tt.lang != "en" {
			continue // webhooks are for machines: one language
		}
		t.Run(tt.name, func(t *testing.T) {
			b, err := wh.Payload(context.Background(), notify.Subscriber{ID: 3, Kind: notify.KindWebhook}, tt.n())
			if err != nil {
				t.Fatalf("Payload: %v", err)
			}
			golden(t, "webhook_"+tt.name+".json", b)
		})
	}
	if _, err := wh.Payload(context.Background(), notify.Subscriber{}, notify.Notification{ID: "x", Kind: "bogus"}); err == nil {
		t.Errorf("unknown kind: got nil error, want one")
	}
}
