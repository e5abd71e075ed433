package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
)

// The detect phase: time to detect. For each scenario a fresh simulator, a
// gateway in front of it, a SQLite store and an incident engine run in this
// process, on the real clock, over real HTTP (httptest servers). An open-loop
// client sends non-streaming chat completions to the gateway; after a healthy
// warm-up the scenario's fault is set in the simulator (T0), and the engine's
// open incidents are polled every detectPoll until one opens. Time to detect
// is from T0 to the incident's detected_at (the engine's tick that opened it).
//
// The phase is opt-in (-phases detect): it runs on its own, without building
// understudy or starting the other phases' servers, and prints its own report.

const (
	detectPoll = 100 * time.Millisecond // how often the open incidents are read
	detectBody = `{"model":"assistant","messages":[{"role":"user","content":"Why is the sky blue?"}]}`
)

// detectConfig is the gateway's and engine's config: three providers on the
// simulator with probes and breakers at their defaults, one route over them
// in three tiers, retries and incidents at their defaults. Non-streaming
// attempts are bounded by timeouts.response, streams by first_token: both 2s.
const detectConfig = `# Written by the benchmark's detect phase (bench/detect.go).
listen: 127.0.0.1:0
providers:
  - {name: primary,   base_url: "${SIM_URL}/primary/v1"}
  - {name: secondary, base_url: "${SIM_URL}/secondary/v1"}
  - {name: backup,    base_url: "${SIM_URL}/backup/v1"}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
      - [{provider: secondary, model: m-secondary}]
      - [{provider: backup, model: m-backup}]
    timeouts: {first_token: 2s, response: 2s, stream_idle: 5s, total: 60s}
incidents:
  every: 1s
`

// detectOptions are the detect phase's settings (the -detect-* flags).
type detectOptions struct {
	Rate    int           // non-streaming requests per second, open loop
	Warmup  time.Duration // healthy traffic before the fault
	Timeout time.Duration // after T0, before a scenario is "not detected"
	Settle  time.Duration // after the opening, before the incidents are read
}

func (d *detectOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&d.Rate, "detect-rate", 2, "detect phase: non-streaming requests per second, open loop (at least 1)")
	fs.DurationVar(&d.Warmup, "detect-warmup", 10*time.Second, "detect phase: healthy traffic before each scenario's fault")
	fs.DurationVar(&d.Timeout, "detect-timeout", time.Minute, "detect phase: time after the fault before a scenario is reported \"not detected\"")
	fs.DurationVar(&d.Settle, "detect-settle", 5*time.Second, "detect phase: traffic kept up after an incident opens, before the incidents are read")
}

func (d detectOptions) validate() error {
	switch {
	case d.Rate < 1 || d.Rate > 1000:
		return errors.New("-detect-rate must be between 1 and 1000")
	case d.Warmup < 0 || d.Warmup > 5*time.Minute:
		return errors.New("-detect-warmup must be between 0 and 5m")
	case d.Timeout <= 0 || d.Timeout > 10*time.Minute:
		return errors.New("-detect-timeout must be between 0 and 10m")
	case d.Settle < 0 || d.Settle > time.Minute:
		return errors.New("-detect-settle must be between 0 and 1m")
	}
	return nil
}

// detectScenario is one fault and what the engine should make of it.
type detectScenario struct {
	name  string
	fault string // in words
	set   func(*simulate.Simulator) error
	// watch: at least this long after T0 (a schedule's length, a window
	// to fill); else until the opening plus Settle, or Timeout.
	watch time.Duration
	want  detectWant
}

// detectWant is the expected incident: exactly one.
type detectWant struct {
	usersFail  bool // users see failures (else failover hides the fault)
	cause      understudy.Cause
	severity   understudy.Severity // "": any
	components []string            // nil: any
}

