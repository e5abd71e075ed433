package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Windows: a rollup row belongs to the window [from, to) when the start of its
// minute m satisfies from <= m < to. Callers wanting whole minutes pass
// minute-aligned bounds.

// SLI is the service level of one route over a window, counted in requests.
// Total = Good + Degraded + Failed; client-canceled requests are in none of them.
type SLI struct {
	Total    int64
	Good     int64 // served by a model: primary, failover, resumed
	Degraded int64 // answered by the degradation ladder: degraded_*, handoff, notice
	// DegradedByMode splits Degraded by serving mode (degraded_cache,
	// degraded_faq, handoff, notice), for objectives that count some as good.
	DegradedByMode map[string]int64
	Failed         int64 // everything else: upstream_error, unavailable, deadline, stream_broken…
	// FastEnough counts Good requests whose latency bucket lies wholly within
	// the objective: buckets whose upper bound is <= objective. An objective
	// that falls on a bound (1s) includes that bucket; one between bounds (3s)
	// is rounded down to the bound below (2.5s), so the figure is never
	// flattering. The overflow bucket is never fast enough.
	FastEnough int64
	// Availability is Good/Total, 1 when Total is 0 (no traffic is no failure).
	Availability float64
	// LatencyCompliance is FastEnough/Good, 1 when Good is 0.
	LatencyCompliance float64
}

// SLI returns the availability and latency SLIs of route over [from, to).
func (s *Store) SLI(ctx context.Context, route string, from, to time.Time, latencyObjective time.Duration) (SLI, error) {
	f, t := minuteBounds(from, to)
	rows, err := s.read.QueryContext(ctx, `SELECT mode, CAST(SUM(count) AS BIGINT), `+sumHistSQL(latencyCols)+`
		FROM rollups WHERE route = $1 AND minute >= $2 AND minute < $3 GROUP BY mode`, route, f, t)
	if err != nil {
		return SLI{}, fmt.Errorf("store: sli %s: %w", route, err)
	}
	defer rows.Close()
	var out SLI
	for rows.Next() {
		var (
			mode  string
			count int64
			h     Histogram
		)
		dest := []any{&mode, &count}
		for i := range h {
			dest = append(dest, &h[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return SLI{}, fmt.Errorf("store: sli %s: %w", route, err)
		}
		switch OutcomeOf(mode) {
		case OutcomeGood:
			out.Good += count
			for i, b := range Buckets {
				if b <= latencyObjective {
					out.FastEnough += h[i]
				}
			}
		case OutcomeDegraded:
			out.Degraded += count
			if out.DegradedByMode == nil {
				out.DegradedByMode = map[string]int64{}
			}
			out.DegradedByMode[mode] += count
		case OutcomeFailed:
			out.Failed += count
		}
	}
	if err := rows.Err(); err != nil {
		return SLI{}, fmt.Errorf("store: sli %s: %w", route, err)
	}
	out.Total = out.Good + out.Degraded + out.Failed
	out.Availability = ratio(out.Good, out.Total)
	out.LatencyCompliance = ratio(out.FastEnough, out.Good)
	return out, nil
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 1
	}
	return float64(n) / float64(d)
}

func sumHistSQL(cols []string) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = "CAST(SUM(" + c + ") AS BIGINT)"
	}
	return strings.Join(s, ", ")
}

// DayUptime is one UTC day of a component's uptime bar.
type DayUptime struct {
	Day   time.Time // 00:00 UTC
	Total int64     // requests, client-canceled excluded
	Good  int64     // served by a model
	// Uptime is Good/Total, nil when the day had no traffic (show "no data",
	// not 100%). Degraded answers count as down.
	Uptime *float64
}

// ProviderPrefix marks a provider component: "provider:openai" covers every
// target "openai/…".
const ProviderPrefix = "provider:"

