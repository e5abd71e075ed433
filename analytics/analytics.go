// Package analytics measures reliability over days, per route and per
// provider, from the stored rollups and incidents: availability, incidents
// by cause, MTBF, MTTD, MTTR, error-budget burn and failover share, a
// provider scorecard with grades and ranks, and server-rendered SVG charts
// and HTML fragments for the console (no JavaScript).
//
// # Window
//
// A window of N days is the N UTC days ending with the day of now: from
// 00:00 UTC N−1 days before today to now (today counts so far). It is the
// status page's uptime-bar day, so a day's figure here is the day's bar
// there. Every figure below is over [From, Now).
//
// # What is counted
//
// Requests are rollup counts (one count is one request outcome, attributed
// to the target that finished it; see store.OutcomeOf): good (primary,
// failover, resumed, cached), degraded (degraded_*, handoff, notice),
// failed (anything else); client-canceled requests are in no denominator.
//
//   - A route's requests are every rollup of the route, whatever the target.
//   - A provider's requests are the rollups attributed to its targets
//     ("NAME/model"): the requests it finished, well or not. The store
//     keeps no per-attempt counts, so a failure the gateway hid by failing
//     over to another provider counts for the provider that served the
//     request, not for the one that failed: a provider's availability here
//     is "of the requests it finished". Its incidents (which the target_down
//     and overload detectors open on its component) are what show the
//     failures hidden by failover.
//   - An incident counts for a component when the component is in its
//     Components. Incidents merged into another are not counted (the one
//     they were merged into is).
//
// # Figures
//
//   - Availability = Good / (Good + Degraded + Failed); undefined (nil)
//     without traffic. Degraded answers count as not available, as on the
//     status page.
//   - Failover share = (failover + resumed) / Good: the share of good
//     answers that needed another target. For a provider, the share of the
//     good answers it served as a backup. Undefined when Good is 0.
//   - Burn = slo.BurnRate(error rate, objective), where the error rate is
//     1 − (Good + degraded answers in the objective's DegradedGood modes) /
//     requests, as the SLO page counts it: the average burn rate over the
//     window, which is also the share of the error budget the objective
//     allows over the window that was spent (1 = all of it; over 30 days
//     it is 1 − the SLO page's budget remaining). Routes only, and only
//     with an objective (Catalog.Objectives); a provider gets one when the
//     catalog holds an objective under its component name.
//   - Incidents = incidents started in the window; Open = those of them not
//     resolved at now; by cause likewise.
//   - Downtime = the union of the intervals [StartedAt, ResolvedAt] (now
//     while unresolved) of every incident open during the window, clipped
//     to the window: overlapping incidents count once.
//   - MTBF = (window length − downtime) / incidents, the ITIL mean time
//     between failures: operating time per failure. Undefined without
//     incidents (shown "none in N days").
//   - MTTD = mean(DetectedAt − StartedAt) over the incidents started in the
//     window: StartedAt is the first bad minute (truncated to the minute),
//     DetectedAt when the incident was opened.
//   - MTTR = mean(ResolvedAt − DetectedAt) over the incidents started in the
//     window and resolved by now.
//
// Grades and ranks are defined in grade.go (Grade).
package analytics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/slo"
	"github.com/understudy/understudy/store"
)

// Querier reads rollups and incidents; *store.Store implements it.
type Querier interface {
	DailyCounts(ctx context.Context, from, to time.Time) ([]store.DayCount, error)
	IncidentsDuring(ctx context.Context, from, to time.Time) ([]understudy.Incident, error)
}

var _ Querier = (*store.Store)(nil)

// Windows are the windows the console offers, in days.
var Windows = []int{7, 30, 90}

// MaxDays bounds a window: rollups are kept 400 days by default.
const MaxDays = 400

// Component kinds.
const (
	KindRoute    = "route"
	KindProvider = "provider"
)

// Catalog names what to report on. Components it does not list but that
// carried traffic in the window are reported too, after the listed ones, in
// name order.
type Catalog struct {
	Routes    []string // route names, in the order to show them
	Providers []string // provider names (not "provider:NAME")
	// Objectives are the SLOs by component name (a route, or
	// "provider:NAME"); a component without one has no burn figure.
	Objectives map[string]slo.Objective
}