func detectScenarios() []detectScenario {
	server := simulate.Fault{Kind: simulate.KindServerError}
	on := func(f simulate.Fault, providers ...string) func(*simulate.Simulator) error {
		return func(s *simulate.Simulator) error {
			for _, p := range providers {
				if err := s.SetFault(p, f); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var flap []simulate.Step
	for range 5 {
		flap = append(flap, simulate.Step{Fault: &server, For: simulate.Duration(4 * time.Second)},
			simulate.Step{For: simulate.Duration(8 * time.Second)})
	}
	primary := []string{understudy.ProviderComponent("primary")}
	return []detectScenario{
		{name: "primary hard outage", fault: "primary answers 500 server_error",
			set: on(server, "primary"), want: detectWant{cause: understudy.CauseTechnical, components: primary}},
		{name: "total outage", fault: "primary, secondary and backup answer 500 server_error",
			set: on(server, "primary", "secondary", "backup"), watch: 30 * time.Second,
			want: detectWant{usersFail: true, cause: understudy.CauseTechnical, severity: understudy.SeverityCritical}},
		{name: "flapping primary", fault: "primary: 500 for 4 s, healthy for 8 s, five times (60 s)",
			set: func(s *simulate.Simulator) error { return s.Schedule("primary", flap) }, watch: time.Minute,
			want: detectWant{cause: understudy.CauseTechnical, components: primary}},
		{name: "primary rate limited", fault: "primary answers 429 rate_limit_exceeded, Retry-After: 30",
			set:  on(simulate.Fault{Kind: simulate.KindRateLimit, RetryAfter: "30"}, "primary"),
			want: detectWant{cause: understudy.CauseOverload, components: primary}},
		{name: "primary overloaded", fault: "primary answers 529 overloaded, no Retry-After",
			set:  on(simulate.Fault{Kind: simulate.KindOverloaded, Status: 529}, "primary"),
			want: detectWant{cause: understudy.CauseOverload, components: primary}},
		{name: "slow primary", fault: "primary holds every answer 10 s (the route's timeouts: 2 s)",
			set:  on(simulate.Fault{Kind: simulate.KindSlowFirstToken, Delay: simulate.Duration(10 * time.Second)}, "primary"),
			want: detectWant{cause: understudy.CauseTechnical, components: primary}},
		{name: "quota exhausted", fault: "primary answers 429 insufficient_quota",
			set:  on(simulate.Fault{Kind: simulate.KindQuota}, "primary"),
			want: detectWant{cause: understudy.CauseQuota, components: primary}},
	}
}

// detectResult is one scenario's figures.
type detectResult struct {
	sc                 detectScenario
	t0                 time.Time // the fault in force
	warm, warmFailed   int       // requests of the healthy warm-up
	sent, failed       int       // requests sent after T0 until the end; not answered 200
	servedBy           map[string]int
	firstAfter         time.Duration // first request sent after T0, from T0
	detected           bool
	ttd                time.Duration // detected_at − T0
	seen               time.Duration // when polling first saw it, from T0
	atOpen             understudy.Incident
	early              []understudy.Incident // open before T0: false alarms of the healthy warm-up
	incidents          []understudy.Incident // opened after T0, oldest first
	timelines          map[int64][]understudy.Event
	history            map[int64][]string // each incident's states as polled, with when they were first seen
	engineLog          []string           // the engine's warnings other than "incident opened"
	requestErrs        []string
	firstFailedRequest string
}

// runDetect runs every scenario and prints the report.
func runDetect(ctx context.Context, o options, stdout, stderr io.Writer) error {
	d := o.Detect
	started := time.Now()
	goroutines := runtime.NumGoroutine()
	var results []detectResult
	for i, sc := range detectScenarios() {
		progress(stderr, "(h) detect %d/%d: %s — %s", i+1, len(detectScenarios()), sc.name, sc.fault)
		res, err := runDetectScenario(ctx, d, sc)
		if err != nil {
			return fmt.Errorf("detect %q: %w", sc.name, err)
		}
		results = append(results, res)
	}
	// Everything was closed: the goroutines should be back to where they were.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); after > goroutines && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(50 * time.Millisecond)
	}
	writeDetect(stdout, o, started, results, goroutines, after)
	return nil
}

// runDetectScenario runs one scenario on a fresh rig.
func runDetectScenario(ctx context.Context, d detectOptions, sc detectScenario) (res detectResult, err error) {
	res.sc = sc
	rig, err := newDetectRig(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := rig.close(); err == nil {
			err = cerr
		}
	}()
	// T0 falls half-way between two of the engine's ticks and half-way
	// between two requests: the figures carry the mean, not the best or the
	// worst, of the tick's and the load's granularity, the same every run.
	interval := time.Second / time.Duration(d.Rate)
	ticks := (d.Warmup + rig.every - 1) / rig.every
	plan := rig.engineStart.Add(ticks*rig.every + rig.every/2)
	n := max(0, (time.Until(plan)-interval/2)/interval)
	load := startDetectLoad(ctx, rig.client, rig.gwSrv.URL+"/v1/chat/completions", plan.Add(-interval/2-n*interval), interval)
	defer load.stop()

	// Healthy warm-up: any incident opening now is a false alarm.
	if err := rig.poll(ctx, func() time.Time { return plan }, func([]understudy.Incident) {}); err != nil {
		return res, err
	}
	early, err := rig.eng.Incidents(ctx, understudy.IncidentFilter{})
	if err != nil {
		return res, err
	}
	res.early = early
	before := map[int64]bool{}
	for _, inc := range early {
		before[inc.ID] = true
	}

	if err := sc.set(rig.sim); err != nil {
		return res, err
	}
	t0 := time.Now() // the fault is in force
	res.t0 = t0
	var seenAt time.Time
	end := t0.Add(max(d.Timeout, sc.watch))
	res.history = map[int64][]string{}
	err = rig.poll(ctx, func() time.Time { return end }, func(open []understudy.Incident) {
		now := time.Now()
		for _, inc := range open {
			if before[inc.ID] {
				continue
			}
			if !res.detected || inc.ID < res.atOpen.ID {
				seenAt, res.atOpen, res.detected = now, inc, true
				end = seenAt.Add(d.Settle)
				if w := t0.Add(sc.watch); w.After(end) {
					end = w
				}
			}
			state := fmt.Sprintf("%s, %s, %s, %v", inc.Status, inc.Cause, inc.Severity, inc.Components)
			if h := res.history[inc.ID]; len(h) == 0 || !strings.HasSuffix(h[len(h)-1], ": "+state) {
				res.history[inc.ID] = append(h, fmt.Sprintf("T0+%s: %s", secs(now.Sub(t0)), state))
			}
		}
	})
	if err != nil {
		return res, err
	}
	load.stop()

	samples := load.result()
	res.servedBy = map[string]int{}
	var first time.Time
	for _, s := range samples {
		if s.sent.Before(t0) {
			res.warm++
			if !s.ok() {
				res.warmFailed++
			}
			continue
		}
		res.sent++
		if first.IsZero() || s.sent.Before(first) {
			first = s.sent
		}
		if !s.ok() {
			res.failed++
			if res.firstFailedRequest == "" {
				res.firstFailedRequest = s.String()
			}
			if s.err != "" && len(res.requestErrs) < 3 {
				res.requestErrs = append(res.requestErrs, s.err)
			}
		} else {
			res.servedBy[s.target]++
		}
	}
	if !first.IsZero() {
		res.firstAfter = first.Sub(t0)
	}
	if res.detected {
		res.ttd, res.seen = res.atOpen.DetectedAt.Sub(t0), seenAt.Sub(t0)
	}

	all, err := rig.eng.Incidents(ctx, understudy.IncidentFilter{})
	if err != nil {
		return res, err
	}
	res.timelines = map[int64][]understudy.Event{}
	for _, inc := range all {
		if before[inc.ID] {
			continue
		}
		res.incidents = append(res.incidents, inc)
		if res.timelines[inc.ID], err = rig.eng.Timeline(ctx, inc.ID); err != nil {
			return res, err
		}
	}
	sort.Slice(res.incidents, func(i, j int) bool { return res.incidents[i].ID < res.incidents[j].ID })
	res.engineLog = rig.engineWarnings()
	return res, nil
}

// detectRig is one scenario's simulator, gateway, store and engine.
type detectRig struct {
	sim    *simulate.Simulator
	simSrv *httptest.Server
	tmp    string
	st     *store.Store
	eng    *incident.Engine
	gw     *gateway.Gateway
	gwSrv  *httptest.Server
	client *http.Client
	logs   *lockedBuffer // the engine's log, warnings and up
	// engineStart is when the engine's ticker started: it ticks every
	// incidents.every from then.
	engineStart time.Time
	every       time.Duration
	stop        context.CancelFunc
	wg          sync.WaitGroup
}

// newDetectRig wires what `understudy serve` does: the recorder and the
// engine both take the gateway's events, attempts and outcomes; the engine's
// own events go to the recorder.
func newDetectRig(ctx context.Context) (_ *detectRig, err error) {
	r := &detectRig{logs: &lockedBuffer{}, stop: func() {}}
	defer func() {
		if err != nil {
			_ = r.close()
		}
	}()
	r.sim = simulate.New(simulate.Options{})
	r.simSrv = httptest.NewServer(r.sim)
	getenv := func(k string) string {
		if k == "SIM_URL" {
			return r.simSrv.URL
		}
		return ""
	}
	cfg, err := config.Parse(strings.NewReader(detectConfig), "detect.yaml", getenv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if r.tmp, err = os.MkdirTemp("", "understudy-detect-"); err != nil {
		return nil, err
	}
	if r.st, err = store.Open(ctx, store.Config{SQLitePath: filepath.Join(r.tmp, "detect.db")}); err != nil {
		return nil, err
	}
	rec := recorder.New(r.st, recorder.Options{FlushEvery: cfg.Storage.FlushEvery.D()})
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r.eng = incident.New(cfg, incident.Options{Store: r.st, Events: rec, Logger: log})
	// A fixed Rand: no random jitter in the retries' backoff.
	if r.gw, err = gateway.New(cfg, gateway.Options{Events: gateway.Sinks(rec, r.eng), Rand: func() float64 { return 0.5 }}); err != nil {
		return nil, err
	}
	r.eng.SetGateway(r.gw)
	r.gwSrv = httptest.NewServer(r.gw.Handler())
	r.client = newClient(64, 2*time.Minute)

	runCtx, stop := context.WithCancel(ctx)
	r.stop = stop
	r.every = cfg.Incidents.Every.D()
	r.engineStart = time.Now()
	r.wg.Add(2)
	go func() { defer r.wg.Done(); rec.Run(runCtx) }()
	go func() { defer r.wg.Done(); r.eng.Run(runCtx) }()
	return r, nil
}

// close stops everything in order: the simulator's held answers, the
// servers, the gateway's probes, the engine and the recorder (which flushes
// once more), the store.
func (r *detectRig) close() error {
	if r.sim != nil {
		r.sim.Close()
	}
	if r.gwSrv != nil {
		r.gwSrv.Close()
	}
	if r.gw != nil {
		r.gw.Close()
	}
	if r.simSrv != nil {
		r.simSrv.Close()
	}
	r.stop()
	r.wg.Wait()
	var err error
	if r.st != nil {
		err = r.st.Close()
	}
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	if r.tmp != "" {
		err = errors.Join(err, os.RemoveAll(r.tmp))
	}
	return err
}

// poll reads the open incidents every detectPoll and gives them to seen,
// until the time until returns (read again each time) has come.
func (r *detectRig) poll(ctx context.Context, until func() time.Time, seen func(open []understudy.Incident)) error {
	for {
		left := time.Until(until())
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(detectPoll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		open, err := r.eng.Incidents(ctx, understudy.IncidentFilter{Open: true})
		if err != nil {
			return err
		}
		seen(open)
	}
}

// engineWarnings are the engine's log lines at warn and up, except the
// expected "incident opened".
func (r *detectRig) engineWarnings() []string {
	var out []string
	for line := range strings.Lines(r.logs.String()) {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, `msg="incident opened"`) {
			out = append(out, line)
		}
	}
	return out
}

// detectSample is one request of the open-loop client.
type detectSample struct {
	sent, done time.Time
	status     int
	target     string // X-Understudy-Target
	err        string
}

func (s detectSample) ok() bool { return s.err == "" && s.status == http.StatusOK }

func (s detectSample) String() string {
	if s.err != "" {
		return fmt.Sprintf("sent %s: %s", s.sent.Format("15:04:05.000"), s.err)
	}
	return fmt.Sprintf("sent %s: HTTP %d after %s, X-Understudy-Target %q", s.sent.Format("15:04:05.000"), s.status, s.done.Sub(s.sent).Round(time.Millisecond), s.target)
}

// detectLoad sends one request every 1/rate seconds, never waiting for
// answers (open loop).
type detectLoad struct {
	cancel  context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []detectSample
}

// startDetectLoad sends the first request at start, then one every
// interval.
func startDetectLoad(ctx context.Context, c *http.Client, url string, start time.Time, interval time.Duration) *detectLoad {
	tickCtx, cancel := context.WithCancel(ctx)
	l := &detectLoad{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		wait := time.NewTimer(time.Until(start))
		defer wait.Stop()
		select {
		case <-tickCtx.Done():
			return
		case <-wait.C:
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			l.wg.Add(1)
			// The request lives on ctx: stopping the ticker lets it finish.
			go l.send(ctx, c, url)
			select {
			case <-tickCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return l
}

func (l *detectLoad) send(ctx context.Context, c *http.Client, url string) {
	defer l.wg.Done()
	s := detectSample{sent: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(detectBody))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		if resp, err = c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			s.status, s.target = resp.StatusCode, resp.Header.Get("X-Understudy-Target")
		}
	}
	if err != nil {
		s.err = err.Error()
	}
	s.done = time.Now()
	l.mu.Lock()
	l.samples = append(l.samples, s)
	l.mu.Unlock()
}

// stop ends the load and waits for the requests in flight. Idempotent.
func (l *detectLoad) stop() {
	l.cancel()
	<-l.done
	l.wg.Wait()
}

func (l *detectLoad) result() []detectSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.samples)
}

// lockedBuffer is a log destination shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// check compares the scenario's outcome with what it wants; "ok" or what
// differs.
func (r detectResult) check() string {
	w := r.sc.want
	var bad []string
	if !r.detected {
		bad = append(bad, "not detected")
	}
	if len(r.early) > 0 {
		bad = append(bad, fmt.Sprintf("%d incident(s) during the healthy warm-up", len(r.early)))
	}
	if w.usersFail != (r.failed > 0) {
		if w.usersFail {
			bad = append(bad, "users saw no failure")
		} else {
			bad = append(bad, "users saw failures")
		}
	}
	if len(r.incidents) > 1 {
		bad = append(bad, fmt.Sprintf("%d incidents, want 1", len(r.incidents)))
	}
	if len(r.incidents) > 0 {
		inc := r.final()
		if inc.Cause != w.cause {
			bad = append(bad, "cause "+string(inc.Cause)+", want "+string(w.cause))
		}
		if w.severity != "" && inc.Severity != w.severity {
			bad = append(bad, "severity "+string(inc.Severity)+", want "+string(w.severity))
		}
		if w.components != nil && !slices.Equal(inc.Components, w.components) {
			bad = append(bad, fmt.Sprintf("components %v, want %v", inc.Components, w.components))
		}
	}
	if len(bad) == 0 {
		return "ok"
	}
	return strings.Join(bad, "; ")
}

// final is the first incident opened after T0, as it stood at the end.
func (r detectResult) final() understudy.Incident {
	for _, inc := range r.incidents {
		if inc.ID == r.atOpen.ID {
			return inc
		}
	}
	return r.incidents[0]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func writeDetect(w io.Writer, o options, started time.Time, results []detectResult, goroutinesBefore, goroutinesAfter int) {
	d := o.Detect
	cmd := "go run ./bench"
	if len(o.Args) > 0 {
		cmd += " " + strings.Join(o.Args, " ")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Understudy time-to-detect benchmark (phase detect)")
	for _, h := range []string{
		"command:    " + cmd,
		"date:       " + started.UTC().Format(time.RFC3339),
		fmt.Sprintf("go:         %s %s/%s, %d CPUs, GOMAXPROCS %d", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		"setup:      per scenario, in this process on the real clock: simulator (httptest) ← gateway (httptest, real HTTP) with SQLite in a temporary directory, the recorder and the incident engine (eng.Run) as its event sinks",
		"config:     providers primary, secondary, backup (probes and breakers at their defaults); route assistant, tiers [primary] [secondary] [backup], timeouts first_token 2s, response 2s (non-streaming attempts), total 60s; retries and incidents at their defaults (every 1s)",
		fmt.Sprintf("load:       %d non-streaming req/s, open loop; %s healthy warm-up, then the fault at T0; the run ends %s after an incident opens, or %s after T0 (\"not detected\"); the flapping schedule is watched for its 60 s",
			d.Rate, d.Warmup, d.Settle, d.Timeout),
		fmt.Sprintf("TTD:        from T0 (the fault in force: SetFault returned) to the incident's detected_at; open incidents polled every %s. First request: the first one sent after T0, whose attempt at the faulty provider fails", detectPoll),
	} {
		fmt.Fprintln(w, h)
	}

	head := []string{"scenario", "requests sent", "failed as seen by users", "first request", "TTD", "TTD from first request", "cause", "severity", "components", "incidents opened", "detector", "check"}
	fmt.Fprintf(w, "\n(h) Time to detect, from the fault (T0)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	var ttds []time.Duration
	good := 0
	for _, r := range results {
		row := []string{r.sc.name, fmt.Sprint(r.sent), fmt.Sprint(r.failed), "+" + secs(r.firstAfter), "not detected", "—", "—", "—", "—", fmt.Sprint(len(r.incidents)), "—", r.check()}
		if r.detected {
			ttds = append(ttds, r.ttd)
			inc := r.final()
			row[4], row[5] = secs(r.ttd), secs(r.ttd-r.firstAfter)
			row[6], row[7], row[8], row[10] = string(inc.Cause), string(inc.Severity), strings.Join(inc.Components, ","), inc.Detector
		}
		if row[11] == "ok" {
			good++
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	for _, r := range results {
		writeDetectNotes(w, r)
	}
	if goroutinesAfter > goroutinesBefore {
		fmt.Fprintf(w, "  WARNING: %d goroutines before the phase, %d after it: something was not closed\n", goroutinesBefore, goroutinesAfter)
	} else {
		fmt.Fprintf(w, "  goroutines: %d before the phase, %d after (everything closed)\n", goroutinesBefore, goroutinesAfter)
	}

	summary := fmt.Sprintf("detect: %d/%d scenarios detected", len(ttds), len(results))
	if len(ttds) > 0 {
		slices.Sort(ttds)
		summary += fmt.Sprintf(", TTD from T0 min %s, median %s, max %s", secs(ttds[0]), secs(ttds[len(ttds)/2]), secs(ttds[len(ttds)-1]))
	}
	summary += fmt.Sprintf("; %d/%d as expected (one incident with the expected cause, severity and components; users' failures as expected)", good, len(results))
	fmt.Fprintf(w, "\n%s\n", summary)
}

func writeDetectNotes(w io.Writer, r detectResult) {
	p := func(format string, args ...any) { fmt.Fprintf(w, "    "+format+"\n", args...) }
	fmt.Fprintf(w, "\n  %s: %s\n", r.sc.name, r.sc.fault)
	served := make([]string, 0, len(r.servedBy))
	for _, t := range slices.Sorted(maps.Keys(r.servedBy)) {
		served = append(served, fmt.Sprintf("%s %d", t, r.servedBy[t]))
	}
	if len(served) == 0 {
		served = append(served, "none")
	}
	p("warm-up: %d requests, %d failed; after T0: %d sent, %d failed, answered by %s", r.warm, r.warmFailed, r.sent, r.failed, strings.Join(served, ", "))
	if r.firstFailedRequest != "" {
		p("first request failed as seen by users: %s", r.firstFailedRequest)
	}
	for _, e := range r.requestErrs {
		p("request error: %s", e)
	}
	for _, inc := range r.early {
		p("FALSE ALARM during the healthy warm-up: #%d %q %s %s %v", inc.ID, inc.Title, inc.Cause, inc.Severity, inc.Components)
	}
	if r.detected {
		a := r.atOpen
		p("opened: #%d at T0+%s (seen by polling at T0+%s) as %q, detector %s, cause %s, severity %s, components %v",
			a.ID, secs(r.ttd), secs(r.seen), a.Title, a.Detector, a.Cause, a.Severity, a.Components)
	}
	for _, inc := range r.incidents {
		ev := inc.Evidence
		classes := make([]string, 0, len(ev.Classes))
		for _, c := range slices.Sorted(maps.Keys(ev.Classes)) {
			classes = append(classes, fmt.Sprintf("%s %d", c, ev.Classes[c]))
		}
		if h := r.history[inc.ID]; len(h) > 1 {
			p("#%d as polled: %s", inc.ID, strings.Join(h, "; "))
		}
		p("at the end: #%d %q %s, detector %s, cause %s, severity %s, components %v, detected T0%+.2fs; evidence classes {%s}, targets %v",
			inc.ID, inc.Title, inc.Status, inc.Detector, inc.Cause, inc.Severity, inc.Components,
			inc.DetectedAt.Sub(r.t0).Seconds(), strings.Join(classes, ", "), ev.Targets)
		for _, s := range ev.Signals {
			p("  signal: %s", s)
		}
		counts := map[string]int{}
		for _, e := range r.timelines[inc.ID] {
			counts[timelineKind(e)]++
		}
		tl := make([]string, 0, len(counts))
		for _, t := range slices.Sorted(maps.Keys(counts)) {
			tl = append(tl, fmt.Sprintf("%s ×%d", t, counts[t]))
		}
		p("  timeline: %s", strings.Join(tl, ", "))
	}
	if len(r.engineLog) > 0 {
		p("engine warnings (%d), first: %s", len(r.engineLog), r.engineLog[0])
	}
}

// timelineKind is an event's type; for evidence, also what it is: a
// detector's reading, a related gateway event (by its type), or a change of
// the components.
func timelineKind(e understudy.Event) string {
	if e.Type != understudy.EventIncidentEvidence {
		return e.Type
	}
	if t, ok := e.Details["type"].(string); ok {
		return e.Type + " (related " + t + ")"
	}
	if strings.HasPrefix(e.Message, "detector ") {
		return e.Type + " (detector reading)"
	}
	return e.Type + " (" + e.Message + ")"
}
