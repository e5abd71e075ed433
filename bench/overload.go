package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/simulate"
)

// The overload phase (j): a target with a fixed capacity — the simulator's
// provider answers Slots requests at once, queues Queue more, refuses the
// rest with 503 — offered -overload-factor times what it can serve, split
// between three keys of priority critical, default and batch. Two gateways
// take the same load, one after the other, each on a fresh simulator: one
// with the target's adaptive concurrency limit and priority admission
// (queue_wait critical 5s, default 1s, batch 0s), one with neither (the
// plain gateway: every request is sent on; the target's own queue and
// refusals, retries and the circuit breaker decide). Per priority: the share
// served by the model, latency p50/p99 of those, and the share refused by
// the gateway (503 with Retry-After); overall goodput (answers per second).
//
// Everything runs in this process on the real clock over loopback HTTP, as
// the detect phase does. The phase is opt-in (-phases overload).

type overloadOptions struct {
	Slots    int           // the target's concurrency
	Queue    int           // requests it queues beyond its slots
	Service  time.Duration // time to answer one request
	Factor   float64       // offered load, × capacity
	Duration time.Duration // measured, per gateway
	Warmup   time.Duration // unmeasured load at half the capacity first (the limit learns the target's latency)
}

func (o *overloadOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.Slots, "overload-slots", 8, "overload phase: requests the simulated target answers at once")
	fs.IntVar(&o.Queue, "overload-queue", 32, "overload phase: requests the simulated target queues beyond its slots")
	fs.DurationVar(&o.Service, "overload-service", 200*time.Millisecond, "overload phase: the target's time to answer one request")
	fs.Float64Var(&o.Factor, "overload-factor", 3, "overload phase: offered load, times the target's capacity")
	fs.DurationVar(&o.Duration, "overload-duration", 20*time.Second, "overload phase: measured load per gateway")
	fs.DurationVar(&o.Warmup, "overload-warmup", 5*time.Second, "overload phase: unmeasured load at half the target's capacity before the overload")
}

func (o overloadOptions) validate() error {
	switch {
	case o.Slots < 1 || o.Slots > 1000 || o.Queue < 0 || o.Queue > 10000:
		return errors.New("-overload-slots must be between 1 and 1000, -overload-queue between 0 and 10000")
	case o.Service < time.Millisecond || o.Service > 10*time.Second:
		return errors.New("-overload-service must be between 1ms and 10s")
	case o.Factor <= 0 || o.Factor > 20:
		return errors.New("-overload-factor must be between 0 and 20")
	case o.Duration <= 0 || o.Duration > 10*time.Minute || o.Warmup < 0 || o.Warmup > 5*time.Minute:
		return errors.New("-overload-duration must be between 0 and 10m, -overload-warmup between 0 and 5m")
	}
	return nil
}

// capacity is what the target can answer per second.
func (o overloadOptions) capacity() float64 { return float64(o.Slots) / o.Service.Seconds() }

// overloadMix is each priority's share of the offered load.
var overloadMix = []struct {
	priority string
	share    float64
}{{config.PriorityCritical, 0.2}, {config.PriorityDefault, 0.4}, {config.PriorityBatch, 0.4}}

const overloadConfig = `# Written by the benchmark's overload phase (bench/overload.go).
listen: 127.0.0.1:0
limits:
  queue_wait: {critical: 5s, default: 1s, batch: 0s}
keys:
  - {name: web, key: "${CRITICAL_KEY}", priority: critical}
  - {name: app, key: "${DEFAULT_KEY}", priority: default}
  - {name: nightly, key: "${BATCH_KEY}", priority: batch}
providers:
  - name: primary
    base_url: "${SIM_URL}/primary/v1"
    probe: {disabled: true}
%s
routes:
  - name: assistant
    tiers:
      - [{provider: primary, model: m-primary}]
    timeouts: {first_token: 30s, response: 30s, total: 30s}
`

// overloadClass is one priority's outcome through one gateway.
type overloadClass struct {
	Priority          string
	Sent, OK, Shed    int // Shed: the gateway's own 503 with Retry-After
	Failed            int // any other answer (upstream overload passed on, timeouts)
	P50, P99          time.Duration
	RetryAfterMissing int // 503s without Retry-After
}

type overloadResult struct {
	Gateway string
	Classes []overloadClass
	Goodput float64 // answers per second
	Limit   string  // the adaptive limit at the end, when there is one
}

func runOverload(ctx context.Context, o options, stdout, stderr io.Writer) error {
	ov := o.Overload
	offered := ov.Factor * ov.capacity()
	progress(stderr, "(j) overload: target capacity %d slots × 1/%s = %.0f req/s, offered %.0f req/s (%.1f×) for %s per gateway after %s warm-up",
		ov.Slots, ov.Service, ov.capacity(), offered, ov.Factor, ov.Duration, ov.Warmup)
	var results []overloadResult
	for _, g := range []struct {
		name     string
		adaptive bool
	}{{"adaptive limit + priorities", true}, {"no shedding", false}} {
		progress(stderr, "(j) overload: %s", g.name)
		res, err := overloadRun(ctx, ov, g.name, g.adaptive)
		if err != nil {
			return fmt.Errorf("overload %q: %w", g.name, err)
		}
		results = append(results, res)
	}
	writeOverload(stdout, o, results)
	return nil
}

