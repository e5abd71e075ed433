package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/cluster"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/faq"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/handoff"
	"github.com/understudy/understudy/handoff/chatwoot"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/lessons"
	"github.com/understudy/understudy/live"
	"github.com/understudy/understudy/notice"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/providerstatus"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/status"
	"github.com/understudy/understudy/store"
	"github.com/understudy/understudy/web"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "understudy.yaml", "configuration file")
	listen := fs.String("listen", "", "listen address (overrides the file's listen:)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, getenv)
	if errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("%w\n(pass -config FILE; docs/configuration.md describes the file, config/testdata/example.yaml is a full example, and \"understudy demo\" runs without one)", err)
	}
	if err != nil {
		return err
	}
	return serve(ctx, cfg, serveOptions{path: *path, listen: *listen, getenv: getenv, stdout: stdout, stderr: stderr})
}

type serveOptions struct {
	path           string // config file to watch; "" = no reloads
	listen         string // overrides cfg.Listen when not empty
	getenv         func(string) string
	stdout, stderr io.Writer
	ready          func(net.Addr) // called with the listening address; may be nil
	// onEvent sees every event the incident engine records; may be nil.
	onEvent func(incidentID int64, ev understudy.Event)
}

// serve runs the gateway for cfg until ctx ends, reloading from o.path (when
// not empty) on SIGHUP or when the file changes.
func serve(ctx context.Context, cfg *config.Config, o serveOptions) error {
	stdout, stderr, getenv, path := o.stdout, o.stderr, o.getenv, o.path
	listen := cfg.Listen
	if o.listen != "" {
		listen = o.listen
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var (
		events gateway.EventSink // nil: events are only logged
		engine *incident.Engine  // nil without storage
		hub    *live.Hub         // status changes for the page; nil without storage
		notes  *notifications    // nil without storage
		st     *store.Store
		wg     sync.WaitGroup // the engine and the status poller
	)
	var pms *postmortem.Service // drafts postmortems at resolutions; nil without storage
	var lib *lessons.Library    // the lessons library; nil without storage
	var hints *breakerHints     // shared breaker openings; nil without PostgreSQL
	var repl *replication       // replicas kept in step; nil without PostgreSQL
	// The engine and poller stop before the gateway, the recorder and the
	// store they use (deferred calls run last first).
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun() // on early returns; the ordered stop is below
	if !cfg.Storage.Disabled {
		var err error
		st, err = openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		log.Info("store ready", "dialect", st.Dialect())
		// The recorder takes events and outcomes off the request path; it
		// runs until the server has shut down, then flushes once more.
		rec := recorder.New(st, recorder.Options{Logger: log, Registry: reg, FlushEvery: cfg.Storage.FlushEvery.D()})
		recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
		var recWG sync.WaitGroup
		recWG.Add(2)
		go func() { defer recWG.Done(); rec.Run(recCtx) }()
		go func() { defer recWG.Done(); retain(recCtx, st, cfg.Storage, log) }()
		defer func() { stopRec(); recWG.Wait() }()
		events = rec
		poller := providerstatus.New(providerstatus.Options{Interval: cfg.Incidents.ProviderStatusEvery.D(), Logger: log})
		hub = live.New()
		var bus *cluster.Bus
		if cfg.Storage.PostgresDSN.Value != "" {
			// Replicas on one PostgreSQL keep in step over LISTEN/NOTIFY:
			// breaker openings, changes, shared state, traffic summaries.
			var err error
			if bus, err = cluster.NewBus(cluster.BusOptions{DSN: cfg.Storage.PostgresDSN.Value, Logger: log}); err != nil {
				return err
			}
			defer bus.Close()
			repl = newReplication(bus, log)
			hints = repl.hints
		}
		onEvent := func(id int64, ev understudy.Event) {
			publishChange(hub, id, ev)
			repl.OnEvent(id, ev)
			if notes != nil {
				notes.relay.OnEvent(id, ev)
			}
			if pms != nil {
				pms.OnIncidentEvent(id, ev) // queues a draft at resolution; never blocks
			}
			if lib != nil {
				lib.OnIncidentEvent(id, ev) // indexes it, links similar past ones; never blocks
			}
			if o.onEvent != nil {
				o.onEvent(id, ev)
			}
		}
		engOpts := incident.Options{Store: st, Events: rec, Status: poller, Logger: log, Registry: reg, OnEvent: onEvent}
		if repl != nil {
			engOpts.Shared = repl.Shared
		}
		engine = incident.New(cfg, engOpts)
		events = gateway.Sinks(rec, engine)
		if bus != nil {
			// The elected leader (below) runs the detectors; until then
			// this replica follows.
			engine.SetLeading(false)
			repl.engine, repl.hub = engine, hub
			repl.lib = func() *lessons.Library { return lib }
			events = gateway.Sinks(rec, engine, hints)
			wg.Add(1)
			go func() { defer wg.Done(); _ = bus.Run(runCtx) }()
		}
		libLocal, err := lessons.New(lessons.Options{Incidents: st, Recorder: st, Logger: log,
			Sources: []lessons.Source{lessons.SourceFunc(func(ctx context.Context) ([]lessons.Document, error) {
				return postmortemSource(pms).Documents(ctx)
			})}})
		if err != nil {
			return err
		}
		defer libLocal.Close()
		pms = postmortem.New(postmortem.Options{Store: st, Source: engine, Flush: rec.Flush, Logger: log,
			OnChange: func(p postmortem.Postmortem) {
				libLocal.Put(postmortemDocument(p))
				if p.Status == postmortem.StatusPublished {
					if repl != nil { // open status pages show it at once, on every replica
						repl.Page("incident", p.IncidentID)
					} else {
						hub.Publish("incident", p.IncidentID)
					}
				}
			}})
		if err := libLocal.Load(ctx); err != nil {
			log.Warn("lessons library: loading past incidents failed; search starts empty", "err", err)
		}
		lib = libLocal
		wg.Add(2)
		go func() { defer wg.Done(); pms.Run(runCtx) }()
		go func() { defer wg.Done(); lib.Run(runCtx) }()
		if notes, err = setupNotifications(cfg, st, engine, log, reg); err != nil {
			return err
		}
		wg.Add(3)
		go func() { defer wg.Done(); poller.Run(runCtx) }()
		go func() { defer wg.Done(); notes.relay.Run(runCtx) }()
		if cfg.Storage.PostgresDSN.Value == "" {
			go func() { defer wg.Done(); _ = notes.dispatcher.Run(runCtx) }()
		} else {
			// Several replicas may share the database: only the leader
			// runs the detectors, the maintenance scheduler and reminders,
			// and delivers, so that each incident opens and each delivery
			// goes out once.
			leader, err := cluster.NewLeader(cluster.LeaderOptions{DSN: cfg.Storage.PostgresDSN.Value, Logger: log, Registry: reg})
			if err != nil {
				return err
			}
			go func() {
				defer wg.Done()
				_ = leader.Run(runCtx, func(lctx context.Context) {
					log.Info("leading: detectors, maintenance, reminders and notification delivery run here")
					engine.SetLeading(true)
					defer engine.SetLeading(false)
					var lwg sync.WaitGroup
					defer lwg.Wait()
					lwg.Go(func() { notes.relay.runCatchUp(lctx, time.Now) })
					_ = notes.dispatcher.Run(lctx)
				})
			}()
		}
	} else {
		log.Warn("storage disabled: nothing is recorded, no incidents are detected, and the admin API and console are off")
	}

	gwOpts := gateway.Options{Logger: log, Registry: reg, Events: events}
	if cfg.FAQ.Dir != "" {
		kb, err := faq.New(faq.Options{Dir: cfg.FAQ.Dir, Threshold: cfg.FAQ.Threshold, Logger: log})
		if err != nil {
			return fmt.Errorf("faq: %w", err)
		}
		defer kb.Close()
		log.Info("faq loaded", "dir", cfg.FAQ.Dir, "entries", kb.Entries())
		wg.Add(1)
		go func() { defer wg.Done(); _ = kb.Run(runCtx) }()
		gwOpts.FAQ = faqAnswers{kb}
	}
	var handoffSvc *handoff.Service
	var chatwootHook http.Handler // Chatwoot's webhooks, when it is configured
	if engine != nil {
		gwOpts.Notices, gwOpts.Degrader = engine, engine
		var relay *chatwoot.Connector // nil: OnEvent does nothing
		handoffSvc = handoff.New(handoff.Options{Store: st, Logger: log, Shutdown: ctx.Done(),
			OnEvent: func(e handoff.Event) { relay.OnEvent(e); repl.Handoff(e) }})
		if repl != nil {
			repl.handoff = handoffSvc
		}
		if cw := cfg.Handoff.Chatwoot; cw != nil {
			var err error
			if relay, err = chatwoot.New(chatwoot.Options{BaseURL: cw.BaseURL, AccountID: cw.AccountID, InboxID: cw.InboxID,
				APIToken: cw.APIToken.Value, WebhookSecret: cw.WebhookSecret.Value, Links: st, Handoff: handoffSvc, Logger: log}); err != nil {
				return err
			}
			chatwootHook = relay.Webhook()
			wg.Add(1)
			go func() { defer wg.Done(); relay.Run(runCtx) }()
			log.Info("handoff relayed to Chatwoot", "base_url", cw.BaseURL, "inbox", cw.InboxID)
		}
		gwOpts.Handoff = handoffs{svc: handoffSvc, languages: func() []string { return cfg.Communication.Languages },
			created: notes.dispatcher.Notify, publicURL: cfg.PublicURL, log: log}
	}
	gw, err := gateway.New(cfg, gwOpts)
	if err != nil {
		return err
	}
	defer gw.Close()
	defer func() { stopRun(); wg.Wait() }()
	if hints != nil {
		hints.gw = gw
		wg.Add(1)
		go func() { defer wg.Done(); repl.Run(runCtx) }()
	}
	if engine != nil {
		engine.SetGateway(gw)
		wg.Add(1)
		go func() { defer wg.Done(); engine.Run(runCtx) }()
	}

	var onReload []func(*config.Config)
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", gw.Healthz)
	dbw := startDBWatch(runCtx, &wg, st, reg, log) // nil without storage
	mux.HandleFunc("GET /readyz", dbw.readyz(gw.Readyz))
	mux.Handle("GET /readyz/database", dbw)
	if engine != nil {
		// The running configuration, as reloads change it.
		current := cfg
		var curMu sync.Mutex
		ah, err := admin.New(admin.Options{
			Service: engine, Tokens: st, Sessions: st, Logger: log,
			IsNotFound:     func(err error) bool { return errors.Is(err, store.ErrNotFound) },
			IsExists:       func(err error) bool { return errors.Is(err, store.ErrExists) },
			BootstrapToken: getenv("UNDERSTUDY_ADMIN_TOKEN"),
			SecureCookies:  strings.HasPrefix(cfg.PublicURL, "https://"),
			Extra:          notes.extra,
			Handoff:        handoffSvc,
			Postmortems:    pms,
			Insights: insights{st: st, engine: engine, lib: lib, configured: func() (routes, providers []string) {
				curMu.Lock()
				defer curMu.Unlock()
				for _, r := range current.Routes {
					routes = append(routes, r.Name)
				}
				for _, p := range current.Providers {
					providers = append(providers, p.Name)
				}
				return routes, providers
			}},
			HandoffSLA: cfg.Handoff.SLA.D(),
			Shutdown:   ctx.Done(), // open consoles do not hold up the shutdown
		})
		if err != nil {
			return err
		}
		defer ah.Close()
		mux.Handle("/admin/", ah)
		mux.Handle("/console/", ah)
		mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusSeeOther))
		// The public side: Statuspage-compatible API and feeds, in-band
		// notices, and the status page itself (everything else).
		page := status.Page{Name: cfg.StatusPageName, URL: cfg.PublicURL}
		api := status.New(status.Options{Source: engine, Postmortems: pms, Page: page, Logger: log})
		mux.Handle("/api/v2/", api)
		mux.Handle("GET /history.rss", api)
		mux.Handle("GET /history.atom", api)
		notices := notice.New(engine, func() string { curMu.Lock(); defer curMu.Unlock(); return current.PublicURL },
			func() []string {
				curMu.Lock()
				defer curMu.Unlock()
				var names []string
				for _, r := range current.Routes {
					names = append(names, r.Name)
				}
				return names
			})
		onReload = append(onReload, func(next *config.Config) { curMu.Lock(); current = next; curMu.Unlock() })
		if notes.subscribe != nil {
			mux.Handle("/subscribe", notes.subscribe)
			mux.Handle("/subscribe/confirm", notes.subscribe)
			mux.Handle("/unsubscribe", notes.subscribe)
		}
		mux.Handle("/handoff/v1/", gw.RequireKey(handoffSvc.Handler()))
		if chatwootHook != nil {
			// Public: Chatwoot's HMAC signature is the authentication.
			mux.Handle("POST /handoff/chatwoot/webhook", chatwootHook)
		}
		mux.Handle("/api/notice", notices)
		mux.Handle("/notice.js", notices)
		mux.Handle("/", web.New(web.Options{Source: engine, Uptime: st, Hub: hub, Postmortems: pms, Page: web.Page{Name: cfg.StatusPageName, URL: cfg.PublicURL, Subscribe: notes.subscribe != nil}, Logger: log}))
		if getenv("UNDERSTUDY_ADMIN_TOKEN") == "" {
			log.Info("UNDERSTUDY_ADMIN_TOKEN is not set: the admin API and console accept only tokens already in the store (set it to sign in the first time and create others)")
		}
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if path != "" {
		// Subscribe to SIGHUP before announcing readiness, so a SIGHUP sent
		// once the address is printed always reloads (and never kills).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		w := config.NewWatcher(path, getenv, log, func(next *config.Config) error {
			if err := gw.Apply(next); err != nil {
				return err
			}
			if engine != nil {
				engine.Apply(next)
			}
			for _, f := range onReload {
				f(next)
			}
			if next.Listen != cfg.Listen {
				log.Warn("listen address changed in the config: restart to apply it", "running", cfg.Listen, "configured", next.Listen)
			}
			level.Set(parseLevel(next.Log.Level))
			return nil
		}, config.WithCurrent(cfg), config.WithSignals(hup), config.WithOnReject(func(err error) {
			gw.ConfigRejected(err)
		}))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(ctx) }()
		defer wg.Wait()
	}

	fmt.Fprintf(stdout, "understudy gateway listening on http://%s\n", ln.Addr())
	log.Info("serving", "addr", ln.Addr().String(), "routes", len(cfg.Routes), "providers", len(cfg.Providers))
	if o.ready != nil {
		o.ready(ln.Addr())
	}

	if hub != nil {
		srv.RegisterOnShutdown(hub.Close) // open status pages must not hold up a shutdown
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log.Info("shutting down")
	if err := srv.Shutdown(shutdown); err != nil {
		// Streams still open after the grace period are cut.
		_ = srv.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}

// openStore opens (and migrates) the configured store.
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := store.Open(ctx, store.Config{SQLitePath: cfg.Storage.SQLite, PostgresDSN: cfg.Storage.PostgresDSN.Value})
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return st, nil
}