// DailyUptime returns one DayUptime per UTC day for the days days ending with
// the day of now, oldest first. component is a route name, or
// "provider:NAME" for the targets of provider NAME (targets are "NAME/model").
func (s *Store) DailyUptime(ctx context.Context, component string, days int, now time.Time) ([]DayUptime, error) {
	if days <= 0 {
		return nil, nil
	}
	const day = 24 * time.Hour
	first := now.UTC().Truncate(day).Add(-time.Duration(days-1) * day)
	end := first.Add(time.Duration(days) * day)
	query := `SELECT minute / 86400, mode, CAST(SUM(count) AS BIGINT) FROM rollups
		WHERE minute >= $1 AND minute < $2 AND `
	args := []any{first.Unix(), end.Unix()}
	if provider, ok := strings.CutPrefix(component, ProviderPrefix); ok {
		// substr rather than LIKE: LIKE is case-insensitive on SQLite and
		// would need escaping of % and _ in names.
		prefix := provider + "/"
		query += `substr(target, 1, ` + strconv.Itoa(len(prefix)) + `) = $3`
		args = append(args, prefix)
	} else {
		query += `route = $3`
		args = append(args, component)
	}
	query += ` GROUP BY minute / 86400, mode`
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: daily uptime %s: %w", component, err)
	}
	defer rows.Close()
	out := make([]DayUptime, days)
	for i := range out {
		out[i].Day = first.Add(time.Duration(i) * day)
	}
	firstDay := first.Unix() / 86400
	for rows.Next() {
		var (
			d, count int64
			mode     string
		)
		if err := rows.Scan(&d, &mode, &count); err != nil {
			return nil, fmt.Errorf("store: daily uptime %s: %w", component, err)
		}
		i := d - firstDay
		if i < 0 || i >= int64(days) {
			continue
		}
		switch OutcomeOf(mode) {
		case OutcomeGood:
			out[i].Good += count
			out[i].Total += count
		case OutcomeDegraded, OutcomeFailed:
			out[i].Total += count
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: daily uptime %s: %w", component, err)
	}
	for i := range out {
		if out[i].Total > 0 {
			u := float64(out[i].Good) / float64(out[i].Total)
			out[i].Uptime = &u
		}
	}
	return out, nil
}

// Impact is what an interruption did to traffic between two times.
type Impact struct {
	Requests         int64            // client-canceled excluded
	Failed           int64            // not served at all
	ServedByFailover int64            // failover + resumed
	Degraded         map[string]int64 // by mode: degraded_cache, handoff, notice…
	Canceled         int64            // client_canceled, outside Requests
}

// Impact sums traffic over [from, to) for routes (all routes when empty).
func (s *Store) Impact(ctx context.Context, from, to time.Time, routes []string) (Impact, error) {
	f, t := minuteBounds(from, to)
	query := `SELECT mode, CAST(SUM(count) AS BIGINT) FROM rollups WHERE minute >= $1 AND minute < $2`
	args := []any{f, t}
	if len(routes) > 0 {
		ph := make([]string, len(routes))
		for i, r := range routes {
			args = append(args, r)
			ph[i] = "$" + strconv.Itoa(len(args))
		}
		query += ` AND route IN (` + strings.Join(ph, ", ") + `)`
	}
	query += ` GROUP BY mode`
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return Impact{}, fmt.Errorf("store: impact: %w", err)
	}
	defer rows.Close()
	out := Impact{Degraded: map[string]int64{}}
	for rows.Next() {
		var (
			mode  string
			count int64
		)
		if err := rows.Scan(&mode, &count); err != nil {
			return Impact{}, fmt.Errorf("store: impact: %w", err)
		}
		switch OutcomeOf(mode) {
		case OutcomeCanceled:
			out.Canceled += count
			continue
		case OutcomeGood:
			if mode == ModeFailover || mode == ModeResumed {
				out.ServedByFailover += count
			}
		case OutcomeDegraded:
			out.Degraded[mode] += count
		case OutcomeFailed:
			out.Failed += count
		}
		out.Requests += count
	}
	if err := rows.Err(); err != nil {
		return Impact{}, fmt.Errorf("store: impact: %w", err)
	}
	return out, nil
}
