package email

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strings"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/notify"
)

// content is one message before it is rendered: the same model gives the
// text/plain and the text/html part, so both always say the same thing.
type content struct {
	Lang       string
	Colon      string // between a label and its value in the text part
	Subject    string
	Heading    string
	Paragraphs []string // single line breaks inside are kept
	Facts      []fact
	Link       link // the call to action; URL "" when none
	Footer     string
	Unsub      link // URL "" when none
	Page       link // URL "" when none
	// thread names what the message is about ("incident-42"): messages
	// about the same thing reference the same id, so mail clients group
	// them. "" when none.
	thread string
}

type fact struct{ Label, Value string }

type link struct{ Text, URL string }

// errMalformed marks a notification this channel cannot render: resending
// it cannot help.
var errMalformed = errors.New("malformed notification")

// compose builds the content of n for a reader of language l.
func compose(n notify.Notification, l, pageURL, unsubURL string) (content, error) {
	t := textsFor(l)
	var c content
	var err error
	switch n.Kind {
	case notify.NoteIncident:
		c, err = composeIncident(t, n)
	case notify.NoteComponent:
		c, err = composeComponent(t, n)
	case notify.NoteMaintenance:
		c, err = composeMaintenance(t, n)
	default:
		err = fmt.Errorf("%w: kind %q", errMalformed, n.Kind)
	}
	if err != nil {
		return content{}, err
	}
	c.Lang = t.lang
	c.Colon = t.get(msgColon)
	c.Footer = t.get(msgFooterWhy)
	if unsubURL != "" {
		c.Unsub = link{Text: t.get(msgFooterUnsubscribe), URL: unsubURL}
	}
	if pageURL != "" {
		c.Page = link{Text: t.get(msgPageLink), URL: pageURL}
	}
	return c, nil
}

func composeIncident(t texts, n notify.Notification) (content, error) {
	inc := n.Incident
	if inc == nil {
		return content{}, fmt.Errorf("%w: incident notification %q without an incident", errMalformed, n.ID)
	}
	status, eta, components := inc.Status, inc.ETA, inc.Components
	var body string
	if u := n.Update; u != nil {
		if u.Status != "" {
			status = u.Status
		}
		eta = u.ETA
		if len(u.Components) > 0 {
			components = u.Components
		}
		body = u.Text(t.lang)
	}
	if len(components) == 0 {
		components = n.Components
	}
	c := content{
		Subject:    t.get(msgIncidentSubject, t.get(msgSubjectPrefix), inc.Title, t.incidentStatus(status)),
		Heading:    inc.Title,
		Paragraphs: paragraphs(body),
		Facts:      []fact{{t.get(msgIncidentStatus), t.incidentStatus(status)}},
		thread:     fmt.Sprintf("incident-%d", inc.ID),
	}
	if !eta.IsZero() && status != understudy.IncidentResolved {
		c.Facts = append(c.Facts, fact{t.get(msgIncidentETA), t.when(eta)})
	}
	if len(components) > 0 {
		c.Facts = append(c.Facts, fact{t.get(msgAffected), strings.Join(components, ", ")})
	}
	if n.URL != "" {
		c.Link = link{Text: t.get(msgIncidentLink), URL: n.URL}
	}
	return c, nil
}

func composeComponent(t texts, n notify.Notification) (content, error) {
	comp := n.Component
	if comp == nil {
		return content{}, fmt.Errorf("%w: component notification %q without a component", errMalformed, n.ID)
	}
	now := t.componentStatus(comp.Status)
	lead := t.get(msgComponentNow, comp.Name, now)
	if n.OldStatus != "" {
		lead = t.get(msgComponentChanged, comp.Name, t.componentStatus(n.OldStatus), now)
	}
	c := content{
		Subject:    t.get(msgComponentSubject, t.get(msgSubjectPrefix), comp.Name, now),
		Heading:    comp.Name,
		Paragraphs: []string{lead},
		thread:     "component-" + comp.Name,
	}
	if comp.Reason != "" {
		c.Facts = append(c.Facts, fact{t.get(msgComponentReason), comp.Reason})
	}
	if !comp.Since.IsZero() {
		c.Facts = append(c.Facts, fact{t.get(msgComponentSince), t.when(comp.Since)})
	}
	if n.URL != "" {
		c.Link = link{Text: t.get(msgDetailsLink), URL: n.URL}
	}
	return c, nil
}

