package admin_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
)

// concrete is a request path for a route pattern.
func concrete(pattern string) string {
	return strings.NewReplacer("{id}", "1", "{item}", "1", "{name}", "nobody", "{$}", "").Replace(pattern)
}

// lower is a scope just below need, "" when need is the lowest.
func lower(need understudy.Scope) understudy.Scope {
	switch need {
	case understudy.ScopeAdmin:
		return understudy.ScopeOperator
	case understudy.ScopeOperator:
		return understudy.ScopeAgent
	}
	return ""
}

// TestRouteWalk proves, route by route, that auth refuses what it must and
// lets the right scope through. The fixture has a handoff queue and
// postmortems, so the agents' pages (and their event stream) and the
// postmortem routes are walked too.
func TestRouteWalk(t *testing.T) {
	f := newFixture(t, withHandoff(t, nil), withPostmortems(t), withInsights)
	public := map[string]bool{"GET /console/static/console.css": true, "GET /console/signin": true, "POST /console/signin": true}
	for _, rt := range f.h.Routes() {
		key := rt.Method + " " + rt.Pattern
		path := concrete(rt.Pattern)
		console := strings.HasPrefix(path, "/console/")
		t.Run(key, func(t *testing.T) {
			if rt.Scope == admin.ScopePublic {
				if !public[key] {
					t.Fatalf("route %s needs no credentials; only %v may", key, public)
				}
				return
			}
			if console {
				walkConsole(t, f, rt, path)
			} else {
				walkAPI(t, f, rt, path)
			}
		})
	}
}

func walkAPI(t *testing.T, f *fixture, rt admin.Route, path string) {
	tests := []struct {
		name, token string
		want        int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"unknown token", "us_nobody-knows-this", http.StatusUnauthorized},
		{"revoked token", revokedTok, http.StatusUnauthorized},
	}
	if low := lower(rt.Scope); low != "" {
		tests = append(tests, struct {
			name, token string
			want        int
		}{"scope " + string(low), tokenFor(low), http.StatusForbidden})
	}
	for _, tt := range tests {
		status, body, res := f.api(t, rt.Method, path, tt.token, "")
		if status != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, status, body, tt.want)
		}
		if tt.want == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: got WWW-Authenticate %q, want Bearer", tt.name, res.Header.Get("WWW-Authenticate"))
		}
		if tt.want == http.StatusForbidden && !strings.Contains(body, `"code":"forbidden"`) {
			t.Errorf("%s: got body %s, want code forbidden", tt.name, body)
		}
	}
	status, body, _ := f.api(t, rt.Method, path, tokenFor(rt.Scope), "")
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		t.Errorf("scope %s: got %d %s, want past auth", rt.Scope, status, body)
	}
}

func walkConsole(t *testing.T, f *fixture, rt admin.Route, path string) {
	toSignin := func(name string, status int, res *http.Response) {
		t.Helper()
		if loc := res.Header.Get("Location"); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
			t.Errorf("%s: got %d to %q, want 303 to /console/signin", name, status, loc)
		}
	}
	status, _, res := f.browser(t).do(t, rt.Method, path, formFor(rt))
	toSignin("no session", status, res)

	// A session whose token is revoked after signing in.
	f.tokens.Add("walk-revoked", understudy.ScopeAdmin, "us_walk-revoked")
	b := f.signIn(t, "us_walk-revoked")
	if err := f.tokens.RevokeToken(t.Context(), "walk-revoked", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	status, _, res = b.do(t, rt.Method, path, b.withCSRF(formFor(rt)))
	toSignin("revoked token", status, res)
	f.tokens.Forget("walk-revoked")

	if low := lower(rt.Scope); low != "" {
		b := f.signIn(t, tokenFor(low))
		if status, body, _ := b.do(t, rt.Method, path, b.withCSRF(formFor(rt))); status != http.StatusForbidden {
			t.Errorf("scope %s: got %d, want 403\n%s", low, status, body)
		}
	}
	b = f.signIn(t, tokenFor(rt.Scope))
	status, body, res := b.do(t, rt.Method, path, b.withCSRF(formFor(rt)))
	if status == http.StatusForbidden || status == http.StatusUnauthorized || strings.HasPrefix(res.Header.Get("Location"), "/console/signin") && rt.Pattern != "/console/signout" {
		t.Errorf("scope %s: got %d to %q, want past auth\n%s", rt.Scope, status, res.Header.Get("Location"), body)
	}
}

// formFor is an empty form for POST routes, nil for GET.
func formFor(rt admin.Route) map[string][]string {
	if rt.Method == http.MethodPost {
		return map[string][]string{}
	}
	return nil
}

func (b *browser) withCSRF(form map[string][]string) map[string][]string {
	if form != nil {
		form["csrf"] = []string{b.csrf}
	}
	return form
}

// TestNoRouteBypassesTheTable checks that the mux holds exactly the table,
// and that every request the mux would serve matches a route of the table.
func TestNoRouteBypassesTheTable(t *testing.T) {
	f := newFixture(t, withHandoff(t, nil), withPostmortems(t), withInsights)
	var want []string
	for _, rt := range f.h.Routes() {
		want = append(want, rt.Method+" "+rt.Pattern)
	}
	got := f.h.MuxPatterns()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mux patterns:\n got %v\nwant %v", got, want)
	}

	paths := []string{"/admin/", "/admin/v1/", "/admin/v1/handoff", "/console/", "/console/static/x.js", "/console/nope", "/admin/v1/incidents/1/delete"}
	for _, rt := range f.h.Routes() {
		paths = append(paths, concrete(rt.Pattern))
	}
	table := map[string]bool{}
	for _, p := range want {
		table[p] = true
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
			r := httptest.NewRequest(m, p, nil)
			pattern := f.h.MatchedPattern(r)
			if pattern != "" && !table[pattern] {
				t.Errorf("%s %s is served by %q, which is not in Routes()", m, p, pattern)
			}
		}
	}
}

