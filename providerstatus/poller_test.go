package providerstatus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy/providerstatus"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// t0 is 14:40 UTC on the day of the incident fixture.
var t0 = time.Date(2026, 11, 23, 14, 40, 0, 0, time.UTC)

func MustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fakePage serves a swappable status and body at /api/v2/summary.json and
// counts hits.
type fakePage struct {
	srv  *httptest.Server
	body atomic.Pointer[[]byte]
	code atomic.Int32
	hits atomic.Int32
}

// MustServe starts a fakePage serving body with 200.
func MustServe(tb testing.TB, body []byte) *fakePage {
	tb.Helper()
	fp := &fakePage{}
	fp.Set(http.StatusOK, body)
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp.hits.Add(1)
		if r.URL.Path != "/api/v2/summary.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(fp.code.Load()))
		_, _ = w.Write(*fp.body.Load())
	}))
	tb.Cleanup(fp.srv.Close)
	return fp
}

func (fp *fakePage) Set(code int, body []byte) {
	fp.code.Store(int32(code))
	fp.body.Store(&body)
}

func (fp *fakePage) URL() string { return fp.srv.URL + "/api/v2/summary.json" }

func MustWatch(tb testing.TB, p *providerstatus.Poller, name, u string) {
	tb.Helper()
	if err := p.Watch(name, u); err != nil {
		tb.Fatal(err)
	}
}

func TestParseGolden(t *testing.T) {
	tests := []struct {
		name          string
		fixture       string
		wantIndicator string
		wantComps     int
		wantIncidents int
		wantMaint     int
	}{
		{name: "all operational", fixture: "operational", wantIndicator: "none"},
		{name: "active incident with updates", fixture: "incident", wantIndicator: "major", wantComps: 4, wantIncidents: 2},
		{name: "maintenance in progress", fixture: "maintenance", wantIndicator: "maintenance", wantComps: 1, wantMaint: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := MustServe(t, MustReadFile(t, tt.fixture+".json"))
			p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
			MustWatch(t, p, "prov", fp.URL())
			p.PollOnce(t.Context())
			r, ok := p.Snapshot("prov")
			if !ok {
				t.Fatal("got no snapshot, want one")
			}
			if r.LastError != nil {
				t.Fatalf("got error %v, want none", r.LastError)
			}
			if r.Indicator != tt.wantIndicator || len(r.Components) != tt.wantComps || len(r.Incidents) != tt.wantIncidents || len(r.Maintenances) != tt.wantMaint {
				t.Errorf("got indicator %q, %d components, %d incidents, %d maintenances; want %q, %d, %d, %d",
					r.Indicator, len(r.Components), len(r.Incidents), len(r.Maintenances),
					tt.wantIndicator, tt.wantComps, tt.wantIncidents, tt.wantMaint)
			}
			if !r.PolledAt.Equal(t0) || !r.AttemptedAt.Equal(t0) {
				t.Errorf("got polled %v attempted %v, want %v", r.PolledAt, r.AttemptedAt, t0)
			}

			r.SourceURL = "http://status.test/api/v2/summary.json" // port varies
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", tt.fixture+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := MustReadFile(t, tt.fixture+".golden")
			if !bytes.Equal(got, want) {
				t.Errorf("got report\n%s\nwant (%s)\n%s", got, golden, want)
			}
		})
	}
}

func TestIncidentDetails(t *testing.T) {
	fp := MustServe(t, MustReadFile(t, "incident.json"))
	p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
	MustWatch(t, p, "openai", fp.URL())
	p.PollOnce(t.Context())
	r, _ := p.Snapshot("openai")
	if len(r.Incidents) == 0 {
		t.Fatal("got no incidents, want 2")
	}
	inc := r.Incidents[0]
	wantStarted := time.Date(2026, 11, 23, 14, 2, 17, 323e6, time.UTC)
	wantLatestAt := time.Date(2026, 11, 23, 14, 31, 8, 489e6, time.UTC)
	if !inc.Started.Equal(wantStarted) {
		t.Errorf("got started %v, want %v", inc.Started, wantStarted)
	}
	if !inc.LatestAt.Equal(wantLatestAt) || !strings.HasPrefix(inc.Latest, "We are seeing elevated 5xx") {
		t.Errorf("got latest %v %q, want %v and the newest body", inc.LatestAt, inc.Latest, wantLatestAt)
	}
	if got, want := strings.Join(inc.Components, ","), "Chat Completions,Responses"; got != want {
		t.Errorf("got components %q, want %q", got, want)
	}
	if inc.Status != "investigating" || inc.Impact != "major" || inc.Shortlink != "https://stspg.io/xyz" {
		t.Errorf("got %q %q %q, want investigating major https://stspg.io/xyz", inc.Status, inc.Impact, inc.Shortlink)
	}
}

