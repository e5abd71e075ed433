package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
)

func TestAPI(t *testing.T) {
	type check func(t *testing.T, f *fixture, body string)
	tests := []struct {
		name, method, path, token, body string
		want                            int
		wantBody                        []string // substrings of the body
		check                           check
	}{
		{name: "whoami", method: "GET", path: "/admin/v1/whoami", token: operatorTok, want: 200,
			wantBody: []string{`{"name":"operator","scope":"operator"}`}},
		{name: "whoami bootstrap", method: "GET", path: "/admin/v1/whoami", token: bootstrapTok, want: 200,
			wantBody: []string{`{"name":"bootstrap","scope":"admin"}`}},
		{name: "bearer scheme any case", method: "GET", path: "/admin/v1/whoami", token: "", want: 401,
			wantBody: []string{"missing token"}},

		{name: "list incidents", method: "GET", path: "/admin/v1/incidents", token: agentTok, want: 200,
			check: func(t *testing.T, f *fixture, body string) {
				got := decode[admin.IncidentsJSON](t, body)
				if len(got.Incidents) != 3 || got.Incidents[0].ID != 3 {
					t.Errorf("got %+v, want incidents 3, 2, 1", got.Incidents)
				}
			}},
		{name: "list open", method: "GET", path: "/admin/v1/incidents?open=true&component=provider:openai&limit=5", token: agentTok, want: 200,
			check: func(t *testing.T, f *fixture, body string) {
				got := decode[admin.IncidentsJSON](t, body)
				if len(got.Incidents) != 1 || got.Incidents[0].ID != 1 {
					t.Errorf("got %+v, want incident 1 only", got.Incidents)
				}
			}},
		{name: "list bad open", method: "GET", path: "/admin/v1/incidents?open=maybe", token: agentTok, want: 400,
			wantBody: []string{`open: \"maybe\" is not true or false`, `"code":"invalid"`}},
		{name: "list bad limit", method: "GET", path: "/admin/v1/incidents?limit=lots", token: agentTok, want: 400,
			wantBody: []string{"limit"}},

		{name: "show incident", method: "GET", path: "/admin/v1/incidents/1", token: agentTok, want: 200,
			wantBody: []string{`"started_at":"2026-03-01T13:40:00Z"`, `"server_error":42`, `"first_bad":"2026-03-01T13:40:00Z"`},
			check: func(t *testing.T, f *fixture, body string) {
				got := decode[admin.IncidentJSON](t, body)
				if len(got.Updates) != 1 || len(got.Timeline) != 1 || got.Timeline[0].Author != "understudy" {
					t.Errorf("got updates %+v timeline %+v, want one of each", got.Updates, got.Timeline)
				}
				if strings.Contains(body, "resolved_at") {
					t.Errorf("got resolved_at in %s, want it omitted while open", body)
				}
			}},
		{name: "show unknown", method: "GET", path: "/admin/v1/incidents/99", token: agentTok, want: 404,
			wantBody: []string{`{"error":{"message":"no incident #99","code":"not_found"}}`}},
		{name: "show not a number", method: "GET", path: "/admin/v1/incidents/abc", token: agentTok, want: 400,
			wantBody: []string{`incident id \"abc\" is not a positive number`}},

		{name: "create", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 201,
			body:     `{"title":"Groq down","severity":"critical","cause":"technical","components":["provider:groq","assistant"],"message":"Investigating.","eta":"2026-03-01T15:00:00Z"}`,
			wantBody: []string{`"id":11`, `"components":["assistant","provider:groq"]`, `"eta":"2026-03-01T15:00:00Z"`, `"status":"investigating"`},
			check: func(t *testing.T, f *fixture, body string) {
				inc, err := f.svc.Incident(context.Background(), 11)
				if err != nil || inc.Updates[0].Author != "operator" {
					t.Errorf("got %+v %v, want an update by operator", inc, err)
				}
			}},
		{name: "create bad JSON", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: "{\n  \"title\": \"x\",\n  \"severity\": }", wantBody: []string{"invalid JSON at line 3, column 15 (offset 32)"}},
		{name: "create truncated JSON", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title": "x"`, wantBody: []string{"unexpected end of input", "line 1"}},
		{name: "create unknown field", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"titel":"x"}`, wantBody: []string{`unknown field \"titel\"`}},
		{name: "create wrong type", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title":5}`, wantBody: []string{`field \"title\" at line 1, column 10 (offset 9): want a string, got number`}},
		{name: "create bad severity", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title":"x","severity":"huge","message":"m"}`, wantBody: []string{`severity: \"huge\" is not one of minor, major, critical`}},
		{name: "create bad cause", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title":"x","severity":"minor","cause":"gremlins","message":"m"}`, wantBody: []string{`cause: \"gremlins\" is not one of technical, overload, maintenance, quota, misconfiguration, unknown`}},
		{name: "create bad status", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title":"x","severity":"minor","status":"panicking","message":"m"}`, wantBody: []string{`status: \"panicking\" is not one of investigating, identified, monitoring, resolved`}},
		{name: "create bad eta", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title":"x","severity":"minor","message":"m","eta":"soon"}`, wantBody: []string{`eta: \"soon\" is not an RFC 3339 time`}},
		{name: "create missing title", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"severity":"minor","message":"m"}`, wantBody: []string{"title is required"}},
		{name: "create empty body", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			wantBody: []string{"the request body is empty"}},
		{name: "create trailing data", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 400,
			body: `{"title":"x"} {}`, wantBody: []string{"unexpected data after the object at line 1, column 15 (offset 14)"}},
		{name: "create too large", method: "POST", path: "/admin/v1/incidents", token: operatorTok, want: 413,
			body: `{"title":"` + strings.Repeat("x", 1<<20) + `"}`, wantBody: []string{`"code":"too_large"`}},
		{name: "create as agent", method: "POST", path: "/admin/v1/incidents", token: agentTok, want: 403,
			body: `{"title":"x"}`, wantBody: []string{"this needs operator scope"}},

		{name: "update", method: "POST", path: "/admin/v1/incidents/1/updates", token: operatorTok, want: 200,
			body:     `{"message":"Fix deployed.","status":"monitoring","severity":"minor","eta":"2026-03-01T14:30:00Z","components":["assistant"],"title":"OpenAI 500s"}`,
			wantBody: []string{`"status":"monitoring"`, `"severity":"minor"`, `"eta":"2026-03-01T14:30:00Z"`, `"title":"OpenAI 500s"`, `"components":["assistant"]`}},
		{name: "update clears eta", method: "POST", path: "/admin/v1/incidents/1/updates", token: operatorTok, want: 200,
			body: `{"message":"No ETA yet.","eta":null}`,
			check: func(t *testing.T, f *fixture, body string) {
				if strings.Contains(body, `"eta"`) {
					t.Errorf("got %s, want no eta", body)
				}
			}},
		{name: "update bad eta", method: "POST", path: "/admin/v1/incidents/1/updates", token: operatorTok, want: 400,
			body: `{"message":"m","eta":30}`, wantBody: []string{"eta: want an RFC 3339 string or null, got 30"}},
		{name: "update bad status", method: "POST", path: "/admin/v1/incidents/1/updates", token: operatorTok, want: 400,
			body: `{"message":"m","status":"done"}`, wantBody: []string{`status: \"done\" is not one of`}},
		{name: "update unknown", method: "POST", path: "/admin/v1/incidents/99/updates", token: operatorTok, want: 404,
			body: `{"message":"m"}`, wantBody: []string{"no incident #99"}},
		{name: "update resolved", method: "POST", path: "/admin/v1/incidents/2/updates", token: operatorTok, want: 409,
			body: `{"message":"m"}`, wantBody: []string{`"code":"conflict"`, "reopen it first"}},

		{name: "resolve", method: "POST", path: "/admin/v1/incidents/3/resolve", token: operatorTok, want: 200,
			wantBody: []string{`"status":"resolved"`, `"resolved_at":"2026-03-01T14:00:00Z"`}},
		{name: "resolve with message", method: "POST", path: "/admin/v1/incidents/1/resolve", token: operatorTok, want: 200,
			body: `{"message":"All good."}`, wantBody: []string{`"message":"All good."`}},
		{name: "resolve resolved", method: "POST", path: "/admin/v1/incidents/2/resolve", token: operatorTok, want: 409,
			wantBody: []string{"already resolved"}},
		{name: "reopen", method: "POST", path: "/admin/v1/incidents/2/reopen", token: operatorTok, want: 200,
			body: `{"message":"Back again."}`, wantBody: []string{`"status":"investigating"`}},
		{name: "reopen open", method: "POST", path: "/admin/v1/incidents/1/reopen", token: operatorTok, want: 409,
			wantBody: []string{"is open"}},

		{name: "merge", method: "POST", path: "/admin/v1/incidents/3/merge", token: operatorTok, want: 200,
			body: `{"into":1}`, wantBody: []string{`"id":1`, `"components":["assistant","provider:openai"]`},
			check: func(t *testing.T, f *fixture, body string) {
				inc, _ := f.svc.Incident(context.Background(), 3)
				if inc.MergedInto != 1 || inc.Status != understudy.IncidentResolved {
					t.Errorf("got #3 %s merged into %d, want resolved into 1", inc.Status, inc.MergedInto)
				}
			}},
		{name: "merge into resolved", method: "POST", path: "/admin/v1/incidents/1/merge", token: operatorTok, want: 409,
			body: `{"into":2}`, wantBody: []string{"#2 is resolved"}},
		{name: "merge into unknown", method: "POST", path: "/admin/v1/incidents/1/merge", token: operatorTok, want: 404,
			body: `{"into":99}`},
		{name: "merge into nothing", method: "POST", path: "/admin/v1/incidents/1/merge", token: operatorTok, want: 400,
			body: `{}`, wantBody: []string{"into: want the id"}},
		{name: "merge into text", method: "POST", path: "/admin/v1/incidents/1/merge", token: operatorTok, want: 400,
			body: `{"into":"two"}`, wantBody: []string{`field \"into\"`, "want a number, got string"}},

		{name: "maintenances", method: "GET", path: "/admin/v1/maintenances?active=true", token: agentTok, want: 200,
			wantBody: []string{`"id":10`, `"starts_at":"2026-03-01T15:00:00Z"`, `"targets":["openai/gpt-4o-mini"]`}},
		{name: "maintenances bad active", method: "GET", path: "/admin/v1/maintenances?active=2", token: agentTok, want: 400},
		{name: "schedule", method: "POST", path: "/admin/v1/maintenances", token: operatorTok, want: 201,
			body:     `{"title":"Upgrade","message":"Moving.","components":["assistant"],"targets":["local/llama"],"starts_at":"2026-03-02T10:00:00Z","ends_at":"2026-03-02T12:00:00+01:00"}`,
			wantBody: []string{`"status":"scheduled"`, `"author":"operator"`, `"ends_at":"2026-03-02T12:00:00+01:00"`}},
		{name: "schedule bad start", method: "POST", path: "/admin/v1/maintenances", token: operatorTok, want: 400,
			body: `{"title":"Upgrade","starts_at":"tomorrow","ends_at":"2026-03-02T11:00:00Z"}`, wantBody: []string{`starts_at: \"tomorrow\"`}},
		{name: "schedule no end", method: "POST", path: "/admin/v1/maintenances", token: operatorTok, want: 400,
			body: `{"title":"Upgrade","starts_at":"2026-03-02T11:00:00Z"}`, wantBody: []string{"ends_at is required"}},
		{name: "cancel", method: "POST", path: "/admin/v1/maintenances/10/cancel", token: operatorTok, want: 200,
			wantBody: []string{`"status":"canceled"`}},
		{name: "cancel unknown", method: "POST", path: "/admin/v1/maintenances/99/cancel", token: operatorTok, want: 404},
		{name: "cancel not a number", method: "POST", path: "/admin/v1/maintenances/x/cancel", token: operatorTok, want: 400,
			wantBody: []string{`maintenance id \"x\"`}},

		{name: "components", method: "GET", path: "/admin/v1/components", token: agentTok, want: 200,
			wantBody: []string{`{"name":"assistant","kind":"route","status":"partial_outage","since":"2026-03-01T13:42:00Z","incident":1,"reason":"incident #1"}`}},
		{name: "slos", method: "GET", path: "/admin/v1/slos", token: agentTok, want: 200,
			wantBody: []string{`"budget_remaining":0.62`, `"latency_budget_remaining":0.9`, `"latency":"6s"`, `"period":"720h0m0s"`,
				`"burn":{"fast":15.2,"medium":7,"slow":1.1}`, `"window":"fast"`, `"severity":"page"`, `fast availability burn: 15.2×`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			status, body, _ := f.api(t, tt.method, tt.path, tt.token, tt.body)
			if status != tt.want {
				t.Errorf("got %d %s, want %d", status, body, tt.want)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("got body %s, want it to contain %s", body, w)
				}
			}
			if tt.check != nil {
				tt.check(t, f, body)
			}
		})
	}
}

func TestAPITokens(t *testing.T) {
	f := newFixture(t)
	status, body, _ := f.api(t, "POST", "/admin/v1/tokens", adminTok, `{"name":"ci-bot","scope":"operator"}`)
	if status != http.StatusCreated {
		t.Fatalf("create: got %d %s, want 201", status, body)
	}
	created := decode[admin.TokenJSON](t, body)
	if !strings.HasPrefix(created.Token, "us_") || len(created.Token) != 3+43 || created.Scope != "operator" {
		t.Fatalf("create: got %+v, want a us_ token of 32 bytes in base64url with operator scope", created)
	}
	if status, body, _ := f.api(t, "GET", "/admin/v1/whoami", created.Token, ""); status != 200 || !strings.Contains(body, `"name":"ci-bot"`) {
		t.Errorf("whoami with the new token: got %d %s, want ci-bot", status, body)
	}
	status, body, _ = f.api(t, "GET", "/admin/v1/tokens", adminTok, "")
	if status != 200 || strings.Contains(body, created.Token) || strings.Contains(body, `"token"`) || !strings.Contains(body, `"name":"ci-bot","scope":"operator"`) {
		t.Errorf("list: got %d %s, want ci-bot listed without any secret", status, body)
	}

	errs := []struct {
		name, method, path, body string
		want                     int
		wantBody                 string
	}{
		{"duplicate", "POST", "/admin/v1/tokens", `{"name":"ci-bot","scope":"agent"}`, 409, `a token called \"ci-bot\" already exists`},
		{"bad scope", "POST", "/admin/v1/tokens", `{"name":"x","scope":"root"}`, 400, `scope: \"root\" is not one of admin, operator, agent`},
		{"bad name", "POST", "/admin/v1/tokens", `{"name":"Bad Name","scope":"agent"}`, 400, `name: \"Bad Name\"`},
		{"reserved name", "POST", "/admin/v1/tokens", `{"name":"bootstrap","scope":"agent"}`, 400, "reserved"},
		{"revoke unknown", "DELETE", "/admin/v1/tokens/nobody", "", 404, `no token called \"nobody\"`},
		{"revoke bootstrap", "DELETE", "/admin/v1/tokens/bootstrap", "", 400, "UNDERSTUDY_ADMIN_TOKEN"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := f.api(t, tt.method, tt.path, adminTok, tt.body)
			if status != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %s, want %d with %s", status, body, tt.want, tt.wantBody)
			}
		})
	}

	status, body, _ = f.api(t, "DELETE", "/admin/v1/tokens/ci-bot", adminTok, "")
	if status != 200 || !strings.Contains(body, `"revoked_at":"2026-03-01T14:00:00Z"`) {
		t.Errorf("revoke: got %d %s, want revoked_at", status, body)
	}
	if status, body, _ := f.api(t, "GET", "/admin/v1/whoami", created.Token, ""); status != http.StatusUnauthorized {
		t.Errorf("whoami after revoke: got %d %s, want 401", status, body)
	}
}

func TestAPIInternalError(t *testing.T) {
	f := newFixture(t)
	f.svc.Err = errors.New("database is on fire at 10.0.0.7")
	status, body, _ := f.api(t, "GET", "/admin/v1/incidents", agentTok, "")
	if status != 500 || body != `{"error":{"message":"internal error","code":"internal"}}`+"\n" {
		t.Errorf("got %d %s, want 500 internal error", status, body)
	}
	if !strings.Contains(f.log.String(), "database is on fire") {
		t.Errorf("got log %q, want the internal error logged", f.log.String())
	}
}

// notFoundTokens answers every lookup with an error admin cannot know.
type notFoundTokens struct{ tokenStore }

// tokenStore lets fakes embed admin.Tokens (a field named Tokens would hide
// the method).
type tokenStore = admin.Tokens

var errGone = errors.New("no rows, in a store's own words")

func (notFoundTokens) TokenByHash(context.Context, [32]byte) (understudy.Token, error) {
	return understudy.Token{}, errGone
}

func TestIsNotFoundOption(t *testing.T) {
	tests := []struct {
		name       string
		isNotFound func(error) bool
		want       int
	}{
		{"option given", func(err error) bool { return errors.Is(err, errGone) }, http.StatusUnauthorized},
		{"default sentinel does not match", nil, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *admin.Options) {
				o.Tokens = notFoundTokens{o.Tokens}
				o.IsNotFound = tt.isNotFound
			})
			if status, body, _ := f.api(t, "GET", "/admin/v1/whoami", agentTok, ""); status != tt.want {
				t.Errorf("got %d %s, want %d", status, body, tt.want)
			}
		})
	}
}

