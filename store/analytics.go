package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/understudy/understudy"
)

// Read-only queries of reliability analytics and the lessons library
// (packages analytics and lessons). They add no table and no index: rollups
// are read by their primary key's leading minute, incidents by
// incidents_started.

// DayCount is the requests of one UTC day, route, target and serving mode.
// Target is "" for requests no target finished (unavailable, ladder).
type DayCount struct {
	Day                 time.Time // 00:00 UTC
	Route, Target, Mode string
	Count               int64
}

// DailyCounts sums rollups over [from, to) by UTC day, route, target and
// mode, ordered by day, route, target, mode. Rows are whole minutes: a
// minute belongs to the window when its start does (see SLI); a zero from
// or to does not bound the window. Callers map modes to outcomes with
// OutcomeOf and a target "NAME/model" to its provider NAME.
func (s *Store) DailyCounts(ctx context.Context, from, to time.Time) ([]DayCount, error) {
	f, t := minuteBounds(from, to)
	rows, err := s.read.QueryContext(ctx, `SELECT minute / 86400, route, target, mode, CAST(SUM(count) AS BIGINT)
		FROM rollups WHERE minute >= $1 AND minute < $2
		GROUP BY minute / 86400, route, target, mode
		ORDER BY minute / 86400, route, target, mode`, f, t)
	if err != nil {
		return nil, fmt.Errorf("store: daily counts: %w", err)
	}
	defer rows.Close()
	var out []DayCount
	for rows.Next() {
		var (
			c   DayCount
			day int64
		)
		if err := rows.Scan(&day, &c.Route, &c.Target, &c.Mode, &c.Count); err != nil {
			return nil, fmt.Errorf("store: daily counts: %w", err)
		}
		c.Day = time.Unix(day*86400, 0).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: daily counts: %w", err)
	}
	return out, nil
}

// IncidentsDuring returns the incidents that were open at some time in
// [from, to): started before to and not resolved before from (still open,
// or resolved at or after from), merged ones included, oldest StartedAt
// first (ties: lowest id first), each with its Updates. A zero from or to
// does not bound the window: IncidentsDuring(ctx, time.Time{}, time.Time{})
// is every incident.
func (s *Store) IncidentsDuring(ctx context.Context, from, to time.Time) ([]understudy.Incident, error) {
	f, t := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		f = from.UnixMicro()
	}
	if !to.IsZero() {
		t = to.UnixMicro()
	}
	out, err := s.queryIncidents(ctx, `SELECT `+incidentCols+` FROM incidents
		WHERE started_at < $1 AND (resolved_at IS NULL OR resolved_at >= $2)
		ORDER BY started_at, id`, t, f)
	if err != nil {
		return nil, fmt.Errorf("store: incidents during: %w", err)
	}
	ptrs := make([]*understudy.Incident, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.attachUpdates(ctx, ptrs); err != nil {
		return nil, fmt.Errorf("store: incidents during: %w", err)
	}
	return out, nil
}
