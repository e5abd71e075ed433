package cluster_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy/cluster"
)

// Real-time settings: checks every 100 ms, each bounded by 200 ms, and a
// server-side idle limit of 1.5 s, well above Interval + 2×Timeout so that
// a loaded test machine does not lose leadership by accident.
const (
	testInterval       = 100 * time.Millisecond
	testTimeout        = 200 * time.Millisecond
	testSessionTimeout = 1500 * time.Millisecond
	// within bounds every wait on an event; the observed times are logged.
	within = 10 * time.Second
)

// election runs contenders for one key and counts how many lead at once.
type election struct {
	t          *testing.T
	key        int64
	leading    atomic.Int32
	maxLeading atomic.Int32
}

// contender is one process taking part in an election.
type contender struct {
	name    string
	l       *cluster.Leader
	reg     *prometheus.Registry
	started chan time.Time
	ended   chan leadEnd
	refused chan struct{}
	stop    func()
}

type leadEnd struct {
	at    time.Time
	cause error
}

func newElection(t *testing.T, key int64) *election { return &election{t: t, key: key} }

// start runs a contender on dsn until stop or the end of the test. Its lead
// records when it starts and when its context is canceled.
func (e *election) start(name, dsn string) *contender {
	e.t.Helper()
	c := &contender{
		name: name, reg: prometheus.NewRegistry(),
		started: make(chan time.Time, 16), ended: make(chan leadEnd, 16), refused: make(chan struct{}, 1),
	}
	l, err := cluster.NewLeader(cluster.LeaderOptions{
		DSN: dsn, Key: e.key, Interval: testInterval, Timeout: testTimeout, SessionTimeout: testSessionTimeout,
		Registry: c.reg, Logger: testLogger(e.t, name),
	})
	if err != nil {
		e.t.Fatalf("NewLeader: %v", err)
	}
	c.l = l
	cluster.SetTried(l, func(got bool, err error) {
		if err == nil && !got {
			select {
			case c.refused <- struct{}{}:
			default:
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(ctx context.Context) {
			if n := e.leading.Add(1); n > e.maxLeading.Load() {
				e.maxLeading.Store(n)
			}
			c.started <- time.Now()
			<-ctx.Done()
			c.ended <- leadEnd{at: time.Now(), cause: context.Cause(ctx)}
			e.leading.Add(-1)
		})
	}()
	c.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("%s: Run: %v", name, err)
		}
		if l.IsLeader() {
			e.t.Errorf("%s: IsLeader after Run returned", name)
		}
	})
	e.t.Cleanup(c.stop)
	return c
}

// first waits for one of a and b to lead and returns it first.
func first(t *testing.T, a, b *contender) (leader, follower *contender) {
	t.Helper()
	select {
	case <-a.started:
		return a, b
	case <-b.started:
		return b, a
	case <-time.After(within):
		t.Fatalf("no leader within %v", within)
		return nil, nil
	}
}

// recv waits for a value on ch, failing the test after within.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: nothing within %v", what, within)
		var zero T
		return zero
	}
}

// refusedAgain waits for a lock attempt by c that is refused from now on.
func (c *contender) refusedAgain(t *testing.T) {
	t.Helper()
	select {
	case <-c.refused:
	default:
	}
	recv(t, c.refused, c.name+" refused")
}

