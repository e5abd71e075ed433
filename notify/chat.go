package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// ChatOptions configure the Slack and Teams channels.
type ChatOptions struct {
	// Client posts the messages. Default NewClient(NetOptions{}): private
	// addresses refused.
	Client *http.Client
	// ComponentName maps a component name to the name people read (pass
	// status.ComponentName). Default: the name itself.
	ComponentName func(name string) string
}

func (o ChatOptions) withDefaults() ChatOptions {
	if o.Client == nil {
		o.Client = NewClient(NetOptions{})
	}
	if o.ComponentName == nil {
		o.ComponentName = func(name string) string { return name }
	}
	return o
}

// Slack posts to Slack incoming webhooks (and compatible receivers such as
// Mattermost and Rocket.Chat): {"text": …, "blocks": […]}.
type Slack struct{ o ChatOptions }

// Teams posts to Microsoft Teams incoming webhooks and Power Automate
// "when a Teams webhook request is received" workflows: a message with one
// Adaptive Card attachment.
type Teams struct{ o ChatOptions }

var (
	_ Channel = (*Slack)(nil)
	_ Channel = (*Teams)(nil)
)

// NewSlack returns the Slack channel.
func NewSlack(o ChatOptions) *Slack { return &Slack{o: o.withDefaults()} }

// NewTeams returns the Teams channel.
func NewTeams(o ChatOptions) *Teams { return &Teams{o: o.withDefaults()} }

// Kind is KindSlack.
func (c *Slack) Kind() string { return KindSlack }

// Kind is KindTeams.
func (c *Teams) Kind() string { return KindTeams }

// Deliver posts n to the Slack webhook s.Address.
func (c *Slack) Deliver(ctx context.Context, s Subscriber, n Notification) error {
	body, err := c.Payload(s, n)
	if err != nil {
		return err
	}
	return postJSON(ctx, c.o.Client, s.Address, body, nil)
}

// Deliver posts n to the Teams webhook s.Address.
func (c *Teams) Deliver(ctx context.Context, s Subscriber, n Notification) error {
	body, err := c.Payload(s, n)
	if err != nil {
		return err
	}
	return postJSON(ctx, c.o.Client, s.Address, body, nil)
}

// Payload is the Slack message announcing n to s, in s.Language.
func (c *Slack) Payload(s Subscriber, n Notification) ([]byte, error) {
	m, err := summarize(n, s.Language, c.o.ComponentName)
	if err != nil {
		return nil, err
	}
	text := m.Title
	if m.Text != "" {
		text += "\n" + m.Text
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: clip(m.Title, 150)}},
	}
	if m.Text != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: clip(slackEscape(m.Text), 3000)}})
	}
	if len(m.Facts) > 0 {
		var fields []slackText
		for _, f := range m.Facts[:min(len(m.Facts), 10)] {
			fields = append(fields, slackText{Type: "mrkdwn", Text: clip("*"+slackEscape(f.Name)+"*\n"+slackEscape(f.Value), 2000)})
		}
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	if m.URL != "" {
		blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn",
			Text: "<" + slackEscape(m.URL) + "|" + slackEscape(m.LinkText) + ">"}}})
	}
	return marshal(slackMessage{Text: slackEscape(text), Blocks: blocks})
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Payload is the Teams message announcing n to s, in s.Language.
func (c *Teams) Payload(s Subscriber, n Notification) ([]byte, error) {
	m, err := summarize(n, s.Language, c.o.ComponentName)
	if err != nil {
		return nil, err
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true,
			"style": "heading", "color": m.Color},
	}
	if m.Text != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": m.Text, "wrap": true})
	}
	if len(m.Facts) > 0 {
		facts := make([]map[string]string, 0, len(m.Facts))
		for _, f := range m.Facts {
			facts = append(facts, map[string]string{"title": f.Name, "value": f.Value})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
		"msteams": map[string]string{"width": "Full"},
	}
	if m.URL != "" {
		card["actions"] = []map[string]string{{"type": "Action.OpenUrl", "title": m.LinkText, "url": m.URL}}
	}
	return marshal(map[string]any{
		"type":    "message",
		"summary": m.Title,
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	})
}

// message is a notification in words, for people: what chat channels show.
type message struct {
	Title    string
	Text     string
	Facts    []fact
	URL      string
	LinkText string
	Color    string // Adaptive Card TextBlock color: Attention, Warning, Good, Accent
}

type fact struct{ Name, Value string }

// words are the labels of one language.
type words struct {
	incident, component, maintenance                         string
	status, impact, components, eta, from, until, link, none string
	incidentStatus                                           map[understudy.IncidentStatus]string
	componentStatus                                          map[understudy.ComponentStatus]string
	maintenanceStatus                                        map[understudy.MaintenanceStatus]string
	severity                                                 map[understudy.Severity]string
}

