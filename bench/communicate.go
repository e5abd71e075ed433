package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/internal/smtpsink"
	"github.com/understudy/understudy/notify"
	"github.com/understudy/understudy/simulate"
)

// The communicate phase: time to communicate. A real `understudy serve`
// (child process, SQLite in a temporary directory) stands in front of a
// simulator that runs in this process (simulate.New over httptest, so that
// faults are set by a method call). A webhook receiver (httptest) and an
// SMTP server (internal/smtpsink) in this process are its subscribers, both
// added through the admin API, and headless Chromium (chromedp) holds the
// public status page open, following /live.
//
// Each run sets a 500 fault on the primary and sends 5 req/s until an
// incident opens. T0 is the incident's detected_at (the engine's tick that
// opened it, as the admin API reports it; every clock here is this
// machine's). From T0 it measures when (1) the incident's title appeared in
// the page's DOM, without a reload, as a MutationObserver installed before
// the fault recorded it; (2) the first incident webhook for it reached the
// receiver's handler; (3) the first incident e-mail for it was received
// whole by the SMTP server. The fault is cleared as soon as the incident is
// seen (what follows no longer depends on it) and the run waits for the
// incident to resolve before the next one.
//
// The phase is opt-in (-phases communicate) and prints its own report.

const (
	commPoll        = 100 * time.Millisecond // open incidents, while waiting for one
	commResolvePoll = 200 * time.Millisecond // the incident, while waiting for it to resolve
	commRate        = 5                      // requests per second while the fault is on
	commEmail       = "reader@example.com"
)

// commConfig is serve's config; its verbs are the public URL, the SQLite
// path, the simulator's URL and the SMTP port. Secrets come from the environment.
const commConfig = `# Written by the benchmark's communicate phase (bench/communicate.go).
listen: 127.0.0.1:0
public_url: %[1]q
log: {level: warn}
storage: {sqlite: %[2]q}
providers:
  - name: primary
    base_url: "%[3]s/primary/v1"
    # Open periods capped at 2s: runs close together would otherwise count
    # as flapping and double them (exponential ejection) run after run.
    breaker: {open_for: 2s, max_open_for: 2s}
  - {name: secondary, base_url: "%[3]s/secondary/v1"}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
      - [{provider: secondary, model: m-secondary}]
incidents: {recover_after: 2s, resolve_after: 3s, component_hold: 2s}
notifications:
  webhook_secrets: ["${BENCH_WEBHOOK_SECRET}"]
  link_secret: "${BENCH_LINK_SECRET}"
  allow_private: true # the receiver is on 127.0.0.1
  email: {host: 127.0.0.1, port: %[4]s, from: "Status <status@example.com>"}
`

// communicateOptions are the phase's settings (the -communicate-* flags).
type communicateOptions struct {
	Runs     int           // incidents opened and followed, one after the other
	Timeout  time.Duration // for each wait: the incident to open, the channels, the resolution
	Chromium string        // the browser; empty: $UNDERSTUDY_TEST_CHROMIUM, else /usr/bin/chromium
}

func (c *communicateOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.Runs, "communicate-runs", 5, "communicate phase: incidents opened one after the other")
	fs.DurationVar(&c.Timeout, "communicate-timeout", 30*time.Second, "communicate phase: time allowed for an incident to open, for each channel after T0, and to resolve")
	fs.StringVar(&c.Chromium, "communicate-chromium", "", "communicate phase: Chromium binary (default $UNDERSTUDY_TEST_CHROMIUM, else /usr/bin/chromium)")
}

func (c communicateOptions) validate() error {
	switch {
	case c.Runs < 1 || c.Runs > 100:
		return errors.New("-communicate-runs must be between 1 and 100")
	case c.Timeout <= 0 || c.Timeout > 5*time.Minute:
		return errors.New("-communicate-timeout must be between 0 and 5m")
	}
	return nil
}

// arrival is the first incident notification of one channel for one incident.
type arrival struct {
	at     time.Time
	status string // the incident's status it announced
	err    string // signature check (webhooks)
}

