package status_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The feed formats as a reader sees them, declared here independently of
// the package's own types.

type testRSS struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Channel struct {
		Title string `xml:"title"`
		// Before Link: a decoder gives an element to the first field
		// that matches it, and "link" matches any namespace.
		SelfLink struct {
			Href string `xml:"href,attr"`
			Rel  string `xml:"rel,attr"`
		} `xml:"http://www.w3.org/2005/Atom link"`
		Link  []testRSSLink `xml:"link"`
		Desc  string        `xml:"description"`
		Build string        `xml:"lastBuildDate"`
		Items []testRSSItem `xml:"item"`
	} `xml:"channel"`
}

type testRSSLink struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type testRSSItem struct {
	Title   string `xml:"title"`
	Desc    string `xml:"description"`
	PubDate string `xml:"pubDate"`
	Link    string `xml:"link"`
	GUID    struct {
		IsPermaLink string `xml:"isPermaLink,attr"`
		Value       string `xml:",chardata"`
	} `xml:"guid"`
}

type testAtom struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"http://www.w3.org/2005/Atom id"`
	Title   string   `xml:"http://www.w3.org/2005/Atom title"`
	Updated string   `xml:"http://www.w3.org/2005/Atom updated"`
	Author  struct {
		Name string `xml:"http://www.w3.org/2005/Atom name"`
	} `xml:"http://www.w3.org/2005/Atom author"`
	Links   []testAtomLink `xml:"http://www.w3.org/2005/Atom link"`
	Entries []struct {
		ID        string       `xml:"http://www.w3.org/2005/Atom id"`
		Title     string       `xml:"http://www.w3.org/2005/Atom title"`
		Published string       `xml:"http://www.w3.org/2005/Atom published"`
		Updated   string       `xml:"http://www.w3.org/2005/Atom updated"`
		Link      testAtomLink `xml:"http://www.w3.org/2005/Atom link"`
		Content   struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"http://www.w3.org/2005/Atom content"`
	} `xml:"http://www.w3.org/2005/Atom entry"`
}

type testAtomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
}

// wellFormed reads every token of a document strictly.
func wellFormed(tb testing.TB, doc []byte) {
	tb.Helper()
	if !bytes.HasPrefix(doc, []byte(xml.Header)) {
		tb.Errorf("no XML declaration with an encoding: %.60q", doc)
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			tb.Fatalf("not well-formed XML: %v", err)
		}
	}
}

func mustRSS(tb testing.TB, doc []byte) testRSS {
	tb.Helper()
	wellFormed(tb, doc)
	var f testRSS
	if err := xml.Unmarshal(doc, &f); err != nil {
		tb.Fatal(err)
	}
	return f
}

func mustAtom(tb testing.TB, doc []byte) testAtom {
	tb.Helper()
	wellFormed(tb, doc)
	var f testAtom
	if err := xml.Unmarshal(doc, &f); err != nil {
		tb.Fatal(err)
	}
	return f
}

// feedItem is what both feeds must say of one entry.
type feedItem struct {
	id, title, link string
	published       time.Time
	content         string // HTML, after XML decoding
}

func TestRSS(t *testing.T) {
	for name, src := range scenarios() {
		t.Run(name, func(t *testing.T) {
			f := mustRSS(t, mustBody(t, get(t, mustHandler(t, src), http.MethodGet, "/history.rss")))
			ch := f.Channel
			if f.Version != "2.0" || ch.Title != "Acme AI Status - Incident History" || ch.Desc == "" {
				t.Errorf("got version %q, title %q, description %q", f.Version, ch.Title, ch.Desc)
			}
			var plain []string
			for _, l := range ch.Link {
				if l.XMLName.Space == "" {
					plain = append(plain, l.Value)
				}
			}
			if !slices.Equal(plain, []string{"https://status.acme.test"}) {
				t.Errorf("got channel links %q, want the page URL", plain)
			}
			if ch.SelfLink.Href != "https://status.acme.test/history.rss" || ch.SelfLink.Rel != "self" {
				t.Errorf("got atom:link %+v, want the feed itself", ch.SelfLink)
			}
			if _, err := time.Parse(time.RFC1123Z, ch.Build); err != nil {
				t.Errorf("lastBuildDate: %v", err)
			}
			var items []feedItem
			for _, it := range ch.Items {
				pub, err := time.Parse(time.RFC1123Z, it.PubDate)
				if err != nil {
					t.Errorf("item %q pubDate: %v", it.Title, err)
				}
				if it.Title == "" || it.Link == "" || it.GUID.Value == "" || it.Desc == "" {
					t.Errorf("item misses a required element: %+v", it)
				}
				if it.GUID.IsPermaLink != "false" {
					t.Errorf("guid isPermaLink %q, want false (a tag: URI)", it.GUID.IsPermaLink)
				}
				items = append(items, feedItem{it.GUID.Value, it.Title, it.Link, pub, it.Desc})
			}
			checkItems(t, name, items)
		})
	}
}

