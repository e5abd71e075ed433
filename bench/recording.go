package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// The recording phase (g): what recording every request outcome costs on the
// request path, and whether every outcome reaches the store. Three gateways,
// identical but for their storage section — disabled, SQLite in the
// benchmark's temporary directory, PostgreSQL in a throwaway database — sit
// in front of the same mock upstream and take turns under the same load.
// After the load each is stopped with SIGTERM (it flushes on shutdown) and
// the outcomes its store holds are counted and compared with the requests
// sent to it.

const (
	// recordFlushEvery is the gateways' storage.flush_every in this phase.
	recordFlushEvery = time.Second
	// pgDSNEnv is the variable the PostgreSQL gateway's config refers to.
	pgDSNEnv = "UNDERSTUDY_BENCH_POSTGRES_DSN"
	// testPGDSNEnv is where the test suite's PostgreSQL DSN is found.
	testPGDSNEnv = "UNDERSTUDY_TEST_POSTGRES_DSN"
)

// recordingResult is one storage's figures.
type recordingResult struct {
	Latency    latencyResult
	Throughput throughputResult
	Sent       int64 // requests sent to the gateway over the whole phase
	Recorded   int64 // outcomes its store holds after a graceful stop
	CountErr   string
	Skipped    string // why this storage was not measured
}

// recordingGateway is one gateway of the phase.
type recordingGateway struct {
	name    string
	storage string   // the config's storage section
	env     []string // added to its environment
	db      func(ctx context.Context) (int64, error)
	skipped string
	setup   *setup
	sent    int64
}

func (r *runner) recording(ctx context.Context) error {
	o := r.opts
	tputDur := r.recordingThroughputDuration()
	progress(r.stderr, "(g) recording: storage disabled vs sqlite vs postgres, %d req/s for %s, then %d workers for %s, per gateway", o.Rate, o.Duration, o.Workers, tputDur)

	sqlitePath := filepath.Join(r.tmp, "recording.db")
	gws := []*recordingGateway{
		{name: "disabled", storage: "storage: {disabled: true}\n"},
		{name: "sqlite", storage: fmt.Sprintf("storage: {sqlite: %q, flush_every: %s}\n", sqlitePath, recordFlushEvery),
			db: func(ctx context.Context) (int64, error) { return countOutcomes(ctx, "sqlite", sqlitePath) }},
		{name: "postgres", storage: fmt.Sprintf("storage: {postgres_dsn: \"${%s}\", flush_every: %s}\n", pgDSNEnv, recordFlushEvery)},
	}

	// PostgreSQL: a throwaway database, dropped at the end.
	pg := gws[2]
	if adminDSN, note := r.postgresDSN(ctx); adminDSN == "" {
		pg.skipped = note
	} else {
		dsn, drop, err := createThrowawayDB(ctx, adminDSN)
		if err != nil {
			pg.skipped = "PostgreSQL: " + err.Error()
		} else {
			defer func() {
				if err := drop(); err != nil {
					r.rep.warn("recording: dropping the throwaway PostgreSQL database: " + err.Error())
				}
			}()
			pg.env = []string{pgDSNEnv + "=" + dsn}
			pg.db = func(ctx context.Context) (int64, error) { return countOutcomes(ctx, "pgx", dsn) }
		}
	}
	if pg.skipped != "" {
		progress(r.stderr, "(g) skipping postgres: %s", pg.skipped)
	}

	var live []*recordingGateway
	var setups []*setup
	for i, g := range gws {
		if g.skipped != "" {
			continue
		}
		cfg := filepath.Join(r.tmp, fmt.Sprintf("recording-%d.yaml", i))
		if err := os.WriteFile(cfg, []byte(understudyConfig(r.upstream.addr, g.storage)), 0o600); err != nil {
			return err
		}
		proc, err := r.startEnv(g.env, "understudy-"+g.name, "/healthz", r.bin, "serve", "-config", cfg)
		if err != nil {
			return err
		}
		g.setup = &setup{name: g.name, proc: proc, chatURL: "http://" + proc.addr + "/v1/chat/completions"}
		live = append(live, g)
		setups = append(setups, g.setup)
	}

	// Open loop at a fixed rate: the added latency.
	slice := r.slice()
	metrics := make([]vegeta.Metrics, len(live))
	err := r.roundsOf(ctx, setups, 10000, func(i int, s *setup, c *http.Client, warm bool) error {
		if warm {
			var m vegeta.Metrics
			attack(ctx, c, s.chatURL, r.wholeBody, o.Rate, o.Warmup, &m)
			live[i].sent += int64(m.Requests)
			return nil
		}
		before := metrics[i].Requests
		attack(ctx, c, s.chatURL, r.wholeBody, o.Rate, slice, &metrics[i])
		live[i].sent += int64(metrics[i].Requests - before)
		return nil
	})
	if err != nil {
		return err
	}
	// Closed loop: the most outcomes per second a gateway serves (and
	// records) with each storage.
	tput := make([]throughputResult, len(live))
	tslice := tputDur / time.Duration(o.Rounds)
	saved := r.opts.Warmup
	r.opts.Warmup = 0 // already warm
	err = r.roundsOf(ctx, setups, 2*o.Workers, func(i int, s *setup, c *http.Client, _ bool) error {
		cpu0, err := readCPU(s.proc.pid())
		if err != nil {
			return err
		}
		ok0, failed0 := tput[i].OK, tput[i].Failed
		throughput(ctx, c, s.chatURL, r.wholeBody, o.Workers, tslice, &tput[i])
		cpu1, err := readCPU(s.proc.pid())
		if err != nil {
			return err
		}
		tput[i].ServerCPU += cpu1 - cpu0
		live[i].sent += tput[i].OK - ok0 + tput[i].Failed - failed0
		return nil
	})
	r.opts.Warmup = saved
	if err != nil {
		return err
	}

	// Stop each gateway gracefully (it flushes on shutdown), then count
	// what its store holds.
	for i, g := range live {
		res := recordingResult{Latency: latencyOf(&metrics[i]), Throughput: tput[i], Sent: g.sent}
		progress(r.stderr, "(g) stopping understudy-%s (SIGTERM) and counting its outcomes", g.name)
		if err := g.setup.proc.terminate(30 * time.Second); err != nil {
			res.CountErr = err.Error()
		}
		if g.db != nil {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			n, err := g.db(cctx)
			cancel()
			if err != nil {
				res.CountErr = strings.TrimPrefix(res.CountErr+"; ", "; ") + "counting outcomes: " + err.Error()
			}
			res.Recorded = n
		}
		r.rep.recording = append(r.rep.recording, named[recordingResult]{g.name, res})
	}
	for _, g := range gws {
		if g.skipped != "" {
			r.rep.recording = append(r.rep.recording, named[recordingResult]{g.name, recordingResult{Skipped: g.skipped}})
		}
	}
	return nil
}

