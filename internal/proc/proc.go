// Package proc runs the child server processes of the benchmark and of the
// replicas' end-to-end tests: started so that they die with this process,
// their stdout read line by line (never blocking them), stopped gracefully
// or killed.
package proc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a started child process.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // its exit error, once done is closed
}

// Start runs bin with args, env added to this process's environment, its
// stderr written to stderr. It returns the process and its stdout's lines;
// a line that finds the channel's buffer full is written to stderr instead
// (prefixed "stdout: "), so that the child never blocks on its stdout. The
// child gets SIGKILL if this process dies.
func Start(name string, env []string, stderr io.Writer, bin string, args ...string) (*Process, <-chan string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 16)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
				fmt.Fprintf(stderr, "stdout: %s\n", sc.Text())
			}
		}
	}()
	go func() {
		<-copied // Wait closes stdout: read it all first
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, lines, nil
}

// Announced waits for the first line of out that contains marker and
// returns the word that follows it: e.g. marker "http://" and a line
// "listening on http://127.0.0.1:8080" give "127.0.0.1:8080".
func (p *Process) Announced(ctx context.Context, out <-chan string, marker string) (string, error) {
	for {
		select {
		case line := <-out:
			if _, rest, ok := strings.Cut(line, marker); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					return f[0], nil
				}
				return "", nil
			}
		case <-p.done:
			return "", fmt.Errorf("%s exited before listening: %v", p.Name, p.err)
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no line with %q: %w", p.Name, marker, ctx.Err())
		}
	}
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the exit, at most 5 s.
func (p *Process) Kill() {
	if !p.Running() {
		return
	}
	_ = p.cmd.Process.Kill()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
}

// Terminate stops the process gracefully (SIGTERM) and waits for it to
// exit, at most wait; then it is killed. It returns the exit error, or one
// saying it had to be killed or had exited already.
func (p *Process) Terminate(wait time.Duration) error {
	if !p.Running() {
		return fmt.Errorf("%s had already exited: %v", p.Name, p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", p.Name, err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s exited after SIGTERM: %w", p.Name, p.err)
		}
		return nil
	case <-t.C:
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.Name, wait)
	}
}