func TestAtom(t *testing.T) {
	for name, src := range scenarios() {
		t.Run(name, func(t *testing.T) {
			f := mustAtom(t, mustBody(t, get(t, mustHandler(t, src), http.MethodGet, "/history.atom")))
			if f.ID != "tag:status.acme.test,2005:/history" || f.Title == "" || f.Author.Name != "Acme AI" {
				t.Errorf("got id %q, title %q, author %q", f.ID, f.Title, f.Author.Name)
			}
			if _, err := time.Parse(time.RFC3339, f.Updated); err != nil {
				t.Errorf("feed updated: %v", err)
			}
			rels := map[string]string{}
			for _, l := range f.Links {
				rels[l.Rel] = l.Href
			}
			if rels["self"] != "https://status.acme.test/history.atom" || rels["alternate"] != "https://status.acme.test" {
				t.Errorf("got links %v", rels)
			}
			var items []feedItem
			for _, e := range f.Entries {
				pub, err := time.Parse(time.RFC3339, e.Published)
				if err != nil {
					t.Errorf("entry %q published: %v", e.Title, err)
				}
				upd, err := time.Parse(time.RFC3339, e.Updated)
				if err != nil || upd.Before(pub) {
					t.Errorf("entry %q updated %q: %v, want a time not before published", e.Title, e.Updated, err)
				}
				if e.ID == "" || e.Title == "" || e.Link.Href == "" || e.Content.Type != "html" {
					t.Errorf("entry misses a required element: %+v", e)
				}
				items = append(items, feedItem{e.ID, e.Title, e.Link.Href, pub, e.Content.Value})
			}
			checkItems(t, name, items)
		})
	}
}

// checkItems checks what both feeds hold for scenario name.
func checkItems(t *testing.T, name string, items []feedItem) {
	t.Helper()
	want := map[string][]string{
		"operational": nil,
		"incident":    {"7", "#maintenance-3", "#maintenance-2", "#maintenance-4", "5", "#maintenance-1"}, // by creation
		"maintenance": {"#maintenance-3", "#maintenance-2", "#maintenance-4", "5", "#maintenance-1"},
	}[name]
	var got []string
	for _, it := range items {
		got = append(got, it.link[strings.LastIndex(it.link, "/")+1:])
	}
	if !slices.Equal(got, want) {
		t.Errorf("got entries %q, want %q (newest first)", got, want)
	}
	seen := map[string]bool{}
	for i, it := range items {
		if seen[it.id] {
			t.Errorf("duplicate id %q", it.id)
		}
		seen[it.id] = true
		if i > 0 && it.published.After(items[i-1].published) {
			t.Errorf("%q is newer than the entry before it", it.title)
		}
		if !strings.HasPrefix(it.link, "https://status.acme.test/incidents/") && !strings.HasPrefix(it.link, "https://status.acme.test/#maintenance-") {
			t.Errorf("got link %q", it.link)
		}
	}
	for _, it := range items {
		switch it.id {
		case "tag:status.acme.test,2005:Incident/7":
			if it.title != majorTitle {
				t.Errorf("got title %q, want %q back exactly", it.title, majorTitle)
			}
			// The body is HTML-escaped inside the (XML-decoded) content;
			// unescaping it gives the text back.
			for _, s := range []string{html.EscapeString(etaBody), "<strong>Monitoring</strong>", "<strong>Identified</strong>",
				"<strong>Investigating</strong>", "2026-11-23 14:03 UTC", "Estimated resolution: 2026-11-23 15:30 UTC."} {
				if !strings.Contains(it.content, s) {
					t.Errorf("incident 7 content misses %q:\n%s", s, it.content)
				}
			}
			if strings.Index(it.content, "Monitoring") > strings.Index(it.content, "Investigating") {
				t.Errorf("updates are not newest first:\n%s", it.content)
			}
		case "tag:status.acme.test,2005:Maintenance/1":
			if it.title != maintTitle || !strings.Contains(it.content, html.EscapeString(maintBody)) {
				t.Errorf("maintenance 1: got %q, %q", it.title, it.content)
			}
		case "tag:status.acme.test,2005:Maintenance/4":
			if !strings.Contains(it.content, "<strong>Canceled</strong>") {
				t.Errorf("canceled window does not say so: %q", it.content)
			}
		}
	}
}
