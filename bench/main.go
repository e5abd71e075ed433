// Command bench measures what Understudy costs on the request path. In one
// run it puts the same fast mock upstream behind three setups — called
// directly, behind a bare httputil.ReverseProxy, and behind the real
// `understudy serve` — and prints their latency, streaming, throughput and
// memory figures side by side. See README.md.
//
//	go run ./bench [-rate 300] [-duration 10s] [-out bench.md] …
//
// The servers run as separate processes (this binary re-executed with the
// hidden subcommands "upstream" and "proxy", and the understudy binary) so
// that each one's memory can be read and the load generator's own work is
// not counted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(2)
		case errors.Is(err, context.Canceled):
			fmt.Fprintln(os.Stderr, "bench: interrupted; servers stopped")
		default:
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "upstream":
			return runUpstream(ctx, args[1:], stdout, stderr)
		case "proxy":
			return runProxy(ctx, args[1:], stdout, stderr)
		}
	}
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if opts.Phases["detect"] {
		if err := runDetect(ctx, opts, stdout, stderr); err != nil {
			return err
		}
	}
	if opts.Phases["communicate"] {
		if err := runCommunicate(ctx, opts, getenv, stdout, stderr); err != nil {
			return err
		}
	}
	if opts.Phases["overload"] {
		if err := runOverload(ctx, opts, stdout, stderr); err != nil {
			return err
		}
	}
	if opts.Phases["replicas"] {
		if err := runReplicas(ctx, opts, getenv, stdout, stderr); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(allPhases, func(p string) bool { return opts.Phases[p] }) {
		return nil // only opt-in phases: nothing else to build or start
	}
	return runBench(ctx, opts, stdout, stderr)
}

// options are the benchmark's settings. The defaults keep a whole run under
// about three minutes on a 2-core machine.
type options struct {
	Args        []string        // as given, for the report
	Rate        int             // non-streaming requests per second (a)
	StreamRate  int             // streams started per second (b)
	Duration    time.Duration   // of each measured phase, per setup (a, b, c)
	Rounds      int             // slices each phase's duration is cut into
	Warmup      time.Duration   // unmeasured load before each measurement
	Workers     int             // closed-loop workers (c)
	Chunks      int             // content chunks per mock stream
	Idle        int             // idle streams held open (e); 0 skips the test
	IdleOpeners int             // idle streams being opened at once
	IdleTimeout time.Duration   // to open all idle streams
	Phases      map[string]bool // which of latency, streams, throughput, idle, resume, recording, detect, communicate, overload, replicas run

	ResumeStreams  int           // streams per gateway (f)
	ResumeCut      float64       // share of them cut mid-answer
	ResumeWorkers  int           // streams sent at once, each worker one at a time
	ResumeInterval time.Duration // the simulator's pause between tokens
	Seed           uint64        // of the cut plan
	Understudy     string        // a prebuilt understudy binary; empty: build one
	Out            string        // also write the report as Markdown here
	Detect         detectOptions // the detect phase's

	Communicate communicateOptions // the communicate phase's
	Overload    overloadOptions    // the overload phase's
	Replicas    replicasOptions    // the replicas phase's
}

var allPhases = []string{"latency", "streams", "throughput", "idle", "resume", "recording"}

// optInPhases run only when named in -phases.
var optInPhases = []string{"detect", "communicate", "overload", "replicas"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{Args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench [flags]   (from the repository root)")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.Rate, "rate", 300, "non-streaming requests per second, open loop")
	fs.IntVar(&o.StreamRate, "stream-rate", 100, "streams started per second, open loop")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured phase, per setup")
	fs.IntVar(&o.Rounds, "rounds", 10, "rounds each phase is split into, setups taking turns")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.Workers, "workers", 64, "concurrent closed-loop workers for the throughput phase")
	fs.IntVar(&o.Chunks, "chunks", 20, "content chunks in each mock stream")
	fs.IntVar(&o.Idle, "idle", 10000, "idle streams held open at once (0 skips the test)")
	fs.IntVar(&o.IdleOpeners, "idle-openers", 256, "idle streams being opened at once")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 90*time.Second, "time allowed to open all idle streams")
	fs.IntVar(&o.ResumeStreams, "resume-streams", 1000, "streams per gateway in the resume phase")
	fs.Float64Var(&o.ResumeCut, "resume-cut", 0.1, "share of the resume phase's streams cut mid-answer")
	fs.IntVar(&o.ResumeWorkers, "resume-workers", 8, "resume phase: workers, each sending its streams one at a time")
	fs.DurationVar(&o.ResumeInterval, "resume-interval", 3*time.Millisecond, "resume phase: the simulator's pause between streamed tokens")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the resume phase's cut plan")
	o.Detect.flags(fs)
	o.Communicate.flags(fs)
	o.Overload.flags(fs)
	o.Replicas.flags(fs)
	phases := fs.String("phases", strings.Join(allPhases, ","), "comma-separated phases to run, of "+strings.Join(allPhases, ", ")+"; and "+strings.Join(optInPhases, ", ")+", only when named")
	fs.StringVar(&o.Understudy, "understudy", "", "use this understudy binary instead of building ./cmd/understudy")
	fs.StringVar(&o.Out, "out", "", "also write the report as Markdown to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Phases = make(map[string]bool)
	for p := range strings.SplitSeq(*phases, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allPhases, p) && !slices.Contains(optInPhases, p) {
			return o, fmt.Errorf("-phases: unknown phase %q (known: %s)", p, strings.Join(append(slices.Clone(allPhases), optInPhases...), ", "))
		}
		o.Phases[p] = true
	}
	switch {
	case o.Rate <= 0 || o.StreamRate <= 0 || o.Workers <= 0 || o.Chunks <= 0 || o.IdleOpeners <= 0:
		return o, errors.New("-rate, -stream-rate, -workers, -chunks and -idle-openers must be positive")
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return o, errors.New("-duration must be between 0 and 10m")
	case o.Rounds <= 0 || o.Duration/time.Duration(o.Rounds) < 100*time.Millisecond:
		return o, errors.New("-rounds must be positive and leave at least 100ms per round")
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, errors.New("-warmup must be between 0 and 1m")
	case o.Idle < 0 || o.Idle > 100000:
		return o, errors.New("-idle must be between 0 and 100000")
	case o.IdleTimeout <= 0 || o.IdleTimeout > 10*time.Minute:
		return o, errors.New("-idle-timeout must be between 0 and 10m")
	case o.ResumeStreams <= 0 || o.ResumeStreams > 100000 || o.ResumeWorkers <= 0 || o.ResumeWorkers > 256:
		return o, errors.New("-resume-streams must be between 1 and 100000, -resume-workers between 1 and 256")
	case o.ResumeCut < 0 || o.ResumeCut > 1:
		return o, errors.New("-resume-cut must be between 0 and 1")
	case o.ResumeInterval < 0 || o.ResumeInterval > time.Second:
		return o, errors.New("-resume-interval must be between 0 and 1s")
	}
	if err := o.Detect.validate(); err != nil {
		return o, err
	}
	if err := o.Overload.validate(); err != nil {
		return o, err
	}
	if err := o.Replicas.validate(); err != nil {
		return o, err
	}
	return o, o.Communicate.validate()
}
