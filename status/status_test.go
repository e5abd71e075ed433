package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/providerstatus"
	"github.com/understudy/understudy/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// endpoints are every path served, with the golden file name.
var endpoints = []struct {
	path, golden, contentType string
}{
	{"/api/v2/summary.json", "summary.json", "application/json; charset=utf-8"},
	{"/api/v2/status.json", "status.json", "application/json; charset=utf-8"},
	{"/api/v2/components.json", "components.json", "application/json; charset=utf-8"},
	{"/api/v2/incidents.json", "incidents.json", "application/json; charset=utf-8"},
	{"/api/v2/incidents/unresolved.json", "incidents-unresolved.json", "application/json; charset=utf-8"},
	{"/api/v2/scheduled-maintenances.json", "scheduled-maintenances.json", "application/json; charset=utf-8"},
	{"/api/v2/scheduled-maintenances/upcoming.json", "scheduled-maintenances-upcoming.json", "application/json; charset=utf-8"},
	{"/api/v2/scheduled-maintenances/active.json", "scheduled-maintenances-active.json", "application/json; charset=utf-8"},
	{"/history.rss", "history.rss", "application/rss+xml; charset=utf-8"},
	{"/history.atom", "history.atom", "application/atom+xml; charset=utf-8"},
}

// get serves one request and returns the response.
func get(tb testing.TB, h http.Handler, method, path string) *http.Response {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func mustBody(tb testing.TB, res *http.Response) []byte {
	tb.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	for name, src := range scenarios() {
		h := mustHandler(t, src)
		for _, ep := range endpoints {
			t.Run(name+ep.path, func(t *testing.T) {
				res := get(t, h, http.MethodGet, ep.path)
				body := mustBody(t, res)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("got status %d, want 200: %s", res.StatusCode, body)
				}
				for k, want := range map[string]string{
					"Content-Type":                ep.contentType,
					"Access-Control-Allow-Origin": "*",
					"Cache-Control":               "max-age=5",
				} {
					if got := res.Header.Get(k); got != want {
						t.Errorf("got %s %q, want %q", k, got, want)
					}
				}
				if strings.HasSuffix(ep.path, ".json") {
					// Served compact; stored indented to read the diffs.
					var buf bytes.Buffer
					if err := json.Indent(&buf, body, "", "  "); err != nil {
						t.Fatalf("invalid JSON: %v", err)
					}
					body = buf.Bytes()
				}
				golden(t, filepath.Join(name, ep.golden), body)
			})
		}
	}
}

// TestProviderStatusClient reads our summary with our own Statuspage client
// (providerstatus), over HTTP, as it reads OpenAI's or Anthropic's.
func TestProviderStatusClient(t *testing.T) {
	tests := []struct {
		name         string
		indicator    string
		description  string
		components   []string // not operational
		incidents    []string
		maintenances []string // in progress or verifying
	}{
		{"operational", "none", "All Systems Operational", nil, nil, nil},
		{"incident", "major", "Partial System Outage",
			[]string{"assistant", "Provider anthropic", "Provider openai"}, []string{majorTitle}, []string{"Anthropic key rotation"}},
		{"maintenance", "maintenance", "Service Under Maintenance",
			[]string{"Provider anthropic"}, nil, []string{"Anthropic key rotation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(mustHandler(t, scenarios()[tt.name]))
			defer srv.Close()
			p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(now), Client: srv.Client()})
			if err := p.Watch("us", srv.URL+"/api/v2/summary.json"); err != nil {
				t.Fatal(err)
			}
			p.PollOnce(context.Background())
			rep, ok := p.Snapshot("us")
			if !ok || rep.LastError != nil {
				t.Fatalf("got snapshot %v, error %v; want a good poll", ok, rep.LastError)
			}
			if rep.Indicator != tt.indicator || rep.Description != tt.description {
				t.Errorf("got %q %q, want %q %q", rep.Indicator, rep.Description, tt.indicator, tt.description)
			}
			if rep.PageName != "Acme AI" || rep.PageURL != "https://status.acme.test" {
				t.Errorf("got page %q %q", rep.PageName, rep.PageURL)
			}
			names := func(n int, f func(int) string) []string {
				var out []string
				for i := range n {
					out = append(out, f(i))
				}
				return out
			}
			if got := names(len(rep.Components), func(i int) string { return rep.Components[i].Name }); !slices.Equal(got, tt.components) {
				t.Errorf("got components %q, want %q", got, tt.components)
			}
			if got := names(len(rep.Incidents), func(i int) string { return rep.Incidents[i].Name }); !slices.Equal(got, tt.incidents) {
				t.Errorf("got incidents %q, want %q", got, tt.incidents)
			}
			if got := names(len(rep.Maintenances), func(i int) string { return rep.Maintenances[i].Name }); !slices.Equal(got, tt.maintenances) {
				t.Errorf("got maintenances %q, want %q", got, tt.maintenances)
			}
		})
	}
}

