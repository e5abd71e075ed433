// Package replicatest runs several real `understudy serve` processes on
// loopback, sharing one PostgreSQL database, in front of one in-process
// provider simulator — and, when asked, nginx in front of them — for the
// end-to-end tests of replicas (cmd/understudy/cluster_e2e_test.go) and the
// benchmark's replicas phase (bench/replicas.go).
//
//	db := pgtest.Database(t)
//	c := replicatest.New(t, replicatest.Options{DSN: db, Nginx: os.Getenv(replicatest.NginxEnv)})
//	c.Kill(leader)                       // SIGKILL
//	next, err := c.WaitLeader(ctx, leader)
//	s, err := c.Subscribe(ctx, c.Replicas[1].URL+"/live")
//
// Programs that are not tests call Start and Close instead of New.
//
// Each replica is the binary built once from the module's ./cmd/understudy
// (Build), started with `serve -config FILE -listen 127.0.0.1:PORT` and the
// same config; the first start takes a free port (:0) and reads it from the
// line serve prints ("understudy gateway listening on http://ADDR"), later
// starts take the same port again, so that nginx's upstream list stays
// right. Replicas start at once: the store's migrations take an advisory
// lock. Each one's stderr (its log) goes to DIR/replica-N.log; New prints
// the tails of those logs when the test fails.
package replicatest

import (
	"context"
	"errors"
	"fmt"
	"github.com/understudy/understudy/internal/proc"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/simulate"
)

// NginxEnv names the variable holding the nginx binary for the tests
// (./scripts/nginx-for-tests prints one, and scripts/test sets it).
const NginxEnv = "UNDERSTUDY_TEST_NGINX"

// DefaultConfig is the replicas' config when Options.Config is empty: two
// providers on the simulator (primary, then secondary; probed every second
// while a breaker is open, so that a recovered secondary, which gets no
// traffic while the primary answers, is seen up again), one route
// "assistant", PostgreSQL storage, incident timings short enough for tests
// (route errors over 5 s; no SLO burn-rate alerts, whose 5-minute window
// would hold an incident open for minutes; an incident quiet for 2 s moves
// to monitoring, and is resolved 2 s later: about 8 s after the providers
// recover), and webhooks to private addresses allowed (the tests' receivers
// are on 127.0.0.1). It ends with the route's block, so that route settings
// can be appended (e.g. "    degrade: [handoff]\n").
//
// It reads ${UNDERSTUDY_POSTGRES_DSN}, ${SIM_URL} and ${WEBHOOK_SECRET}
// from the environment the harness gives each replica.
const DefaultConfig = `listen: 127.0.0.1:0
log: {level: info}
storage: {postgres_dsn: "${UNDERSTUDY_POSTGRES_DSN}", flush_every: 1s}
incidents: {route_errors: {window: 5s}, slo_burn: {disabled: true}, recover_after: 2s, resolve_after: 2s, component_hold: 1s}
notifications:
  webhook_secrets: ["${WEBHOOK_SECRET}"]
  allow_private: true
providers:
  - {name: primary, base_url: "${SIM_URL}/primary/v1", probe: {interval: 1s}}
  - {name: secondary, base_url: "${SIM_URL}/secondary/v1", probe: {interval: 1s}}
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: gpt-4o-mini}]
      - [{provider: secondary, model: claude-haiku-4-5}]
`

// Defaults of Options.
const (
	DefaultReplicas      = 3
	DefaultAdminToken    = "us_replicatest-admin-token"
	DefaultWebhookSecret = "replicatest-webhook-secret-0123456789"
)

// Options configure a cluster. DSN is required.
type Options struct {
	// DSN is the PostgreSQL database every replica uses (it is given to
	// them as UNDERSTUDY_POSTGRES_DSN). The harness neither creates nor
	// drops it: see pgtest.Database and pgtest.Create.
	DSN string
	// Replicas is how many processes to run. Default 3.
	Replicas int
	// Config is the replicas' config file. Default DefaultConfig.
	Config string
	// Env is added to each replica's environment (after the harness's own
	// variables, so it may override them).
	Env map[string]string
	// AdminToken is given as UNDERSTUDY_ADMIN_TOKEN. Default
	// DefaultAdminToken.
	AdminToken string
	// WebhookSecret is given as WEBHOOK_SECRET. Default
	// DefaultWebhookSecret.
	WebhookSecret string
	// Simulator configures the provider simulator the replicas share.
	Simulator simulate.Options
	// Binary is a prebuilt understudy binary. Empty: Build one in Dir.
	Binary string
	// Nginx is the nginx binary. Empty: no nginx, Cluster.Proxy is "".
	Nginx string
	// Dir holds the binary, configs and logs. Empty: a temporary directory
	// that Close removes.
	Dir string
	// Logf reports progress (builds, starts, kills). Nil: silent.
	Logf func(format string, args ...any)
	// StartTimeout bounds each replica's start (until it listens) and
	// nginx's. Default 30 s.
	StartTimeout time.Duration
	// StopTimeout bounds a graceful stop (SIGTERM) before SIGKILL. Default
	// 15 s (serve gives open streams 10 s).
	StopTimeout time.Duration
}