var languages = map[string]words{
	"en": {
		incident: "Incident", component: "Component", maintenance: "Maintenance",
		status: "Status", impact: "Impact", components: "Affected", eta: "Expected resolution",
		from: "From", until: "Until", link: "View on the status page", none: "everything",
		incidentStatus: map[understudy.IncidentStatus]string{
			understudy.IncidentInvestigating: "Investigating", understudy.IncidentIdentified: "Identified",
			understudy.IncidentMonitoring: "Monitoring", understudy.IncidentResolved: "Resolved"},
		componentStatus: map[understudy.ComponentStatus]string{
			understudy.ComponentOperational: "Operational", understudy.ComponentDegradedPerformance: "Degraded performance",
			understudy.ComponentPartialOutage: "Partial outage", understudy.ComponentMajorOutage: "Major outage",
			understudy.ComponentUnderMaintenance: "Under maintenance"},
		maintenanceStatus: map[understudy.MaintenanceStatus]string{
			understudy.MaintenanceScheduled: "Scheduled", understudy.MaintenanceInProgress: "In progress",
			understudy.MaintenanceVerifying: "Verifying", understudy.MaintenanceCompleted: "Completed",
			understudy.MaintenanceCanceled: "Canceled"},
		severity: map[understudy.Severity]string{
			understudy.SeverityMinor: "Minor", understudy.SeverityMajor: "Major", understudy.SeverityCritical: "Critical"},
	},
	"fr": {
		incident: "Incident", component: "Composant", maintenance: "Maintenance",
		status: "État", impact: "Impact", components: "Concerne", eta: "Résolution prévue",
		from: "Début", until: "Fin", link: "Voir la page d’état", none: "tout",
		incidentStatus: map[understudy.IncidentStatus]string{
			understudy.IncidentInvestigating: "Analyse en cours", understudy.IncidentIdentified: "Cause identifiée",
			understudy.IncidentMonitoring: "Sous surveillance", understudy.IncidentResolved: "Résolu"},
		componentStatus: map[understudy.ComponentStatus]string{
			understudy.ComponentOperational: "Opérationnel", understudy.ComponentDegradedPerformance: "Performances dégradées",
			understudy.ComponentPartialOutage: "Panne partielle", understudy.ComponentMajorOutage: "Panne majeure",
			understudy.ComponentUnderMaintenance: "En maintenance"},
		maintenanceStatus: map[understudy.MaintenanceStatus]string{
			understudy.MaintenanceScheduled: "Planifiée", understudy.MaintenanceInProgress: "En cours",
			understudy.MaintenanceVerifying: "Vérification", understudy.MaintenanceCompleted: "Terminée",
			understudy.MaintenanceCanceled: "Annulée"},
		severity: map[understudy.Severity]string{
			understudy.SeverityMinor: "Mineur", understudy.SeverityMajor: "Majeur", understudy.SeverityCritical: "Critique"},
	},
}

// when formats a time for people: UTC, to the minute.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func word[K comparable](m map[K]string, k K) string {
	if w, ok := m[k]; ok {
		return w
	}
	return fmt.Sprint(k)
}

// summarize puts n in words in language lang ("en" when unknown).
func summarize(n Notification, lang string, name func(string) string) (message, error) {
	w, ok := languages[lang]
	if !ok {
		w = languages["en"]
	}
	names := func(cs []string) string {
		if len(cs) == 0 {
			return w.none
		}
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = name(c)
		}
		return strings.Join(out, ", ")
	}
	m := message{URL: n.URL, LinkText: w.link}
	switch {
	case n.Kind == NoteIncident && n.Incident != nil:
		inc := n.Incident
		st, text, eta, comps := inc.Status, "", inc.ETA, inc.Components
		if u := n.Update; u != nil {
			st, text, eta = u.Status, u.Message, u.ETA
			if u.Components != nil {
				comps = u.Components
			}
		} else if len(inc.Updates) > 0 {
			text = inc.Updates[len(inc.Updates)-1].Message
		}
		m.Title = word(w.incidentStatus, st) + " — " + inc.Title
		m.Text = text
		m.Facts = []fact{{w.status, word(w.incidentStatus, st)}, {w.impact, word(w.severity, inc.Severity)},
			{w.components, names(comps)}}
		if !eta.IsZero() && st.Open() {
			m.Facts = append(m.Facts, fact{w.eta, when(eta)})
		}
		switch {
		case !st.Open():
			m.Color = "Good"
		case inc.Severity == understudy.SeverityMinor:
			m.Color = "Warning"
		default:
			m.Color = "Attention"
		}
	case n.Kind == NoteComponent && n.Component != nil:
		c := n.Component
		old := n.OldStatus
		if old == "" {
			old = understudy.ComponentOperational
		}
		m.Title = name(c.Name) + " — " + word(w.componentStatus, c.Status)
		m.Text = c.Reason
		m.Facts = []fact{{w.component, name(c.Name)},
			{w.status, word(w.componentStatus, old) + " → " + word(w.componentStatus, c.Status)}}
		switch c.Status {
		case understudy.ComponentOperational:
			m.Color = "Good"
		case understudy.ComponentUnderMaintenance:
			m.Color = "Accent"
		case understudy.ComponentDegradedPerformance:
			m.Color = "Warning"
		default:
			m.Color = "Attention"
		}
	case n.Kind == NoteMaintenance && n.Maintenance != nil:
		mt := n.Maintenance
		m.Title = w.maintenance + " " + strings.ToLower(word(w.maintenanceStatus, mt.Status)) + " — " + mt.Title
		m.Text = mt.Message
		m.Facts = []fact{{w.status, word(w.maintenanceStatus, mt.Status)}, {w.from, when(mt.StartsAt)},
			{w.until, when(mt.EndsAt)}, {w.components, names(mt.Components)}}
		m.Color = "Accent"
	default:
		return message{}, fmt.Errorf("notify: notification %q of kind %q has nothing to send: %w", n.ID, n.Kind, ErrPermanent)
	}
	return m, nil
}

// clip cuts s to at most n runes, ending with "…" when cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
