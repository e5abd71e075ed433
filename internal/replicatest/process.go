package replicatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/understudy/understudy/internal/proc"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/understudy/understudy/simulate"
)

// Replica is one `understudy serve` process, running or not.
type Replica struct {
	Index int
	// URL is its base URL (http://127.0.0.1:PORT), the same across
	// restarts; "" before its first start.
	URL string

	c       *Cluster
	logPath string
	proc    *proc.Process // the current or last process; guarded by c.mu
}

// Running reports whether the replica's process is running.
func (r *Replica) Running() bool {
	r.c.mu.Lock()
	p := r.proc
	r.c.mu.Unlock()
	return p != nil && p.Running()
}

// Admin calls the replica's admin API with the cluster's token and returns
// the body; an answer other than 2xx is an error holding the body.
func (r *Replica) Admin(ctx context.Context, method, path, body string) ([]byte, error) {
	return r.c.Admin(ctx, r.URL, method, path, body)
}

// Admin calls the admin API at base (a replica or the proxy) with the
// cluster's token; an answer other than 2xx is an error holding the body.
func (c *Cluster) Admin(ctx context.Context, base, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s%s: %w", method, base, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s%s: HTTP %d: %s", method, base, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

// Start starts replica i (again): on its first start on a free port, later
// on the port it had. It returns once the replica listens and answers
// /healthz.
func (c *Cluster) Start(ctx context.Context, i int) error {
	r := c.Replicas[i]
	if r.Running() {
		return fmt.Errorf("replica %d is already running", i)
	}
	listen := "127.0.0.1:0"
	if r.URL != "" {
		listen = strings.TrimPrefix(r.URL, "http://")
	}
	env := []string{
		"UNDERSTUDY_POSTGRES_DSN=" + c.o.DSN,
		"SIM_URL=" + c.SimURL,
		"UNDERSTUDY_ADMIN_TOKEN=" + c.o.AdminToken,
		"WEBHOOK_SECRET=" + c.o.WebhookSecret,
	}
	for k, v := range c.o.Env {
		env = append(env, k+"="+v)
	}
	name := fmt.Sprintf("replica %d", i)
	p, out, err := startProcess(name, r.logPath, env, c.o.Binary, "serve", "-config", c.cfgPath, "-listen", listen)
	if err != nil {
		return err
	}
	c.mu.Lock()
	r.proc = p
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	addr, err := p.Announced(ctx, out, "understudy gateway listening on http://")
	if err != nil {
		p.Kill()
		return fmt.Errorf("%s: %w", name, err)
	}
	if r.URL == "" {
		r.URL = "http://" + addr
	}
	if err := c.waitOK(ctx, r.URL+"/healthz", p); err != nil {
		p.Kill()
		return fmt.Errorf("%s: %w", name, err)
	}
	c.o.Logf("replicatest: replica %d (pid %d) listening on %s", i, p.Pid(), r.URL)
	return nil
}

// Kill sends replica i SIGKILL and waits for the process to be gone (its
// sockets are then closed: connections to its port are refused).
func (c *Cluster) Kill(i int) {
	r := c.Replicas[i]
	c.mu.Lock()
	p := r.proc
	c.mu.Unlock()
	if p == nil {
		return
	}
	p.Kill()
	c.o.Logf("replicatest: replica %d killed (SIGKILL)", i)
}

// Stop stops replica i gracefully: SIGTERM, then waits for it to exit (at
// most Options.StopTimeout, then SIGKILL). It is an error for serve to exit
// other than cleanly.
func (c *Cluster) Stop(i int) error {
	r := c.Replicas[i]
	c.mu.Lock()
	p := r.proc
	c.mu.Unlock()
	if p == nil || !p.Running() {
		return fmt.Errorf("replica %d is not running", i)
	}
	if err := p.Terminate(c.o.StopTimeout); err != nil {
		return err
	}
	c.o.Logf("replicatest: replica %d stopped (SIGTERM)", i)
	return nil
}

// waitOK polls url until it answers 200, while p runs.
func (c *Cluster) waitOK(ctx context.Context, url string, p *proc.Process) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %v (%w)", url, last, ctx.Err())
		case <-p.Done():
			return fmt.Errorf("exited: %v", p.Err())
		case <-tick.C:
		}
	}
}

// startProcess starts bin with args, env added to this process's
// environment, stderr appended to logPath (and stdout lines nobody reads);
// it returns its stdout's lines. The child gets SIGKILL if this process
// dies.
func startProcess(name, logPath string, env []string, bin string, args ...string) (*proc.Process, <-chan string, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(logf, "=== %s: %s %s (%s)\n", name, bin, strings.Join(args, " "), time.Now().Format(time.RFC3339Nano))
	p, out, err := proc.Start(name, env, logf, bin, args...)
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	go func() { <-p.Done(); logf.Close() }()
	return p, out, nil
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log)\n"
		}
		return err.Error() + "\n"
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	lines = lines[max(0, len(lines)-n):]
	out := strings.Join(lines, "")
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

// newSimServer serves the simulator on loopback.
func newSimServer(sim *simulate.Simulator) *httptest.Server { return httptest.NewServer(sim) }
