package config

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
)

// DefaultWatchInterval is how often a Watcher looks at the file.
const DefaultWatchInterval = time.Second

// Watcher keeps a running configuration in step with its file. It reloads on
// SIGHUP, when the file's content changes, and when Reload is called. A new
// configuration that does not load or validate is logged at error level with
// every problem, and the running one is kept; a valid one that differs from
// the running one is passed to apply and logged as "config reloaded".
//
// Changes are found by polling: every interval the file is read and its
// SHA-256 compared with the last content seen. Polling needs no extra
// dependency, sees through editors that replace the file (rename over it),
// Kubernetes ConfigMap symlink swaps and network filesystems, all of which
// defeat or complicate inotify-style watching, and costs one small read per
// interval. Environment changes are only picked up by SIGHUP or Reload.
type Watcher struct {
	path     string
	getenv   func(string) string
	logger   *slog.Logger
	apply    func(*Config) error
	clock    clockwork.Clock
	interval time.Duration
	signals  <-chan os.Signal
	onReject func(error)

	mu      sync.Mutex
	current *Config
	seen    [32]byte // SHA-256 of the content last loaded, valid or not
	seenOK  bool
	readErr string // last read error logged, so that it is logged once

	afterEvent func() // test hook, called by Run after each tick or signal
}

// WatchOption configures a Watcher.
type WatchOption func(*Watcher)

// WithClock sets the clock whose ticker drives polling (a fake one in tests).
func WithClock(c clockwork.Clock) WatchOption { return func(w *Watcher) { w.clock = c } }

// WithInterval sets the polling interval. Default DefaultWatchInterval; a
// value ≤ 0 keeps the default.
func WithInterval(d time.Duration) WatchOption {
	return func(w *Watcher) {
		if d > 0 {
			w.interval = d
		}
	}
}

// WithCurrent sets the configuration already running (typically the result
// of Load at startup), so that Run does not apply it a second time.
func WithCurrent(c *Config) WatchOption { return func(w *Watcher) { w.current = c } }

// WithOnReject calls f with the reason each time a new configuration is
// rejected (invalid, or refused by apply).
func WithOnReject(f func(error)) WatchOption { return func(w *Watcher) { w.onReject = f } }

// WithSignals replaces the SIGHUP subscription Run makes with ch.
func WithSignals(ch <-chan os.Signal) WatchOption { return func(w *Watcher) { w.signals = ch } }

// NewWatcher returns a Watcher of the file at path. apply is called with
// each new valid configuration, one call at a time; it must not call Reload.
// logger nil discards logs.
func NewWatcher(path string, getenv func(string) string, logger *slog.Logger, apply func(*Config) error, opts ...WatchOption) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{
		path:     path,
		getenv:   getenv,
		logger:   logger,
		apply:    apply,
		clock:    clockwork.NewRealClock(),
		interval: DefaultWatchInterval,
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Watch runs a Watcher of path with no running configuration: the file is
// loaded and applied first, then kept up to date until ctx is done.
func Watch(ctx context.Context, path string, getenv func(string) string, logger *slog.Logger, apply func(*Config) error) error {
	return NewWatcher(path, getenv, logger, apply).Run(ctx)
}

// Run checks the file once (applying it if it differs from the running
// configuration), then reloads on SIGHUP and on file changes until ctx is
// done. It returns nil when ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	sig := w.signals
	if sig == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		sig = ch
	}
	w.poll()
	t := w.clock.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
			w.poll()
		case <-sig:
			w.logger.Info("SIGHUP received: reloading config", "path", w.path)
			_ = w.Reload() // logged
		}
		if w.afterEvent != nil {
			w.afterEvent()
		}
	}
}

// Reload reads, parses and validates the file now, whether it changed or not
// (the environment may have), and applies it if it is valid and differs from
// the running configuration. The error is also logged.
func (w *Watcher) Reload() error {
	b, err := os.ReadFile(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.logger.Error("config reload failed; keeping the running config", "path", w.path, "err", err)
		return err
	}
	w.readErr = ""
	return w.load(b, "reload")
}

// Current returns the running configuration (nil before the first valid load).
func (w *Watcher) Current() *Config {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// poll loads the file if its content changed since it was last loaded.
func (w *Watcher) poll() {
	b, err := os.ReadFile(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		// An editor replacing the file can make it vanish for a moment: log
		// once, keep the running config, and look again at the next tick.
		if err.Error() != w.readErr {
			w.readErr = err.Error()
			w.logger.Error("cannot read config file; keeping the running config", "path", w.path, "err", err)
		}
		return
	}
	w.readErr = ""
	if sum := sha256.Sum256(b); w.seenOK && sum == w.seen {
		return
	}
	_ = w.load(b, "file changed") // logged
}

// load parses and validates b and applies it when valid and different. The
// caller holds w.mu.
func (w *Watcher) load(b []byte, trigger string) error {
	w.seen, w.seenOK = sha256.Sum256(b), true
	cfg, err := load(b, w.path, w.getenv)
	if err != nil {
		w.logger.Error("config reload failed; keeping the running config",
			"path", w.path, "trigger", trigger, "err", err.Error())
		if w.onReject != nil {
			w.onReject(err)
		}
		return err
	}
	if w.current.equal(cfg) {
		w.logger.Debug("config unchanged", "path", w.path, "trigger", trigger)
		return nil
	}
	for _, warning := range cfg.Warnings() {
		w.logger.Warn("config warning", "path", w.path, "warning", warning)
	}
	if err := w.apply(cfg); err != nil {
		// The running program refused it: keep the running config, and let
		// the next trigger try this content again.
		w.seenOK = false
		w.logger.Error("config rejected; keeping the running config", "path", w.path, "trigger", trigger, "err", err.Error())
		if w.onReject != nil {
			w.onReject(err)
		}
		return err
	}
	w.current = cfg
	w.logger.Info("config reloaded", "path", w.path, "trigger", trigger)
	return nil
}