// NewCatalog builds a catalog from the engine's components and SLO reports
// (what the console already has: Service.Components and Service.SLOs).
func NewCatalog(components []understudy.Component, slos []slo.Report) Catalog {
	c := Catalog{Objectives: make(map[string]slo.Objective, len(slos))}
	for _, comp := range components {
		if p, ok := strings.CutPrefix(comp.Name, store.ProviderPrefix); ok {
			c.Providers = append(c.Providers, p)
		} else {
			c.Routes = append(c.Routes, comp.Name)
		}
	}
	for _, r := range slos {
		c.Objectives[r.Route] = r.Objective
	}
	return c
}

// Report is the analytics of one window.
type Report struct {
	Days      int
	From, Now time.Time // the window [From, Now); From is 00:00 UTC
	Routes    []Stats   // catalog order, then others by name
	Providers []Stats   // by rank (see Grade); ungraded ones last
	// Incidents started in the window (merged ones excluded), on any
	// component, and how many of them per cause.
	Incidents int
	Causes    []CauseCount
}

// CauseCount is a number of incidents of one cause.
type CauseCount struct {
	Cause understudy.Cause
	Count int
}

// Day is one UTC day of a component.
type Day struct {
	Day                    time.Time // 00:00 UTC
	Good, Degraded, Failed int64
	Failover               int64    // of Good: failover + resumed
	Availability           *float64 // Good / (Good+Degraded+Failed); nil without traffic
	// BelowObjective: Availability is below the objective's (degraded
	// answers count as unavailable here, even in the objective's
	// DegradedGood modes: the chart shows availability, not budget).
	BelowObjective bool
}

// Stats are the figures of one route or provider over the window.
type Stats struct {
	Component string // "assistant", "provider:openai"
	Name      string // "assistant", "openai"
	Kind      string // KindRoute or KindProvider
	Listed    bool   // named by the catalog (false: found in the data only)

	Requests, Good, Degraded, Failed int64 // Requests = Good + Degraded + Failed
	Failover                         int64 // of Good: failover + resumed
	Canceled                         int64 // client_canceled, outside Requests
	DegradedByMode                   map[string]int64

	Availability  *float64 // nil without traffic
	FailoverShare *float64 // nil when Good is 0
	Objective     *slo.Objective
	Burn          *float64 // nil without objective or traffic

	Incidents int          // started in the window
	Open      int          // of those, not resolved at now
	ByCause   []CauseCount // of Incidents, causes with at least one
	Downtime  time.Duration
	MTBF      *time.Duration // nil without incidents
	MTTD      *time.Duration // nil without incidents
	MTTR      *time.Duration // nil without resolved incidents

	Days []Day // one per day of the window, oldest first

	Grade Grade
	Rank  int // providers: 1 is best; 0 when ungraded (and for routes)
}

// Window returns the start of the window of days ending at now.
func Window(days int, now time.Time) time.Time {
	const day = 24 * time.Hour
	return now.UTC().Truncate(day).Add(-time.Duration(days-1) * day)
}

// Compute measures every component of cat over the window of days (1 to
// MaxDays) ending at now.
func Compute(ctx context.Context, q Querier, days int, now time.Time, cat Catalog) (Report, error) {
	if days < 1 || days > MaxDays {
		return Report{}, understudy.Errorf(understudy.EINVALID, "days must be between 1 and %d, not %d", MaxDays, days)
	}
	now = now.UTC()
	from := Window(days, now)
	counts, err := q.DailyCounts(ctx, from, now)
	if err != nil {
		return Report{}, fmt.Errorf("analytics: %w", err)
	}
	incs, err := q.IncidentsDuring(ctx, from, now)
	if err != nil {
		return Report{}, fmt.Errorf("analytics: %w", err)
	}
	r := Report{Days: days, From: from, Now: now}
	b := builder{r: &r, byComp: map[string]*Stats{}}
	for _, name := range cat.Routes {
		b.stats(name, KindRoute, true)
	}
	for _, name := range cat.Providers {
		b.stats(store.ProviderPrefix+name, KindProvider, true)
	}
	for _, c := range counts {
		i := int(c.Day.Sub(from) / (24 * time.Hour))
		if i < 0 || i >= days {
			continue
		}
		b.stats(c.Route, KindRoute, false).count(i, c.Mode, c.Count)
		if p, _, ok := strings.Cut(c.Target, "/"); ok && p != "" {
			b.stats(store.ProviderPrefix+p, KindProvider, false).count(i, c.Mode, c.Count)
		}
	}
	spans := incidentSpans(incs, from, now)
	for _, s := range b.order {
		s.finish(cat.Objectives, spans, from, now)
	}
	r.Incidents, r.Causes = countCauses(spans, "")
	r.Routes, r.Providers = b.kind(KindRoute), b.kind(KindProvider)
	rank(r.Providers, days)
	for i := range r.Routes {
		r.Routes[i].Grade = grade(&r.Routes[i], days)
	}
	return r, nil
}