// lockHolder returns the pid holding key's advisory lock in admin's
// database, failing unless exactly one session holds it.
func lockHolder(t *testing.T, admin *pgx.Conn, key int64) uint32 {
	t.Helper()
	rows, err := admin.Query(context.Background(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1 AND objid = $2 AND objsubid = 1
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		uint32(uint64(key)>>32), uint32(uint64(key)))
	if err != nil {
		t.Fatalf("pg_locks: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatalf("pg_locks: %v", err)
	}
	if len(pids) != 1 {
		t.Fatalf("got %d sessions holding the lock (%v), want 1", len(pids), pids)
	}
	return uint32(pids[0])
}

func wantGauge(t *testing.T, c *contender, key int64, v float64) {
	t.Helper()
	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "understudy_cluster_leader" || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "key" || l[0].GetValue() != strconv.FormatInt(key, 10) {
			t.Errorf("%s: understudy_cluster_leader labels: got %v, want key=%d", c.name, l, key)
		}
		if got := m.GetGauge().GetValue(); got != v {
			t.Errorf("%s: understudy_cluster_leader: got %v, want %v", c.name, got, v)
		}
		return
	}
	t.Errorf("%s: no understudy_cluster_leader gauge in %d families", c.name, len(mfs))
}

func TestLeaderOneAtATime(t *testing.T) {
	dsn := MustDatabase(t)
	admin := MustConnect(t, dsn)
	const key = -42 // negative keys split into classid/objid like any other
	e := newElection(t, key)
	leader, follower := first(t, e.start("a", dsn), e.start("b", dsn))
	for range 3 {
		follower.refusedAgain(t)
	}
	if !leader.l.IsLeader() || follower.l.IsLeader() {
		t.Errorf("IsLeader: got %s %v, %s %v; want true, false", leader.name, leader.l.IsLeader(), follower.name, follower.l.IsLeader())
	}
	lockHolder(t, admin, key)
	wantGauge(t, leader, key, 1)
	wantGauge(t, follower, key, 0)
	if n := e.maxLeading.Load(); n != 1 {
		t.Errorf("got %d leaders at once, want 1", n)
	}
	if err := leader.l.Run(context.Background(), func(context.Context) {}); !errors.Is(err, cluster.ErrRunning) {
		t.Errorf("second Run: got %v, want ErrRunning", err)
	}
}

// TestLeaderTerminated: the leader's session is ended server-side (an
// operator, a failover tool, a server restart). The server sends the
// session a FATAL message and releases the lock; the leader notices from
// the message, the follower on its next try.
func TestLeaderTerminated(t *testing.T) {
	dsn := MustDatabase(t)
	admin := MustConnect(t, dsn)
	e := newElection(t, cluster.DefaultKey)
	leader, follower := first(t, e.start("a", dsn), e.start("b", dsn))
	follower.refusedAgain(t)

	pid := lockHolder(t, admin, cluster.DefaultKey)
	t0 := time.Now()
	MustTerminate(t, admin, pid)
	end := recv(t, leader.ended, leader.name+" lead canceled")
	took := recv(t, follower.started, follower.name+" takes over")
	t.Logf("terminated leader noticed after %v; follower took over after %v (Interval %v)",
		end.at.Sub(t0).Round(time.Millisecond), took.Sub(t0).Round(time.Millisecond), testInterval)
	if end.cause == nil || errors.Is(end.cause, context.Canceled) {
		t.Errorf("lead's cause: got %v, want the connection error", end.cause)
	}
	if leader.l.IsLeader() {
		t.Errorf("%s: IsLeader after losing the lock", leader.name)
	}
	// The server releases the lock before the old leader reads the FATAL
	// message: the overlap is possible, if rare; report it.
	if n := e.maxLeading.Load(); n != 1 {
		t.Logf("note: %d leads overlapped after pg_terminate_backend", n)
	}
	// The old leader reconnects and follows.
	leader.refusedAgain(t)
	if got := lockHolder(t, admin, cluster.DefaultKey); got == pid {
		t.Errorf("lock still held by the terminated backend %d", pid)
	}
}

// TestLeaderPartitioned: the leader's network goes silent (no FIN, no RST).
// The leader notices when a check gets no answer; the server ends the idle
// session after SessionTimeout, later, and only then can the follower take
// over: lead's context is always canceled first.
func TestLeaderPartitioned(t *testing.T) {
	dsn := MustDatabase(t)
	p, pdsn := MustProxy(t, dsn)
	e := newElection(t, cluster.DefaultKey)
	a := e.start("a", pdsn)
	recv(t, a.started, "a leads")
	b := e.start("b", dsn)
	b.refusedAgain(t)

	t0 := time.Now()
	p.Partition()
	end := recv(t, a.ended, "a lead canceled")
	took := recv(t, b.started, "b takes over")
	t.Logf("partitioned leader noticed after %v; follower took over after %v (Interval %v, Timeout %v, SessionTimeout %v)",
		end.at.Sub(t0).Round(time.Millisecond), took.Sub(t0).Round(time.Millisecond), testInterval, testTimeout, testSessionTimeout)
	if !end.at.Before(took) {
		t.Errorf("a's lead was canceled at +%v, after b took over at +%v", end.at.Sub(t0), took.Sub(t0))
	}
	if n := e.maxLeading.Load(); n != 1 {
		t.Errorf("got %d leaders at once, want 1", n)
	}
	if a.l.IsLeader() {
		t.Error("a: IsLeader after losing the lock")
	}
}

// TestLeaderStop: a leader stopping releases the lock before Run returns;
// the follower takes over on its next try.
func TestLeaderStop(t *testing.T) {
	dsn := MustDatabase(t)
	admin := MustConnect(t, dsn)
	e := newElection(t, cluster.DefaultKey)
	leader, follower := first(t, e.start("a", dsn), e.start("b", dsn))
	follower.refusedAgain(t)

	t0 := time.Now()
	leader.stop()
	stopped := time.Now()
	end := recv(t, leader.ended, leader.name+" lead canceled")
	took := recv(t, follower.started, follower.name+" takes over")
	t.Logf("Run returned after %v; follower took over after %v (Interval %v)",
		stopped.Sub(t0).Round(time.Millisecond), took.Sub(t0).Round(time.Millisecond), testInterval)
	if !errors.Is(end.cause, context.Canceled) {
		t.Errorf("lead's cause: got %v, want context.Canceled", end.cause)
	}
	if n := e.maxLeading.Load(); n != 1 {
		t.Errorf("got %d leaders at once, want 1", n)
	}
	wantGauge(t, leader, cluster.DefaultKey, 0)
	wantGauge(t, follower, cluster.DefaultKey, 1)
	lockHolder(t, admin, cluster.DefaultKey)
}

// TestLeaderLeadReturns: when lead returns on its own the lock is released
// and Run tries again.
func TestLeaderLeadReturns(t *testing.T) {
	dsn := MustDatabase(t)
	changes := make(chan bool, 16)
	l, err := cluster.NewLeader(cluster.LeaderOptions{
		DSN: dsn, Interval: testInterval, Timeout: testTimeout, SessionTimeout: testSessionTimeout,
		Logger: testLogger(t, "a"), OnChange: func(leading bool) { changes <- leading },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var calls atomic.Int32
	go func() {
		done <- l.Run(ctx, func(ctx context.Context) {
			if calls.Add(1) > 1 {
				<-ctx.Done()
			}
		})
	}()
	for i, want := range []bool{true, false, true} {
		if got := recv(t, changes, "OnChange"); got != want {
			t.Fatalf("change %d: got %v, want %v", i, got, want)
		}
	}
	cancel()
	if err := recv(t, done, "Run returns"); err != nil {
		t.Errorf("Run: %v", err)
	}
	if got := recv(t, changes, "OnChange"); got {
		t.Errorf("last change: got %v, want false", got)
	}
}

func TestNewLeaderOptions(t *testing.T) {
	const dsn = "postgres://u@127.0.0.1:1/db"
	tests := []struct {
		name string
		o    cluster.LeaderOptions
		ok   bool
	}{
		{"defaults", cluster.LeaderOptions{DSN: dsn}, true},
		{"connect func", cluster.LeaderOptions{Connect: func(context.Context) (*pgx.Conn, error) { return nil, nil }}, true},
		{"no DSN", cluster.LeaderOptions{}, false},
		{"bad DSN", cluster.LeaderOptions{DSN: "postgres://u@[::1"}, false},
		{"negative interval", cluster.LeaderOptions{DSN: dsn, Interval: -time.Second}, false},
		{"session timeout too short", cluster.LeaderOptions{DSN: dsn, Interval: time.Second, Timeout: time.Second, SessionTimeout: 3 * time.Second}, false},
		{"session timeout just enough", cluster.LeaderOptions{DSN: dsn, Interval: time.Second, Timeout: time.Second, SessionTimeout: 3*time.Second + time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cluster.NewLeader(tt.o)
			if tt.ok && err != nil {
				t.Errorf("got %v, want no error", err)
			}
			if !tt.ok && !errors.Is(err, cluster.ErrConfig) {
				t.Errorf("got %v, want ErrConfig", err)
			}
		})
	}
}