// pageSeen is what the page's observer recorded for one incident.
type pageSeen struct {
	At    float64 `json:"at"`   // performance.timeOrigin + performance.now(), ms since the epoch
	Date  float64 `json:"date"` // Date.now() at the same moment
	Text  string  `json:"text"`
	Fetch *struct {
		Start float64 `json:"start"`
		End   float64 `json:"end"`
	} `json:"fetch"` // the last fragment fetch that ended before; nil if none
	Marker string `json:"marker"`
}

// commRun is one run's figures.
type commRun struct {
	inc              admin.IncidentJSON // as GET incidents/{id} had it at the opening
	t0, seen         time.Time          // detected_at; when polling first saw it open
	sent, failed     int                // requests of the load; failed as seen by users
	page             *pageSeen
	hook, mail       arrival
	resolvedAfter    time.Duration // from the fault cleared to status resolved
	noReload, liveOK bool
}

func msTime(ms float64) time.Time { return time.UnixMicro(int64(ms * 1000)) }

// commRig is the phase's processes, servers and browser.
type commRig struct {
	o          communicateOptions
	stderr     io.Writer
	tmp        string
	sim        *simulate.Simulator
	simSrv     *httptest.Server
	sink       *smtpsink.Sink
	recv       *httptest.Server
	us         *child
	base       string
	token      string
	secret     []byte
	client     *http.Client
	browser    context.Context
	closeBr    []context.CancelFunc
	chromium   string
	stopMail   chan struct{}
	mailDone   chan struct{}
	understudy string        // for the report
	stopTook   time.Duration // SIGTERM → serve exited
	subscribed []string      // the subscribers as the admin API created them

	mu             sync.Mutex
	hooks, mails   map[string]arrival // incident id → first incident notification
	nHooks, nMails int                // every notification received
	badHooks       []string           // signature errors
}

// runCommunicate sets the rig up, runs the runs and prints the report.
func runCommunicate(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	started := time.Now()
	goroutines := runtime.NumGoroutine()
	r := &commRig{o: o.Communicate, stderr: stderr, hooks: map[string]arrival{}, mails: map[string]arrival{}}
	defer func() {
		if cerr := r.close(); err == nil {
			err = cerr
		}
	}()
	if err := r.setup(ctx, o.Understudy, getenv); err != nil {
		return err
	}
	var runs []commRun
	for i := range r.o.Runs {
		progress(stderr, "(i) communicate %d/%d: 500 on primary, %d req/s until an incident opens", i+1, r.o.Runs, commRate)
		run, err := r.run(ctx)
		if err != nil {
			return fmt.Errorf("communicate run %d: %w", i+1, err)
		}
		runs = append(runs, run)
	}
	deliveries := r.deliveries(ctx)
	// The browser first: serve's graceful stop waits for open /live streams.
	r.closeBrowser()
	stopped := time.Now()
	exit := r.us.terminate(15 * time.Second)
	r.us, r.stopTook = nil, time.Since(stopped)
	if err := r.close(); err != nil {
		return err
	}
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); after > goroutines && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(50 * time.Millisecond)
	}
	r.write(stdout, o, started, runs, deliveries, exit, goroutines, after)
	return nil
}

