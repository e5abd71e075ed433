package drill

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// judge checks each objective the plan sets, in a fixed order. An
// objective with nothing to measure fails: a drill that asked for it and
// could not show it has not shown it.
func judge(o Objectives, res *Result) []ObjectiveResult {
	var out []ObjectiveResult
	c := res.Counts
	share := func(name string, want *Percent, n int, atLeast bool, what string) {
		if want == nil {
			return
		}
		r := ObjectiveResult{Name: name, Want: "≥ " + want.String()}
		if !atLeast {
			r.Want = "≤ " + want.String()
		}
		if c.Sent == 0 {
			r.Got, r.Note = "no data", "no request was sent after the warm-up"
			out = append(out, r)
			return
		}
		got := float64(n) / float64(c.Sent)
		r.Got = fmt.Sprintf("%s (%d/%d)", pct(got), n, c.Sent)
		// Compare in whole requests, not floats: 99% of 200 is 198.
		limit := float64(*want) * float64(c.Sent)
		if atLeast {
			r.Pass = float64(n) >= limit-1e-9
		} else {
			r.Pass = float64(n) <= limit+1e-9
		}
		r.Note = what
		out = append(out, r)
	}
	atMost := func(name string, want *Duration, got *time.Duration, missing string) {
		if want == nil {
			return
		}
		r := ObjectiveResult{Name: name, Want: "≤ " + want.String()}
		if got == nil {
			r.Got, r.Note = "none", missing
		} else {
			r.Got, r.Pass = secs(*got), *got <= want.D()
		}
		out = append(out, r)
	}
	share("client_success_rate", o.ClientSuccessRate, c.OK, true, "answered whole by a model")
	share("answered_rate", o.AnsweredRate, c.OK+c.Degraded, true, "answered by a model or a degraded mode")
	share("degraded_share", o.DegradedShare, c.Degraded, false, "answered by the degradation ladder")

	if o.MaxFailoverTime != nil {
		out = append(out, failoverObjective(*o.MaxFailoverTime, res.Steps))
	}
	if o.MaxRecoveryTime != nil {
		out = append(out, recoveryObjective(*o.MaxRecoveryTime, res.Steps))
	}
	noFault := "the plan has no fault or capacity step"
	if !res.FirstFault.IsZero() {
		noFault = "no incident was detected after the first fault"
	}
	atMost("time_to_incident", o.TimeToIncident, res.TimeToIncident, noFault)
	if res.TimeToFirstUpdate == nil && res.TimeToIncident != nil {
		noFault = "the incident has no public update"
	}
	atMost("time_to_first_update", o.TimeToFirstUpdate, res.TimeToFirstUpdate, noFault)
	lat := func(l Latency, q func(Latency) time.Duration) *time.Duration {
		if l.N == 0 {
			return nil
		}
		d := q(l)
		return &d
	}
	atMost("p50_latency", o.P50Latency, lat(res.Latency, func(l Latency) time.Duration { return l.P50 }), "no request was sent after the warm-up")
	atMost("p99_latency", o.P99Latency, lat(res.Latency, func(l Latency) time.Duration { return l.P99 }), "no request was sent after the warm-up")
	atMost("p99_time_to_first_token", o.P99TimeToFirstToken, lat(res.TTFT, func(l Latency) time.Duration { return l.P99 }), "no stream received content after the warm-up")

	var opened []IncidentResult
	var alarms int
	for _, inc := range res.Incidents {
		if inc.DuringWarmup {
			alarms++
		} else {
			opened = append(opened, inc)
		}
	}
	if o.IncidentOpened != nil {
		r := ObjectiveResult{Name: "incident_opened", Want: fmt.Sprint(*o.IncidentOpened)}
		if *o.IncidentOpened {
			r.Pass = len(opened) > 0
			r.Got = fmt.Sprintf("%d opened after the warm-up", len(opened))
		} else {
			r.Pass = len(res.Incidents) == 0
			r.Got = fmt.Sprintf("%d opened", len(res.Incidents))
		}
		if alarms > 0 {
			r.Note = fmt.Sprintf("%d during the healthy warm-up (false alarms)", alarms)
		}
		out = append(out, r)
	}
	if len(o.IncidentComponents) > 0 {
		r := ObjectiveResult{Name: "incident_components", Want: "includes " + strings.Join(o.IncidentComponents, ", ")}
		var seen []string
		for _, inc := range opened {
			if !r.Pass && !slices.ContainsFunc(o.IncidentComponents, func(c string) bool { return !slices.Contains(inc.Components, c) }) {
				r.Pass, r.Got = true, fmt.Sprintf("#%d: %s", inc.ID, strings.Join(inc.Components, ", "))
			}
			seen = append(seen, fmt.Sprintf("#%d: %s", inc.ID, strings.Join(inc.Components, ", ")))
		}
		if !r.Pass {
			r.Got = "none"
			if len(seen) > 0 {
				r.Got = strings.Join(seen, "; ")
				r.Note = "no incident affects all of them"
			} else {
				r.Note = "no incident was opened after the warm-up"
			}
		}
		out = append(out, r)
	}
	return out
}

