package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
)

// WebhookOptions configure the webhook channel.
type WebhookOptions struct {
	// Client posts the webhooks. Default NewClient(NetOptions{}): private
	// addresses refused.
	Client *http.Client
	// Clock stamps X-Understudy-Webhook-Timestamp. Default the real clock.
	Clock clockwork.Clock
	// Secrets signs every webhook: the current secret first, then the
	// previous one while receivers move over (both signatures are sent).
	// Used when SecretsFor is nil. Required unless SecretsFor is set.
	Secrets [][]byte
	// SecretsFor returns the secrets of one subscriber (e.g. looked up by
	// the reference the store keeps for it). Nil: Secrets for everyone.
	SecretsFor func(ctx context.Context, s Subscriber) ([][]byte, error)
	// PageID is page.id and incident.page_id. Default "understudy".
	PageID string
	// DocumentationURL is meta.documentation. Default "".
	DocumentationURL string
	// UnsubscribeURL returns meta.unsubscribe for a subscriber. Nil: "".
	UnsubscribeURL func(s Subscriber) string
	// Page returns the page's overall status (page.status_indicator and
	// status_description). Nil, or an error: derived from the notification
	// alone (see PageStatusOf).
	Page func(ctx context.Context) (indicator, description string, err error)
	// ComponentID and ComponentName map a component name to its public id
	// and name, as the status API shows them (pass status.ComponentID and
	// status.ComponentName). Default: the name itself for both.
	ComponentID, ComponentName func(name string) string
}

// Webhook delivers Statuspage-shaped JSON webhooks, signed with HMAC-SHA256.
// See README.md for the payloads and the signature scheme.
type Webhook struct {
	o WebhookOptions
}

var _ Channel = (*Webhook)(nil)

// NewWebhook returns the webhook channel.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	if len(o.Secrets) == 0 && o.SecretsFor == nil {
		return nil, fmt.Errorf("notify: webhook: Secrets or SecretsFor is required")
	}
	for i, s := range o.Secrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("notify: webhook: Secrets[%d] is empty", i)
		}
	}
	if o.Client == nil {
		o.Client = NewClient(NetOptions{})
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	o.PageID = cmp.Or(o.PageID, "understudy")
	if o.ComponentID == nil {
		o.ComponentID = func(name string) string { return name }
	}
	if o.ComponentName == nil {
		o.ComponentName = func(name string) string { return name }
	}
	return &Webhook{o: o}, nil
}

// Kind is KindWebhook.
func (w *Webhook) Kind() string { return KindWebhook }

// Deliver posts n to s.Address, signed.
func (w *Webhook) Deliver(ctx context.Context, s Subscriber, n Notification) error {
	body, err := w.Payload(ctx, s, n)
	if err != nil {
		return err
	}
	secrets := w.o.Secrets
	if w.o.SecretsFor != nil {
		if secrets, err = w.o.SecretsFor(ctx, s); err != nil {
			return fmt.Errorf("notify: webhook secrets of subscriber %d: %w", s.ID, err)
		}
		if len(secrets) == 0 {
			return fmt.Errorf("notify: subscriber %d has no webhook secret: %w", s.ID, ErrPermanent)
		}
	}
	id := DeliveryID(n.ID, s.ID)
	ts := strconv.FormatInt(w.o.Clock.Now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(secrets, id, ts, body))
	return postJSON(ctx, w.o.Client, s.Address, body, h)
}

// Payload is the JSON body of the webhook announcing n to s.
func (w *Webhook) Payload(ctx context.Context, s Subscriber, n Notification) ([]byte, error) {
	p := webhookPayload{Meta: metaJSON{Documentation: w.o.DocumentationURL, NotificationID: n.ID, Kind: n.Kind}}
	if w.o.UnsubscribeURL != nil {
		p.Meta.Unsubscribe = w.o.UnsubscribeURL(s)
	}
	ind, desc := PageStatusOf(n)
	if w.o.Page != nil {
		if i, d, err := w.o.Page(ctx); err == nil {
			ind, desc = i, d
		}
	}
	p.Page = pageStatusJSON{ID: w.o.PageID, StatusIndicator: ind, StatusDescription: desc}
	switch {
	case n.Kind == NoteIncident && n.Incident != nil:
		inc := w.incident(*n.Incident, n)
		p.Incident = &inc
	case n.Kind == NoteComponent && n.Component != nil:
		c := n.Component
		p.ComponentUpdate = &componentUpdateJSON{CreatedAt: stamp(n.Time), NewStatus: string(c.Status),
			OldStatus: string(cmp.Or(n.OldStatus, understudy.ComponentOperational)), ID: n.ID,
			ComponentID: w.o.ComponentID(c.Name)}
		p.Component = &componentJSON{ID: w.o.ComponentID(c.Name), Name: w.o.ComponentName(c.Name),
			Status: string(c.Status), UpdatedAt: stamp(c.Since), PageID: w.o.PageID}
	case n.Kind == NoteMaintenance && n.Maintenance != nil:
		m := w.maintenance(*n.Maintenance, n)
		p.Incident = &m
	default:
		return nil, fmt.Errorf("notify: notification %q of kind %q has nothing to send: %w", n.ID, n.Kind, ErrPermanent)
	}
	return marshal(p)
}