// builder collects the components in the order they are met.
type builder struct {
	r      *Report
	byComp map[string]*Stats
	order  []*Stats
}

func (b *builder) stats(component, kind string, listed bool) *Stats {
	if s, ok := b.byComp[component]; ok {
		return s
	}
	s := &Stats{Component: component, Name: strings.TrimPrefix(component, store.ProviderPrefix), Kind: kind,
		Listed: listed, Days: make([]Day, b.r.Days)}
	for i := range s.Days {
		s.Days[i].Day = b.r.From.Add(time.Duration(i) * 24 * time.Hour)
	}
	b.byComp[component] = s
	b.order = append(b.order, s)
	return s
}

// kind returns the components of kind: listed ones in catalog order, then
// the others by name.
func (b *builder) kind(kind string) []Stats {
	var listed, found []Stats
	for _, s := range b.order {
		switch {
		case s.Kind != kind:
		case s.Listed:
			listed = append(listed, *s)
		default:
			found = append(found, *s)
		}
	}
	slices.SortFunc(found, func(a, b Stats) int { return strings.Compare(a.Component, b.Component) })
	return append(listed, found...)
}

// count adds n requests served in mode on day i.
func (s *Stats) count(i int, mode string, n int64) {
	d := &s.Days[i]
	switch store.OutcomeOf(mode) {
	case store.OutcomeCanceled:
		s.Canceled += n
	case store.OutcomeGood:
		d.Good += n
		if mode == store.ModeFailover || mode == store.ModeResumed {
			d.Failover += n
		}
	case store.OutcomeDegraded:
		d.Degraded += n
		if s.DegradedByMode == nil {
			s.DegradedByMode = map[string]int64{}
		}
		s.DegradedByMode[mode] += n
	case store.OutcomeFailed:
		d.Failed += n
	}
}

// finish sums the days and computes every figure.
func (s *Stats) finish(objectives map[string]slo.Objective, spans []span, from, now time.Time) {
	if o, ok := objectives[s.Component]; ok {
		s.Objective = &o
	}
	for i := range s.Days {
		d := &s.Days[i]
		s.Good += d.Good
		s.Degraded += d.Degraded
		s.Failed += d.Failed
		s.Failover += d.Failover
		if total := d.Good + d.Degraded + d.Failed; total > 0 {
			d.Availability = ratio(d.Good, total)
			d.BelowObjective = s.Objective != nil && *d.Availability < s.Objective.Availability
		}
	}
	s.Requests = s.Good + s.Degraded + s.Failed
	if s.Requests > 0 {
		s.Availability = ratio(s.Good, s.Requests)
		if s.Objective != nil {
			good := s.Good
			for _, m := range s.Objective.DegradedGood {
				good += s.DegradedByMode[m]
			}
			burn := slo.BurnRate(float64(s.Requests-good)/float64(s.Requests), s.Objective.Availability)
			s.Burn = &burn
		}
	}
	if s.Good > 0 {
		s.FailoverShare = ratio(s.Failover, s.Good)
	}
	s.incidents(spans, from, now)
}

func ratio(n, d int64) *float64 {
	v := float64(n) / float64(d)
	return &v
}

// causeOrder is the order causes are listed in: the classic three first.
var causeOrder = []understudy.Cause{understudy.CauseTechnical, understudy.CauseOverload,
	understudy.CauseMaintenance, understudy.CauseQuota, understudy.CauseMisconfiguration, understudy.CauseUnknown}

// Causes lists every known cause in display order.
func Causes() []understudy.Cause { return slices.Clone(causeOrder) }

func causeRank(c understudy.Cause) int {
	if i := slices.Index(causeOrder, c); i >= 0 {
		return i
	}
	return len(causeOrder)
}

// sortCauses orders counts by causeOrder, unknown values last by name.
func sortCauses(cs []CauseCount) {
	slices.SortFunc(cs, func(a, b CauseCount) int {
		return cmp.Or(cmp.Compare(causeRank(a.Cause), causeRank(b.Cause)), strings.Compare(string(a.Cause), string(b.Cause)))
	})
}
