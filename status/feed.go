package status

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"html"
	"slices"
	"strconv"
	"strings"
	"time"
)

// entry is one incident or maintenance of the feeds, built from its API
// object so that the feeds and the API never disagree.
type entry struct {
	id        string // tag: URI, the RSS guid and the Atom id
	title     string
	link      string
	published time.Time
	updated   time.Time
	html      string // the updates, newest first, as HTML
}

// entries reads the listLimit most recent incidents and maintenances,
// newest published first.
func (h *Handler) entries(ctx context.Context) (*snapshot, []entry, error) {
	s, err := h.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	incs, err := s.recentIncidents(ctx)
	if err != nil {
		return nil, nil, err
	}
	ms, err := s.recentMaintenances(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]entry, 0, len(incs)+len(ms))
	for _, inc := range incs {
		out = append(out, h.entry("Incident/"+strconv.FormatInt(inc.ID, 10), s.incident(inc), ""))
	}
	for _, m := range ms {
		mj := s.maintenance(m)
		window := "Scheduled for " + h.human(time.Time(mj.ScheduledFor)) + " to " + h.human(time.Time(mj.ScheduledUntil))
		out = append(out, h.entry("Maintenance/"+strconv.FormatInt(m.ID, 10), mj.incidentJSON, window))
	}
	slices.SortStableFunc(out, func(a, b entry) int {
		return cmp.Or(b.published.Compare(a.published), strings.Compare(a.id, b.id))
	})
	return s, out[:min(len(out), listLimit)], nil
}

// statusLabel is how a feed shows an update status.
var statusLabel = map[string]string{
	"investigating": "Investigating",
	"identified":    "Identified",
	"monitoring":    "Monitoring",
	"resolved":      "Resolved",
	"postmortem":    "Postmortem",
	"scheduled":     "Scheduled",
	"in_progress":   "In progress",
	"verifying":     "Verifying",
	"completed":     "Completed",
	"canceled":      "Canceled",
}

// entry renders one incident or maintenance; key names it in the tag: URI
// ("Incident/7", "Maintenance/3"). Every text is HTML-escaped
// here; the XML encoder escapes the resulting HTML once more, as RSS and
// Atom (type="html") require.
func (h *Handler) entry(key string, inc incidentJSON, window string) entry {
	var b strings.Builder
	if window != "" {
		b.WriteString("<p><strong>" + html.EscapeString(window) + "</strong></p>")
	}
	for _, u := range inc.IncidentUpdates {
		label := cmp.Or(statusLabel[u.Status], u.Status)
		body := strings.ReplaceAll(html.EscapeString(u.Body), "\n", "<br>")
		b.WriteString("<p><small>" + html.EscapeString(h.human(time.Time(u.CreatedAt))) + "</small><br><strong>" +
			html.EscapeString(label) + "</strong> - " + body + "</p>")
	}
	if len(inc.Components) > 0 {
		names := make([]string, len(inc.Components))
		for i, c := range inc.Components {
			names[i] = html.EscapeString(c.Name)
		}
		b.WriteString("<p>Affected components: " + strings.Join(names, ", ") + "</p>")
	}
	return entry{
		id:        "tag:" + h.host + ",2005:" + key,
		title:     inc.Name,
		link:      inc.Shortlink,
		published: time.Time(inc.CreatedAt),
		updated:   time.Time(inc.UpdatedAt),
		html:      b.String(),
	}
}

// feedUpdated is the latest entry update, else the page's.
func feedUpdated(s *snapshot, es []entry) time.Time {
	t := time.Time(s.page().UpdatedAt)
	for _, e := range es {
		if e.updated.After(t) {
			t = e.updated
		}
	}
	return t
}

func (h *Handler) feedTitle() string { return h.page.Name + " Status - Incident History" }

// RSS 2.0.

type rssDoc struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title         string    `xml:"title"`
	AtomLink      atomLink  `xml:"http://www.w3.org/2005/Atom link"` // before Link: decoding matches fields in order
	Link          string    `xml:"link"`
	Description   string    `xml:"description"`
	Language      string    `xml:"language"`
	LastBuildDate string    `xml:"lastBuildDate"`
	Items         []rssItem `xml:"item"`
}

type rssItem struct {
	Title       string  `xml:"title"`
	Description string  `xml:"description"`
	PubDate     string  `xml:"pubDate"`
	Link        string  `xml:"link"`
	GUID        rssGUID `xml:"guid"`
}

type rssGUID struct {
	IsPermaLink string `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

func (h *Handler) rss(ctx context.Context) ([]byte, error) {
	s, es, err := h.entries(ctx)
	if err != nil {
		return nil, err
	}
	doc := rssDoc{Version: "2.0", Channel: rssChannel{
		Title:         h.feedTitle(),
		AtomLink:      atomLink{Href: h.page.URL + "/history.rss", Rel: "self", Type: "application/rss+xml"},
		Link:          cmp.Or(h.page.URL, "/"),
		Description:   "Incidents and scheduled maintenance of " + h.page.Name,
		Language:      "en",
		LastBuildDate: feedUpdated(s, es).UTC().Format(time.RFC1123Z),
		Items:         make([]rssItem, 0, len(es)),
	}}
	for _, e := range es {
		doc.Channel.Items = append(doc.Channel.Items, rssItem{
			Title: e.title, Description: e.html, PubDate: e.published.UTC().Format(time.RFC1123Z),
			Link: e.link, GUID: rssGUID{IsPermaLink: "false", Value: e.id},
		})
	}
	return marshalXML(doc)
}

// Atom 1.0.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomText struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type atomEntry struct {
	ID        string   `xml:"id"`
	Published string   `xml:"published"`
	Updated   string   `xml:"updated"`
	Link      atomLink `xml:"link"`
	Title     string   `xml:"title"`
	Content   atomText `xml:"content"`
}

func (h *Handler) atom(ctx context.Context) ([]byte, error) {
	s, es, err := h.entries(ctx)
	if err != nil {
		return nil, err
	}
	doc := atomFeed{
		ID:      "tag:" + h.host + ",2005:/history",
		Title:   h.feedTitle(),
		Updated: atomTime(feedUpdated(s, es)),
		Links: []atomLink{
			{Href: cmp.Or(h.page.URL, "/"), Rel: "alternate", Type: "text/html"},
			{Href: h.page.URL + "/history.atom", Rel: "self", Type: "application/atom+xml"},
		},
		Author:  atomPerson{Name: h.page.Name},
		Entries: make([]atomEntry, 0, len(es)),
	}
	for _, e := range es {
		doc.Entries = append(doc.Entries, atomEntry{
			ID: e.id, Published: atomTime(e.published), Updated: atomTime(cmp.Or(e.updated, e.published)),
			Link: atomLink{Href: e.link, Rel: "alternate", Type: "text/html"}, Title: e.title,
			Content: atomText{Type: "html", Value: e.html},
		})
	}
	return marshalXML(doc)
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func marshalXML(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
