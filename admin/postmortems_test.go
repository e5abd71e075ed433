package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/store"
)

// withPostmortems adds a postmortem service over a fresh store, reading
// the fixture's incidents (mirrored in the store: postmortems refer to
// incidents there) through the fixture's service.
func withPostmortems(t *testing.T) fixtureOption {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return func(o *admin.Options) {
		for id := int64(1); id <= 3; id++ {
			inc, err := o.Service.Incident(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			inc.Updates = nil
			if err := st.CreateIncident(context.Background(), &inc, nil, nil); err != nil || inc.ID != id {
				t.Fatalf("mirroring incident %d: got id %d, %v", id, inc.ID, err)
			}
		}
		o.Postmortems = postmortem.New(postmortem.Options{Store: st, Source: o.Service, Clock: o.Clock})
	}
}

// TestPostmortemAPI: the workflow through the API — draft, edits, action
// items, review, publication, read-only once published — with the scopes
// (agents read, operators write) and the exports.
func TestPostmortemAPI(t *testing.T) {
	f := newFixture(t, withPostmortems(t))
	call := func(method, path, token, body string, want int) string {
		t.Helper()
		status, got, _ := f.api(t, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s as %s: got %d %s, want %d", method, path, token, status, got, want)
		}
		return got
	}
	if l := decode[admin.PostmortemsJSON](t, call("GET", "/admin/v1/postmortems", agentTok, "", 200)); len(l.Postmortems) != 0 {
		t.Fatalf("postmortems before any: %+v", l)
	}
	call("POST", "/admin/v1/postmortems", agentTok, `{"incident_id":2}`, http.StatusForbidden)
	call("POST", "/admin/v1/postmortems", operatorTok, `{"incident_id":1}`, http.StatusConflict) // still open
	call("POST", "/admin/v1/postmortems", operatorTok, `{"incident_id":99}`, http.StatusNotFound)
	call("POST", "/admin/v1/postmortems", operatorTok, `{}`, http.StatusBadRequest)
	// The fixture's incident 2 has no detection time: its time to resolve is unknown.
	p := decode[admin.PostmortemJSON](t, call("POST", "/admin/v1/postmortems", operatorTok, `{"incident_id":2}`, 200))
	if p.Status != "draft" || p.IncidentID != 2 || p.Title != "Anthropic overload" || p.Author != "understudy" || p.Metrics.TimeToResolveSeconds != nil || p.Metrics.ResolvedAt.IsZero() {
		t.Errorf("draft: %+v", p)
	}
	again := decode[admin.PostmortemJSON](t, call("POST", "/admin/v1/postmortems", operatorTok, `{"incident_id":2}`, 200))
	if again.ID != p.ID {
		t.Errorf("drafting twice: got postmortem %d then %d, want the same", p.ID, again.ID)
	}
	pm := fmt.Sprintf("/admin/v1/postmortems/%d", p.ID)

	call("PATCH", pm, agentTok, `{"root_cause":"x"}`, http.StatusForbidden)
	call("PATCH", pm, operatorTok, `{"root_cause":"x","nope":1}`, http.StatusBadRequest)
	got := decode[admin.PostmortemJSON](t, call("PATCH", pm, operatorTok, `{"root_cause":"Their **deploy**.","summary":"Slow, then fine."}`, 200))
	if got.RootCause != "Their **deploy**." || got.Summary != "Slow, then fine." || got.Author != "operator" {
		t.Errorf("after PATCH: %+v", got)
	}
	call("POST", pm+"/action-items", operatorTok, `{"title":"x","status":"later"}`, http.StatusBadRequest)
	call("POST", pm+"/action-items", operatorTok, `{"title":"x","due":"soon"}`, http.StatusBadRequest)
	it := decode[admin.ActionItemJSON](t, call("POST", pm+"/action-items", operatorTok,
		`{"title":"Alert on 529s","owner":"bob","due":"2026-03-02","link":"https://tracker.example.com/9"}`, http.StatusCreated))
	if it.ID == 0 || it.Status != "open" || !it.Due.Equal(time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("action item: %+v, want open, due at the end of 2026-03-02", it)
	}
	extra := decode[admin.ActionItemJSON](t, call("POST", pm+"/action-items", operatorTok, `{"title":"Remove me"}`, http.StatusCreated))
	item := fmt.Sprintf("%s/action-items/%d", pm, it.ID)
	if got := decode[admin.ActionItemJSON](t, call("PATCH", item, operatorTok, `{"owner":"carol","due":null}`, 200)); got.Owner != "carol" || !got.Due.IsZero() || got.Title != "Alert on 529s" {
		t.Errorf("item after PATCH: %+v", got)
	}
	call("PATCH", item, operatorTok, `{"due":"2026-03-02T12:00:00Z"}`, 200)
	call("DELETE", fmt.Sprintf("%s/action-items/%d", pm, extra.ID), agentTok, "", http.StatusForbidden)
	if got := decode[admin.PostmortemJSON](t, call("DELETE", fmt.Sprintf("%s/action-items/%d", pm, extra.ID), operatorTok, "", 200)); len(got.ActionItems) != 1 {
		t.Errorf("after DELETE: items %+v", got.ActionItems)
	}
	call("DELETE", fmt.Sprintf("%s/action-items/%d", pm, extra.ID), operatorTok, "", http.StatusNotFound)

	call("POST", pm+"/publish", operatorTok, "", http.StatusConflict) // not reviewed
	call("POST", pm+"/submit", agentTok, "", http.StatusForbidden)
	if got := decode[admin.PostmortemJSON](t, call("POST", pm+"/submit", operatorTok, "", 200)); got.Status != "in_review" {
		t.Errorf("submitted: %s", got.Status)
	}
	call("PATCH", pm, operatorTok, `{"lucky":"It was a Sunday."}`, 200) // edits go on in review
	call("POST", pm+"/publish", agentTok, "", http.StatusForbidden)
	f.clock.Advance(48 * time.Hour)
	pub := decode[admin.PostmortemJSON](t, call("POST", pm+"/publish", adminTok, "", 200))
	if pub.Status != "published" || !pub.PublishedAt.Equal(f.clock.Now()) || pub.Author != "admin" || pub.Lucky != "It was a Sunday." {
		t.Errorf("published: %+v", pub)
	}
	// Published: read-only, but action items can be closed.
	call("PATCH", pm, operatorTok, `{"lucky":"no"}`, http.StatusConflict)
	call("POST", pm+"/submit", operatorTok, "", http.StatusConflict)
	call("POST", pm+"/action-items", operatorTok, `{"title":"late"}`, http.StatusConflict)
	call("PATCH", item, operatorTok, `{"title":"renamed"}`, http.StatusConflict)
	call("DELETE", item, operatorTok, "", http.StatusConflict)

	overdue := decode[admin.ActionItemsJSON](t, call("GET", "/admin/v1/action-items/overdue", agentTok, "", 200))
	if len(overdue.ActionItems) != 1 || overdue.ActionItems[0].IncidentID != 2 || overdue.ActionItems[0].IncidentTitle != "Anthropic overload" {
		t.Errorf("overdue: %+v", overdue)
	}
	if got := decode[admin.ActionItemJSON](t, call("PATCH", item, operatorTok, `{"status":"done"}`, 200)); got.Status != "done" {
		t.Errorf("closed item: %+v", got)
	}
	if overdue := decode[admin.ActionItemsJSON](t, call("GET", "/admin/v1/action-items/overdue", agentTok, "", 200)); len(overdue.ActionItems) != 0 {
		t.Errorf("overdue once done: %+v", overdue)
	}

	if l := decode[admin.PostmortemsJSON](t, call("GET", "/admin/v1/postmortems?status=published", agentTok, "", 200)); len(l.Postmortems) != 1 {
		t.Errorf("published list: %+v", l)
	}
	call("GET", "/admin/v1/postmortems?status=done", agentTok, "", http.StatusBadRequest)
	call("GET", "/admin/v1/postmortems/99", agentTok, "", http.StatusNotFound)
	call("GET", "/admin/v1/postmortems/x.md", agentTok, "", http.StatusBadRequest)
	for suffix, want := range map[string]struct{ ctype, text string }{
		".md":   {"text/markdown; charset=utf-8", "# Postmortem: Anthropic overload"},
		".html": {"text/html; charset=utf-8", "<!doctype html>"},
	} {
		status, body, res := f.api(t, "GET", pm+suffix, agentTok, "")
		if status != 200 || res.Header.Get("Content-Type") != want.ctype || !strings.Contains(body, want.text) || !strings.Contains(body, "Their <strong>deploy</strong>.") && suffix == ".html" {
			t.Errorf("export %s: %d %q\n%.400s", suffix, status, res.Header.Get("Content-Type"), body)
		}
	}
	status, _, res := f.api(t, "PUT", pm, operatorTok, "")
	if status != http.StatusMethodNotAllowed || !strings.Contains(res.Header.Get("Allow"), "PATCH") {
		t.Errorf("PUT: %d, Allow %q; want 405 allowing PATCH", status, res.Header.Get("Allow"))
	}
}

// TestPostmortemConsole: an operator drafts the postmortem from the
// incident's page, writes it, adds an action item, submits and publishes
// it; an agent reads it; the exports and the home page's overdue items.
func TestPostmortemConsole(t *testing.T) {
	f := newFixture(t, withPostmortems(t))
	op := f.signIn(t, operatorTok)
	_, page, _ := op.get(t, "/console/incidents/2")
	if !strings.Contains(page, `action="/console/incidents/2/postmortem"`) {
		t.Fatalf("resolved incident's page has no draft button:\n%s", page)
	}
	if _, page, _ := op.get(t, "/console/incidents/1"); !strings.Contains(page, "Drafted by itself when the incident resolves") {
		t.Errorf("open incident's page does not say a postmortem comes at resolution")
	}
	status, _, res := op.post(t, "/console/incidents/2/postmortem", nil)
	loc := res.Header.Get("Location")
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/postmortems/") {
		t.Fatalf("draft: %d to %q", status, loc)
	}
	if status, page, _ := op.post(t, "/console/incidents/1/postmortem", nil); status != http.StatusConflict || !strings.Contains(page, "drafted once it is resolved") {
		t.Errorf("draft for an open incident: %d\n%s", status, page)
	}
	_, page, _ = op.get(t, loc)
	for _, want := range []string{"pm-draft", `name="root_cause"`, "Submit for review", ".md\">Markdown", "Detection and response", "time to resolve"} {
		if !strings.Contains(page, want) {
			t.Errorf("postmortem page lacks %q", want)
		}
	}
	// Only the fields sent change.
	if status, _, _ := op.post(t, loc, url.Values{"root_cause": {"Their *deploy*."}}); status != http.StatusSeeOther {
		t.Fatalf("save: %d", status)
	}
	if status, page, _ := op.post(t, loc+"/action-items", url.Values{"title": {"Alert earlier"}, "due": {"2026-03-02"}, "link": {"ftp://x"}}); status != http.StatusBadRequest || !strings.Contains(page, "not an http(s) URL") || !strings.Contains(page, `value="Alert earlier"`) {
		t.Errorf("bad item: %d (want 400 with the form kept)\n%s", status, page)
	}
	if status, _, _ := op.post(t, loc+"/action-items", url.Values{"title": {"Alert earlier"}, "owner": {"bob"}, "due": {"2026-03-02"}, "link": {""}}); status != http.StatusSeeOther {
		t.Fatalf("add item: %d", status)
	}
	for _, step := range []string{"/submit", "/publish"} {
		if status, _, _ := op.post(t, loc+step, nil); status != http.StatusSeeOther {
			t.Fatalf("%s: %d", step, status)
		}
	}
	_, page, _ = op.get(t, loc)
	if !strings.Contains(page, "Their <em>deploy</em>.") || strings.Contains(page, `name="root_cause"`) || !strings.Contains(page, "Published: read-only") {
		t.Errorf("published page: want the text rendered and no edit form\n%s", page)
	}
	if status, page, _ := op.post(t, loc, url.Values{"root_cause": {"changed"}}); status != http.StatusConflict || !strings.Contains(page, "read-only") {
		t.Errorf("edit once published: %d", status)
	}

	ag := f.signIn(t, agentTok)
	_, page, _ = ag.get(t, loc)
	if strings.Contains(page, "<form method=\"post\" action=\"/console/postmortems") || !strings.Contains(page, "Alert earlier") {
		t.Errorf("agent's view: want the items and no forms\n%s", page)
	}
	if status, _, res := ag.get(t, loc+".md"); status != 200 || res.Header.Get("Content-Type") != "text/markdown; charset=utf-8" {
		t.Errorf("console Markdown export: %d %q", status, res.Header.Get("Content-Type"))
	}
	if _, page, _ := ag.get(t, "/console/postmortems"); !strings.Contains(page, "Anthropic overload") || !strings.Contains(page, "published") {
		t.Errorf("list:\n%s", page)
	}
	if _, page, _ := ag.get(t, "/console/incidents/2"); !strings.Contains(page, `href="`+loc+`"`) {
		t.Errorf("the incident's page does not link to its postmortem")
	}
	f.clock.Advance(72 * time.Hour)
	ag = f.signIn(t, agentTok) // the session has expired meanwhile
	if _, page, _ := ag.get(t, "/console/"); !strings.Contains(page, "Overdue action items") || !strings.Contains(page, "Alert earlier") {
		t.Errorf("home: want the overdue item\n%s", page)
	}
}

// The incident engine, as the admin package sees it, is a source of
// postmortems.
var _ postmortem.Source = admin.Service(nil)
