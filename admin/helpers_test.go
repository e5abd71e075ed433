package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/admin/admintest"
	"github.com/understudy/understudy/slo"
)

// Raw tokens of the fixture, one per scope, plus a revoked admin one.
const (
	adminTok     = "us_admin-token-secret"
	operatorTok  = "us_operator-token-secret"
	agentTok     = "us_agent-token-secret"
	revokedTok   = "us_revoked-token-secret"
	bootstrapTok = "us_bootstrap-token-secret"
)

var t0 = time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	clock  *clockwork.FakeClock
	svc    *admintest.Service
	tokens *admintest.Tokens
	h      *admin.Handler
	srv    *httptest.Server
	log    *syncBuffer
}

type fixtureOption func(*admin.Options)

// newFixture serves a handler over a seeded service: incident 1 open with
// evidence, incident 2 resolved, incident 3 open; maintenance 10 scheduled.
func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{clock: clockwork.NewFakeClockAt(t0), svc: admintest.NewService(), tokens: admintest.NewTokens(), log: &syncBuffer{}}
	f.svc.Now = f.clock.Now
	f.tokens.Add("admin", understudy.ScopeAdmin, adminTok)
	f.tokens.Add("operator", understudy.ScopeOperator, operatorTok)
	f.tokens.Add("agent", understudy.ScopeAgent, agentTok)
	f.tokens.Add("revoked", understudy.ScopeAdmin, revokedTok)
	if err := f.tokens.RevokeToken(context.Background(), "revoked", t0); err != nil {
		t.Fatal(err)
	}
	seed(f.svc)
	o := admin.Options{Service: f.svc, Tokens: f.tokens, Clock: f.clock, BootstrapToken: bootstrapTok,
		Logger: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, opt := range opts {
		opt(&o)
	}
	h, err := admin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		f.srv.Close()
		_ = h.Close()
		for _, raw := range []string{adminTok, operatorTok, agentTok, revokedTok, bootstrapTok} {
			if strings.Contains(f.log.String(), raw) {
				t.Errorf("the log holds the raw token %q:\n%s", raw, f.log.String())
			}
		}
	})
	return f
}

func seed(s *admintest.Service) {
	s.AddIncident(understudy.Incident{ID: 1, Title: "OpenAI errors", Status: understudy.IncidentIdentified,
		Severity: understudy.SeverityMajor, Cause: understudy.CauseTechnical, Components: []string{"assistant", "provider:openai"},
		Detector: "target_down", StartedAt: t0.Add(-20 * time.Minute), DetectedAt: t0.Add(-18 * time.Minute),
		ETA: t0.Add(time.Hour),
		Evidence: understudy.Evidence{Classes: map[understudy.Class]int64{understudy.ClassServer: 42, understudy.ClassTimeout: 3},
			Routes: []string{"assistant"}, Targets: []string{"openai/gpt-4o-mini"}, FirstBad: t0.Add(-20 * time.Minute),
			Samples: []string{"HTTP 500: upstream exploded"}, Signals: []string{"route assistant: 42% of 50 requests failed over 30s"},
			Provider: []string{"provider reports: elevated error rates since 13:40 (investigating)"}},
		Updates: []understudy.IncidentUpdate{{ID: 100, IncidentID: 1, Status: understudy.IncidentInvestigating,
			Severity: understudy.SeverityMajor, Message: "We are looking into errors.", Author: "understudy", CreatedAt: t0.Add(-18 * time.Minute)}}})
	s.AddEvent(1, understudy.Event{Time: t0.Add(-18 * time.Minute), Type: understudy.EventIncidentOpened, Author: "understudy", Message: "opened by target_down"})
	s.AddIncident(understudy.Incident{ID: 2, Title: "Anthropic overload", Status: understudy.IncidentResolved,
		Severity: understudy.SeverityMinor, Cause: understudy.CauseOverload, Components: []string{"provider:anthropic"},
		StartedAt: t0.Add(-48 * time.Hour), ResolvedAt: t0.Add(-47 * time.Hour)})
	s.AddIncident(understudy.Incident{ID: 3, Title: "Slow answers", Status: understudy.IncidentInvestigating,
		Severity: understudy.SeverityMinor, Cause: understudy.CauseOverload, Components: []string{"assistant"}, StartedAt: t0.Add(-5 * time.Minute)})
	s.AddMaintenance(understudy.Maintenance{ID: 10, Title: "Key rotation", Message: "Rotating keys.", Status: understudy.MaintenanceScheduled,
		Components: []string{"provider:openai"}, Targets: []string{"openai/gpt-4o-mini"}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)})
	s.SetComponents([]understudy.Component{
		{Name: "assistant", Kind: "route", Status: understudy.ComponentPartialOutage, Since: t0.Add(-18 * time.Minute), Incident: 1, Reason: "incident #1"},
		{Name: "provider:openai", Kind: "provider", Status: understudy.ComponentMajorOutage, Since: t0.Add(-18 * time.Minute), Incident: 1},
		{Name: "provider:anthropic", Kind: "provider", Status: understudy.ComponentOperational},
	})
	s.SetSLOs([]admin.SLO{{Route: "assistant",
		Objective: slo.Objective{Availability: 0.999, Latency: 6 * time.Second, LatencyTarget: 0.95},
		Status: slo.Status{Route: "assistant", BudgetRemaining: 0.62, LatencyBudgetRemaining: 0.9,
			Burn:   map[string]float64{"fast": 15.2, "medium": 7, "slow": 1.1},
			Alerts: []slo.Alert{{Window: slo.Workbook[0], SLI: "availability", LongBurn: 15.2, ShortBurn: 20}}}}})
}

