package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/internal/pgtest"
	"github.com/understudy/understudy/internal/replicatest"
	"github.com/understudy/understudy/simulate"
)

// The replicas phase (k), issue 9: three `understudy serve` processes on
// one PostgreSQL database (internal/replicatest), measured -replicas-rounds
// times:
//
//   - takeover: the leader gets SIGKILL → another replica's
//     understudy_cluster_leader gauge reads 1 (polled every 10 ms). The
//     killed replica is started again before the next measure.
//   - incident → /live: an incident created through replica A's admin API
//     (from just before the POST) → the "incident" change event read on
//     B's and C's /live (two samples a round).
//   - breaker hint: A's breaker for primary/gpt-4o-mini opens (from the end
//     of the request that opened it) → B's understudy_breaker_state for it
//     reads 2 (polled every 5 ms).
//
// A, B and C rotate over the replicas from round to round. A measure that
// does not arrive within -replicas-timeout counts as missed. Opt-in
// (-phases replicas); needs PostgreSQL: -pg-dsn, else
// UNDERSTUDY_TEST_POSTGRES_DSN, an administrative DSN through which a
// throwaway database is created and dropped.

type replicasOptions struct {
	Rounds  int
	Timeout time.Duration // for each measure
	PGDSN   string        // administrative DSN; empty: $UNDERSTUDY_TEST_POSTGRES_DSN
}

func (o *replicasOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.Rounds, "replicas-rounds", 5, "replicas phase: rounds of each measure")
	fs.DurationVar(&o.Timeout, "replicas-timeout", 10*time.Second, "replicas phase: how long one measure may take before it counts as missed")
	fs.StringVar(&o.PGDSN, "pg-dsn", "", "replicas phase: administrative PostgreSQL DSN (default $"+pgtest.DSNEnv+"); a throwaway database is created through it")
}

func (o replicasOptions) validate() error {
	if o.Rounds < 1 || o.Rounds > 1000 || o.Timeout <= 0 || o.Timeout > 5*time.Minute {
		return errors.New("-replicas-rounds must be between 1 and 1000, -replicas-timeout between 0 and 5m")
	}
	return nil
}

// measure is one measured quantity's samples.
type measure struct {
	name    string
	short   string // in the summary line
	samples []time.Duration
	missed  int
}

func (m *measure) add(d time.Duration, err error) {
	if err != nil {
		m.missed++
		return
	}
	m.samples = append(m.samples, d)
}

