package replicatest_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/internal/replicatest"
)

// nginxFor is the nginx binary for the tests; they skip without one,
// except under CI=true, where nginx must be there.
func nginxFor(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(replicatest.NginxEnv)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set and CI=true: the tests behind nginx must run", replicatest.NginxEnv)
		}
		tb.Skipf("%s is not set (./scripts/nginx-for-tests prints one); skipping a test behind nginx", replicatest.NginxEnv)
	}
	return bin
}

// TestHarness: two replicas and nginx start; exactly one leads; a
// replica killed comes back on the same address; a /live stream through
// nginx opens; a graceful stop ends cleanly.
func TestHarness(t *testing.T) {
	db := pgtest.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := replicatest.New(t, replicatest.Options{DSN: db, Replicas: 2, Nginx: nginxFor(t), Dir: t.TempDir()})
	leader, err := c.WaitLeader(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{c.Replicas[0].URL, c.Replicas[1].URL, c.Proxy} {
		resp, err := c.Client.Post(base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "gpt-4o-mini") {
			t.Errorf("POST %s/v1/chat/completions: %d %s", base, resp.StatusCode, b)
		}
	}
	url := c.Replicas[leader].URL
	c.Kill(leader)
	if c.Replicas[leader].Running() {
		t.Fatal("killed replica still running")
	}
	next, err := c.WaitLeader(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if c.Replicas[leader].URL != url {
		t.Errorf("restarted on %s, want %s", c.Replicas[leader].URL, url)
	}
	if i, ok := c.Leader(ctx); !ok || i != next {
		t.Errorf("leader after the restart: %d %v, want %d still", i, ok, next)
	}
	s, err := c.Subscribe(ctx, c.Proxy+"/live")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := c.Stop(next); err != nil {
		t.Error(err)
	}
}