// Cluster is the running replicas, the simulator behind them and nginx in
// front of them.
type Cluster struct {
	Sim        *simulate.Simulator
	SimURL     string     // the simulator's base URL
	Replicas   []*Replica // by index
	Proxy      string     // nginx's base URL (http://127.0.0.1:PORT); "" without nginx
	AdminToken string
	// Client is a client of the cluster's own (no proxy from the
	// environment; 10 s timeout, so that a replica that hangs fails a
	// test instead of eating its time); Close closes its idle connections.
	Client *http.Client

	o        Options
	dir      string
	tempDir  bool // dir is ours to remove
	cfgPath  string
	simClose func()
	nginx    *proc.Process
	mu       sync.Mutex // Replicas' processes
}

// TB is what New needs of a test; testing.TB has it.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Cleanup(func())
}

// New starts a cluster for a test: it fails the test when the cluster
// cannot start, closes it when the test ends, and then prints the tail of
// every replica's log (and nginx's) if the test failed. Its context ends
// with the test.
func New(tb TB, o Options) *Cluster {
	tb.Helper()
	if o.Logf == nil {
		o.Logf = tb.Logf
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Start(ctx, o)
	if err != nil {
		cancel()
		tb.Fatalf("replicatest: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := c.Close(); err != nil {
			tb.Logf("replicatest: close: %v", err)
		}
		if tb.Failed() {
			tb.Logf("replicatest: logs\n%s", c.Tails(40))
		}
	})
	return c
}

// Start builds the binary when needed, starts the simulator, the replicas
// (at once) and nginx, and returns when every replica listens and nginx
// answers. On failure everything started is stopped, and the error holds
// the logs' tails.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	if o.DSN == "" {
		return nil, errors.New("replicatest: Options.DSN is required (a PostgreSQL database the replicas share)")
	}
	setDefaults(&o)
	c := &Cluster{o: o, dir: o.Dir, AdminToken: o.AdminToken,
		Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "replicatest-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	defer func() {
		if err != nil {
			tails := c.Tails(30)
			_ = c.Close()
			err = fmt.Errorf("%w\n%s", err, tails)
		}
	}()
	if o.Binary == "" {
		o.Logf("replicatest: building understudy…")
		if c.o.Binary, err = Build(ctx, c.dir); err != nil {
			return c, err
		}
	}
	c.Sim = simulate.New(o.Simulator)
	srv := newSimServer(c.Sim)
	c.SimURL, c.simClose = srv.URL, srv.Close
	c.cfgPath = filepath.Join(c.dir, "understudy.yaml")
	if err := os.WriteFile(c.cfgPath, []byte(o.Config), 0o600); err != nil {
		return c, err
	}
	c.Replicas = make([]*Replica, o.Replicas)
	for i := range c.Replicas {
		c.Replicas[i] = &Replica{Index: i, c: c, logPath: filepath.Join(c.dir, fmt.Sprintf("replica-%d.log", i))}
	}
	errs := make([]error, o.Replicas)
	var wg sync.WaitGroup
	for i := range c.Replicas {
		wg.Go(func() { errs[i] = c.Start(ctx, i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if o.Nginx != "" {
		if err := c.startNginx(ctx); err != nil {
			return c, err
		}
	}
	return c, nil
}

func setDefaults(o *Options) {
	if o.Replicas <= 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Config == "" {
		o.Config = DefaultConfig
	}
	if o.AdminToken == "" {
		o.AdminToken = DefaultAdminToken
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = DefaultWebhookSecret
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 15 * time.Second
	}
}

// Close stops nginx and every replica still running (SIGTERM, then SIGKILL
// after Options.StopTimeout), closes the simulator and removes the
// temporary directory, if it made one. It returns the replicas' errors
// on that graceful stop.
func (c *Cluster) Close() error {
	var errs []error
	if c.nginx != nil {
		if err := c.nginx.Terminate(5 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("nginx: %w", err))
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range c.Replicas {
		if r == nil || !r.Running() {
			continue
		}
		wg.Go(func() {
			if err := c.Stop(r.Index); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if c.Client != nil {
		c.Client.CloseIdleConnections()
	}
	if c.simClose != nil {
		c.Sim.Close()
		c.simClose()
	}
	if c.tempDir {
		_ = os.RemoveAll(c.dir)
	}
	return errors.Join(errs...)
}

// Dir is where the binary, the configs and the logs are.
func (c *Cluster) Dir() string { return c.dir }

// Tails is the last n lines of every replica's log, and of nginx's.
func (c *Cluster) Tails(n int) string {
	var b strings.Builder
	for _, r := range c.Replicas {
		if r == nil {
			continue
		}
		fmt.Fprintf(&b, "--- replica %d (%s), last %d lines of %s\n%s", r.Index, r.URL, n, r.logPath, tail(r.logPath, n))
	}
	if c.nginx != nil {
		log := filepath.Join(c.dir, "nginx.log")
		fmt.Fprintf(&b, "--- nginx (%s), last %d lines of %s\n%s", c.Proxy, n, log, tail(log, n))
	}
	return b.String()
}

// Build builds ./cmd/understudy of the module the current directory is in
// (the module root is found with `go env GOMOD`) into dir and returns the
// binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module; run from the understudy repository")
	}
	bin := filepath.Join(dir, "understudy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/understudy")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/understudy: %w\n%s", err, out)
	}
	return bin, nil
}
