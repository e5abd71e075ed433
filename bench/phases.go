package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// phases runs every measurement. The load phases (a, b, c) split their
// duration into rounds; each round gives every setup one slice, in an order
// that rotates from round to round, so that drift on a shared machine (other
// processes, heat, the garbage collectors' phase) spreads over all setups
// instead of landing on whichever ran last.
func (r *runner) phases(ctx context.Context) error {
	for _, p := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"latency", r.latency},
		{"streams", r.streams},
		{"throughput", r.throughput},
		{"memory", r.memory},
		{"idle", r.idle},
		{"resume", r.resume},
		{"recording", r.recording},
	} {
		switch {
		case p.name == "memory":
			if !r.opts.Phases["latency"] && !r.opts.Phases["streams"] && !r.opts.Phases["throughput"] && !r.opts.Phases["idle"] {
				continue // nothing ran through the three setups
			}
		case !r.opts.Phases[p.name]:
			continue
		}
		if err := p.run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// slice is how long each setup runs in each round.
func (r *runner) slice() time.Duration { return r.opts.Duration / time.Duration(r.opts.Rounds) }

func (r *runner) latency(ctx context.Context) error {
	o, slice := r.opts, r.slice()
	progress(r.stderr, "(a) latency, non-stream, %d req/s, %s per setup", o.Rate, o.Duration)
	metrics := make([]vegeta.Metrics, len(r.setups))
	err := r.rounds(ctx, 10000, func(i int, s *setup, c *http.Client, warm bool) error {
		if warm {
			var discard vegeta.Metrics
			attack(ctx, c, s.chatURL, r.wholeBody, o.Rate, o.Warmup, &discard)
			return nil
		}
		attack(ctx, c, s.chatURL, r.wholeBody, o.Rate, slice, &metrics[i])
		return nil
	})
	if err != nil {
		return err
	}
	for i, s := range r.setups {
		r.rep.latency = append(r.rep.latency, named[latencyResult]{s.name, latencyOf(&metrics[i])})
	}
	return nil
}

func (r *runner) streams(ctx context.Context) error {
	o, slice := r.opts, r.slice()

	progress(r.stderr, "(b) streaming, %d streams/s, %s per setup", o.StreamRate, o.Duration)
	samples := make([]streamSamples, len(r.setups))
	err := r.rounds(ctx, 4096, func(i int, s *setup, c *http.Client, warm bool) error {
		if warm {
			streams(ctx, c, s.chatURL, r.streamBody, o.StreamRate, o.Warmup, o.Chunks, &streamSamples{})
			return nil
		}
		streams(ctx, c, s.chatURL, r.streamBody, o.StreamRate, slice, o.Chunks, &samples[i])
		return nil
	})
	if err != nil {
		return err
	}
	for i, s := range r.setups {
		r.rep.streams = append(r.rep.streams, named[streamResult]{s.name, samples[i].result()})
	}
	return nil
}

func (r *runner) throughput(ctx context.Context) error {
	o, slice := r.opts, r.slice()

	progress(r.stderr, "(c) throughput, non-stream, %d workers, %s per setup", o.Workers, o.Duration)
	tput := make([]throughputResult, len(r.setups))
	machine := make([][2]uint64, len(r.setups)) // busy, total ticks
	err := r.rounds(ctx, 2*o.Workers, func(i int, s *setup, c *http.Client, warm bool) error {
		if warm {
			throughput(ctx, c, s.chatURL, r.wholeBody, o.Workers, o.Warmup, &throughputResult{})
			return nil
		}
		cpu0, err := readCPU(s.proc.pid())
		if err != nil {
			return err
		}
		busy0, total0, err := machineCPU()
		if err != nil {
			return err
		}
		throughput(ctx, c, s.chatURL, r.wholeBody, o.Workers, slice, &tput[i])
		cpu1, err := readCPU(s.proc.pid())
		if err != nil {
			return err
		}
		busy1, total1, err := machineCPU()
		if err != nil {
			return err
		}
		tput[i].ServerCPU += cpu1 - cpu0
		machine[i][0] += busy1 - busy0
		machine[i][1] += total1 - total0
		return nil
	})
	if err != nil {
		return err
	}
	for i, s := range r.setups {
		if machine[i][1] > 0 {
			tput[i].MachineCPU = float64(machine[i][0]) / float64(machine[i][1])
		}
		r.rep.throughput = append(r.rep.throughput, named[throughputResult]{s.name, tput[i]})
	}
	return nil
}

// memory reads each server's memory after the load phases.
func (r *runner) memory(context.Context) error {
	for _, s := range r.setups {
		m, err := readMem(s.proc.pid())
		if err != nil {
			return err
		}
		r.rep.mem = append(r.rep.mem, named[procMem]{s.name, m})
	}
	return nil
}

// idle holds many silent streams open through the bare proxy, then through
// Understudy, and reads their memory.
func (r *runner) idle(ctx context.Context) error {
	o := r.opts
	if o.Idle == 0 {
		return nil
	}
	servers := r.setups[1:] // the bare proxy and understudy
	n := o.Idle
	fit, err := idleFit(os.Getpid(), r.upstream.pid(), servers[0].proc.pid(), servers[1].proc.pid())
	if err != nil {
		return err
	}
	if fit < n {
		why := fmt.Sprintf("the open-files limit leaves room for %d idle streams, not %d: a server in front of the upstream holds two descriptors per stream, and the hard limit is %d", fit, n, hardOpenFiles())
		if r.nofileErr != nil {
			why += " (" + r.nofileErr.Error() + ")"
		}
		r.rep.warn(why)
		n = fit
	}
	for _, s := range servers {
		progress(r.stderr, "(e) %d idle streams: %s", n, s.name)
		res, err := idleStreams(ctx, s.idleURL, s.idleBody, n, o.IdleOpeners, o.IdleTimeout, s.proc.pid(), r.upstream.pid())
		res.Wanted = o.Idle
		if err != nil {
			return fmt.Errorf("idle streams through %s: %w", s.name, err)
		}
		r.rep.idle = append(r.rep.idle, named[idleResult]{s.name, res})
		if err := r.check(ctx, s); err != nil {
			return err
		}
		// Give the servers a moment to close their side of every stream.
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// rounds calls run for a warm-up of every setup (warm true, when a warm-up
// is set), then for o.Rounds rounds of every setup. Each setup keeps one
// client, and so its pool of kept-alive connections, over all its slices.
func (r *runner) rounds(ctx context.Context, idle int, run func(i int, s *setup, c *http.Client, warm bool) error) error {
	return r.roundsOf(ctx, r.setups, idle, run)
}

// roundsOf is rounds over the given setups.
func (r *runner) roundsOf(ctx context.Context, setups []*setup, idle int, run func(i int, s *setup, c *http.Client, warm bool) error) error {
	clients := make([]*http.Client, len(setups))
	for i := range clients {
		clients[i] = newClient(idle, 30*time.Second)
		defer clients[i].CloseIdleConnections()
	}
	if r.opts.Warmup > 0 {
		for i, s := range setups {
			if err := run(i, s, clients[i], true); err != nil {
				return err
			}
			if err := r.check(ctx, s); err != nil {
				return err
			}
		}
	}
	n := len(setups)
	for round := range r.opts.Rounds {
		for k := range n {
			i := (round + k) % n
			if err := run(i, setups[i], clients[i], false); err != nil {
				return err
			}
			if err := r.check(ctx, setups[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// check stops the run when it was interrupted or a server died.
func (r *runner) check(ctx context.Context, s *setup) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.upstream.alive(); err != nil {
		return err
	}
	return s.proc.alive()
}
