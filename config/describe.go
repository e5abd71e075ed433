package config

import (
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Describe prints the effective configuration (defaults applied) as plain
// text for `understudy check`: listen address and limits, each route with its
// tiers of targets, selection, timeouts and retry policy, the providers and
// the keys. Secrets appear only as their ${REF}; header values are not shown.
// The order is the file's, so the output is stable.
func (c *Config) Describe(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	p("listen\t%s", c.Listen)
	p("public_url\t%s", orNone(c.PublicURL))
	p("limits\tmax body %d bytes, max in flight %s, shed Retry-After %s",
		c.Limits.MaxBodyBytes, unlimited(c.Limits.MaxInflight), c.Limits.ShedRetryAfter)
	p("log\t%s, %s", c.Log.Level, c.Log.Format)
	st := c.Storage
	where := "sqlite " + st.SQLite
	switch {
	case st.Disabled:
		where = "disabled (nothing recorded)"
	case st.PostgresDSN.Ref != "":
		where = "postgres " + st.PostgresDSN.String()
	}
	p("storage\t%s, flush every %s, keep events %s and rollups %s", where, st.FlushEvery, st.EventsRetention, st.RollupsRetention)
	in := c.Incidents
	switch {
	case st.Disabled:
		p("incidents\toff (needs storage)")
	case in.Disabled:
		p("incidents\tdetection off; people can open incidents")
	default:
		var on []string
		for _, d := range []struct {
			name string
			d    Detector
		}{{"target_down", in.TargetDown}, {"route_errors", in.RouteErrors}, {"overload", in.Overload}, {"slo_burn", in.SLOBurn}} {
			if !d.d.Disabled {
				on = append(on, d.name)
			}
		}
		p("incidents\tdetectors %s every %s; monitoring after %s quiet, resolved after %s stable; reminders after %s",
			orNone(strings.Join(on, ", ")), in.Every, in.RecoverAfter, in.ResolveAfter, in.RemindAfter)
	}

	caps := map[string]int{}
	for _, pr := range c.Providers {
		caps[pr.Name] = pr.MaxConcurrency
	}
	p("")
	p("routes (%d)", len(c.Routes))
	for _, r := range c.Routes {
		p("  %s\tselection %s", r.Name, r.Selection)
		for t, tier := range r.Tiers {
			for j, tg := range tier {
				label := ""
				if j == 0 {
					label = "tier " + strconv.Itoa(t+1)
				}
				conc := tg.MaxConcurrency
				if conc == 0 {
					conc = caps[tg.Provider]
				}
				p("    %s\t%s/%s\tweight %d\tcontext %s\tconcurrency %s",
					label, tg.Provider, tg.Model, tg.Weight, contextWindow(tg.ContextWindow), unlimited(conc))
			}
		}
		t := r.Timeouts
		if r.Resume.Disabled {
			p("    resume\toff: a stream broken mid-answer ends with an error event")
		} else {
			p("    resume\ton: a stream broken mid-answer continues on the next target")
		}
		p("    timeouts\tconnect %s, first token %s, stream idle %s, response %s, total %s",
			t.Connect, t.FirstToken, t.StreamIdle, t.Response, t.Total)
		rt := r.Retry
		attempts := "one per target plus one retry"
		if rt.MaxAttempts > 0 {
			attempts = strconv.Itoa(rt.MaxAttempts)
		}
		p("    retry\tbudget %s, at least %s/s, wait out Retry-After up to %s, backoff %s, max attempts %s",
			percent(rt.Budget), strconv.FormatFloat(rt.MinPerSecond, 'f', -1, 64), rt.RetryAfterMaxWait, rt.Backoff, attempts)
		slo := fmt.Sprintf("availability %s over %s", percent(r.SLO.Availability), r.SLO.Period)
		if r.SLO.Latency > 0 {
			slo += fmt.Sprintf(", %s of answers within %s", percent(r.SLO.LatencyTarget), r.SLO.Latency)
		}
		p("    slo\t%s", slo)
	}

	p("")
	p("providers (%d)", len(c.Providers))
	for _, pr := range c.Providers {
		line := fmt.Sprintf("  %s\tkind %s\t%s\tapi_key %s", pr.Name, pr.Kind, pr.BaseURL, orNone(pr.APIKey.String()))
		if pr.Kind == KindAzure {
			line += "\tapi_version " + pr.APIVersion
		}
		line += "\tcontinuation " + pr.Continuation
		p("%s", line)
		if len(pr.Headers) > 0 {
			p("    headers\t%s (values not shown)", strings.Join(sortedKeys(pr.Headers), ", "))
		}
		p("    concurrency\t%s per target", unlimited(pr.MaxConcurrency))
		if a := pr.AdaptiveConcurrency; a.Enabled {
			p("    adaptive limit\t%d–%d, starting at %d; queue up to %g× the limit", a.Min, a.Max, a.Initial, a.Queue)
		}
		pb := pr.Probe
		if pb.Disabled {
			p("    probe\tdisabled")
		} else {
			healthy := "never"
			if pb.HealthyInterval > 0 {
				healthy = "every " + pb.HealthyInterval.String()
			}
			p("    probe\tevery %s while open, %s while healthy, timeout %s", pb.Interval, healthy, pb.Timeout)
		}
		b := pr.Breaker
		p("    breaker\topens after %d consecutive failures or %s failed of at least %d in %s; open %s, up to %s; %d half-open trial(s)",
			b.ConsecutiveFailures, percent(b.FailureRate), b.MinRequests, b.Window, b.OpenFor, b.MaxOpenFor, b.HalfOpenRequests)
	}

	p("")
	if len(c.Keys) == 0 {
		p("keys (0): no authentication (loopback only)")
		return
	}
	p("keys (%d)", len(c.Keys))
	for _, k := range c.Keys {
		p("  %s\tpriority %s\t%s\trequests/min %s", k.Name, k.Priority, orNone(k.Key.String()), unlimited(k.RequestsPerMinute))
	}
}

// Warnings lists what Validate allows but is probably a mistake: providers no
// route uses, api_version on a provider that is not azure. Each is one line,
// located like a FieldError.
func (c *Config) Warnings() []string {
	used := map[string]bool{}
	for _, r := range c.Routes {
		for _, tier := range r.Tiers {
			for _, tg := range tier {
				used[tg.Provider] = true
			}
		}
	}
	var out []string
	for i, p := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		if p.Name != "" && !used[p.Name] {
			out = append(out, c.src.fieldError(path+".name", p.Name,
				fmt.Sprintf("provider %q is not used by any route", p.Name)).Error())
		}
		if p.Kind != KindAzure && p.APIVersion != "" {
			out = append(out, c.src.fieldError(path+".api_version", p.APIVersion,
				"api_version is only used by kind azure; it is ignored here").Error())
		}
	}
	return out
}

// equal reports whether two configurations have the same effective content,
// wherever they were read from.
func (c *Config) equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	a, b := *c, *o
	a.src, b.src = nil, nil
	return reflect.DeepEqual(a, b)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func unlimited(n int) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}

func contextWindow(n int) string {
	if n <= 0 {
		return "unknown"
	}
	return strconv.Itoa(n)
}

// percent prints a fraction as a percentage, rounded to 4 decimals so that
// 0.07 reads 7%, not 7.000000000000001%.
func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e6)/1e4, 'f', -1, 64) + "%"
}