// failoverObjective: the longest failover time of the steps must be at
// most want; a step that never failed over (requests failed, none
// succeeded elsewhere) fails it; steps that needed no failover are left
// out, and a drill where none was needed has nothing to show.
func failoverObjective(want Duration, steps []StepResult) ObjectiveResult {
	r := ObjectiveResult{Name: "max_failover_time", Want: "≤ " + want.String()}
	worst, never := worstStep(steps, func(s *StepResult) (string, *time.Duration) { return s.FailoverState, s.Failover })
	switch {
	case len(never) > 0:
		r.Got = "none"
		r.Note = strings.Join(never, ", ") + ": requests failed and none succeeded on another target"
	case worst == nil:
		r.Got = "not measured"
		r.Note = "no step made a failover necessary"
	default:
		r.Got = secs(*worst.Failover)
		r.Pass = *worst.Failover <= want.D()
		r.Note = fmt.Sprintf("step %d, answered by %s", worst.Number, worst.FailoverBy)
	}
	return r
}

// worstStep is the step whose measure (of) is the longest among those
// measured, and the steps whose measure never came ("none").
func worstStep(steps []StepResult, of func(*StepResult) (state string, d *time.Duration)) (worst *StepResult, never []string) {
	var longest *time.Duration
	for i := range steps {
		s := &steps[i]
		switch state, d := of(s); state {
		case FailoverMeasured:
			if longest == nil || *d > *longest {
				worst, longest = s, d
			}
		case FailoverNone:
			never = append(never, fmt.Sprintf("step %d", s.Number))
		}
	}
	return worst, never
}

// recoveryObjective: the longest recovery time of the steps that ended
// before the drill must be at most want; traffic that never came back
// fails it.
func recoveryObjective(want Duration, steps []StepResult) ObjectiveResult {
	r := ObjectiveResult{Name: "max_recovery_time", Want: "≤ " + want.String()}
	worst, never := worstStep(steps, func(s *StepResult) (string, *time.Duration) { return s.RecoveryState, s.Recovery })
	switch {
	case len(never) > 0:
		r.Got = "none"
		r.Note = strings.Join(never, ", ") + ": traffic had not come back to its targets by the end of the drill"
	case worst == nil:
		r.Got = "not measured"
		r.Note = "no step ended before the drill on targets that were serving"
	default:
		r.Got = secs(*worst.Recovery)
		r.Pass = *worst.Recovery <= want.D()
		r.Note = fmt.Sprintf("step %d", worst.Number)
	}
	return r
}

// secs writes a duration in seconds with two decimals: "1.52s".
func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// pct writes a share as a percentage with up to two decimals, never
// rounding up to 100%.
func pct(f float64) string {
	v := math.Round(f*10000) / 100
	if v >= 100 && f < 1 {
		v = 99.99 // 99.999% is not 100%
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".") + "%"
}