// TestProviderStatusTypes decodes every list with providerstatus's types
// and checks the values that matter to a client.
func TestProviderStatusTypes(t *testing.T) {
	h := mustHandler(t, scenarios()["incident"])
	decode := func(t *testing.T, path string, v any) {
		t.Helper()
		dec := json.NewDecoder(get(t, h, http.MethodGet, path).Body)
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var sum providerstatus.Summary
	decode(t, "/api/v2/summary.json", &sum)

	var incs struct {
		Page      providerstatus.Page       `json:"page"`
		Incidents []providerstatus.Incident `json:"incidents"`
	}
	decode(t, "/api/v2/incidents.json", &incs)
	var maints struct {
		ScheduledMaintenances []providerstatus.Maintenance `json:"scheduled_maintenances"`
	}
	decode(t, "/api/v2/scheduled-maintenances.json", &maints)

	tests := []struct {
		name      string
		got, want any
	}{
		{"page id", sum.Page.ID, "us7x2k9q0abc"},
		{"page time zone", sum.Page.TimeZone, "Etc/UTC"},
		{"page updated", sum.Page.UpdatedAt, at("2026-11-23T14:40:00Z")},
		{"components", len(sum.Components), 5},
		{"route id", sum.Components[0].ID, "assistant"},
		{"hashed route id", strings.HasPrefix(sum.Components[2].ID, "team-assistant-v2-"), true},
		{"provider id", sum.Components[4].ID, "provider-openai"},
		{"position", sum.Components[4].Position, 5},
		{"group", sum.Components[0].Group || sum.Components[0].GroupID != nil, false},
		{"summary incidents", len(sum.Incidents), 1},
		{"incident id", sum.Incidents[0].ID, "7"},
		{"incident name", sum.Incidents[0].Name, majorTitle},
		{"incident status", sum.Incidents[0].Status, providerstatus.IncidentMonitoring},
		{"incident impact", sum.Incidents[0].Impact, providerstatus.ImpactMajor},
		{"monitoring at", sum.Incidents[0].MonitoringAt, at("2026-11-23T14:40:00Z")},
		{"resolved at (null)", sum.Incidents[0].ResolvedAt.IsZero(), true},
		{"started at", sum.Incidents[0].StartedAt, at("2026-11-23T14:01:00Z")},
		{"created at, milliseconds", sum.Incidents[0].CreatedAt, at("2026-11-23T14:03:12.345Z")},
		{"shortlink", sum.Incidents[0].Shortlink, "https://status.acme.test/incidents/7"},
		{"updates", len(sum.Incidents[0].IncidentUpdates), 3},
		{"newest update first", sum.Incidents[0].IncidentUpdates[0].Status, providerstatus.IncidentMonitoring},
		{"oldest update last", sum.Incidents[0].IncidentUpdates[2].Status, providerstatus.IncidentInvestigating},
		{"ETA in the body", strings.HasSuffix(sum.Incidents[0].IncidentUpdates[1].Body, "Estimated resolution: 2026-11-23 15:30 UTC."), true},
		{"incident components", len(sum.Incidents[0].Components), 2},
		{"summary maintenances (canceled and completed left out)", len(sum.ScheduledMaintenances), 2},
		{"active first", sum.ScheduledMaintenances[0].ID, "m2"},
		{"maintenance impact", sum.ScheduledMaintenances[0].Impact, providerstatus.ImpactMaintenance},
		{"maintenance status", sum.ScheduledMaintenances[0].Status, providerstatus.MaintenanceInProgress},
		{"scheduled for", sum.ScheduledMaintenances[0].ScheduledFor, at("2026-11-23T14:30:00Z")},
		{"maintenance component from its target", sum.ScheduledMaintenances[0].Components[0].Name, "Provider anthropic"},
		{"upcoming", sum.ScheduledMaintenances[1].Status, providerstatus.MaintenanceScheduled},
		{"incidents.json", len(incs.Incidents), 2},
		{"incidents.json newest first", incs.Incidents[0].ID + "," + incs.Incidents[1].ID, "7,5"},
		{"resolved at", incs.Incidents[1].ResolvedAt, at("2026-11-20T09:45:00Z")},
		{"scheduled-maintenances.json newest first", len(maints.ScheduledMaintenances), 3},
		{"history order", maints.ScheduledMaintenances[0].ID + "," + maints.ScheduledMaintenances[1].ID + "," + maints.ScheduledMaintenances[2].ID, "m3,m2,m1"},
		{"completed", maints.ScheduledMaintenances[2].Status, providerstatus.MaintenanceCompleted},
		{"completed resolved at", maints.ScheduledMaintenances[2].ResolvedAt, at("2026-11-21T03:02:00Z")},
		{"completed updates", len(maints.ScheduledMaintenances[2].IncidentUpdates), 4},
		{"scheduled body", maints.ScheduledMaintenances[2].IncidentUpdates[3].Body, maintBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// Statuspage's keys and enums, from its documentation and real pages
// (providerstatus/testdata): every object must have exactly these keys.
var (
	pageKeys      = []string{"id", "name", "url", "time_zone", "updated_at"}
	componentKeys = []string{"id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
		"start_date", "group_id", "page_id", "group", "only_show_if_degraded"}
	incidentKeys = []string{"id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
		"shortlink", "started_at", "page_id", "incident_updates", "components"}
	maintenanceKeys = append(slices.Clone(incidentKeys), "scheduled_for", "scheduled_until")
	updateKeys      = []string{"id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
		"affected_components", "deliver_notifications", "custom_tweet", "tweet_id"}
	affectedKeys = []string{"code", "name", "old_status", "new_status"}

	componentStatuses   = []string{"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
	incidentStatuses    = []string{"investigating", "identified", "monitoring", "resolved", "postmortem"}
	maintenanceStatuses = []string{"scheduled", "in_progress", "verifying", "completed"}
	impacts             = []string{"none", "minor", "major", "critical"}
	indicators          = []string{"none", "minor", "major", "critical", "maintenance"}
)

// shape checks one decoded object against Statuspage's format.
type shape struct {
	t *testing.T
}

func (s shape) keys(where string, obj any, want []string) map[string]any {
	s.t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		s.t.Fatalf("%s: got %T, want an object", where, obj)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(got, w) {
		s.t.Errorf("%s: got keys %q, want %q", where, got, w)
	}
	return m
}

func (s shape) enum(where string, v any, allowed []string) {
	s.t.Helper()
	str, ok := v.(string)
	if !ok || !slices.Contains(allowed, str) {
		s.t.Errorf("%s: got %v, want one of %q", where, v, allowed)
	}
}

func (s shape) time(where string, v any, nullable bool) {
	s.t.Helper()
	if v == nil && nullable {
		return
	}
	str, _ := v.(string)
	tm, err := time.Parse("2006-01-02T15:04:05.000Z", str)
	if err != nil || tm.IsZero() {
		s.t.Errorf("%s: got %v, want a UTC time with milliseconds", where, v)
	}
}

func (s shape) page(v any) {
	m := s.keys("page", v, pageKeys)
	s.time("page.updated_at", m["updated_at"], false)
}

func (s shape) components(where string, v any) {
	for i, c := range v.([]any) {
		w := fmt.Sprintf("%s[%d]", where, i)
		m := s.keys(w, c, componentKeys)
		s.enum(w+".status", m["status"], componentStatuses)
	}
}

func (s shape) incident(where string, v any, maintenance bool) {
	keys, statuses, imp := incidentKeys, incidentStatuses, impacts
	if maintenance {
		keys, statuses, imp = maintenanceKeys, maintenanceStatuses, []string{"maintenance"}
	}
	m := s.keys(where, v, keys)
	s.enum(where+".status", m["status"], statuses)
	s.enum(where+".impact", m["impact"], imp)
	for _, k := range []string{"created_at", "updated_at", "started_at"} {
		s.time(where+"."+k, m[k], false)
	}
	s.time(where+".monitoring_at", m["monitoring_at"], true)
	s.time(where+".resolved_at", m["resolved_at"], true)
	if maintenance {
		s.time(where+".scheduled_for", m["scheduled_for"], false)
		s.time(where+".scheduled_until", m["scheduled_until"], false)
	}
	s.components(where+".components", m["components"])
	for i, u := range m["incident_updates"].([]any) {
		w := fmt.Sprintf("%s.incident_updates[%d]", where, i)
		um := s.keys(w, u, updateKeys)
		s.enum(w+".status", um["status"], statuses)
		if um["incident_id"] != m["id"] {
			s.t.Errorf("%s.incident_id: got %v, want %v", w, um["incident_id"], m["id"])
		}
		if ac := um["affected_components"]; ac != nil {
			for j, a := range ac.([]any) {
				am := s.keys(fmt.Sprintf("%s.affected_components[%d]", w, j), a, affectedKeys)
				s.enum(w+".old_status", am["old_status"], componentStatuses)
				s.enum(w+".new_status", am["new_status"], componentStatuses)
			}
		}
	}
}

func TestStatuspageShape(t *testing.T) {
	for name, src := range scenarios() {
		h := mustHandler(t, src)
		for _, ep := range endpoints {
			if !strings.HasSuffix(ep.path, ".json") {
				continue
			}
			t.Run(name+ep.path, func(t *testing.T) {
				var doc map[string]any
				if err := json.Unmarshal(mustBody(t, get(t, h, http.MethodGet, ep.path)), &doc); err != nil {
					t.Fatal(err)
				}
				s := shape{t}
				s.page(doc["page"])
				for key, v := range doc {
					switch key {
					case "page":
					case "status":
						m := s.keys("status", v, []string{"indicator", "description"})
						s.enum("status.indicator", m["indicator"], indicators)
					case "components":
						s.components("components", v)
					case "incidents":
						for i, inc := range v.([]any) {
							s.incident(fmt.Sprintf("incidents[%d]", i), inc, false)
						}
					case "scheduled_maintenances":
						for i, m := range v.([]any) {
							s.incident(fmt.Sprintf("scheduled_maintenances[%d]", i), m, true)
						}
					default:
						t.Errorf("unexpected key %q", key)
					}
				}
			})
		}
	}
}

func TestMaintenanceLists(t *testing.T) {
	h := mustHandler(t, scenarios()["incident"])
	tests := []struct {
		path string
		want []string // ids
	}{
		{"/api/v2/scheduled-maintenances.json", []string{"m3", "m2", "m1"}},
		{"/api/v2/scheduled-maintenances/upcoming.json", []string{"m3"}},
		{"/api/v2/scheduled-maintenances/active.json", []string{"m2"}},
		{"/api/v2/summary.json", []string{"m2", "m3"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var doc struct {
				ScheduledMaintenances []struct{ ID string } `json:"scheduled_maintenances"`
			}
			if err := json.Unmarshal(mustBody(t, get(t, h, http.MethodGet, tt.path)), &doc); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range doc.ScheduledMaintenances {
				got = append(got, m.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h := mustHandler(t, scenarios()["operational"])
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantAllow          string
		wantBody           bool
	}{
		{"get", http.MethodGet, "/api/v2/status.json", 200, "", true},
		{"head", http.MethodHead, "/api/v2/status.json", 200, "", false},
		{"head feed", http.MethodHead, "/history.atom", 200, "", false},
		{"post", http.MethodPost, "/api/v2/summary.json", 405, "GET, HEAD", true},
		{"put feed", http.MethodPut, "/history.rss", 405, "GET, HEAD", true},
		{"options", http.MethodOptions, "/api/v2/components.json", 405, "GET, HEAD", true},
		{"unknown path", http.MethodGet, "/api/v2/nope.json", 404, "", true},
		{"no trailing match", http.MethodGet, "/api/v2/summary.json/x", 404, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A real server: HEAD bodies are dropped as on the wire.
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := mustBody(t, res)
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("got status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("got Allow %q, want %q", got, tt.wantAllow)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("got Access-Control-Allow-Origin %q, want *", got)
			}
			if (len(body) > 0) != tt.wantBody {
				t.Errorf("got body %q, want a body: %v", body, tt.wantBody)
			}
			if tt.wantStatus != 200 && !json.Valid(body) {
				t.Errorf("got error body %q, want JSON", body)
			}
		})
	}
}

// TestSourceError: a failing source is logged with its cause and shown as
// a generic, uncached 500; an application error keeps its status.
func TestSourceError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantMsg    string
		wantLogged bool
	}{
		{"internal", errBroken, 500, "internal error", true},
		{"application", understudy.Errorf(understudy.EUNAVAILABLE, "store is starting"), 503, "store is starting", false},
	}
	for _, tt := range tests {
		for _, ep := range endpoints {
			t.Run(tt.name+ep.path, func(t *testing.T) {
				var logs bytes.Buffer
				h := status.New(status.Options{
					Source: &fakeSource{err: tt.err}, Clock: clockwork.NewFakeClockAt(now),
					Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				})
				res := get(t, h, http.MethodGet, ep.path)
				body := mustBody(t, res)
				if res.StatusCode != tt.wantStatus {
					t.Errorf("got status %d, want %d", res.StatusCode, tt.wantStatus)
				}
				if got := res.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("got Cache-Control %q, want no-store", got)
				}
				var e struct {
					Error struct{ Message, Code string }
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Message != tt.wantMsg {
					t.Errorf("got body %s, want message %q", body, tt.wantMsg)
				}
				if strings.Contains(string(body), errBroken.Error()) {
					t.Errorf("the cause leaked to the client: %s", body)
				}
				if logged := strings.Contains(logs.String(), errBroken.Error()); logged != tt.wantLogged {
					t.Errorf("got logged %v, want %v: %s", logged, tt.wantLogged, logs.String())
				}
			})
		}
	}
}

// TestLimits: incidents.json and the feeds hold the 50 most recent.
func TestLimits(t *testing.T) {
	src := &fakeSource{comps: components(understudy.ComponentOperational, understudy.ComponentOperational, understudy.ComponentOperational)}
	for i := range 60 {
		start := now.Add(-time.Duration(60-i) * time.Hour)
		src.incidents = append(src.incidents, understudy.Incident{
			ID: int64(i + 1), Title: fmt.Sprintf("Incident %d", i+1), Status: understudy.IncidentResolved,
			Severity: understudy.SeverityMinor, StartedAt: start, DetectedAt: start, UpdatedAt: start, ResolvedAt: start,
		})
	}
	h := mustHandler(t, src)
	var incs struct{ Incidents []struct{ ID string } }
	if err := json.Unmarshal(mustBody(t, get(t, h, http.MethodGet, "/api/v2/incidents.json")), &incs); err != nil {
		t.Fatal(err)
	}
	if len(incs.Incidents) != 50 || incs.Incidents[0].ID != "60" || incs.Incidents[49].ID != "11" {
		t.Errorf("got %d incidents, first %v; want 50, 60 to 11", len(incs.Incidents), incs.Incidents[:1])
	}
	feed := mustAtom(t, mustBody(t, get(t, h, http.MethodGet, "/history.atom")))
	if len(feed.Entries) != 50 || !strings.HasSuffix(feed.Entries[0].ID, "Incident/60") {
		t.Errorf("got %d entries, want 50, newest first", len(feed.Entries))
	}
}
