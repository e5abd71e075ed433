package incident_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/providerstatus"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// baseConfig: route assistant over primary then secondary; probes off (the
// breakers are closed by trial requests), fast detectors for the tests.
const baseConfig = `
listen: 127.0.0.1:0
public_url: https://status.example.com
providers:
  - {name: primary,   base_url: "${SIM_URL}/primary/v1",   probe: {disabled: true}}
  - {name: secondary, base_url: "${SIM_URL}/secondary/v1", probe: {disabled: true}}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
      - [{provider: secondary, model: m-secondary}]
    timeouts: {first_token: 5s, response: 5s, stream_idle: 5s, total: 60s}
    retry: {budget: 0, min_per_second: 0}  # no same-target retry: nothing sleeps on the fake clock
incidents:
  remind_after: 24h
`

var epoch = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

type harness struct {
	t      *testing.T
	ctx    context.Context
	clk    *clockwork.FakeClock
	sim    *simulate.Simulator
	gw     *gateway.Gateway
	st     *store.Store
	eng    *incident.Engine
	srv    *httptest.Server
	events *eventLog // the engine's own events (target.down, component.changed…)
	status *providerstatus.Poller
	cfg    *config.Config
	logs   *syncBuffer
}

func newHarness(t *testing.T, cfgText string) *harness {
	t.Helper()
	return newHarnessWith(t, cfgText, nil)
}

// newHarnessWith lets a test adjust the engine's options.
func newHarnessWith(t *testing.T, cfgText string, adjust func(*incident.Options, clockwork.Clock)) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, clk: clockwork.NewFakeClockAt(epoch), events: &eventLog{}, logs: &syncBuffer{}}
	h.sim = simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(h.sim)
	getenv := func(k string) string {
		if k == "SIM_URL" {
			return simSrv.URL
		}
		return ""
	}
	cfg, err := config.Parse(strings.NewReader(cfgText), "test.yaml", getenv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h.cfg = cfg
	h.st, err = store.Open(ctx, store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := incident.Options{Store: h.st, Events: h.events, Clock: h.clk, Logger: log}
	if adjust != nil {
		adjust(&opts, h.clk)
	}
	h.status = opts.Status
	h.eng = incident.New(cfg, opts)
	h.gw, err = gateway.New(cfg, gateway.Options{Clock: h.clk, Logger: log, Events: h.eng, Notices: h.eng, Degrader: h.eng, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	h.eng.SetGateway(h.gw)
	h.srv = httptest.NewServer(h.gw.Handler())
	t.Cleanup(func() {
		h.sim.Close()
		h.srv.Close()
		simSrv.Close()
		h.gw.Close()
		h.st.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", h.logs.String())
		}
	})
	return h
}

// ask sends one non-streaming request and returns the status and the
// target that served it.
func (h *harness) ask() (int, string) {
	h.t.Helper()
	resp := h.askHeaders()
	return resp.StatusCode, resp.Header.Get("X-Understudy-Target")
}

// askHeaders sends one non-streaming request and returns its response
// (body read and closed).
func (h *harness) askHeaders() *http.Response {
	h.t.Helper()
	body := `{"model":"assistant","messages":[{"role":"user","content":"Why is the sky blue?"}]}`
	req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// tick runs the detectors at the fake clock's now.
func (h *harness) tick() {
	h.t.Helper()
	if err := h.eng.Tick(h.ctx); err != nil {
		h.t.Fatalf("tick: %v", err)
	}
}

// second sends one request, runs the detectors and moves the clock on one
// second: traffic at one request per second.
func (h *harness) second() (int, string) {
	h.t.Helper()
	code, target := h.ask()
	h.tick()
	h.clk.Advance(time.Second)
	return code, target
}

// idle runs the detectors once a second for d without traffic.
func (h *harness) idle(d time.Duration) {
	for end := h.clk.Now().Add(d); h.clk.Now().Before(end); h.clk.Advance(time.Second) {
		h.tick()
	}
}

func (h *harness) fault(provider string, f simulate.Fault) {
	h.t.Helper()
	if err := h.sim.SetFault(provider, f); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) clear(provider string) {
	h.t.Helper()
	if err := h.sim.ClearFault(provider); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) incidents(open bool) []understudy.Incident {
	h.t.Helper()
	incs, err := h.eng.Incidents(h.ctx, understudy.IncidentFilter{Open: open})
	if err != nil {
		h.t.Fatal(err)
	}
	return incs
}

func (h *harness) timeline(id int64) []understudy.Event {
	h.t.Helper()
	evs, err := h.eng.Timeline(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) component(name string) understudy.Component {
	h.t.Helper()
	cs, err := h.eng.Components(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	h.t.Fatalf("no component %q in %v", name, cs)
	return understudy.Component{}
}

// types lists event types, dropping the ones in skip.
func types(evs []understudy.Event, skip ...string) []string {
	var out []string
next:
	for _, e := range evs {
		for _, s := range skip {
			if e.Type == s {
				continue next
			}
		}
		out = append(out, e.Type)
	}
	return out
}

type eventLog struct {
	mu  sync.Mutex
	evs []understudy.Event
}

func (l *eventLog) Emit(e understudy.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) of(typ string) []understudy.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []understudy.Event
	for _, e := range l.evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func fmtIncidents(incs []understudy.Incident) string {
	var b strings.Builder
	for _, i := range incs {
		fmt.Fprintf(&b, "#%d %q %s %s %s %v; ", i.ID, i.Title, i.Status, i.Cause, i.Severity, i.Components)
	}
	return b.String()
}

// providerPage serves providerstatus/testdata/incident.json: an OpenAI
// page with "Elevated error rates on Chat Completions" unresolved.
func providerPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		http.ServeFile(w, r, "../providerstatus/testdata/incident.json")
	})
}
