package config

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// watchFixture is a config file, a Watcher of it, the applied configs and the logs.
type watchFixture struct {
	path     string
	env      env
	logs     *bytes.Buffer
	mu       sync.Mutex
	applied  []*Config
	applyErr error
}

func newWatchFixture(t *testing.T, content string) *watchFixture {
	t.Helper()
	f := &watchFixture{path: filepath.Join(t.TempDir(), "understudy.yaml"), logs: &bytes.Buffer{}, env: env{}}
	for k, v := range testEnv {
		f.env[k] = v
	}
	f.write(t, content)
	return f
}

func (f *watchFixture) write(t *testing.T, content string) {
	t.Helper()
	// Write then rename, as editors do: the file is replaced, not modified.
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		t.Fatal(err)
	}
}

func (f *watchFixture) watcher(opts ...WatchOption) *Watcher {
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewWatcher(f.path, f.env.get, logger, func(c *Config) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.applied = append(f.applied, c)
		return f.applyErr
	}, opts...)
}

func (f *watchFixture) applyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.applied)
}

func (f *watchFixture) last() *Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[len(f.applied)-1]
}

var (
	validV2   = strings.Replace(validBase, "gpt-4o-mini", "gpt-4.1-mini", 1)
	invalidV3 = strings.Replace(validBase, "provider: openai", "provider: opnai", 1)
)

func TestWatcherPoll(t *testing.T) {
	f := newWatchFixture(t, validBase)
	w := f.watcher()

	steps := []struct {
		name      string
		content   string // "" = leave the file alone
		wantCount int
		wantModel string
		wantLog   string
	}{
		{"first load applies", "", 1, "gpt-4o-mini", `msg="config reloaded"`},
		{"unchanged file does nothing", "", 1, "gpt-4o-mini", ""},
		{"valid change applied", validV2, 2, "gpt-4.1-mini", `msg="config reloaded"`},
		{"invalid change rejected, old kept", invalidV3, 2, "gpt-4.1-mini",
			`level=ERROR msg="config reload failed; keeping the running config"`},
		{"invalid file logged once", "", 2, "gpt-4.1-mini", ""},
		{"comment-only change is not a new config", validV2 + "# tweak\n", 2, "gpt-4.1-mini", `msg="config unchanged"`},
		{"back to valid", validBase, 3, "gpt-4o-mini", `msg="config reloaded"`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.content != "" {
				f.write(t, s.content)
			}
			f.logs.Reset()
			w.poll()
			if got := f.applyCount(); got != s.wantCount {
				t.Errorf("got %d apply calls, want %d\nlogs:\n%s", got, s.wantCount, f.logs)
			}
			if got := w.Current().Routes[0].Tiers[0][0].Model; got != s.wantModel {
				t.Errorf("got running model %q, want %q", got, s.wantModel)
			}
			if s.wantLog == "" && f.logs.Len() > 0 && !strings.Contains(f.logs.String(), "level=DEBUG") {
				t.Errorf("got logs %q, want none", f.logs)
			}
			if !strings.Contains(f.logs.String(), s.wantLog) {
				t.Errorf("got logs\n%s\nwant them to contain %s", f.logs, s.wantLog)
			}
		})
	}
	// The rejection names the problem with its line.
	f.write(t, invalidV3)
	f.logs.Reset()
	w.poll()
	if want := `routes[0].tiers[0][0].provider: unknown provider \"opnai\"`; !strings.Contains(f.logs.String(), want) {
		t.Errorf("got logs\n%s\nwant the reason %s", f.logs, want)
	}
}

