package proc_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/proc"
)

// TestLifecycle: a shell that announces an address, chatters on stdout
// beyond the buffer without blocking, and exits on SIGTERM; another that
// ignores SIGTERM is killed.
func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer // read once the process is done
	p, out, err := proc.Start("sh", nil, &stderr, "/bin/sh", "-c",
		`trap 'exit 0' TERM; echo to-stderr >&2; echo "listening on http://127.0.0.1:9999 now"; for i in $(seq 1 100); do echo line $i; done; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := p.Announced(ctx, out, "http://")
	if err != nil || addr != "127.0.0.1:9999" {
		t.Fatalf("Announced: %q, %v", addr, err)
	}
	if !p.Running() || p.Pid() == 0 {
		t.Fatal("not running after announcing")
	}
	if err := p.Terminate(10 * time.Second); err != nil {
		t.Errorf("Terminate: %v", err)
	}
	if p.Running() {
		t.Error("still running after Terminate")
	}
	if !strings.Contains(stderr.String(), "to-stderr") {
		t.Errorf("stderr %q: want the child's stderr", stderr.String())
	}
	if err := p.Terminate(time.Second); err == nil {
		t.Error("Terminate of an exited process: no error")
	}

	stubborn, out, err := proc.Start("stubborn", nil, io.Discard, "/bin/sh", "-c", `trap '' TERM; echo up; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stubborn.Announced(ctx, out, "up"); err != nil {
		t.Fatal(err)
	}
	if err := stubborn.Terminate(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Terminate of a process ignoring SIGTERM: %v, want killed", err)
	}
	if stubborn.Running() {
		t.Error("still running after being killed")
	}

	gone, out, err := proc.Start("gone", nil, io.Discard, "/bin/sh", "-c", "exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Announced(ctx, out, "http://"); err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Errorf("Announced of a process that exits: %v", err)
	}
	<-gone.Done()
	if gone.Err() == nil {
		t.Error("exit 3: no exit error")
	}
}