// retain deletes events and rollups past their retention, hourly.
func retain(ctx context.Context, st *store.Store, c config.Storage, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		res, err := st.Retain(ctx, store.Retention{Events: c.EventsRetention.D(), Rollups: c.RollupsRetention.D()}, time.Now())
		if err != nil && ctx.Err() == nil {
			log.Warn("retention failed", "err", err)
		} else if err == nil {
			log.Debug("retention", "result", fmt.Sprintf("%+v", res))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func newLogger(c config.Log, level *slog.LevelVar, w io.Writer) *slog.Logger {
	level.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func runCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: understudy check FILE") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(fs.Arg(0), getenv)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid\n\n", fs.Arg(0))
	cfg.Describe(stdout)
	return nil
}

// loadFlagConfig parses "-config FILE" and loads it.
func loadFlagConfig(name string, args []string, getenv func(string) string, stderr io.Writer, usage string) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "understudy.yaml", "configuration file")
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: understudy "+usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, err := loadFlagConfig("migrate", args, getenv, stderr, "migrate [-config FILE]")
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg) // Open applies what is pending
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.AppliedMigrations(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s store is up to date:\n", st.Dialect())
	for _, m := range applied {
		fmt.Fprintf(stdout, "  migration %04d applied %s\n", m.Version, m.AppliedAt.Format(time.RFC3339))
	}
	return nil
}

func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, fs, err := loadFlagConfig("backup", args, getenv, stderr, "backup [-config FILE] OUT")
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", cfg.Storage.SQLite, fs.Arg(0))
	return nil
}

// publishChange tells the status page's live clients what changed.
func publishChange(hub *live.Hub, id int64, ev understudy.Event) {
	switch {
	case ev.Type == understudy.EventComponentChanged:
		hub.Publish("component", 0)
	case strings.HasPrefix(ev.Type, "maintenance."):
		mid, _ := ev.Details["maintenance_id"].(int64)
		hub.Publish("maintenance", mid)
	case id != 0 && ev.Type != understudy.EventIncidentEvidence && ev.Type != understudy.EventIncidentReminder:
		hub.Publish("incident", id)
	}
}

// faqAnswers is the knowledge base as the gateway's "faq" step asks it.
type faqAnswers struct{ kb *faq.KB }

func (f faqAnswers) Answer(ctx context.Context, question, lang string) (string, string, bool) {
	m, ok := f.kb.Search(ctx, question, lang)
	return m.Answer, m.Lang, ok
}

var _ gateway.FAQ = faqAnswers{}
