package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
)

func TestConsoleSignIn(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	status, _, res := b.get(t, "/console/incidents/1?x=1")
	if loc := res.Header.Get("Location"); status != http.StatusSeeOther || loc != "/console/signin?next=%2Fconsole%2Fincidents%2F1%3Fx%3D1" {
		t.Fatalf("unauthenticated: got %d to %q, want 303 to the sign-in with next", status, loc)
	}
	status, page, _ := b.get(t, "/console/signin?next=%2Fconsole%2Fincidents%2F1%3Fx%3D1")
	if status != 200 || !strings.Contains(page, `<label for="token">`) || !strings.Contains(page, `name="viewport"`) ||
		!strings.Contains(page, `name="next" value="/console/incidents/1?x=1"`) {
		t.Fatalf("sign-in page: got %d\n%s", status, page)
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	form := url.Values{"token": {"us_wrong"}, "csrf": {csrf}, "next": {"/console/incidents/1?x=1"}}
	status, page, _ = b.post(t, "/console/signin", form)
	if status != http.StatusUnauthorized || !strings.Contains(page, "Unknown or revoked token.") || strings.Contains(page, "us_wrong") {
		t.Errorf("wrong token: got %d, want 401 with a message and without the token typed\n%s", status, page)
	}
	form.Set("token", operatorTok)
	form.Set("csrf", "forged")
	if status, _, _ = b.post(t, "/console/signin", form); status != http.StatusForbidden {
		t.Errorf("sign-in CSRF: got %d, want 403", status)
	}
	form.Set("csrf", b.signinCSRF(t))
	status, _, res = b.post(t, "/console/signin", form)
	if loc := res.Header.Get("Location"); status != http.StatusSeeOther || loc != "/console/incidents/1?x=1" {
		t.Fatalf("sign in: got %d to %q, want 303 to next", status, loc)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "understudy_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || len(cookie.Value) != 43 {
		t.Errorf("got session cookie %+v, want HttpOnly SameSite=Strict with a 32-byte id", cookie)
	}
	if status, page, _ = b.get(t, "/console/incidents/1"); status != 200 || !strings.Contains(page, "OpenAI errors") {
		t.Errorf("after sign-in: got %d\n%s", status, page)
	}
}

func TestConsoleSecureCookies(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.SecureCookies = true })
	_, _, res := f.browser(t).get(t, "/console/signin")
	for _, c := range res.Cookies() {
		if !c.Secure {
			t.Errorf("got cookie %s not Secure, want Secure", c.Name)
		}
	}
}

func TestLocalNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/console/incidents", "/console/incidents"},
		{"https://evil.example/console/", "/console/"},
		{"//evil.example/console/", "/console/"},
		{"/console//evil.example", "/console/"},
		{"/admin/v1/tokens", "/console/"},
		{`/console/\evil`, "/console/"},
		{"javascript:alert(1)", "/console/"},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			b := f.browser(t)
			form := url.Values{"token": {agentTok}, "csrf": {b.signinCSRF(t)}, "next": {tt.next}}
			_, _, res := b.post(t, "/console/signin", form)
			if got := res.Header.Get("Location"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConsoleCSRF(t *testing.T) {
	f := newFixture(t)
	b := f.signIn(t, operatorTok)
	tests := []struct{ name, csrf string }{{"missing", ""}, {"forged", "forged"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"message": {"Sneaky"}, "csrf": {tt.csrf}}
			status, page, _ := b.post(t, "/console/incidents/1/updates", form)
			if status != http.StatusForbidden || !strings.Contains(page, "CSRF") {
				t.Errorf("got %d, want 403\n%s", status, page)
			}
		})
	}
	// Another session's token is no good either.
	other := f.signIn(t, operatorTok)
	status, _, _ := b.post(t, "/console/incidents/1/updates", url.Values{"message": {"Sneaky"}, "csrf": {other.csrf}})
	if status != http.StatusForbidden {
		t.Errorf("other session's token: got %d, want 403", status)
	}
	inc, _ := f.svc.Incident(context.Background(), 1)
	if len(inc.Updates) != 1 {
		t.Errorf("got %d updates, want the forged ones refused", len(inc.Updates))
	}
}

func TestConsoleSessionExpiry(t *testing.T) {
	f := newFixture(t)
	b := f.signIn(t, agentTok)
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{11*time.Hour + 59*time.Minute, http.StatusOK},
		{time.Minute, http.StatusSeeOther}, // 12 h after signing in
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		if status, _, _ := b.get(t, "/console/incidents"); status != s.want {
			t.Errorf("after %v more: got %d, want %d", s.advance, status, s.want)
		}
	}
}

func TestConsoleRevokedAndSignOut(t *testing.T) {
	f := newFixture(t)
	b := f.signIn(t, adminTok)
	if status, _, res := b.post(t, "/console/signout", nil); status != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin" {
		t.Errorf("sign out: got %d to %q", status, res.Header.Get("Location"))
	}
	if status, _, _ := b.get(t, "/console/"); status != http.StatusSeeOther {
		t.Errorf("after sign-out: got %d, want 303", status)
	}
	b = f.signIn(t, operatorTok)
	if err := f.tokens.RevokeToken(context.Background(), "operator", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := b.get(t, "/console/"); status != http.StatusSeeOther {
		t.Errorf("after revoking the token: got %d, want 303 to the sign-in", status)
	}
}