func overloadRun(ctx context.Context, ov overloadOptions, name string, adaptive bool) (overloadResult, error) {
	res := overloadResult{Gateway: name}
	sim := simulate.New(simulate.Options{Providers: []string{"primary"}, FirstTokenDelay: ov.Service,
		Capacity: map[string]simulate.Capacity{"primary": {Slots: ov.Slots, Queue: ov.Queue}}})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	keys := map[string]string{"CRITICAL_KEY": "sk-critical", "DEFAULT_KEY": "sk-default", "BATCH_KEY": "sk-batch", "SIM_URL": simSrv.URL}
	limit := ""
	if adaptive {
		limit = "    adaptive_concurrency: {enabled: true} # the defaults: min 1, max 200, initial 10, queue 2"
	}
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(overloadConfig, limit)), "overload.yaml", func(k string) string { return keys[k] })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return res, fmt.Errorf("config: %w", err)
	}
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(cfg, gateway.Options{Registry: reg})
	if err != nil {
		return res, err
	}
	defer gw.Close()
	gwSrv := httptest.NewServer(gw.Handler())
	defer gwSrv.Close()
	client := newClient(4096, time.Minute)
	defer client.CloseIdleConnections()

	// attackAll offers the mix for d at scale × the phase's load.
	attackAll := func(d time.Duration, scale float64) []overloadClass {
		classes := make([]overloadClass, len(overloadMix))
		var wg sync.WaitGroup
		for i, m := range overloadMix {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rate := ov.Factor * ov.capacity() * m.share * scale
				classes[i] = overloadAttack(ctx, client, gwSrv.URL+"/v1/chat/completions", "sk-"+m.priority, rate, d)
				classes[i].Priority = m.priority
			}()
		}
		wg.Wait()
		return classes
	}
	if ov.Warmup > 0 {
		// Normal operation first, at half the capacity: the limiter learns
		// the target's latency when it is not overloaded.
		attackAll(ov.Warmup, 0.5/ov.Factor)
	}
	res.Classes = attackAll(ov.Duration, 1)
	ok := 0
	for _, c := range res.Classes {
		ok += c.OK
	}
	res.Goodput = float64(ok) / ov.Duration.Seconds()
	if adaptive {
		res.Limit = gaugeValue(reg, "understudy_adaptive_limit")
	}
	return res, ctx.Err()
}

// overloadAttack sends rate req/s with key for d and sorts the answers.
func overloadAttack(ctx context.Context, client *http.Client, url, key string, rate float64, d time.Duration) overloadClass {
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(64), vegeta.MaxWorkers(4096))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	n := 0
	tr := func(t *vegeta.Target) error {
		n++
		t.Method, t.URL = http.MethodPost, url
		t.Body = fmt.Appendf(nil, `{"model":"assistant","messages":[{"role":"user","content":"Question %d from %s"}]}`, n, key)
		t.Header = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
		return nil
	}
	var c overloadClass
	var lat []time.Duration
	per := time.Duration(float64(time.Second) / rate)
	for r := range atk.Attack(tr, vegeta.ConstantPacer{Freq: 1, Per: per}, d, key) {
		c.Sent++
		switch {
		case r.Code == http.StatusOK:
			c.OK++
			lat = append(lat, r.Latency)
		case r.Code == http.StatusServiceUnavailable && strings.Contains(string(r.Body), "concurrency limit"):
			c.Shed++
			if r.Headers.Get("Retry-After") == "" {
				c.RetryAfterMissing++
			}
		default:
			c.Failed++
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		c.P50, c.P99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return c
}

// gaugeValue reads the first series of a gauge.
func gaugeValue(reg *prometheus.Registry, name string) string {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return fmt.Sprint(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return "?"
}

func writeOverload(w io.Writer, o options, rs []overloadResult) {
	ov := o.Overload
	fmt.Fprintf(w, "\n## (j) overload: %.1f× a target's capacity\n\n", ov.Factor)
	fmt.Fprintf(w, "Target: %d slots, %d queued, %s per answer = %.0f req/s. Offered %.0f req/s for %s per gateway (after %s at half the capacity): critical 20%%, default 40%%, batch 40%%.\n\n",
		ov.Slots, ov.Queue, ov.Service, ov.capacity(), ov.Factor*ov.capacity(), ov.Duration, ov.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "gateway\tpriority\tsent\tserved\tp50\tp99\tshed 503\tfailed")
	for _, r := range rs {
		for _, c := range r.Classes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f%%\t%s\t%s\t%.1f%%\t%.1f%%\n", r.Gateway, c.Priority, c.Sent,
				share(c.OK, c.Sent), c.P50.Round(time.Millisecond), c.P99.Round(time.Millisecond), share(c.Shed, c.Sent), share(c.Failed, c.Sent))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rs {
		fmt.Fprintf(w, "- %s: goodput %.1f answers/s (%.0f%% of capacity)", r.Gateway, r.Goodput, 100*r.Goodput/ov.capacity())
		if r.Limit != "" {
			fmt.Fprintf(w, "; adaptive limit at the end: %s", r.Limit)
		}
		missing := 0
		for _, c := range r.Classes {
			missing += c.RetryAfterMissing
		}
		if missing > 0 {
			fmt.Fprintf(w, "; %d shed answers WITHOUT Retry-After", missing)
		}
		fmt.Fprintln(w)
	}
}

// share is n/d as a percentage, 0 when d is 0.
func share(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}