// setup starts everything and adds the two subscribers.
func (r *commRig) setup(ctx context.Context, bin string, getenv func(string) string) (err error) {
	if r.tmp, err = os.MkdirTemp("", "understudy-communicate-"); err != nil {
		return err
	}
	if bin == "" {
		progress(r.stderr, "(i) communicate: building understudy (go build -o %s/understudy ./cmd/understudy)", r.tmp)
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		bin = filepath.Join(r.tmp, "understudy")
		if err := goBuild(ctx, root, bin, r.stderr); err != nil {
			return err
		}
		r.understudy = "built from " + root + gitDescribe(ctx, root)
	} else {
		r.understudy = bin
	}
	r.sim = simulate.New(simulate.Options{})
	r.simSrv = httptest.NewServer(r.sim)
	if r.sink, err = smtpsink.Start(); err != nil {
		return err
	}
	r.stopMail, r.mailDone = make(chan struct{}), make(chan struct{})
	go r.collectMail()
	r.recv = httptest.NewServer(http.HandlerFunc(r.hook))
	r.client = newClient(16, 30*time.Second)

	secret, link, token := randHex(), randHex(), "us_bench-"+randHex()
	r.secret, r.token = []byte(secret), token
	// The public URL must be known before serve starts: take a port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	r.base = "http://" + addr
	cfg := filepath.Join(r.tmp, "understudy.yaml")
	smtpPort := r.sink.Addr[strings.LastIndex(r.sink.Addr, ":")+1:]
	if err := os.WriteFile(cfg, fmt.Appendf(nil, commConfig, r.base, filepath.Join(r.tmp, "understudy.db"), r.simSrv.URL, smtpPort), 0o600); err != nil {
		return err
	}
	env := []string{"UNDERSTUDY_ADMIN_TOKEN=" + token, "BENCH_WEBHOOK_SECRET=" + secret, "BENCH_LINK_SECRET=" + link}
	progress(r.stderr, "(i) communicate: starting understudy serve on %s", addr)
	if r.us, err = startChild(ctx, "understudy", env, r.stderr, bin, "serve", "-config", cfg, "-listen", addr); err != nil {
		return err
	}
	if err := waitReady(ctx, r.base+"/healthz"); err != nil {
		return err
	}
	for _, s := range []notify.NewSubscriberRequest{
		{Kind: notify.KindWebhook, Address: r.recv.URL + "/hook"},
		{Kind: notify.KindEmail, Address: commEmail},
	} {
		var got notify.SubscriberJSON
		if err := r.api(ctx, http.MethodPost, "/admin/v1/subscribers", s, &got); err != nil {
			return fmt.Errorf("adding the %s subscriber: %w", s.Kind, err)
		}
		if got.Status != notify.StatusActive {
			return fmt.Errorf("the %s subscriber the admin API created is %q, want %q", s.Kind, got.Status, notify.StatusActive)
		}
		r.subscribed = append(r.subscribed, fmt.Sprintf("%s #%d %s", got.Kind, got.ID, got.Status))
	}
	return r.openPage(ctx, getenv)
}

func randHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openPage starts Chromium, loads the page and waits for its live stream.
func (r *commRig) openPage(ctx context.Context, getenv func(string) string) error {
	r.chromium = cmpOr(r.o.Chromium, getenv("UNDERSTUDY_TEST_CHROMIUM"), "/usr/bin/chromium")
	progress(r.stderr, "(i) communicate: headless %s on %s/?lang=en", r.chromium, r.base)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(r.chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(r.tmp, "chromium")),
	)
	logs := &prefixWriter{prefix: "[chromedp] ", w: r.stderr, max: maxChildLines}
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(logs, f+"\n", a...) }))
	r.browser, r.closeBr = browser, []context.CancelFunc{cancelBrowser, cancelAlloc}
	// The first action starts the browser: no deadline on its context.
	if err := chromedp.Do(browser, chromedp.Navigate(r.base+"/?lang=en")); err != nil {
		return fmt.Errorf("loading the page: %w", err)
	}
	wctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx,
		voidOf(chromedp.Poll[bool](`document.documentElement.dataset.liveState === "open"`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))),
		voidOf(chromedp.Evaluate[string](`window.__benchMarker = "loaded once"`)),
	); err != nil {
		return fmt.Errorf("waiting for the page's live stream: %w", err)
	}
	return nil
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// voidOf drops an action's value, to run it among others with Do.
func voidOf[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, tg)
		return chromedp.Void{}, err
	}
}

// observeJS (re)installs the observer: for each incident title element
// (id incident-N-title) it records when it first appeared in the DOM.
const observeJS = `(() => {
  if (window.__benchObserver) { window.__benchObserver.disconnect(); }
  const seen = {};
  const look = () => {
    const at = performance.timeOrigin + performance.now(), date = Date.now();
    for (const el of document.querySelectorAll('[id^="incident-"][id$="-title"]')) {
      if (!(el.id in seen)) { seen[el.id] = {at: at, date: date, text: el.textContent.trim()}; }
    }
  };
  look();
  window.__benchSeen = seen;
  window.__benchObserver = new MutationObserver(look);
  window.__benchObserver.observe(document.documentElement, {childList: true, subtree: true, characterData: true});
  return (window.__benchMarker || "") + "|" + (document.documentElement.dataset.liveState || "");
})()`

