package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// NumBuckets is the number of histogram buckets: one per bound in Buckets plus
// the overflow bucket.
const NumBuckets = 10

// Buckets are the upper bounds (inclusive) of the latency and time-to-first-token
// histogram buckets: bucket i counts values d with Buckets[i-1] < d <= Buckets[i];
// the last bucket (index NumBuckets-1) counts values above 60s. Changing them
// needs a migration: they are the meaning of rollups columns l0..l9 and t0..t9.
var Buckets = [NumBuckets - 1]time.Duration{
	100 * time.Millisecond,
	250 * time.Millisecond,
	500 * time.Millisecond,
	time.Second,
	2500 * time.Millisecond,
	5 * time.Second,
	10 * time.Second,
	20 * time.Second,
	60 * time.Second,
}

// Histogram counts observations per bucket of Buckets.
type Histogram [NumBuckets]int64

// BucketOf returns the index of the bucket d falls in.
func BucketOf(d time.Duration) int {
	for i, b := range Buckets {
		if d <= b {
			return i
		}
	}
	return NumBuckets - 1
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) { h[BucketOf(d)]++ }

// Add adds o's counts to h.
func (h *Histogram) Add(o Histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Total returns the number of observations.
func (h Histogram) Total() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Serving modes recorded in Rollup.Mode by the gateway.
const (
	ModePrimary        = "primary"         // served by the first target tried
	ModeFailover       = "failover"        // served by another target after a failure
	ModeResumed        = "resumed"         // a broken stream was finished by another target
	ModeStreamBroken   = "stream_broken"   // a stream broke and could not be resumed
	ModeUpstreamError  = "upstream_error"  // a final upstream error was returned
	ModeUnavailable    = "unavailable"     // no target could answer (or shed)
	ModeDeadline       = "deadline"        // the request's deadline ran out
	ModeClientCanceled = "client_canceled" // the client went away: not counted in SLIs
	ModeDegradedCache  = "degraded_cache"  // answered from the cache
	ModeDegradedFAQ    = "degraded_faq"    // answered from the FAQ knowledge base
	ModeHandoff        = "handoff"         // handed to a person
	ModeNotice         = "notice"          // answered with an honest notice only
	ModeCached         = "cached"          // the cache's fast path: a recent model answer to the same conversation
)

// Outcome groups a serving mode for SLIs, uptime and impact.
type Outcome int

const (
	OutcomeFailed   Outcome = iota // any mode not listed below
	OutcomeGood                    // primary, failover, resumed, cached
	OutcomeDegraded                // degraded_*, handoff, notice
	OutcomeCanceled                // client_canceled: out of every denominator
)

// OutcomeOf classifies a serving mode. Unknown modes count as failed, so a
// mode added without updating this function lowers availability rather than
// hiding failures.
func OutcomeOf(mode string) Outcome {
	switch {
	case mode == ModePrimary || mode == ModeFailover || mode == ModeResumed || mode == ModeCached:
		return OutcomeGood
	case strings.HasPrefix(mode, "degraded_") || mode == ModeHandoff || mode == ModeNotice:
		return OutcomeDegraded
	case mode == ModeClientCanceled:
		return OutcomeCanceled
	}
	return OutcomeFailed
}

// Rollup is the per-minute counter of one route × target × class × mode.
// One count is one request outcome, attributed to the target that finished it
// (empty target when none did, e.g. unavailable).
type Rollup struct {
	Minute           time.Time // truncated to the minute, UTC, on write
	Route, Target    string
	Class            understudy.Class
	Mode             string
	Count            int64
	LatencySum       time.Duration // stored in whole milliseconds
	Latency, TTFT    Histogram
	PromptTokens     int64
	CompletionTokens int64
}

type rollupKey struct {
	minute                     int64
	route, target, class, mode string
}

func (r *Rollup) key() rollupKey {
	return rollupKey{r.Minute.UTC().Truncate(time.Minute).Unix(), r.Route, r.Target, string(r.Class), r.Mode}
}

func compareKeys(a, b rollupKey) int {
	return cmp.Or(cmp.Compare(a.minute, b.minute), strings.Compare(a.route, b.route),
		strings.Compare(a.target, b.target), strings.Compare(a.class, b.class), strings.Compare(a.mode, b.mode))
}

// histogram column lists: l0..l9 (latency) and t0..t9 (TTFT).
func histCols(prefix string) []string {
	cols := make([]string, NumBuckets)
	for i := range cols {
		cols[i] = prefix + strconv.Itoa(i)
	}
	return cols
}

var (
	latencyCols = histCols("l")
	ttftCols    = histCols("t")
	// addCols are summed on conflict.
	addCols = slices.Concat([]string{"count", "latency_sum_ms"}, latencyCols, ttftCols,
		[]string{"prompt_tokens", "completion_tokens"})
)

// rollupCols is the INSERT column list of rollups.
var rollupCols = slices.Concat([]string{"minute", "route", "target", "class", "mode"}, addCols)

// rollupChunk is the most rows one INSERT carries: 500 × 27 parameters stays far
// below SQLite's 32766 and PostgreSQL's 65535 bind-parameter limits.
const rollupChunk = 500

// upsertRollupSQL returns a multi-row upsert of n rows. The rows of one
// statement must have distinct keys (PostgreSQL refuses to update a row twice).
func upsertRollupSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO rollups (" + strings.Join(rollupCols, ", ") + ") VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range rollupCols {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString("$" + strconv.Itoa(p))
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (minute, route, target, class, mode) DO UPDATE SET ")
	for i, c := range addCols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = rollups." + c + " + excluded." + c)
	}
	return b.String()
}