// marshal is json.Marshal without HTML escaping, indented by nothing.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// PageStatusOf derives page.status_indicator and status_description from n
// alone: an open incident's severity (minor, major, critical), a component's
// new status, a maintenance in progress; "none" otherwise.
func PageStatusOf(n Notification) (indicator, description string) {
	switch {
	case n.Kind == NoteIncident && n.Incident != nil && n.Incident.Status.Open():
		switch n.Incident.Severity {
		case understudy.SeverityCritical:
			return "critical", "Major System Outage"
		case understudy.SeverityMajor:
			return "major", "Partial System Outage"
		default:
			return "minor", "Minor Service Outage"
		}
	case n.Kind == NoteComponent && n.Component != nil:
		switch n.Component.Status {
		case understudy.ComponentMajorOutage:
			return "critical", "Major System Outage"
		case understudy.ComponentPartialOutage:
			return "major", "Partial System Outage"
		case understudy.ComponentDegradedPerformance:
			return "minor", "Minor Service Outage"
		case understudy.ComponentUnderMaintenance:
			return "maintenance", "Service Under Maintenance"
		}
	case n.Kind == NoteMaintenance && n.Maintenance != nil:
		if st := n.Maintenance.Status; st == understudy.MaintenanceInProgress || st == understudy.MaintenanceVerifying {
			return "maintenance", "Service Under Maintenance"
		}
	}
	return "none", "All Systems Operational"
}

func (w *Webhook) components(names []string) []componentJSON {
	out := make([]componentJSON, 0, len(names))
	for _, c := range names {
		out = append(out, componentJSON{ID: w.o.ComponentID(c), Name: w.o.ComponentName(c), PageID: w.o.PageID})
	}
	return out
}

func (w *Webhook) incident(inc understudy.Incident, n Notification) incidentJSON {
	id := strconv.FormatInt(inc.ID, 10)
	ups := slices.Clone(inc.Updates)
	if n.Update != nil && !slices.ContainsFunc(ups, func(u understudy.IncidentUpdate) bool {
		return u.ID != 0 && u.ID == n.Update.ID
	}) {
		ups = append(ups, *n.Update)
	}
	slices.SortStableFunc(ups, func(a, b understudy.IncidentUpdate) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID)) // newest first
	})
	out := incidentJSON{ID: id, Name: inc.Title, Status: string(inc.Status),
		CreatedAt: stamp(cmp.Or(inc.DetectedAt, inc.StartedAt)), UpdatedAt: stamp(inc.UpdatedAt),
		ResolvedAt: stamp(inc.ResolvedAt), Impact: impactOf(inc.Severity), Shortlink: n.URL,
		StartedAt: stamp(inc.StartedAt), PageID: w.o.PageID, IncidentUpdates: make([]updateJSON, 0, len(ups)),
		Components: w.components(inc.Components), ETA: stamp(inc.ETA)}
	for i, u := range ups {
		uid := strconv.FormatInt(u.ID, 10)
		if u.ID == 0 {
			uid = fmt.Sprintf("%s-%d", id, len(ups)-i)
		}
		if u.Status == understudy.IncidentMonitoring {
			out.MonitoringAt = stamp(u.CreatedAt) // the oldest monitoring update wins: newest first
		}
		out.IncidentUpdates = append(out.IncidentUpdates, updateJSON{ID: uid, Status: string(u.Status),
			Body: u.Message, IncidentID: id, CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.CreatedAt),
			DisplayAt: stamp(u.CreatedAt), ETA: stamp(u.ETA)})
	}
	return out
}

// Bodies of maintenance updates with no message of their own (Statuspage's
// wording).
var maintenanceBodies = map[understudy.MaintenanceStatus]string{
	understudy.MaintenanceInProgress: "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
	understudy.MaintenanceVerifying:  "Verification is currently underway for the maintenance items.",
	understudy.MaintenanceCompleted:  "The scheduled maintenance has been completed.",
	understudy.MaintenanceCanceled:   "This scheduled maintenance has been canceled.",
}