func TestRunCadence(t *testing.T) {
	fp := MustServe(t, MustReadFile(t, "operational.json"))
	clk := clockwork.NewFakeClockAt(t0)
	p := providerstatus.New(providerstatus.Options{Clock: clk, Interval: time.Minute})
	MustWatch(t, p, "anthropic", fp.URL())

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Run waits on one timer between rounds: one waiter means a round ended.
	steps := []struct {
		name      string
		advance   time.Duration
		wantHits  int32
		wantPolls time.Time
	}{
		{name: "first poll at once", advance: 0, wantHits: 1, wantPolls: t0},
		{name: "not before the interval", advance: 59 * time.Second, wantHits: 1, wantPolls: t0},
		{name: "at the interval", advance: time.Second, wantHits: 2, wantPolls: t0.Add(time.Minute)},
		{name: "next interval", advance: time.Minute, wantHits: 3, wantPolls: t0.Add(2 * time.Minute)},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		if err := clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		r, _ := p.Snapshot("anthropic")
		if got := fp.hits.Load(); got != st.wantHits || !r.PolledAt.Equal(st.wantPolls) {
			t.Errorf("%s: got %d hits, polled at %v; want %d, %v", st.name, got, r.PolledAt, st.wantHits, st.wantPolls)
		}
	}
}

func TestFailureKeepsLastGood(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		body    []byte
		wantErr error
	}{
		{name: "500", code: http.StatusInternalServerError, body: []byte("oops"), wantErr: providerstatus.ErrStatus},
		{name: "invalid JSON", code: http.StatusOK, body: []byte(`{"page": {"id": `), wantErr: providerstatus.ErrBadSummary},
		{name: "wrong shape", code: http.StatusOK, body: []byte(`[1, 2, 3]`), wantErr: providerstatus.ErrBadSummary},
		{name: "empty object", code: http.StatusOK, body: []byte(`{}`), wantErr: providerstatus.ErrBadSummary},
		{name: "bad time", code: http.StatusOK, body: []byte(`{"page":{"id":"x","updated_at":"yesterday"}}`), wantErr: providerstatus.ErrBadSummary},
		{name: "oversized body", code: http.StatusOK, body: bytes.Repeat([]byte(" "), 64<<10+1), wantErr: providerstatus.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := MustServe(t, MustReadFile(t, "incident.json"))
			clk := clockwork.NewFakeClockAt(t0)
			p := providerstatus.New(providerstatus.Options{Clock: clk, MaxBody: 64 << 10})
			MustWatch(t, p, "openai", fp.URL())
			p.PollOnce(t.Context())

			fp.Set(tt.code, tt.body)
			clk.Advance(time.Minute)
			p.PollOnce(t.Context())

			r, ok := p.Snapshot("openai")
			if !ok {
				t.Fatal("got no snapshot, want the last good one")
			}
			if !errors.Is(r.LastError, tt.wantErr) {
				t.Errorf("got error %v, want %v", r.LastError, tt.wantErr)
			}
			if r.Indicator != "major" || len(r.Incidents) != 2 {
				t.Errorf("got indicator %q and %d incidents, want the previous report (major, 2)", r.Indicator, len(r.Incidents))
			}
			if !r.PolledAt.Equal(t0) || !r.AttemptedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("got polled %v attempted %v, want %v and %v", r.PolledAt, r.AttemptedAt, t0, t0.Add(time.Minute))
			}

			fp.Set(http.StatusOK, MustReadFile(t, "operational.json"))
			clk.Advance(time.Minute)
			p.PollOnce(t.Context())
			r, _ = p.Snapshot("openai")
			if r.LastError != nil || r.Indicator != "none" {
				t.Errorf("after recovery got error %v, indicator %q; want nil, none", r.LastError, r.Indicator)
			}
		})
	}
}

