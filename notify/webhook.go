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
	// Objects render incidents and maintenances as the status API shows them
	// (pass the *status.Handler): one rendering for the API and webhooks.
	// Required.
	Objects Objects
	// ComponentID and ComponentName map a component name to its public id
	// and name, as the status API shows them (pass status.ComponentID and
	// status.ComponentName). Default: the name itself for both.
	ComponentID, ComponentName func(name string) string
}

// Objects render Statuspage's incident objects; *status.Handler implements it.
type Objects interface {
	IncidentObject(ctx context.Context, inc understudy.Incident) (json.RawMessage, error)
	MaintenanceObject(ctx context.Context, m understudy.Maintenance) (json.RawMessage, error)
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
	if o.Objects == nil {
		return nil, fmt.Errorf("notify: webhook: Objects is required (the status API's renderer)")
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
		inc := *n.Incident
		if n.Update != nil && !slices.ContainsFunc(inc.Updates, func(u understudy.IncidentUpdate) bool { return u.ID != 0 && u.ID == n.Update.ID }) {
			inc.Updates = append(slices.Clone(inc.Updates), *n.Update)
		}
		obj, err := w.o.Objects.IncidentObject(ctx, inc)
		if err != nil {
			return nil, fmt.Errorf("notify: %s: %w", n.ID, err)
		}
		p.Incident = obj
	case n.Kind == NoteComponent && n.Component != nil:
		c := n.Component
		p.ComponentUpdate = &componentUpdateJSON{CreatedAt: stamp(n.Time), NewStatus: string(c.Status),
			OldStatus: string(cmp.Or(n.OldStatus, understudy.ComponentOperational)), ID: n.ID,
			ComponentID: w.o.ComponentID(c.Name)}
		p.Component = &componentJSON{ID: w.o.ComponentID(c.Name), Name: w.o.ComponentName(c.Name),
			Status: string(c.Status), UpdatedAt: stamp(c.Since), PageID: w.o.PageID}
	case n.Kind == NoteHandoff && n.Handoff != nil:
		p.Meta.Kind = "handoff.created"
		p.Handoff = n.Handoff
	case n.Kind == NoteMaintenance && n.Maintenance != nil:
		obj, err := w.o.Objects.MaintenanceObject(ctx, *n.Maintenance)
		if err != nil {
			return nil, fmt.Errorf("notify: %s: %w", n.ID, err)
		}
		p.Incident = obj
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

type webhookPayload struct {
	Meta            metaJSON             `json:"meta"`
	Page            pageStatusJSON       `json:"page"`
	Incident        json.RawMessage      `json:"incident,omitempty"`
	ComponentUpdate *componentUpdateJSON `json:"component_update,omitempty"`
	Component       *componentJSON       `json:"component,omitempty"`
	Handoff         *Handoff             `json:"handoff,omitempty"`
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