// stats are the min, median and max of the samples (zero without any).
func (m *measure) stats() (lo, med, hi time.Duration) {
	if len(m.samples) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(m.samples)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

const breakerSeries = `understudy_breaker_state{target="primary/gpt-4o-mini"}`

func runReplicas(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) error {
	ro := o.Replicas
	adminDSN := ro.PGDSN
	if adminDSN == "" {
		adminDSN = getenv(pgtest.DSNEnv)
	}
	if adminDSN == "" {
		return fmt.Errorf("the replicas phase needs PostgreSQL: pass -pg-dsn or set %s to an administrative DSN (./scripts/postgres-for-tests prints one)", pgtest.DSNEnv)
	}
	db, drop, err := pgtest.Create(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	defer func() {
		if err := drop(context.WithoutCancel(ctx)); err != nil {
			progress(stderr, "(k) replicas: %v", err)
		}
	}()
	progress(stderr, "(k) replicas: starting 3 replicas on a throwaway PostgreSQL database")
	c, err := replicatest.Start(ctx, replicatest.Options{DSN: db, Binary: o.Understudy,
		Logf: func(format string, args ...any) { progress(stderr, format, args...) }})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Close(); err != nil {
			progress(stderr, "(k) replicas: %v", err)
		}
	}()
	takeover := &measure{name: "leader takeover after SIGKILL", short: "takeover"}
	incident := &measure{name: "incident created on A → event on B's and C's /live", short: "incident → /live"}
	breaker := &measure{name: "breaker opened on A → open on B", short: "breaker hint"}
	n := len(c.Replicas)
	for round := range ro.Rounds {
		progress(stderr, "(k) replicas: round %d of %d", round+1, ro.Rounds)
		d, err := measureTakeover(ctx, c, ro.Timeout)
		takeover.add(d, err)
		if err != nil {
			progress(stderr, "(k) replicas: takeover: %v", err)
		}
		a, b, cc := round%n, (round+1)%n, (round+2)%n
		ds, err := measureIncident(ctx, c, a, []int{b, cc}, ro.Timeout)
		for _, d := range ds {
			incident.add(d, nil)
		}
		if err != nil {
			incident.missed += 2 - len(ds)
			progress(stderr, "(k) replicas: incident: %v", err)
		}
		d, err = measureBreaker(ctx, c, a, b, ro.Timeout)
		breaker.add(d, err)
		if err != nil {
			progress(stderr, "(k) replicas: breaker: %v", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	writeReplicas(stdout, ro, []*measure{takeover, incident, breaker})
	return nil
}

// measureTakeover kills the leader, times until another replica leads,
// and starts the killed one again.
func measureTakeover(ctx context.Context, c *replicatest.Cluster, timeout time.Duration) (time.Duration, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	leader, err := c.WaitLeader(wctx, -1)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	c.Kill(leader)
	_, err = c.WaitLeader(wctx, leader)
	d := time.Since(start)
	if serr := c.Start(ctx, leader); serr != nil {
		return d, errors.Join(err, serr)
	}
	return d, err
}

// measureIncident creates an incident through replica a's admin API and
// times its event on the others' /live; it resolves it afterwards.
func measureIncident(ctx context.Context, c *replicatest.Cluster, a int, others []int, timeout time.Duration) ([]time.Duration, error) {
	var streams []*replicatest.Stream
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	for _, i := range others {
		s, err := c.Subscribe(ctx, c.Replicas[i].URL+"/live")
		if err != nil {
			return nil, err
		}
		streams = append(streams, s)
	}
	start := time.Now()
	b, err := c.Replicas[a].Admin(ctx, http.MethodPost, "/admin/v1/incidents",
		`{"title":"Bench: propagation","severity":"minor","cause":"technical","components":["assistant"],"message":"Measuring."}`)
	if err != nil {
		return nil, err
	}
	var inc admin.IncidentJSON
	if err := json.Unmarshal(b, &inc); err != nil || inc.ID == 0 {
		return nil, fmt.Errorf("create incident: %v %s", err, b)
	}
	defer func() {
		_, _ = c.Replicas[a].Admin(ctx, http.MethodPost, "/admin/v1/incidents/"+strconv.FormatInt(inc.ID, 10)+"/resolve", `{"message":"Measured."}`)
	}()
	var out []time.Duration
	var errs []error
	for k, s := range streams {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		e, err := s.Next(wctx, replicatest.IsChange("incident", inc.ID))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("replica %d: %w", others[k], err))
			continue
		}
		out = append(out, e.At.Sub(start))
	}
	return out, errors.Join(errs...)
}

// measureBreaker fails the primary until replica a's breaker opens, times
// until replica b's is open too, then heals the primary and waits for
// every breaker to close again (the probes close them).
func measureBreaker(ctx context.Context, c *replicatest.Cluster, a, b int, timeout time.Duration) (time.Duration, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError}); err != nil {
		return 0, err
	}
	state := func(i int) string {
		v, _, _ := c.Metric(wctx, i, breakerSeries)
		return v
	}
	var opened time.Time
	for state(a) != "2" {
		if wctx.Err() != nil {
			_ = c.Sim.ClearFault("primary")
			return 0, fmt.Errorf("replica %d's breaker never opened", a)
		}
		req, _ := http.NewRequestWithContext(wctx, http.MethodPost, c.Replicas[a].URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := c.Client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		opened = time.Now()
	}
	var d time.Duration
	var err error
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for err == nil && state(b) != "2" {
		select {
		case <-wctx.Done():
			err = fmt.Errorf("replica %d's breaker not open %s after replica %d's", b, timeout, a)
		case <-tick.C:
		}
	}
	if err == nil {
		d = time.Since(opened)
	}
	if cerr := c.Sim.ClearFault("primary"); cerr != nil {
		return d, errors.Join(err, cerr)
	}
	// Closed again everywhere before the next round.
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	for i := range c.Replicas {
		for v, _, _ := c.Metric(cctx, i, breakerSeries); v != "0" && cctx.Err() == nil; v, _, _ = c.Metric(cctx, i, breakerSeries) {
			select {
			case <-cctx.Done():
			case <-tick.C:
			}
		}
	}
	return d, err
}

func writeReplicas(w io.Writer, ro replicasOptions, ms []*measure) {
	fmt.Fprintf(w, "\n## (k) replicas: three `understudy serve` on one PostgreSQL\n\n%d rounds; a measure not seen within %s counts as missed.\n\n", ro.Rounds, ro.Timeout)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "measure\tsamples\tmin\tmedian\tmax\tmissed")
	for _, m := range ms {
		lo, med, hi := m.stats()
		if len(m.samples) == 0 {
			fmt.Fprintf(tw, "%s\t0\t—\t—\t—\t%d\n", m.name, m.missed)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", m.name, len(m.samples), lo.Round(time.Millisecond), med.Round(time.Millisecond), hi.Round(time.Millisecond), m.missed)
	}
	tw.Flush()
	var parts []string
	for _, m := range ms {
		_, med, hi := m.stats()
		s := fmt.Sprintf("%s median %s (max %s)", m.short, med.Round(time.Millisecond), hi.Round(time.Millisecond))
		if len(m.samples) == 0 {
			s = m.short + " never seen"
		}
		if m.missed > 0 {
			s += fmt.Sprintf(", %d missed", m.missed)
		}
		parts = append(parts, s)
	}
	fmt.Fprintf(w, "\nreplicas (3 on one PostgreSQL, %d rounds): %s\n", ro.Rounds, strings.Join(parts, "; "))
}
