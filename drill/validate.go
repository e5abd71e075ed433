package drill

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/simulate"
)

// planValidator collects a plan's problems.
type planValidator struct {
	src  *source
	errs []FieldError
}

func (v *planValidator) add(path, format string, args ...any) {
	for _, e := range v.errs {
		if e.Field == path {
			return // the first problem of a field is enough
		}
	}
	v.errs = append(v.errs, v.src.fieldError(path, format, args...))
}

// plan checks what can be checked without the team's configuration.
func (v *planValidator) plan(p *Plan) {
	if strings.TrimSpace(p.Config) == "" {
		v.add("config", "required: the path of the team's understudy.yaml, relative to this plan")
	}
	s := p.Simulator
	if s.FirstTokenDelay < 0 || s.FirstTokenDelay.D() > time.Minute {
		v.add("simulator.first_token_delay", "%s: want 0 to 1m", s.FirstTokenDelay)
	}
	if s.TokenInterval < 0 || s.TokenInterval.D() > 10*time.Second {
		v.add("simulator.token_interval", "%s: want 0 to 10s", s.TokenInterval)
	}
	if s.AnswerWords < 1 || s.AnswerWords > 10000 {
		v.add("simulator.answer_words", "%d: want 1 to 10000", s.AnswerWords)
	}
	l := p.Load
	switch {
	case !v.src.has("load.rate"):
		v.add("load.rate", "required: requests per second, e.g. 5")
	case math.IsNaN(l.Rate) || l.Rate <= 0 || l.Rate > MaxRate:
		v.add("load.rate", "%v: want more than 0 and at most %d requests per second", l.Rate, MaxRate)
	}
	if w := l.Warmup.D(); w < 0 || w > 10*time.Minute {
		v.add("load.warmup", "%s: want 0 to 10m", l.Warmup)
	}
	if len(l.Priorities) > 0 {
		var sum float64
		for _, prio := range slices.Sorted(maps.Keys(l.Priorities)) {
			if !slices.Contains([]string{config.PriorityCritical, config.PriorityDefault, config.PriorityBatch}, prio) {
				v.add("load.priorities."+prio, "unknown priority %q (critical, default or batch)", prio)
			}
			sum += float64(l.Priorities[prio])
		}
		if math.Abs(sum-1) > 1e-9 {
			v.add("load.priorities", "the shares add up to %s: they must add up to 100%%", Percent(sum))
		}
	}
	if p.Duration <= 0 || p.Duration.D() > MaxDuration {
		v.add("duration", "%s: want more than 0 and at most %s", p.Duration, Duration(MaxDuration))
	}
	if n := l.Rate * (l.Warmup.D() + p.Duration.D()).Seconds(); n > MaxRequests {
		v.add("load.rate", "%v requests/s for %s (warm-up and duration) is %.0f requests: at most %d per drill", l.Rate, l.Warmup.D()+p.Duration.D(), n, MaxRequests)
	}
	for i, st := range p.Steps {
		v.step(p, i, st)
	}
	v.overlaps(p)
	v.objectives(p.Objectives)
}

func (v *planValidator) step(p *Plan, i int, st Step) {
	path := fmt.Sprintf("steps[%d]", i)
	switch {
	case st.Provider == "" && st.Target == "":
		v.add(path+".provider", "required: the provider (or target: provider/model) the step acts on")
	case st.Provider != "" && st.Target != "":
		v.add(path+".target", "set provider or target, not both")
	case st.Target != "" && (!strings.Contains(st.Target, "/") || st.provider() == "" || st.model() == ""):
		v.add(path+".target", "%q: want provider/model, e.g. openai/gpt-4o-mini", st.Target)
	}
	n := 0
	for _, set := range []bool{st.Fault != nil, st.Capacity != nil, st.Maintenance != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		v.add(path, "set exactly one of fault, capacity and maintenance (%d set)", n)
	}
	if st.At < 0 {
		v.add(path+".at", "%s is negative: steps start from the end of the warm-up", st.At)
	} else if st.At >= p.Duration && p.Duration > 0 {
		v.add(path+".at", "%s is not before the end of the drill (duration %s)", st.At, p.Duration)
	}
	if st.For != nil && *st.For <= 0 {
		v.add(path+".for", "%s: want a positive duration such as 10s", st.For)
	}
	if f := st.Fault; f != nil {
		err := f.Sim(st.model()).Validate()
		var ve *simulate.ValidationError
		if errors.As(err, &ve) {
			v.add(path+".fault."+ve.Field, "%s", ve.Reason)
		} else if err != nil {
			v.add(path+".fault", "%v", err)
		}
	}
	if c := st.Capacity; c != nil {
		if st.Target != "" {
			v.add(path+".target", "a capacity is a provider's: use provider, not target")
		}
		err := simulate.Capacity{Slots: c.Slots, Queue: c.Queue}.Validate()
		var ve *simulate.ValidationError
		if errors.As(err, &ve) {
			v.add(path+".capacity."+ve.Field, "%s", ve.Reason)
		}
	}
	if st.Maintenance != nil && st.For == nil {
		v.add(path+".for", "required for a maintenance window: how long it lasts")
	}
}

