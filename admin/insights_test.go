package admin_test

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"testing"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
)

// stubInsights stands for the analytics and lessons packages (which test
// their own fragments): it echoes what the console asked for.
type stubInsights struct{}

func (stubInsights) Analytics(_ context.Context, days string) (template.HTML, error) {
	if days != "" && days != "7" && days != "30" && days != "90" {
		return "", understudy.Errorf(understudy.EINVALID, "days must be 7, 30 or 90")
	}
	return template.HTML(fmt.Sprintf(`<p id="analytics">days=%s</p>`, template.HTMLEscapeString(days))), nil
}

func (stubInsights) Search(_ context.Context, q string) (template.HTML, error) {
	return template.HTML(fmt.Sprintf(`<p id="search">q=%s</p>`, template.HTMLEscapeString(q))), nil
}

func (stubInsights) Similar(_ context.Context, id int64) (template.HTML, error) {
	if id != 1 {
		return "", nil
	}
	return `<ul id="similar"><li>incident #7</li></ul>`, nil
}

func withInsights(o *admin.Options) { o.Insights = stubInsights{} }

func TestInsightsPages(t *testing.T) {
	f := newFixture(t, withInsights)
	b := f.signIn(t, agentTok)
	for _, tt := range []struct {
		path, want string
		status     int
	}{
		{"/console/analytics?days=7", `<p id="analytics">days=7</p>`, http.StatusOK},
		{"/console/analytics?days=12", "Days must be 7, 30 or 90.", http.StatusBadRequest},
		{"/console/lessons?q=quota+%3Cb%3E", `<p id="search">q=quota &lt;b&gt;</p>`, http.StatusOK},
		{"/console/incidents/1", `<ul id="similar"><li>incident #7</li></ul>`, http.StatusOK},
	} {
		status, page, _ := b.get(t, tt.path)
		if status != tt.status || !strings.Contains(page, tt.want) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tt.path, status, tt.status, tt.want, page)
		}
	}
	if _, page, _ := b.get(t, "/console/"); !strings.Contains(page, `href="/console/analytics"`) || !strings.Contains(page, `href="/console/lessons"`) {
		t.Error("the navigation has no Analytics and Lessons links")
	}
	if _, page, _ := b.get(t, "/console/incidents/2"); strings.Contains(page, "Similar past incidents") {
		t.Error("an incident with no similar ones shows the section")
	}
	// Without insights, the pages do not exist.
	g := newFixture(t)
	if status, _, _ := g.signIn(t, agentTok).get(t, "/console/analytics"); status != http.StatusNotFound {
		t.Errorf("analytics without insights: %d, want 404", status)
	}
}