// noRedirect is a client that returns redirects as they are.
func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// api sends an API request with token (none when empty) and returns the
// status, the body and the response.
func (f *fixture) api(t *testing.T, method, path, token, body string) (int, string, *http.Response) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := noRedirect(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res
}

// decode unmarshals body into a new T.
func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return v
}

// browser is a console user: a cookie jar and the session's CSRF token.
type browser struct {
	f    *fixture
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *fixture) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{f: f, c: noRedirect(jar)}
}

// signIn signs in with token through the form and returns the browser.
func (f *fixture) signIn(t *testing.T, token string) *browser {
	t.Helper()
	b := f.browser(t)
	status, _, res := b.post(t, "/console/signin", url.Values{"token": {token}, "csrf": {b.signinCSRF(t)}})
	if status != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("sign in: got %d to %q, want 303 to /console/", status, res.Header.Get("Location"))
	}
	_, page, _ := b.get(t, "/console/")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the home page:\n%s", page)
	}
	b.csrf = m[1]
	return b
}

// signinCSRF loads the sign-in form and returns its CSRF token.
func (b *browser) signinCSRF(t *testing.T) string {
	t.Helper()
	_, page, _ := b.get(t, "/console/signin")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the sign-in page:\n%s", page)
	}
	return m[1]
}

func (b *browser) get(t *testing.T, path string) (int, string, *http.Response) {
	t.Helper()
	return b.do(t, http.MethodGet, path, nil)
}

// post sends a form; the session's CSRF token is added unless form has one.
func (b *browser) post(t *testing.T, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	return b.do(t, http.MethodPost, path, form)
}

func (b *browser) do(t *testing.T, method, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	var r io.Reader
	if form != nil {
		r = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		// An event stream lasts as long as the request: closing the body
		// ends it. Tests that read streams use (*browser).events.
		return res.StatusCode, "", res
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body), res
}

// tokenFor is the fixture's raw token of exactly scope s.
func tokenFor(s understudy.Scope) string {
	switch s {
	case understudy.ScopeAdmin:
		return adminTok
	case understudy.ScopeOperator:
		return operatorTok
	}
	return agentTok
}