// seenJS reads what the observer recorded for incident %d, with the last
// fragment fetch that ended before; null until it appears.
const seenJS = `(() => {
  const s = window.__benchSeen && window.__benchSeen["incident-%d-title"];
  if (!s) { return null; }
  const frag = document.documentElement.getAttribute("data-fragment");
  let fetch = null;
  for (const e of performance.getEntriesByType("resource")) {
    if (!frag || !e.name.endsWith(frag)) { continue; }
    const start = performance.timeOrigin + e.startTime, end = performance.timeOrigin + e.responseEnd;
    if (end <= s.at && (!fetch || start > fetch.start)) { fetch = {start: start, end: end}; }
  }
  return {at: s.at, date: s.date, text: s.text, fetch: fetch, marker: window.__benchMarker || ""};
})()`

// run is one incident, from the fault to its resolution.
func (r *commRig) run(ctx context.Context) (res commRun, err error) {
	if err := r.us.alive(); err != nil {
		return res, err
	}
	if open, err := r.openIncidents(ctx); err != nil || len(open) > 0 {
		return res, fmt.Errorf("incidents open before the fault: %v %v", open, err)
	}
	bctx, cancel := context.WithTimeout(r.browser, 10*time.Second)
	state, err := chromedp.Run(bctx, chromedp.Evaluate[string](observeJS))
	cancel()
	if err != nil {
		return res, fmt.Errorf("installing the observer: %w", err)
	}
	res.noReload, res.liveOK = strings.HasPrefix(state, "loaded once|"), strings.HasSuffix(state, "|open")

	if err := r.sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError}); err != nil {
		return res, err
	}
	load := startDetectLoad(ctx, r.client, r.base+"/v1/chat/completions", time.Now(), time.Second/commRate)
	stopAll := func() {
		load.stop()
		_ = r.sim.ClearFault("primary")
	}
	var id int64
	for deadline := time.Now().Add(r.o.Timeout); id == 0; {
		if time.Now().After(deadline) {
			stopAll()
			return res, fmt.Errorf("no incident opened within %s of the fault", r.o.Timeout)
		}
		if err := sleepCtx(ctx, commPoll); err != nil {
			stopAll()
			return res, err
		}
		open, err := r.openIncidents(ctx)
		if err != nil {
			stopAll()
			return res, err
		}
		if len(open) > 0 {
			id, res.seen = open[0].ID, time.Now()
		}
	}
	// The incident is open: what follows no longer depends on the fault.
	stopAll()
	cleared := time.Now()
	for _, s := range load.result() {
		res.sent++
		if !s.ok() {
			res.failed++
		}
	}
	if err := r.api(ctx, http.MethodGet, "/admin/v1/incidents/"+strconv.FormatInt(id, 10), nil, &res.inc); err != nil {
		return res, err
	}
	res.t0 = res.inc.DetectedAt

	// The three channels, until all arrived or the timeout after T0.
	key := strconv.FormatInt(id, 10)
	pctx, cancel := context.WithDeadline(r.browser, res.t0.Add(r.o.Timeout))
	page, perr := chromedp.Run(pctx, chromedp.Poll[pageSeen](fmt.Sprintf(seenJS, id),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(max(time.Millisecond, time.Until(res.t0.Add(r.o.Timeout))))))
	cancel()
	if perr == nil {
		res.page = &page
	} else if !errors.Is(perr, chromedp.ErrPollingTimeout) && !errors.Is(perr, context.DeadlineExceeded) {
		return res, fmt.Errorf("reading the page: %w", perr)
	}
	for deadline := res.t0.Add(r.o.Timeout); ; {
		r.mu.Lock()
		res.hook, res.mail = r.hooks[key], r.mails[key]
		r.mu.Unlock()
		if (!res.hook.at.IsZero() && !res.mail.at.IsZero()) || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return res, err
		}
	}

	// Resolution, before the next run.
	for deadline := time.Now().Add(r.o.Timeout); ; {
		var inc admin.IncidentJSON
		if err := r.api(ctx, http.MethodGet, "/admin/v1/incidents/"+key, nil, &inc); err != nil {
			return res, err
		}
		if inc.Status == "resolved" {
			res.resolvedAfter = time.Since(cleared)
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("incident #%d still %s %s after the fault was cleared", id, inc.Status, r.o.Timeout)
		}
		if err := sleepCtx(ctx, commResolvePoll); err != nil {
			return res, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *commRig) openIncidents(ctx context.Context) ([]admin.IncidentJSON, error) {
	var list admin.IncidentsJSON
	err := r.api(ctx, http.MethodGet, "/admin/v1/incidents?open=true", nil, &list)
	return list.Incidents, err
}

// api calls the admin API with the bootstrap token; body and out are JSON.
func (r *commRig) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// hook is the webhook receiver: the time is taken first, then the body is
// read and the signature checked.
func (r *commRig) hook(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err == nil {
		err = notify.Verify([][]byte{r.secret}, req.Header.Get(notify.HeaderWebhookID), req.Header.Get(notify.HeaderTimestamp),
			body, req.Header.Get(notify.HeaderSignature), time.Now(), 0)
	}
	var p struct {
		Meta struct {
			Kind string `json:"kind"`
		} `json:"meta"`
		Incident struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"incident"`
	}
	jerr := json.Unmarshal(body, &p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nHooks++
	a := arrival{at: at, status: p.Incident.Status}
	if err != nil {
		a.err = err.Error()
		r.badHooks = append(r.badHooks, a.err)
	}
	if _, ok := r.hooks[p.Incident.ID]; jerr == nil && p.Meta.Kind == "incident" && !ok {
		r.hooks[p.Incident.ID] = a
	}
}

var (
	referencesRE = regexp.MustCompile(`(?m)^References:\s*<incident-(\d+)@`)
	subjectRE    = regexp.MustCompile(`(?m)^Subject: ([^\r\n]*)`)
)

// headerOf is a raw message's header, without the body.
func headerOf(data []byte) []byte {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i+2]
	}
	return data
}

// mailIncident is the incident an e-mail is about (from its References
// header, "<incident-N@…>") and its subject; "" when it is about none. data
// is the message's header (headerOf).
func mailIncident(data []byte) (id, subject string) {
	if m := subjectRE.FindSubmatch(data); m != nil {
		subject = string(m[1])
	}
	if m := referencesRE.FindSubmatch(data); m != nil {
		id = string(m[1])
	}
	return id, subject
}

// collectMail keeps the first incident e-mail of each incident.
func (r *commRig) collectMail() {
	defer close(r.mailDone)
	for {
		select {
		case <-r.stopMail:
			return
		case m := <-r.sink.Messages:
			id, subject := mailIncident(headerOf(m.Data))
			r.mu.Lock()
			r.nMails++
			if _, ok := r.mails[id]; id != "" && !ok && len(m.To) == 1 && m.To[0] == commEmail {
				r.mails[id] = arrival{at: m.At, status: subject}
			}
			r.mu.Unlock()
		}
	}
}

// deliveries counts the outbox's deliveries by status, from the admin API.
func (r *commRig) deliveries(ctx context.Context) string {
	var parts []string
	for _, st := range []string{notify.DeliveryDelivered, notify.DeliveryPending, notify.DeliveryFailed} {
		var d notify.DeliveriesJSON
		if err := r.api(ctx, http.MethodGet, "/admin/v1/deliveries?limit=1000&status="+st, nil, &d); err != nil {
			return "unknown: " + err.Error()
		}
		parts = append(parts, fmt.Sprintf("%s %d", st, len(d.Deliveries)))
	}
	return strings.Join(parts, ", ")
}

// close stops everything it started, last first. Idempotent.
func (r *commRig) close() error {
	r.closeBrowser()
	if r.us != nil {
		r.us.stop()
		r.us = nil
	}
	if r.recv != nil {
		r.recv.Close()
		r.recv = nil
	}
	if r.stopMail != nil {
		close(r.stopMail)
		<-r.mailDone
		r.stopMail = nil
	}
	var err error
	if r.sink != nil {
		err = r.sink.Close()
		r.sink = nil
	}
	if r.sim != nil {
		r.sim.Close()
		r.simSrv.Close()
		r.sim = nil
	}
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	if r.tmp != "" {
		err = errors.Join(err, os.RemoveAll(r.tmp))
		r.tmp = ""
	}
	return err
}

// closeBrowser closes the page, then ends the browser's process and waits
// for it. Idempotent.
func (r *commRig) closeBrowser() {
	for _, c := range r.closeBr {
		c()
	}
	r.closeBr = nil
}

// chromiumVersion is what `chromium --version` prints, or "".
func chromiumVersion(ctx context.Context, exe string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// after is "+123.4 ms" from t0, or "not within the timeout".
func after(t0, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return fmt.Sprintf("+%.1f ms", float64(t.Sub(t0).Microseconds())/1000)
}

func (r *commRig) write(w io.Writer, o options, started time.Time, runs []commRun, deliveries string, exit error, goroutinesBefore, goroutinesAfter int) {
	c := r.o
	cmd := "go run ./bench"
	if len(o.Args) > 0 {
		cmd += " " + strings.Join(o.Args, " ")
	}
	exitText := fmt.Sprintf("exited cleanly %.2f s after SIGTERM (the browser closed first)", r.stopTook.Seconds())
	if exit != nil {
		exitText = fmt.Sprintf("%v (after %.2f s)", exit, r.stopTook.Seconds())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Understudy time-to-communicate benchmark (phase communicate)")
	for _, h := range []string{
		"command:    " + cmd,
		"date:       " + started.UTC().Format(time.RFC3339),
		fmt.Sprintf("go:         %s %s/%s, %d CPUs, GOMAXPROCS %d", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		"understudy: " + r.understudy,
		"browser:    " + cmpOr(chromiumVersion(context.Background(), r.chromium), "?") + " (" + r.chromium + "), headless, via chromedp",
		"setup:      simulator in this process (simulate.New over httptest) ← `understudy serve` (child process, SQLite in a temporary directory, public_url = its own address); " +
			"in this process: a webhook receiver (httptest) and an SMTP server (internal/smtpsink), both subscribers added through POST /admin/v1/subscribers (" + strings.Join(r.subscribed, ", ") + ")",
		"config:     providers primary (breaker open_for 2s, max_open_for 2s), secondary (probes and breakers otherwise at their defaults); route assistant, tiers [primary] [secondary]; incidents every 1s, recover_after 2s, resolve_after 3s, component_hold 2s; notifications: webhook_secrets, link_secret from the environment, allow_private, email → the SMTP server",
		fmt.Sprintf("per run:    the page (/?lang=en) stays open in Chromium, following /live; an observer is installed; primary answers 500 and %d non-streaming req/s are sent until an incident is open (admin API polled every %s); then the load stops, the fault is cleared, the channels are awaited (at most %s after T0) and the incident's resolution (admin API polled every %s)",
			commRate, commPoll, c.Timeout, commResolvePoll),
		"T0:         the incident's detected_at (GET /admin/v1/incidents/{id}): the engine tick that opened it. Page: when a MutationObserver saw #incident-N-title in the DOM (performance.timeOrigin + performance.now()); webhook: when the receiver's handler was entered (first webhook with meta.kind incident for N); e-mail: when the SMTP server had the whole message (first e-mail with References <incident-N@…>). One machine, one clock",
	} {
		fmt.Fprintln(w, h)
	}

	fmt.Fprintf(w, "\n(i) Time to communicate, from T0\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tincident\ttitle\tT0 (UTC)\tAPI poll saw it\tpage (DOM)\twebhook\te-mail\trequests (failed)\tresolved after clear\tchecks")
	var page, hook, mail []time.Duration
	for i, run := range runs {
		var bad []string
		p := time.Time{}
		if run.page != nil {
			p = msTime(run.page.At)
			page = append(page, p.Sub(run.t0))
			if run.page.Text != run.inc.Title {
				bad = append(bad, fmt.Sprintf("page title %q", run.page.Text))
			}
			if run.page.Marker != "loaded once" {
				bad = append(bad, "page reloaded")
			}
		} else {
			bad = append(bad, "page: not shown")
		}
		if !run.noReload {
			bad = append(bad, "page reloaded before the run")
		}
		if !run.liveOK {
			bad = append(bad, "live stream not open before the fault")
		}
		if !run.hook.at.IsZero() {
			hook = append(hook, run.hook.at.Sub(run.t0))
			if run.hook.err != "" {
				bad = append(bad, "signature: "+run.hook.err)
			}
			if run.hook.status != "investigating" {
				bad = append(bad, "webhook status "+run.hook.status)
			}
		} else {
			bad = append(bad, "no webhook")
		}
		if !run.mail.at.IsZero() {
			mail = append(mail, run.mail.at.Sub(run.t0))
		} else {
			bad = append(bad, "no e-mail")
		}
		check := "ok (no reload, signed)"
		if len(bad) > 0 {
			check = strings.Join(bad, "; ")
		}
		fmt.Fprintf(tw, "%d\t#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d (%d)\t%.2f s\t%s\n", i+1, run.inc.ID, run.inc.Title, run.t0.UTC().Format("15:04:05.000000"),
			after(run.t0, run.seen), after(run.t0, p), after(run.t0, run.hook.at), after(run.t0, run.mail.at), run.sent, run.failed, run.resolvedAfter.Seconds(), check)
	}
	_ = tw.Flush()

	fmt.Fprintf(w, "\n  page, split (from the page's Resource Timing of the fragment fetch that brought the incident):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  run\tT0 → fragment fetch starts\tfetch (request → response end)\tresponse end → in the DOM\tDate.now() − hi-res clock")
	for i, run := range runs {
		if run.page == nil || run.page.Fetch == nil {
			fmt.Fprintf(tw, "  %d\t—\t—\t—\t—\n", i+1)
			continue
		}
		f, at := run.page.Fetch, msTime(run.page.At)
		start, end := msTime(f.Start), msTime(f.End)
		fmt.Fprintf(tw, "  %d\t%s\t%.1f ms\t%.1f ms\t%+.1f ms\n", i+1, after(run.t0, start), float64(end.Sub(start).Microseconds())/1000,
			float64(at.Sub(end).Microseconds())/1000, run.page.Date-run.page.At)
	}
	_ = tw.Flush()

	r.mu.Lock()
	fmt.Fprintf(w, "\n  received in all: %d webhooks (%d with a bad signature), %d e-mails; outbox at the end: %s\n", r.nHooks, len(r.badHooks), r.nMails, deliveries)
	r.mu.Unlock()
	fmt.Fprintf(w, "  closed: Chromium and its process; understudy %s; the receiver, the SMTP server, the simulator\n", exitText)
	if goroutinesAfter > goroutinesBefore {
		fmt.Fprintf(w, "  WARNING: %d goroutines before the phase, %d after it: something was not closed\n", goroutinesBefore, goroutinesAfter)
	} else {
		fmt.Fprintf(w, "  goroutines: %d before the phase, %d after (everything closed)\n", goroutinesBefore, goroutinesAfter)
	}

	fmt.Fprintln(w, "\n  What the wait consists of:")
	for _, l := range []string{
		"before T0 (not in these figures): failed attempts open primary's breaker (5 in a row; the load and the probes), then the engine's next tick (every 1 s) sees the target down and opens the incident; detected_at is that tick's clock, read before the incident is written",
		"page: the tick writes the incident (SQLite) → the engine's OnEvent → live hub Publish → SSE \"change\" on /live → the page's script fetches /?fragment=live → swaps the parts → DOM (the split above)",
		"webhook, e-mail: OnEvent → the relay's queue → relay.Run reads the incident → Dispatcher.Notify reads the subscribers, writes one delivery per subscriber to the outbox (deliveries table) and wakes the dispatcher (no wait for its 1 s poll) → Run reads the due deliveries → workers: signed POST to the receiver / SMTP to the server, side by side",
	} {
		fmt.Fprintln(w, "    "+l)
	}

	summary := fmt.Sprintf("communicate: %d runs", len(runs))
	for _, ch := range []struct {
		name string
		d    []time.Duration
	}{{"page", page}, {"webhook", hook}, {"e-mail", mail}} {
		summary += fmt.Sprintf("; %s %d/%d", ch.name, len(ch.d), len(runs))
		if len(ch.d) > 0 {
			slices.Sort(ch.d)
			summary += fmt.Sprintf(" p50 %.0f ms max %.0f ms", float64(ch.d[len(ch.d)/2].Microseconds())/1000, float64(ch.d[len(ch.d)-1].Microseconds())/1000)
		}
	}
	fmt.Fprintf(w, "\n%s (from T0 = detected_at)\n", summary)
}
