package main

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understudy/understudy/simulate"
)

// served is `understudy serve` running, for end-to-end tests, on a config
// over a fresh simulator.
type served struct {
	sim            *simulate.Simulator
	base           string              // http://host:port
	env            func(string) string // the environment serve was given
	stdout, stderr *lines
	done           chan error // serve's result, once ctx ends
}

// startServed writes cfg — which may use ${SIM_URL}, ${DB} (a fresh SQLite
// file) and the names of vars — and runs serve on it until ctx ends. It
// returns once serve listens; the simulator closes when the test ends.
func startServed(ctx context.Context, t *testing.T, cfg string, vars map[string]string) *served {
	t.Helper()
	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); simSrv.Close() })
	env := map[string]string{"SIM_URL": simSrv.URL, "DB": filepath.Join(t.TempDir(), "u.db")}
	maps.Copy(env, vars)
	s := &served{sim: sim, env: func(k string) string { return env[k] }, stdout: newLines(), stderr: newLines(), done: make(chan error, 1)}
	path := writeFile(t, t.TempDir(), "understudy.yaml", cfg)
	go func() { s.done <- run(ctx, []string{"serve", "-config", path}, s.env, s.stdout, s.stderr) }()
	line := s.stdout.waitFor(ctx, t, "listening on ")
	s.base = strings.TrimSpace(line[strings.Index(line, "http://"):])
	return s
}

// down makes every request to serveConfig's two providers fail.
func (s *served) down(t *testing.T) {
	t.Helper()
	for _, p := range []string{"primary", "secondary"} {
		if err := s.sim.SetFault(p, simulate.Fault{Kind: simulate.KindServerError}); err != nil {
			t.Fatal(err)
		}
	}
}

// stop cancels serve's context and checks that it ended cleanly.
func (s *served) stop(t *testing.T, cancel context.CancelFunc) {
	t.Helper()
	cancel()
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// admin calls serve's admin API with token and returns the body; an answer
// other than 2xx fails the test.
func (s *served) admin(ctx context.Context, t *testing.T, token, method, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, s.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, b)
	}
	return b
}