// overlaps refuses two faults (or two capacities) on one provider at once:
// the simulator holds one of each per provider.
func (v *planValidator) overlaps(p *Plan) {
	total := p.Duration.D()
	for i, a := range p.Steps {
		for j := i + 1; j < len(p.Steps); j++ {
			b := p.Steps[j]
			if a.provider() != b.provider() || a.provider() == "" {
				continue
			}
			same := (a.Fault != nil && b.Fault != nil) || (a.Capacity != nil && b.Capacity != nil)
			if !same {
				continue
			}
			aEnd, bEnd := a.At.D()+a.length(total), b.At.D()+b.length(total)
			if a.At.D() < bEnd && b.At.D() < aEnd {
				v.add(fmt.Sprintf("steps[%d].at", j), "overlaps steps[%d] on provider %s (the simulator holds one %s per provider at a time)",
					i, a.provider(), map[bool]string{true: "fault", false: "capacity"}[a.Fault != nil])
			}
		}
	}
}

func (v *planValidator) objectives(o Objectives) {
	if o.empty() {
		v.add("objectives", "required: at least one objective, e.g. client_success_rate: 99%%")
	}
	for name, d := range map[string]*Duration{
		"max_failover_time": o.MaxFailoverTime, "max_recovery_time": o.MaxRecoveryTime, "time_to_incident": o.TimeToIncident,
		"time_to_first_update": o.TimeToFirstUpdate, "p50_latency": o.P50Latency, "p99_latency": o.P99Latency,
		"p99_time_to_first_token": o.P99TimeToFirstToken,
	} {
		if d != nil && *d <= 0 {
			v.add("objectives."+name, "%s: want a positive duration", d)
		}
	}
	if o.IncidentOpened != nil && !*o.IncidentOpened && len(o.IncidentComponents) > 0 {
		v.add("objectives.incident_components", "contradicts incident_opened: false")
	}
}

// against checks the plan's names against the team's configuration.
func (v *planValidator) against(p *Plan, cfg *config.Config) {
	providers := map[string]bool{}
	var provNames []string
	for _, pr := range cfg.Providers {
		providers[pr.Name] = true
		provNames = append(provNames, pr.Name)
	}
	routes := map[string]bool{}
	targets := map[string]bool{}
	var routeNames, targetIDs []string
	for _, r := range cfg.Routes {
		routes[r.Name] = true
		routeNames = append(routeNames, r.Name)
		for _, tier := range r.Tiers {
			for _, t := range tier {
				id := t.Provider + "/" + t.Model
				if !targets[id] {
					targets[id] = true
					targetIDs = append(targetIDs, id)
				}
			}
		}
	}
	sort.Strings(targetIDs)
	for i, name := range p.Load.Routes {
		if !routes[name] {
			v.add(fmt.Sprintf("load.routes[%d]", i), "unknown route %q (the team's config has: %s)", name, strings.Join(routeNames, ", "))
		}
	}
	for _, prio := range slices.Sorted(maps.Keys(p.Load.Priorities)) {
		if p.Load.Priorities[prio] > 0 && !slices.ContainsFunc(cfg.Keys, func(k config.Key) bool { return k.Priority == prio }) {
			v.add("load.priorities."+prio, "the team's config has no key of priority %s to send these requests with", prio)
		}
	}
	for i, st := range p.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		switch {
		case st.Provider != "" && !providers[st.Provider]:
			v.add(path+".provider", "unknown provider %q (the team's config has: %s)", st.Provider, strings.Join(provNames, ", "))
		case st.Target != "" && !targets[st.Target]:
			v.add(path+".target", "unknown target %q (the team's routes use: %s)", st.Target, strings.Join(targetIDs, ", "))
		}
	}
	known := map[string]bool{}
	for _, r := range routeNames {
		known[r] = true
	}
	for _, pr := range provNames {
		known[understudy.ProviderComponent(pr)] = true
	}
	for i, c := range p.Objectives.IncidentComponents {
		if !known[c] {
			v.add(fmt.Sprintf("objectives.incident_components[%d]", i), "unknown component %q (a route, or provider:NAME: %s)",
				c, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
}

// empty reports whether no objective is set.
func (o Objectives) empty() bool {
	return o.ClientSuccessRate == nil && o.AnsweredRate == nil && o.DegradedShare == nil && o.MaxFailoverTime == nil && o.MaxRecoveryTime == nil &&
		o.TimeToIncident == nil && o.TimeToFirstUpdate == nil && o.P50Latency == nil && o.P99Latency == nil &&
		o.P99TimeToFirstToken == nil && o.IncidentOpened == nil && len(o.IncidentComponents) == 0
}
