package config

import (
	"fmt"
	"time"
)

// Default values, as stated in the field comments of types.go.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultMaxBodyBytes      = 4 << 20
	DefaultShedRetryAfter    = Duration(time.Second)
	DefaultAzureAPIVersion   = "2024-10-21"
	DefaultPriority          = PriorityDefault
	DefaultSelection         = SelectWeighted
	DefaultWeight            = 1
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "text"
	DefaultRetryBudget       = 0.2
	DefaultRetryMinPerSecond = 3
)

// Key priorities, most important first.
const (
	PriorityCritical = "critical"
	PriorityDefault  = "default"
	PriorityBatch    = "batch"
)

// Default returns a Config with every top-level default filled in and no
// keys, providers or routes (Validate requires at least one provider and one
// route). Parse decodes into a fresh Config and then applies the same
// defaults, so a file only needs what differs.
func Default() *Config {
	c := &Config{}
	c.ApplyDefaults()
	return c
}

// DefaultProbe is the probe configuration a provider gets when the file says nothing.
func DefaultProbe() Probe {
	return Probe{Interval: Duration(2 * time.Second), Timeout: Duration(5 * time.Second)}
}

// DefaultBreaker is the breaker configuration a provider gets when the file says nothing.
func DefaultBreaker() Breaker {
	return Breaker{
		ConsecutiveFailures: 5,
		FailureRate:         0.5,
		MinRequests:         10,
		Window:              Duration(30 * time.Second),
		OpenFor:             Duration(5 * time.Second),
		MaxOpenFor:          Duration(5 * time.Minute),
		HalfOpenRequests:    1,
	}
}

// DefaultTimeouts are a route's timeouts when the file says nothing.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Connect:    Duration(2 * time.Second),
		FirstToken: Duration(10 * time.Second),
		Response:   Duration(60 * time.Second),
		StreamIdle: Duration(10 * time.Second),
		Total:      Duration(120 * time.Second),
	}
}

// DefaultRetry is a route's retry policy when the file says nothing.
func DefaultRetry() Retry {
	return Retry{
		Budget:            DefaultRetryBudget,
		MinPerSecond:      DefaultRetryMinPerSecond,
		RetryAfterMaxWait: Duration(2 * time.Second),
		Backoff:           Duration(100 * time.Millisecond),
	}
}

