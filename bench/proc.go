package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/understudy/understudy/internal/proc"
)

// child is a server process started by the benchmark.
type child struct {
	*proc.Process
	name string
	addr string        // host:port it announced
	log  *prefixWriter // its stderr
	// chatty: it logs by design (every fault set, every stream cut), so the
	// report does not warn about how much it wrote.
	chatty bool
}

// startChild runs bin with args and waits (at most 30 s) for it to announce
// "…http://HOST:PORT…" on stdout. Its stderr is copied to stderr, each line
// prefixed with its name. env, when not empty, is added to the benchmark's
// own environment. The child gets SIGKILL if the benchmark dies.
func startChild(ctx context.Context, name string, env []string, stderr io.Writer, bin string, args ...string) (*child, error) {
	log := &prefixWriter{prefix: "[" + name + "] ", w: stderr, max: maxChildLines}
	p, out, err := proc.Start(name, env, log, bin, args...)
	if err != nil {
		return nil, err
	}
	c := &child{Process: p, name: name, log: log}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if c.addr, err = p.Announced(actx, out, "http://"); err != nil {
		p.Kill()
		return nil, err
	}
	go func() { // keep draining so the child never writes its stdout to our stderr
		for {
			select {
			case <-out:
			case <-p.Done():
				return
			}
		}
	}()
	return c, nil
}

func (c *child) pid() int { return c.Pid() }

// stop kills the process and waits for it (at most 5 s).
func (c *child) stop() { c.Kill() }

// terminate stops the process gracefully (SIGTERM) and waits for it to exit,
// at most wait; then it is killed.
func (c *child) terminate(wait time.Duration) error { return c.Terminate(wait) }

// alive reports an error if the process has exited.
func (c *child) alive() error {
	if !c.Running() {
		return fmt.Errorf("%s exited: %v", c.name, c.Err())
	}
	return nil
}

// waitReady polls url until it answers 200, for at most 10 s.
func waitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	var last error
	for range 200 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after 10s: %v", url, last)
}

// procMem is a process's resident memory, in bytes.
type procMem struct {
	RSS, HWM int64 // VmRSS now, VmHWM (peak) over the process's life
}

func readMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for line := range bytes.Lines(b) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(string(val)) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return procMem{}, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, name, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return procMem{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		*dst = kb << 10
	}
	if m.RSS == 0 {
		return procMem{}, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, nil
}

// clockTicks is USER_HZ, the unit of times in /proc/PID/stat: 100 on Linux.
const clockTicks = 100

// readCPU is the CPU time (user + system) a process has used so far.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its ")" are
	// numbered from 3, so utime (14) and stime (15) are at 11 and 12.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// machineCPU is the busy and total CPU time of the whole machine so far, in
// ticks, from the first line of /proc/stat.
func machineCPU() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: unexpected first line")
	}
	// user nice system idle iowait irq softirq steal; guest time is
	// already counted in user and nice.
	for i, s := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// openFiles is the number of file descriptors a process has open.
func openFiles(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds), err
}

// openFilesLimit is the soft RLIMIT_NOFILE of a process.
func openFilesLimit(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("Max open files")); ok {
			f := strings.Fields(string(rest))
			if len(f) == 0 {
				break
			}
			if f[0] == "unlimited" {
				return 1 << 62, nil
			}
			return strconv.ParseUint(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/limits: no Max open files line", pid)
}

// raiseOpenFiles raises this process's RLIMIT_NOFILE (soft and, if allowed,
// hard) to at least want, so that the children started afterwards inherit
// it. It calls syscall.Setrlimit on purpose: after that, os/exec no longer
// restores the original soft limit in children. It returns the soft limit in
// force.
func raiseOpenFiles(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err == nil {
		return next.Cur, nil
	}
	// Not allowed to raise the hard limit: take as much as it allows.
	next = lim
	next.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		return lim.Cur, fmt.Errorf("setrlimit(NOFILE, %d): %w", next.Cur, err)
	}
	return next.Cur, errors.New("not allowed to raise the hard limit (needs CAP_SYS_RESOURCE; or raise `ulimit -Hn` before the run)")
}

// maxChildLines bounds how much of a child's stderr is shown.
const maxChildLines = 20

// hardOpenFiles is this process's hard RLIMIT_NOFILE (0 if unknown).
func hardOpenFiles() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Max
}

// prefixWriter writes the first max lines it gets, each with a prefix, and
// counts them all. Safe for concurrent use.
type prefixWriter struct {
	prefix string
	w      io.Writer
	max    int

	mu    sync.Mutex
	buf   []byte
	lines int
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > 4096 { // a very long line: cut it
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
	return len(b), nil
}

func (p *prefixWriter) emit(line []byte) {
	p.lines++
	switch {
	case p.lines <= p.max:
		fmt.Fprintf(p.w, "%s%s", p.prefix, line)
	case p.lines == p.max+1:
		fmt.Fprintf(p.w, "%s(further output is counted, not shown)\n", p.prefix)
	}
}

// count is the number of lines written so far.
func (p *prefixWriter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines
}