func TestWatcherReload(t *testing.T) {
	f := newWatchFixture(t, validBase)
	initial, err := Load(f.path, f.env.get)
	if err != nil {
		t.Fatal(err)
	}
	w := f.watcher(WithCurrent(initial))

	if err := w.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := f.applyCount(); got != 0 {
		t.Errorf("got %d apply calls for the running config, want 0", got)
	}

	// SIGHUP picks up a changed environment, which polling cannot see.
	f.env["OPENAI_API_KEY"] = "sk-rotated"
	if err := w.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := f.applyCount(); got != 1 {
		t.Fatalf("got %d apply calls after a key rotation, want 1", got)
	}
	if got := f.last().Providers[0].APIKey.Value; got != "sk-rotated" {
		t.Errorf("got api key %q, want the rotated one", got)
	}

	// An unset variable is refused and the running config kept.
	delete(f.env, "OPENAI_API_KEY")
	f.logs.Reset()
	if err := w.Reload(); err == nil {
		t.Fatal("got no error for an unset variable, want one")
	}
	if got := f.applyCount(); got != 1 {
		t.Errorf("got %d apply calls, want still 1", got)
	}
	if want := "environment variable OPENAI_API_KEY is unset or empty"; !strings.Contains(f.logs.String(), want) {
		t.Errorf("got logs\n%s\nwant %q", f.logs, want)
	}
	if w.Current() != f.last() {
		t.Error("got a different running config, want the last applied one")
	}

	// A missing file is an error too, and nothing changes.
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err == nil {
		t.Error("got no error for a missing file, want one")
	}
}

// TestWatcherRun drives Run with a fake clock and a fake SIGHUP channel.
func TestWatcherRun(t *testing.T) {
	f := newWatchFixture(t, validBase)
	clock := clockwork.NewFakeClock()
	sig := make(chan os.Signal)
	events := make(chan struct{})
	w := f.watcher(WithClock(clock), WithInterval(5*time.Second), WithSignals(sig))
	w.afterEvent = func() { events <- struct{}{} }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()

	// Run loads the file, then waits on its ticker.
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := f.applyCount(); got != 1 {
		t.Fatalf("got %d apply calls after start, want 1", got)
	}

	f.write(t, validV2)
	clock.Advance(5 * time.Second)
	<-events
	if got, want := f.last().Routes[0].Tiers[0][0].Model, "gpt-4.1-mini"; got != want {
		t.Errorf("got model %q after a tick, want %q", got, want)
	}

	f.write(t, invalidV3)
	clock.Advance(5 * time.Second)
	<-events
	if got := f.applyCount(); got != 2 {
		t.Errorf("got %d apply calls after an invalid change, want 2", got)
	}

	f.write(t, validBase)
	sig <- syscall.SIGHUP
	<-events
	if got := f.applyCount(); got != 3 {
		t.Errorf("got %d apply calls after SIGHUP, want 3", got)
	}
	if !strings.Contains(f.logs.String(), `msg="SIGHUP received: reloading config"`) {
		t.Errorf("got logs\n%s\nwant the SIGHUP noted", f.logs)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("got Run error %v, want nil", err)
	}
}

// TestWatcherApplyRefused: when the running program refuses a valid config,
// the watcher keeps the running one, reports the rejection, and tries the
// same content again at the next trigger.
func TestWatcherApplyRefused(t *testing.T) {
	f := newWatchFixture(t, validBase)
	initial, err := Load(f.path, f.env.get)
	if err != nil {
		t.Fatal(err)
	}
	var rejected []error
	w := f.watcher(WithCurrent(initial), WithOnReject(func(err error) { rejected = append(rejected, err) }))
	f.env["OPENAI_API_KEY"] = "sk-rotated"
	f.applyErr = errors.New("refused by the gateway")
	if err := w.Reload(); err == nil {
		t.Fatal("got no error, want the refusal")
	}
	if w.Current() != initial {
		t.Errorf("current moved to the refused config")
	}
	if len(rejected) != 1 || !strings.Contains(f.logs.String(), "refused by the gateway") {
		t.Errorf("got rejections %v, logs\n%s\nwant the refusal reported", rejected, f.logs)
	}
	f.applyErr = nil
	if err := w.Reload(); err != nil {
		t.Fatalf("second Reload: %v", err)
	}
	if got := f.applyCount(); got != 2 || w.Current() == initial {
		t.Errorf("got %d apply calls and current unchanged=%v, want 2 and the new config", got, w.Current() == initial)
	}
}