// ApplyDefaults fills every zero field that has a default, on the Config and
// on each key, provider, route and target. Negative values are left alone
// for Validate to report.
//
// Zero means "the default" everywhere except for two fields where zero is a
// meaningful setting: retry.budget (no retries beyond min_per_second) and
// retry.min_per_second (no floor). When the Config came from Parse, a zero
// written in the file for those two is kept; a Config built in Go code cannot
// tell "unset" from 0 there and gets the default.
func (c *Config) ApplyDefaults() {
	setDefault(&c.Listen, DefaultListen)
	setDefault(&c.Limits.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.Limits.ShedRetryAfter, DefaultShedRetryAfter)
	if !c.src.has("limits.queue_wait.critical") {
		setDefault(&c.Limits.QueueWait.Critical, Duration(5*time.Second))
	}
	if !c.src.has("limits.queue_wait.default") {
		setDefault(&c.Limits.QueueWait.Default, Duration(time.Second))
	}
	setDefault(&c.Log.Level, DefaultLogLevel)
	setDefault(&c.Log.Format, DefaultLogFormat)
	c.Incidents.applyDefaults()
	setDefault(&c.StatusPageName, "Understudy")
	setDefault(&c.Notifications.MaxAttempts, 8)
	setDefault(&c.FAQ.Threshold, 0.5)
	setDefault(&c.Handoff.SLA, Duration(2*time.Minute))
	if e := c.Notifications.Email; e != nil {
		setDefault(&e.Port, 587)
	}
	if len(c.Communication.Languages) == 0 {
		c.Communication.Languages = []string{"en", "fr"}
	}
	for i := range c.Keys {
		setDefault(&c.Keys[i].Priority, DefaultPriority)
	}
	if c.Storage.PostgresDSN.Ref == "" && !c.Storage.Disabled {
		setDefault(&c.Storage.SQLite, "understudy.db")
	}
	setDefault(&c.Storage.EventsRetention, Duration(90*24*time.Hour))
	setDefault(&c.Storage.RollupsRetention, Duration(400*24*time.Hour))
	setDefault(&c.Storage.FlushEvery, Duration(5*time.Second))
	for i := range c.Providers {
		p := &c.Providers[i]
		setDefault(&p.Kind, KindOpenAI)
		if p.Kind == KindAnthropic {
			setDefault(&p.Continuation, ContinueNative)
		}
		setDefault(&p.Continuation, ContinueInstruction)
		if p.Kind == KindAzure {
			setDefault(&p.APIVersion, DefaultAzureAPIVersion)
		}
		if a := &p.AdaptiveConcurrency; a.Enabled {
			setDefault(&a.Min, 1)
			maxDefault := 200
			if p.MaxConcurrency > 0 {
				maxDefault = min(maxDefault, p.MaxConcurrency)
			}
			setDefault(&a.Max, maxDefault)
			setDefault(&a.Initial, min(max(10, a.Min), a.Max))
			if !c.src.has(fmt.Sprintf("providers[%d].adaptive_concurrency.queue", i)) {
				setDefault(&a.Queue, 2)
			}
		}
		dp := DefaultProbe()
		setDefault(&p.Probe.Interval, dp.Interval)
		setDefault(&p.Probe.Timeout, dp.Timeout)
		db := DefaultBreaker()
		b := &p.Breaker
		setDefault(&b.ConsecutiveFailures, db.ConsecutiveFailures)
		setDefault(&b.FailureRate, db.FailureRate)
		setDefault(&b.MinRequests, db.MinRequests)
		setDefault(&b.Window, db.Window)
		setDefault(&b.OpenFor, db.OpenFor)
		setDefault(&b.MaxOpenFor, db.MaxOpenFor)
		setDefault(&b.HalfOpenRequests, db.HalfOpenRequests)
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		setDefault(&r.Selection, DefaultSelection)
		dt := DefaultTimeouts()
		setDefault(&r.Timeouts.Connect, dt.Connect)
		setDefault(&r.Timeouts.FirstToken, dt.FirstToken)
		setDefault(&r.Timeouts.Response, dt.Response)
		setDefault(&r.Resume.Window, Duration(5*time.Second))
		setDefault(&r.Timeouts.StreamIdle, dt.StreamIdle)
		setDefault(&r.Timeouts.Total, dt.Total)
		dr := DefaultRetry()
		if !c.src.has(fmt.Sprintf("routes[%d].retry.budget", i)) {
			setDefault(&r.Retry.Budget, dr.Budget)
		}
		if !c.src.has(fmt.Sprintf("routes[%d].retry.min_per_second", i)) {
			setDefault(&r.Retry.MinPerSecond, dr.MinPerSecond)
		}
		setDefault(&r.Retry.RetryAfterMaxWait, dr.RetryAfterMaxWait)
		setDefault(&r.Retry.Backoff, dr.Backoff)
		setDefault(&r.Cache.TTL, Duration(time.Hour))
		setDefault(&r.Cache.MaxBytes, 8<<20)
		setDefault(&r.Cache.FastPathTTL, r.Cache.TTL)
		setDefault(&r.SLO.Availability, 0.999)
		setDefault(&r.SLO.LatencyTarget, 0.95)
		setDefault(&r.SLO.Period, Duration(30*24*time.Hour))
		for t := range r.Tiers {
			for j := range r.Tiers[t] {
				setDefault(&r.Tiers[t][j].Weight, DefaultWeight)
			}
		}
	}
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

func (in *Incidents) applyDefaults() {
	setDefault(&in.Every, Duration(time.Second))
	setDefault(&in.RouteErrors.Window, Duration(30*time.Second))
	setDefault(&in.RouteErrors.MinRequests, 5)
	setDefault(&in.RouteErrors.Threshold, 0.2)
	setDefault(&in.Overload.Window, Duration(60*time.Second))
	setDefault(&in.Overload.MinRequests, 10)
	setDefault(&in.Overload.Threshold, 0.3)
	setDefault(&in.Overload.LatencyFactor, 3)
	setDefault(&in.SLOBurn.Window, Duration(30*time.Second))
	setDefault(&in.RecoverAfter, Duration(30*time.Second))
	setDefault(&in.ResolveAfter, Duration(5*time.Minute))
	setDefault(&in.ComponentHold, Duration(60*time.Second))
	setDefault(&in.RemindAfter, Duration(30*time.Minute))
	setDefault(&in.ProviderStatusEvery, Duration(60*time.Second))
}