func TestFirstPollFails(t *testing.T) {
	fp := MustServe(t, nil)
	fp.Set(http.StatusServiceUnavailable, []byte("down"))
	p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
	MustWatch(t, p, "openai", fp.URL())
	if _, ok := p.Snapshot("openai"); ok {
		t.Error("got a snapshot before any poll, want none")
	}
	p.PollOnce(t.Context())
	r, ok := p.Snapshot("openai")
	if !ok || !r.PolledAt.IsZero() || !errors.Is(r.LastError, providerstatus.ErrStatus) || r.Provider != "openai" {
		t.Errorf("got ok=%v polled=%v err=%v provider=%q; want true, zero, ErrStatus, openai", ok, r.PolledAt, r.LastError, r.Provider)
	}
	if ev := r.Evidence(); ev != nil {
		t.Errorf("got evidence %q, want none", ev)
	}
	if _, ok := p.Snapshot("nobody"); ok {
		t.Error("got a snapshot for an unwatched provider, want none")
	}
}

func TestClosedListener(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/api/v2/summary.json"
	srv.Close() // connection refused
	p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
	MustWatch(t, p, "gone", u)
	p.PollOnce(t.Context())
	if r, _ := p.Snapshot("gone"); r.LastError == nil {
		t.Error("got no error, want connection refused")
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0), Timeout: 20 * time.Millisecond})
	MustWatch(t, p, "slow", srv.URL+"/api/v2/summary.json")
	p.PollOnce(t.Context())
	if r, _ := p.Snapshot("slow"); !errors.Is(r.LastError, context.DeadlineExceeded) {
		t.Errorf("got error %v, want deadline exceeded", r.LastError)
	}
}

func TestRedirects(t *testing.T) {
	good := MustServe(t, MustReadFile(t, "operational.json"))
	redirect := func(to string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v2/summary.json" {
				http.Redirect(w, r, to, http.StatusFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(MustReadFile(t, "operational.json"))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	tests := []struct {
		name    string
		srv     *httptest.Server
		wantErr error
	}{
		{name: "same host followed", srv: redirect("/moved/summary.json")},
		{name: "other host refused", srv: redirect(good.URL()), wantErr: providerstatus.ErrRedirectOff},
		{name: "other scheme refused", srv: redirect("file:///etc/passwd"), wantErr: providerstatus.ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
			MustWatch(t, p, "p", tt.srv.URL+"/api/v2/summary.json")
			p.PollOnce(t.Context())
			r, _ := p.Snapshot("p")
			if tt.wantErr == nil && (r.LastError != nil || r.Indicator != "none") {
				t.Errorf("got error %v indicator %q, want none and none", r.LastError, r.Indicator)
			}
			if tt.wantErr != nil && !errors.Is(r.LastError, tt.wantErr) {
				t.Errorf("got error %v, want %v", r.LastError, tt.wantErr)
			}
		})
	}
	if got := good.hits.Load(); got != 0 {
		t.Errorf("got %d hits on the other host, want 0", got)
	}
}

func TestWatchRejects(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr error
	}{
		{name: "ftp", url: "ftp://status.example.com/api/v2/summary.json", wantErr: providerstatus.ErrBadURL},
		{name: "file", url: "file:///etc/passwd", wantErr: providerstatus.ErrBadURL},
		{name: "relative", url: "/api/v2/summary.json", wantErr: providerstatus.ErrBadURL},
		{name: "empty", url: "", wantErr: providerstatus.ErrBadURL},
		{name: "no host", url: "https:///api/v2/summary.json", wantErr: providerstatus.ErrBadURL},
		{name: "duplicate", url: "https://status.example.com/api/v2/summary.json", wantErr: providerstatus.ErrDuplicate},
	}
	p := providerstatus.New(providerstatus.Options{})
	MustWatch(t, p, "duplicate", "https://status.example.com/api/v2/summary.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Watch(tt.name, tt.url); !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRunEndsOnCancel(t *testing.T) {
	tests := []struct {
		name  string
		block bool
	}{
		{name: "between polls"},
		{name: "during a poll", block: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.block {
					entered <- struct{}{}
					<-r.Context().Done()
					return
				}
				_, _ = w.Write(MustReadFile(t, "operational.json"))
			}))
			defer srv.Close()
			clk := clockwork.NewFakeClockAt(t0)
			p := providerstatus.New(providerstatus.Options{Clock: clk})
			MustWatch(t, p, "p", srv.URL+"/api/v2/summary.json")

			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); p.Run(ctx) }()
			if tt.block {
				<-entered
			} else if err := clk.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-done
			r, ok := p.Snapshot("p")
			if tt.block && (ok || r.LastError != nil) {
				t.Errorf("got ok=%v err=%v, want a cancelled poll left unrecorded", ok, r.LastError)
			}
		})
	}
}