// AddRollups adds rs to the stored counters in one transaction: a row with the
// same (minute, route, target, class, mode) has every count, sum, bucket and
// token total increased, never replaced. Rows of one call sharing a key are
// merged first (one row per key per statement), and rows are written in key order (on PostgreSQL
// in multi-row statements of up to rollupChunk rows), so that concurrent writers
// on PostgreSQL lock in the same order and cannot deadlock.
func (s *Store) AddRollups(ctx context.Context, rs []Rollup) error {
	if len(rs) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return s.upsertRollups(ctx, tx, rs) }); err != nil {
		return fmt.Errorf("store: add rollups: %w", err)
	}
	return nil
}

// upsertRollups is AddRollups inside tx.
func (s *Store) upsertRollups(ctx context.Context, tx *sql.Tx, rs []Rollup) error {
	merged := make(map[rollupKey]*Rollup, len(rs))
	keys := make([]rollupKey, 0, len(rs))
	for i := range rs {
		k := rs[i].key()
		if m, ok := merged[k]; ok {
			m.add(&rs[i])
			continue
		}
		r := rs[i]
		merged[k] = &r
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	// SQLite is in-process: one prepared single-row statement is fastest
	// (a large multi-row upsert is slow to compile there). PostgreSQL pays a
	// round trip per statement, so rows go in multi-row statements.
	chunk := rollupChunk
	if s.dialect == DialectSQLite {
		chunk = 1
	}
	single, err := tx.PrepareContext(ctx, upsertRollupSQL(1))
	if err != nil {
		return err
	}
	defer single.Close()
	args := make([]any, 0, min(len(keys), chunk)*len(rollupCols))
	for len(keys) > 0 {
		batch := keys[:min(len(keys), chunk)]
		keys = keys[len(batch):]
		args = args[:0]
		for _, k := range batch {
			args = merged[k].appendArgs(args, k)
		}
		if len(batch) == 1 {
			_, err = single.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, upsertRollupSQL(len(batch)), args...)
		}
		if err != nil {
			return fmt.Errorf("%d rows from minute %d: %w", len(batch), batch[0].minute, err)
		}
	}
	return nil
}

// appendArgs appends r's values in rollupCols order.
func (r *Rollup) appendArgs(args []any, k rollupKey) []any {
	args = append(args, k.minute, k.route, k.target, k.class, k.mode, r.Count, r.LatencySum.Milliseconds())
	for _, c := range r.Latency {
		args = append(args, c)
	}
	for _, c := range r.TTFT {
		args = append(args, c)
	}
	return append(args, r.PromptTokens, r.CompletionTokens)
}

func (r *Rollup) add(o *Rollup) {
	r.Count += o.Count
	r.LatencySum += o.LatencySum
	r.Latency.Add(o.Latency)
	r.TTFT.Add(o.TTFT)
	r.PromptTokens += o.PromptTokens
	r.CompletionTokens += o.CompletionTokens
}

// RollupQuery filters Rollups. Zero fields do not filter.
type RollupQuery struct {
	From, To time.Time // From <= minute < To
	Route    string
}

// Rollups returns stored rollup rows ordered by minute, route, target, class, mode.
func (s *Store) Rollups(ctx context.Context, q RollupQuery) ([]Rollup, error) {
	from, to := minuteBounds(q.From, q.To)
	query := `SELECT minute, route, target, class, mode, ` + strings.Join(addCols, ", ") + `
		FROM rollups WHERE minute >= $1 AND minute < $2`
	args := []any{from, to}
	if q.Route != "" {
		query += ` AND route = $3`
		args = append(args, q.Route)
	}
	query += ` ORDER BY minute, route, target, class, mode`
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: rollups: %w", err)
	}
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		var (
			r      Rollup
			minute int64
			class  string
			sums   rollupSums
		)
		dest := append([]any{&minute, &r.Route, &r.Target, &class, &r.Mode}, sums.dest()...)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: rollups: %w", err)
		}
		r.Minute = time.Unix(minute, 0).UTC()
		r.Class = understudy.Class(class)
		sums.into(&r)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rollups: %w", err)
	}
	return out, nil
}

// rollupSums receives the additive columns in addCols order.
type rollupSums struct {
	count, latencyMS   int64
	latency, ttft      Histogram
	prompt, completion int64
}

func (s *rollupSums) dest() []any {
	d := []any{&s.count, &s.latencyMS}
	for i := range s.latency {
		d = append(d, &s.latency[i])
	}
	for i := range s.ttft {
		d = append(d, &s.ttft[i])
	}
	return append(d, &s.prompt, &s.completion)
}

func (s *rollupSums) into(r *Rollup) {
	r.Count = s.count
	r.LatencySum = time.Duration(s.latencyMS) * time.Millisecond
	r.Latency = s.latency
	r.TTFT = s.ttft
	r.PromptTokens = s.prompt
	r.CompletionTokens = s.completion
}

// minuteBounds turns a [from, to) window into unix seconds; a zero from means
// the beginning of time and a zero to means the end.
func minuteBounds(from, to time.Time) (int64, int64) {
	f, t := int64(-1<<62), int64(1<<62)
	if !from.IsZero() {
		f = from.Unix()
	}
	if !to.IsZero() {
		t = to.Unix()
	}
	return f, t
}
