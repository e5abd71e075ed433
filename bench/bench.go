package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// setup is one way of reaching the mock upstream.
type setup struct {
	name     string
	proc     *child // the server the client talks to (the upstream itself for direct)
	chatURL  string
	idleURL  string // a stream that goes silent after its first chunk
	idleBody []byte
}

const (
	benchRoute = "bench"      // Understudy's route to the mock upstream
	idleRoute  = "bench-idle" // … and to its idle streams
)

func requestBody(model string, stream bool) []byte {
	s := ""
	if stream {
		s = `,"stream":true`
	}
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"Say hello."}]%s}`, model, s)
}

// runner carries one benchmark run's state.
type runner struct {
	opts           options
	stderr         io.Writer
	upstream       *child
	setups         []*setup
	rep            *report
	wholeBody      []byte
	streamBody     []byte
	idleStreamBody []byte
	nofileErr      error // from raising the open-files limit
	bin, tmp       string
	// start runs a server (stopped when the benchmark ends) and waits until
	// GET ready answers 200.
	start func(name, ready, bin string, args ...string) (*child, error)
	// startEnv is start with variables added to the server's environment.
	startEnv func(env []string, name, ready, bin string, args ...string) (*child, error)
}

func runBench(ctx context.Context, opts options, stdout, stderr io.Writer) error {
	rep := newReport(opts)
	// Raise the open-files limit before starting any server: they inherit it.
	// The idle test sizes itself to what the limits allow (idleFit).
	_, nofileErr := raiseOpenFiles(uint64(2*opts.Idle + 1024))

	tmp, err := os.MkdirTemp("", "understudy-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := opts.Understudy
	if bin == "" {
		progress(stderr, "building understudy (go build -o %s/understudy ./cmd/understudy)", tmp)
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		bin = filepath.Join(tmp, "understudy")
		if err := goBuild(ctx, root, bin, stderr); err != nil {
			return err
		}
		rep.understudy = "built from " + root + gitDescribe(ctx, root)
	} else {
		rep.understudy = bin
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	r := &runner{opts: opts, stderr: stderr, rep: rep, nofileErr: nofileErr, bin: bin, tmp: tmp,
		wholeBody: requestBody(benchRoute, false), streamBody: requestBody(benchRoute, true),
		idleStreamBody: requestBody(idleRoute, true)}
	var children []*child
	defer func() {
		for i := len(children) - 1; i >= 0; i-- {
			children[i].stop()
		}
	}()
	startEnv := func(env []string, name, ready string, bin string, args ...string) (*child, error) {
		c, err := startChild(ctx, name, env, stderr, bin, args...)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
		if err := waitReady(ctx, "http://"+c.addr+ready); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return c, nil
	}
	start := func(name, ready string, bin string, args ...string) (*child, error) {
		return startEnv(nil, name, ready, bin, args...)
	}
	r.start, r.startEnv = start, startEnv

	progress(stderr, "starting mock upstream, bare proxy and understudy")
	up, err := start("upstream", "/healthz", self, "upstream", "-listen", "127.0.0.1:0", "-chunks", fmt.Sprint(opts.Chunks))
	if err != nil {
		return err
	}
	r.upstream = up
	proxy, err := start("proxy", "/healthz", self, "proxy", "-listen", "127.0.0.1:0", "-target", "http://"+up.addr)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(tmp, "understudy.yaml")
	if err := os.WriteFile(cfgPath, []byte(understudyConfig(up.addr, sqliteStorage(filepath.Join(tmp, "understudy.db")))), 0o600); err != nil {
		return err
	}
	us, err := start("understudy", "/healthz", bin, "serve", "-config", cfgPath)
	if err != nil {
		return err
	}
	r.setups = []*setup{
		{name: "direct", proc: up, chatURL: "http://" + up.addr + "/v1/chat/completions",
			idleURL: "http://" + up.addr + "/idle/v1/chat/completions", idleBody: r.streamBody},
		{name: "bare proxy", proc: proxy, chatURL: "http://" + proxy.addr + "/v1/chat/completions",
			idleURL: "http://" + proxy.addr + "/idle/v1/chat/completions", idleBody: r.streamBody},
		{name: "understudy", proc: us, chatURL: "http://" + us.addr + "/v1/chat/completions",
			idleURL: "http://" + us.addr + "/v1/chat/completions", idleBody: r.idleStreamBody},
	}

	err = r.phases(ctx)
	for _, c := range children {
		if n := c.log.count(); n > maxChildLines && !c.chatty {
			rep.warn(fmt.Sprintf("%s wrote %d lines to stderr (the first %d are shown above the report)", c.name, n, maxChildLines))
		}
	}
	if err != nil {
		return err
	}
	rep.write(stdout)
	if opts.Out != "" {
		f, err := os.Create(opts.Out)
		if err != nil {
			return err
		}
		rep.writeMarkdown(f)
		if err := f.Close(); err != nil {
			return err
		}
		progress(stderr, "wrote %s", opts.Out)
	}
	return nil
}

// sqliteStorage is a storage section for a SQLite file (the default store;
// without an explicit path the gateway would create understudy.db in its
// working directory).
func sqliteStorage(path string) string {
	return fmt.Sprintf("storage: {sqlite: %q}\n", path)
}

// understudyConfig routes "bench" to the mock upstream and "bench-idle" to
// its idle streams; no keys (loopback), no probes, generous timeouts so the
// idle streams are never cut. storage is the config's storage section.
func understudyConfig(upstream, storage string) string {
	return fmt.Sprintf(`# Written by the benchmark (bench/).
listen: 127.0.0.1:0
log: {level: warn}
%[5]sproviders:
  - name: mock
    kind: openai
    base_url: http://%[1]s/v1
    probe: {disabled: true}
  - name: mock-idle
    kind: openai
    base_url: http://%[1]s/idle/v1
    probe: {disabled: true}
routes:
  - name: %[2]s
    tiers:
      - [{provider: mock, model: %[4]s}]
    timeouts: {first_token: 30s, stream_idle: 10m, total: 15m}
  - name: %[3]s
    tiers:
      - [{provider: mock-idle, model: %[4]s}]
    timeouts: {first_token: 30s, stream_idle: 10m, total: 15m}
`, upstream, benchRoute, idleRoute, mockModel, storage)
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run the benchmark from the repository (go run ./bench)")
	}
	root := filepath.Dir(mod)
	if _, err := os.Stat(filepath.Join(root, "cmd", "understudy")); err != nil {
		return "", fmt.Errorf("%s has no cmd/understudy: run the benchmark from the understudy repository, or pass -understudy", root)
	}
	return root, nil
}

func goBuild(ctx context.Context, root, out string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/understudy")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building understudy: %w", err)
	}
	return nil
}

// gitDescribe is " (commit abc1234, with uncommitted changes)" or "".
func gitDescribe(ctx context.Context, root string) string {
	head, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := " (commit " + strings.TrimSpace(string(head))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += ", with uncommitted changes"
	}
	return s + ")"
}

func progress(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// named is a result with the setup it belongs to.
type named[T any] struct {
	setup string
	v     T
}