func TestUnknownPaths(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path string
		want               int
		wantBody           string
	}{
		{"api unknown", "GET", "/admin/v1/nope", http.StatusNotFound, `"code":"not_found"`},
		{"api wrong method", "PUT", "/admin/v1/incidents", http.StatusMethodNotAllowed, "allowed: GET, POST"},
		{"console unknown", "GET", "/console/nope", http.StatusNotFound, "<!doctype html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := f.api(t, tt.method, tt.path, adminTok, "")
			if status != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %s, want %d with %q", status, body, tt.want, tt.wantBody)
			}
		})
	}
}

// TestRouteTable pins the table: who may do what is reviewed here.
func TestRouteTable(t *testing.T) {
	const want = `GET /admin/v1/whoami agent
GET /admin/v1/incidents agent
POST /admin/v1/incidents operator
GET /admin/v1/incidents/{id} agent
POST /admin/v1/incidents/{id}/updates operator
POST /admin/v1/incidents/{id}/resolve operator
POST /admin/v1/incidents/{id}/reopen operator
POST /admin/v1/incidents/{id}/merge operator
GET /admin/v1/maintenances agent
POST /admin/v1/maintenances operator
POST /admin/v1/maintenances/{id}/cancel operator
GET /admin/v1/components agent
GET /admin/v1/slos agent
GET /admin/v1/tokens admin
POST /admin/v1/tokens admin
DELETE /admin/v1/tokens/{name} admin
GET /console/static/console.css public
GET /console/signin public
POST /console/signin public
POST /console/signout agent
GET /console/{$} agent
GET /console/incidents agent
GET /console/incidents/new operator
POST /console/incidents operator
GET /console/incidents/{id} agent
POST /console/incidents/{id}/updates operator
POST /console/incidents/{id}/resolve operator
POST /console/incidents/{id}/reopen operator
POST /console/incidents/{id}/merge operator
GET /console/maintenances agent
POST /console/maintenances operator
POST /console/maintenances/{id}/cancel operator
GET /console/slos agent
GET /console/tokens admin
POST /console/tokens admin
POST /console/tokens/{name}/revoke admin
GET /console/static/handoff.js agent
GET /console/handoff agent
GET /console/handoff/events agent
GET /console/handoff/{id} agent
POST /console/handoff/{id}/claim agent
POST /console/handoff/{id}/reply agent
POST /console/handoff/{id}/close agent
GET /admin/v1/postmortems agent
POST /admin/v1/postmortems operator
GET /admin/v1/postmortems/{id} agent
PATCH /admin/v1/postmortems/{id} operator
POST /admin/v1/postmortems/{id}/submit operator
POST /admin/v1/postmortems/{id}/publish operator
POST /admin/v1/postmortems/{id}/action-items operator
PATCH /admin/v1/postmortems/{id}/action-items/{item} operator
DELETE /admin/v1/postmortems/{id}/action-items/{item} operator
GET /admin/v1/action-items/overdue agent
GET /console/postmortems agent
GET /console/postmortems/{id} agent
POST /console/postmortems/{id} operator
POST /console/postmortems/{id}/submit operator
POST /console/postmortems/{id}/publish operator
POST /console/postmortems/{id}/action-items operator
POST /console/postmortems/{id}/action-items/{item} operator
POST /console/postmortems/{id}/action-items/{item}/delete operator
POST /console/incidents/{id}/postmortem operator
GET /console/analytics agent
GET /console/lessons agent
`
	var got strings.Builder
	for _, rt := range newFixture(t, withHandoff(t, nil), withPostmortems(t), withInsights).h.Routes() {
		scope := string(rt.Scope)
		if rt.Scope == admin.ScopePublic {
			scope = "public"
		}
		got.WriteString(rt.Method + " " + rt.Pattern + " " + scope + "\n")
	}
	if got.String() != want {
		t.Errorf("route table:\n got:\n%s\nwant:\n%s", got.String(), want)
	}
}

// TestExtraRoutes: routes other packages add go through the same table and
// the same authentication; their errors are written like the API's own.
func TestExtraRoutes(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) {
		o.Extra = []admin.ExtraRoute{
			{Method: "GET", Pattern: "things", Scope: understudy.ScopeOperator, Handler: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = w.Write([]byte(`{"ok":true}`))
				return nil
			}},
			{Method: "DELETE", Pattern: "things/{id}", Scope: understudy.ScopeOperator, Handler: func(w http.ResponseWriter, r *http.Request) error {
				return understudy.Errorf(understudy.ENOTFOUND, "no thing %s", r.PathValue("id"))
			}},
		}
	})
	if !slices.ContainsFunc(f.h.Routes(), func(r admin.Route) bool {
		return r.Pattern == "/admin/v1/things" && r.Scope == understudy.ScopeOperator
	}) {
		t.Fatalf("extra route not in the table: %v", f.h.Routes())
	}
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/admin/v1/things", "", http.StatusUnauthorized},
		{"GET", "/admin/v1/things", agentTok, http.StatusForbidden},
		{"GET", "/admin/v1/things", operatorTok, http.StatusOK},
		{"DELETE", "/admin/v1/things/7", operatorTok, http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s with %q: got %d, want %d", tt.method, tt.path, tt.token, resp.StatusCode, tt.want)
		}
	}
}
