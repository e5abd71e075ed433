package analytics

import (
	"slices"
	"time"

	"github.com/understudy/understudy"
)

// span is an incident as the figures see it.
type span struct {
	inc understudy.Incident
	// started: it started in the window (it counts); otherwise it started
	// before and only adds downtime.
	started bool
	// resolved: resolved at or before now.
	resolved bool
	// detected is DetectedAt, or StartedAt when it was never set.
	detected time.Time
	// from, to: the part of [StartedAt, ResolvedAt or now] in the window.
	from, to time.Time
}

// incidentSpans keeps the incidents open during [from, now) that count:
// merged ones are left out (the incident they were merged into counts).
func incidentSpans(incs []understudy.Incident, from, now time.Time) []span {
	var out []span
	for _, inc := range incs {
		if inc.MergedInto != 0 || !inc.StartedAt.Before(now) {
			continue
		}
		sp := span{inc: inc, started: !inc.StartedAt.Before(from), detected: inc.DetectedAt,
			resolved: !inc.ResolvedAt.IsZero() && !inc.ResolvedAt.After(now)}
		if sp.detected.IsZero() {
			sp.detected = inc.StartedAt
		}
		sp.from, sp.to = inc.StartedAt, now
		if sp.resolved {
			sp.to = inc.ResolvedAt
		}
		if sp.from.Before(from) {
			sp.from = from
		}
		if sp.to.Before(sp.from) {
			continue // resolved before the window
		}
		out = append(out, sp)
	}
	return out
}

// on reports whether the incident affects component ("" is every one).
func (sp *span) on(component string) bool {
	return component == "" || slices.Contains(sp.inc.Components, component)
}

// countCauses counts the incidents started in the window on component
// ("" for any), by cause; causes without incidents are left out.
func countCauses(spans []span, component string) (int, []CauseCount) {
	n := 0
	by := map[understudy.Cause]int{}
	for i := range spans {
		sp := &spans[i]
		if !sp.started || !sp.on(component) {
			continue
		}
		n++
		c := sp.inc.Cause
		if c == "" {
			c = understudy.CauseUnknown
		}
		by[c]++
	}
	var out []CauseCount // nil when none
	for c, k := range by {
		out = append(out, CauseCount{Cause: c, Count: k})
	}
	sortCauses(out)
	return n, out
}

// incidents computes the incident figures of s.
func (s *Stats) incidents(spans []span, from, now time.Time) {
	s.Incidents, s.ByCause = countCauses(spans, s.Component)
	var (
		intervals    [][2]time.Time
		detect       time.Duration
		repair       time.Duration
		repairedOnes int
	)
	for i := range spans {
		sp := &spans[i]
		if !sp.on(s.Component) {
			continue
		}
		intervals = append(intervals, [2]time.Time{sp.from, sp.to})
		if !sp.started {
			continue
		}
		detect += max(sp.detected.Sub(sp.inc.StartedAt), 0)
		if !sp.resolved {
			s.Open++
			continue
		}
		repair += max(sp.inc.ResolvedAt.Sub(sp.detected), 0)
		repairedOnes++
	}
	s.Downtime = union(intervals)
	if s.Incidents > 0 {
		mtbf := (now.Sub(from) - s.Downtime) / time.Duration(s.Incidents)
		mttd := detect / time.Duration(s.Incidents)
		s.MTBF, s.MTTD = &mtbf, &mttd
	}
	if repairedOnes > 0 {
		mttr := repair / time.Duration(repairedOnes)
		s.MTTR = &mttr
	}
}

// union is the total length of the union of intervals.
func union(iv [][2]time.Time) time.Duration {
	slices.SortFunc(iv, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var (
		total time.Duration
		cur   [2]time.Time
		have  bool
	)
	for _, x := range iv {
		switch {
		case !have:
			cur, have = x, true
		case x[0].After(cur[1]):
			total += cur[1].Sub(cur[0])
			cur = x
		case x[1].After(cur[1]):
			cur[1] = x[1]
		}
	}
	if have {
		total += cur[1].Sub(cur[0])
	}
	return total
}