// recordingThroughputDuration is how long each gateway runs closed loop.
func (r *runner) recordingThroughputDuration() time.Duration { return r.opts.Duration / 2 }

// postgresDSN is a DSN of a PostgreSQL server allowed to create databases:
// $UNDERSTUDY_TEST_POSTGRES_DSN, or what ./scripts/postgres-for-tests prints
// (it starts, or installs, a local server). Empty, with the reason, when
// neither gives one.
func (r *runner) postgresDSN(ctx context.Context) (dsn, note string) {
	if dsn := strings.TrimSpace(os.Getenv(testPGDSNEnv)); dsn != "" {
		return dsn, ""
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", fmt.Sprintf("$%s is unset and the repository's scripts/postgres-for-tests cannot be found (%v)", testPGDSNEnv, err)
	}
	progress(r.stderr, "(g) $%s unset: running ./scripts/postgres-for-tests", testPGDSNEnv)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(sctx, filepath.Join(root, "scripts", "postgres-for-tests"))
	cmd.Dir = root
	cmd.Stderr = &prefixWriter{prefix: "[postgres-for-tests] ", w: r.stderr, max: maxChildLines}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Sprintf("$%s is unset and ./scripts/postgres-for-tests failed (%v)", testPGDSNEnv, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if dsn = strings.TrimSpace(lines[len(lines)-1]); dsn == "" {
		return "", fmt.Sprintf("$%s is unset and ./scripts/postgres-for-tests printed no DSN", testPGDSNEnv)
	}
	return dsn, ""
}

// createThrowawayDB creates the database us_bench_<random> through admin and
// returns a DSN for it and a function that drops it.
func createThrowawayDB(ctx context.Context, admin string) (dsn string, drop func() error, err error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "us_bench_" + hex.EncodeToString(b)
	if dsn, err = withDatabase(admin, name); err != nil {
		return "", nil, err
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("CREATE DATABASE %s: %w", name, err)
	}
	drop = func() error {
		defer db.Close()
		// Also after an interrupt: the database must not be left behind.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("DROP DATABASE %s: %w", name, err)
		}
		return nil
	}
	return dsn, drop, nil
}

// withDatabase is dsn (a URL or key=value string) naming database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("PostgreSQL DSN: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " dbname=" + name, nil // the last dbname wins
}

// countOutcomes is the number of request outcomes a store holds: the sum of
// its per-minute rollups' counts.
func countOutcomes(ctx context.Context, driver, dsn string) (int64, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT SUM(count) FROM rollups").Scan(&n); err != nil {
		return 0, err
	}
	if !n.Valid {
		return 0, errors.New("the rollups table is empty")
	}
	return n.Int64, nil
}