func TestConsolePages(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, token, path string
		want              int
		wantPage, notPage []string
	}{
		{"home", agentTok, "/console/", 200,
			[]string{"OpenAI errors", "Slow answers", "Key rotation", "partial outage", "provider:anthropic", "62.0%", "15.2×", "fast availability burn"},
			[]string{"Anthropic overload", `href="/console/tokens"`, "New incident"}},
		{"home as operator", operatorTok, "/console/", 200, []string{"New incident"}, []string{`href="/console/tokens"`}},
		{"home as admin", adminTok, "/console/", 200, []string{`href="/console/tokens"`}, nil},
		{"incidents", agentTok, "/console/incidents", 200, []string{"OpenAI errors", "Anthropic overload", "Recently resolved"}, nil},
		{"incident", agentTok, "/console/incidents/1", 200,
			[]string{"server error", "42", "openai/gpt-4o-mini", "HTTP 500: upstream exploded", "42% of 50 requests", "provider reports: elevated",
				"2026-03-01 13:40 UTC", "We are looking into errors.", "incident.opened", "opened by target_down", "ETA"},
			[]string{"Post an update"}},
		{"incident forms", operatorTok, "/console/incidents/1", 200,
			[]string{`<label for="u-message">`, `action="/console/incidents/1/updates"`, `action="/console/incidents/1/resolve"`, `action="/console/incidents/1/merge"`, `value="assistant, provider:openai"`},
			[]string{`/reopen"`}},
		{"resolved incident", operatorTok, "/console/incidents/2", 200, []string{`action="/console/incidents/2/reopen"`}, []string{`/resolve"`}},
		{"unknown incident", agentTok, "/console/incidents/99", 404, []string{"No incident #99."}, nil},
		{"bad id", agentTok, "/console/incidents/abc", 400, []string{"is not a positive number"}, nil},
		{"new incident", operatorTok, "/console/incidents/new", 200, []string{`<label for="title">`, `<option value="major" selected>`}, nil},
		{"maintenances", operatorTok, "/console/maintenances", 200, []string{"Key rotation", "Cancel #10", "Schedule maintenance"}, nil},
		{"maintenances as agent", agentTok, "/console/maintenances", 200, []string{"Key rotation"}, []string{"Cancel #10", "Schedule maintenance"}},
		{"slos", agentTok, "/console/slos", 200, []string{"99.9% over 720h0m0s", "95.0% within 6s", "90.0%", "7.0×"}, nil},
		{"tokens hidden from operator", operatorTok, "/console/tokens", 403, []string{"This needs admin scope"}, []string{"us_"}},
		{"tokens", adminTok, "/console/tokens", 200, []string{"operator", "Revoke agent", "Create a token"}, []string{"Revoke revoked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, page, _ := f.signIn(t, tt.token).get(t, tt.path)
			if status != tt.want {
				t.Errorf("got %d, want %d\n%s", status, tt.want, page)
			}
			for _, w := range tt.wantPage {
				if !strings.Contains(page, w) {
					t.Errorf("page does not contain %q\n%s", w, page)
				}
			}
			for _, w := range tt.notPage {
				if strings.Contains(page, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

func TestConsolePostUpdate(t *testing.T) {
	f := newFixture(t)
	b := f.signIn(t, operatorTok)
	form := url.Values{"message": {"Fix deployed, watching."}, "status": {"monitoring"}, "severity": {"minor"},
		"components": {"assistant"}, "eta": {"30m"}}
	status, _, res := b.post(t, "/console/incidents/1/updates", form)
	if loc := res.Header.Get("Location"); status != http.StatusSeeOther || loc != "/console/incidents/1" {
		t.Fatalf("got %d to %q, want 303 to the incident", status, loc)
	}
	_, page, _ := b.get(t, "/console/incidents/1")
	for _, w := range []string{"Update posted.", "Fix deployed, watching.", "monitoring", "<strong>operator</strong>", "ETA 2026-03-01 14:30 UTC"} {
		if !strings.Contains(page, w) {
			t.Errorf("incident page does not contain %q\n%s", w, page)
		}
	}
	if _, page, _ = b.get(t, "/console/incidents/1"); strings.Contains(page, "Update posted.") {
		t.Errorf("the notice is shown twice")
	}

	// A form error re-renders the form with the message and what was typed.
	form = url.Values{"message": {"Half-typed thought"}, "eta": {"soonish"}, "components": {"assistant, provider:x"}}
	status, page, _ = b.post(t, "/console/incidents/1/updates", form)
	for _, w := range []string{"ETA: &#34;soonish&#34; is not an RFC 3339 time", ">Half-typed thought</textarea>", `value="soonish"`, `value="assistant, provider:x"`} {
		if !strings.Contains(page, w) {
			t.Errorf("error page (%d) does not contain %q\n%s", status, w, page)
		}
	}
	if status != http.StatusBadRequest {
		t.Errorf("got %d, want 400", status)
	}
	status, page, _ = b.post(t, "/console/incidents/2/updates", url.Values{"message": {"late"}})
	if status != http.StatusConflict || !strings.Contains(page, "Incident #2 is resolved: reopen it first.") {
		t.Errorf("update of a resolved incident: got %d\n%s", status, page)
	}
}

func TestConsoleForms(t *testing.T) {
	tests := []struct {
		name, token, path string
		form              url.Values
		want              int
		wantLoc           string
		check             func(t *testing.T, f *fixture)
	}{
		{"open incident", operatorTok, "/console/incidents", url.Values{"title": {"Mistral slow"}, "severity": {"minor"}, "cause": {"overload"},
			"status": {"investigating"}, "components": {"provider:mistral"}, "message": {"Looking."}}, 303, "/console/incidents/11", nil},
		{"open incident error", operatorTok, "/console/incidents", url.Values{"title": {"Mistral slow"}, "severity": {"huge"}}, 400, "", nil},
		{"resolve", operatorTok, "/console/incidents/1/resolve", url.Values{"message": {"Done."}}, 303, "/console/incidents/1",
			func(t *testing.T, f *fixture) {
				if inc, _ := f.svc.Incident(context.Background(), 1); inc.Status != understudy.IncidentResolved {
					t.Errorf("got %s, want resolved", inc.Status)
				}
			}},
		{"resolve resolved", operatorTok, "/console/incidents/2/resolve", nil, 409, "", nil},
		{"reopen", operatorTok, "/console/incidents/2/reopen", nil, 303, "/console/incidents/2", nil},
		{"merge", operatorTok, "/console/incidents/3/merge", url.Values{"into": {"#1"}}, 303, "/console/incidents/1", nil},
		{"merge bad", operatorTok, "/console/incidents/3/merge", url.Values{"into": {"one"}}, 400, "", nil},
		{"merge into resolved", operatorTok, "/console/incidents/3/merge", url.Values{"into": {"2"}}, 409, "", nil},
		{"schedule", operatorTok, "/console/maintenances", url.Values{"title": {"Upgrade"}, "components": {"assistant"},
			"starts": {"2h"}, "ends": {"30m"}}, 303, "/console/maintenances",
			func(t *testing.T, f *fixture) {
				list, _ := f.svc.Maintenances(context.Background(), understudy.MaintenanceFilter{})
				if m := list[0]; m.Title != "Upgrade" || !m.StartsAt.Equal(t0.Add(2*time.Hour)) || !m.EndsAt.Equal(t0.Add(150*time.Minute)) {
					t.Errorf("got %+v, want Upgrade from 16:00 to 16:30", m)
				}
			}},
		{"schedule error", operatorTok, "/console/maintenances", url.Values{"title": {"Upgrade"}, "starts": {"whenever"}, "ends": {"1h"}}, 400, "", nil},
		{"cancel", operatorTok, "/console/maintenances/10/cancel", nil, 303, "/console/maintenances", nil},
		{"cancel unknown", operatorTok, "/console/maintenances/99/cancel", nil, 404, "", nil},
		{"create token", adminTok, "/console/tokens", url.Values{"name": {"pager"}, "scope": {"agent"}}, 303, "/console/tokens", nil},
		{"create token error", adminTok, "/console/tokens", url.Values{"name": {"pager"}, "scope": {"god"}}, 400, "", nil},
		{"revoke token", adminTok, "/console/tokens/agent/revoke", nil, 303, "/console/tokens", nil},
		{"revoke unknown token", adminTok, "/console/tokens/nobody/revoke", nil, 404, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			status, page, res := f.signIn(t, tt.token).post(t, tt.path, tt.form)
			if status != tt.want || res.Header.Get("Location") != tt.wantLoc {
				t.Errorf("got %d to %q, want %d to %q\n%s", status, res.Header.Get("Location"), tt.want, tt.wantLoc, page)
			}
			if status >= 400 && !strings.Contains(page, `role="alert"`) {
				t.Errorf("got no error message on the page\n%s", page)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestConsoleTokenShownOnce(t *testing.T) {
	f := newFixture(t)
	b := f.signIn(t, adminTok)
	if status, _, _ := b.post(t, "/console/tokens", url.Values{"name": {"pager"}, "scope": {"agent"}}); status != http.StatusSeeOther {
		t.Fatalf("create: got %d", status)
	}
	_, page, _ := b.get(t, "/console/tokens")
	i := strings.Index(page, `id="newtoken" readonly value="us_`)
	if i < 0 {
		t.Fatalf("the new token is not shown\n%s", page)
	}
	raw := page[i+len(`id="newtoken" readonly value="`):]
	raw = raw[:strings.IndexByte(raw, '"')]
	if status, body, _ := f.api(t, "GET", "/admin/v1/whoami", raw, ""); status != 200 || !strings.Contains(body, "pager") {
		t.Errorf("the token shown does not work: %d %s", status, body)
	}
	if _, page, _ = b.get(t, "/console/tokens"); strings.Contains(page, raw) {
		t.Errorf("the token is shown a second time")
	}
}