func composeMaintenance(t texts, n notify.Notification) (content, error) {
	m := n.Maintenance
	if m == nil {
		return content{}, fmt.Errorf("%w: maintenance notification %q without a maintenance", errMalformed, n.ID)
	}
	prefix := t.get(msgSubjectPrefix)
	var subject, lead string
	switch m.Status {
	case understudy.MaintenanceScheduled:
		subject = t.get(msgMaintScheduledSubject, prefix, m.Title)
		lead = t.get(msgMaintScheduledLead, t.when(m.StartsAt), t.when(m.EndsAt))
	case understudy.MaintenanceInProgress:
		started := m.StartedAt
		if started.IsZero() {
			started = m.StartsAt
		}
		subject = t.get(msgMaintStartedSubject, prefix, m.Title)
		lead = t.get(msgMaintStartedLead, t.when(started), t.when(m.EndsAt))
	case understudy.MaintenanceVerifying:
		subject = t.get(msgMaintVerifyingSubject, prefix, m.Title)
		lead = t.get(msgMaintVerifyingLead)
	case understudy.MaintenanceCompleted:
		ended := m.EndedAt
		if ended.IsZero() {
			ended = n.Time
		}
		subject = t.get(msgMaintCompletedSubject, prefix, m.Title)
		lead = t.get(msgMaintCompletedLead, t.when(ended))
	case understudy.MaintenanceCanceled:
		subject = t.get(msgMaintCanceledSubject, prefix, m.Title)
		lead = t.get(msgMaintCanceledLead)
	default:
		return content{}, fmt.Errorf("%w: maintenance %d in status %q", errMalformed, m.ID, m.Status)
	}
	c := content{
		Subject:    subject,
		Heading:    m.Title,
		Paragraphs: append([]string{lead}, paragraphs(m.Message)...),
		Facts:      []fact{{t.get(msgMaintWindow), t.when(m.StartsAt) + " – " + t.when(m.EndsAt)}},
		thread:     fmt.Sprintf("maintenance-%d", m.ID),
	}
	components := m.Components
	if len(components) == 0 {
		components = n.Components
	}
	if len(components) > 0 {
		c.Facts = append(c.Facts, fact{t.get(msgAffected), strings.Join(components, ", ")})
	}
	if n.URL != "" {
		c.Link = link{Text: t.get(msgDetailsLink), URL: n.URL}
	}
	return c, nil
}

// composeConfirmation builds the double opt-in message.
func composeConfirmation(l, confirmURL, pageURL string) content {
	t := textsFor(l)
	c := content{
		Lang:       t.lang,
		Colon:      t.get(msgColon),
		Subject:    t.get(msgConfirmSubject, t.get(msgSubjectPrefix)),
		Heading:    t.get(msgConfirmHeading),
		Paragraphs: []string{t.get(msgConfirmLead)},
		Link:       link{Text: t.get(msgConfirmLink), URL: confirmURL},
		Footer:     t.get(msgConfirmIgnore) + " " + t.get(msgConfirmFooter),
	}
	if pageURL != "" {
		c.Page = link{Text: t.get(msgPageLink), URL: pageURL}
	}
	return c
}

var blankLines = regexp.MustCompile(`\n[ \t]*\n`)

// paragraphs splits a message written by a person into paragraphs at
// blank lines; single line breaks stay inside a paragraph.
func paragraphs(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	for _, p := range blankLines.Split(s, -1) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// text renders the text/plain part.
func (c content) text() string {
	var b strings.Builder
	b.WriteString(c.Heading)
	b.WriteString("\n\n")
	for _, p := range c.Paragraphs {
		b.WriteString(p)
		b.WriteString("\n\n")
	}
	for _, f := range c.Facts {
		fmt.Fprintf(&b, "%s%s%s\n", f.Label, c.Colon, f.Value)
	}
	if len(c.Facts) > 0 {
		b.WriteString("\n")
	}
	if c.Link.URL != "" {
		fmt.Fprintf(&b, "%s%s%s\n\n", c.Link.Text, c.Colon, c.Link.URL)
	}
	b.WriteString("-- \n")
	b.WriteString(c.Footer)
	b.WriteString("\n")
	for _, l := range []link{c.Unsub, c.Page} {
		if l.URL != "" {
			fmt.Fprintf(&b, "%s%s%s\n", l.Text, c.Colon, l.URL)
		}
	}
	return b.String()
}

var htmlPage = htmltemplate.Must(htmltemplate.New("email").Funcs(htmltemplate.FuncMap{
	"lines": func(s string) []string { return strings.Split(s, "\n") },
}).Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:24px;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#1f2328;background:#ffffff">
<h1 style="font-size:20px;margin:0 0 16px">{{.Heading}}</h1>
{{range .Paragraphs}}<p style="margin:0 0 12px">{{range $i, $l := lines .}}{{if $i}}<br>{{end}}{{$l}}{{end}}</p>
{{end}}{{if .Facts}}<table role="presentation" style="border-collapse:collapse;margin:0 0 16px">
{{range .Facts}}<tr><th align="left" style="padding:2px 12px 2px 0;font-weight:600">{{.Label}}</th><td style="padding:2px 0">{{.Value}}</td></tr>
{{end}}</table>
{{end}}{{with .Link}}{{if .URL}}<p style="margin:0 0 24px"><a href="{{.URL}}" style="color:#0969da">{{.Text}}</a></p>
{{end}}{{end}}<hr style="border:0;border-top:1px solid #d0d7de;margin:24px 0 12px">
<p style="margin:0;font-size:12px;color:#59636e">{{.Footer}}{{with .Unsub}}{{if .URL}}<br><a href="{{.URL}}" style="color:#59636e">{{.Text}}</a>{{end}}{{end}}{{with .Page}}{{if .URL}}<br><a href="{{.URL}}" style="color:#59636e">{{.Text}}</a>{{end}}{{end}}</p>
</body>
</html>
`))

// html renders the text/html part; html/template escapes every value and
// refuses URLs with schemes other than http, https and mailto.
func (c content) html() (string, error) {
	var b bytes.Buffer
	if err := htmlPage.Execute(&b, c); err != nil {
		return "", fmt.Errorf("render html: %w", err)
	}
	return b.String(), nil
}