func (w *Webhook) maintenance(m understudy.Maintenance, n Notification) incidentJSON {
	id := "m" + strconv.FormatInt(m.ID, 10)
	body := maintenanceBodies[m.Status]
	if body == "" || m.Status == understudy.MaintenanceScheduled {
		body = cmp.Or(strings.TrimSpace(m.Message), "Scheduled maintenance.")
	}
	at := cmp.Or(n.Time, m.UpdatedAt)
	out := incidentJSON{ID: id, Name: m.Title, Status: string(m.Status), CreatedAt: stamp(m.CreatedAt),
		UpdatedAt: stamp(m.UpdatedAt), Impact: "maintenance", Shortlink: n.URL, StartedAt: stamp(m.StartedAt),
		PageID: w.o.PageID, Components: w.components(m.Components),
		IncidentUpdates: []updateJSON{{ID: id + "-" + strings.ReplaceAll(string(m.Status), "_", "-"),
			Status: string(m.Status), Body: body, IncidentID: id, CreatedAt: stamp(at), UpdatedAt: stamp(at),
			DisplayAt: stamp(at)}},
		ScheduledFor: stampPtr(m.StartsAt), ScheduledUntil: stampPtr(m.EndsAt)}
	if m.Status == understudy.MaintenanceCompleted {
		out.ResolvedAt = stamp(m.EndedAt)
	}
	return out
}

func impactOf(s understudy.Severity) string {
	if s.Valid() {
		return string(s)
	}
	return "none"
}

// The webhook wire format: Statuspage's, plus meta.notification_id,
// meta.kind, incident.eta and incident_updates[].eta.

type stamp time.Time

const stampLayout = "2006-01-02T15:04:05.000Z07:00"

func (s stamp) MarshalJSON() ([]byte, error) {
	t := time.Time(s)
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(stampLayout) + `"`), nil
}

func stampPtr(t time.Time) *stamp {
	s := stamp(t)
	return &s
}

type webhookPayload struct {
	Meta            metaJSON             `json:"meta"`
	Page            pageStatusJSON       `json:"page"`
	Incident        *incidentJSON        `json:"incident,omitempty"`
	ComponentUpdate *componentUpdateJSON `json:"component_update,omitempty"`
	Component       *componentJSON       `json:"component,omitempty"`
}

type metaJSON struct {
	Unsubscribe    string `json:"unsubscribe"`
	Documentation  string `json:"documentation"`
	NotificationID string `json:"notification_id"`
	Kind           string `json:"kind"`
}

type pageStatusJSON struct {
	ID                string `json:"id"`
	StatusIndicator   string `json:"status_indicator"`
	StatusDescription string `json:"status_description"`
}

type incidentJSON struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	Status          string          `json:"status"`
	CreatedAt       stamp           `json:"created_at"`
	UpdatedAt       stamp           `json:"updated_at"`
	MonitoringAt    stamp           `json:"monitoring_at"`
	ResolvedAt      stamp           `json:"resolved_at"`
	Impact          string          `json:"impact"`
	Shortlink       string          `json:"shortlink"`
	StartedAt       stamp           `json:"started_at"`
	PageID          string          `json:"page_id"`
	IncidentUpdates []updateJSON    `json:"incident_updates"` // newest first
	Components      []componentJSON `json:"components"`
	ScheduledFor    *stamp          `json:"scheduled_for,omitempty"`   // maintenance only
	ScheduledUntil  *stamp          `json:"scheduled_until,omitempty"` // maintenance only
	ETA             stamp           `json:"eta,omitzero"`              // expected resolution, when known
}

type updateJSON struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Body       string `json:"body"`
	IncidentID string `json:"incident_id"`
	CreatedAt  stamp  `json:"created_at"`
	UpdatedAt  stamp  `json:"updated_at"`
	DisplayAt  stamp  `json:"display_at"`
	ETA        stamp  `json:"eta,omitzero"`
}

type componentUpdateJSON struct {
	CreatedAt   stamp  `json:"created_at"`
	NewStatus   string `json:"new_status"`
	OldStatus   string `json:"old_status"`
	ID          string `json:"id"`
	ComponentID string `json:"component_id"`
}

type componentJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status,omitempty"`
	UpdatedAt stamp  `json:"updated_at,omitzero"`
	PageID    string `json:"page_id"`
}