func TestNoTokenStore(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.Tokens = nil })
	if status, body, _ := f.api(t, "GET", "/admin/v1/whoami", agentTok, ""); status != http.StatusUnauthorized {
		t.Errorf("stored token: got %d %s, want 401", status, body)
	}
	if status, body, _ := f.api(t, "GET", "/admin/v1/tokens", bootstrapTok, ""); status != http.StatusServiceUnavailable {
		t.Errorf("tokens: got %d %s, want 503", status, body)
	}
}

func TestTouchThrottled(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 1},                // first use
		{30 * time.Second, 1}, // within the minute
		{29 * time.Second, 1}, // 59s after the first
		{time.Second, 2},      // a minute after
		{10 * time.Second, 2},
		{time.Hour, 3},
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		if status, _, _ := f.api(t, "GET", "/admin/v1/whoami", agentTok, ""); status != 200 {
			t.Fatalf("step %d: got %d", i, status)
		}
		_ = f.h.Close() // waits for the touch, if one started
		if got := f.tokens.Touches("agent"); got != s.want {
			t.Errorf("step %d: got %d touches, want %d", i, got, s.want)
		}
	}
	toks, _ := f.tokens.Tokens(context.Background())
	for _, tok := range toks {
		if tok.Name == "agent" && !tok.LastUsed.Equal(t0.Add(time.Minute+10*time.Second+time.Hour)) {
			t.Errorf("got last used %v, want the last touch's time", tok.LastUsed)
		}
	}
}

// slowTokens blocks TouchToken until release is closed.
type slowTokens struct {
	tokenStore
	release chan struct{}
}

func (s slowTokens) TouchToken(ctx context.Context, name string, at time.Time) error {
	select {
	case <-s.release:
		return s.tokenStore.TouchToken(ctx, name, at)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestSlowTouchDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(o *admin.Options) { o.Tokens = slowTokens{o.Tokens, release} })
	if status, body, _ := f.api(t, "GET", "/admin/v1/whoami", agentTok, ""); status != 200 {
		t.Errorf("got %d %s while the touch is stuck, want 200", status, body)
	}
	close(release)
	_ = f.h.Close()
	if got := f.tokens.Touches("agent"); got != 1 {
		t.Errorf("got %d touches, want 1", got)
	}
}
