package simulate

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

const runUsage = `Usage: understudy simulate [flags]

Serves fake OpenAI-compatible providers at http://LISTEN/{provider}/v1
(and Azure-style at /{provider}/openai/deployments/{model}/chat/completions?api-version=…,
and Anthropic Messages-style at POST /{provider}/v1/messages), with faults set by flags,
by a schedule file, or live through the control API under /_sim/.

Answers are deterministic: they depend on the provider, the model and the
messages (with -same-answers, on the messages only). A request that
continues a partial answer (a final assistant message, or an assistant
message followed by one user instruction, whose text starts the answer) gets
only the rest of that answer.

Fault kinds: %s

Flags:
`

// Run is the "understudy simulate" subcommand: it serves a Simulator until ctx
// is done, then releases hanging handlers and shuts down. -h returns
// flag.ErrHelp after printing the usage to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen    = fs.String("listen", "127.0.0.1:9090", "address to listen on (host:port; port 0 picks one)")
		providers = fs.String("providers", "primary,secondary,backup", "comma-separated provider names to serve")
		interval  = fs.Duration("token-interval", 0, "pause between streamed tokens")
		first     = fs.Duration("first-token-delay", 0, "delay before the first token or response")
		words     = fs.Int("answer-words", DefaultAnswerWords, "words per answer")
		schedule  = fs.String("schedule", "", `JSON file of schedules: {"provider":[{"fault":{"kind":"hang"},"for":"30s"},…]}`)
		same      = fs.Bool("same-answers", false, "every provider and model answers the same messages with the same text (a continuation on another provider then reproduces the answer)")
		faults    []string
		noPrefill = map[string]bool{}
		capacity  = map[string]Capacity{}
	)
	fs.Func("no-prefill", "provider that rejects requests ending in an assistant message with a 400; repeatable", func(v string) error {
		if v == "" {
			return errors.New("want a provider name")
		}
		noPrefill[v] = true
		return nil
	})
	fs.Func("capacity", "provider=SLOTS[/QUEUE]: requests answered at once and allowed to wait for a slot (QUEUE 0 or absent: refuse at once); "+
		"beyond them 503 (529 on /v1/messages) overloaded; repeatable or comma-separated (e.g. -capacity primary=4/8,backup=2)",
		func(v string) error { return parseCapacityFlag(v, capacity) })
	fs.Func("fault", "provider=kind or provider={JSON fault}; repeatable (e.g. -fault primary=hang)", func(v string) error {
		if _, _, ok := strings.Cut(v, "="); !ok {
			return fmt.Errorf("want provider=kind, got %q", v)
		}
		faults = append(faults, v)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), runUsage, strings.Join(Kinds(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("simulate: unexpected arguments %q", fs.Args())
	}
	var names []string
	for _, n := range strings.Split(*providers, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("simulate: -providers %q names no provider", *providers)
	}
	for n := range noPrefill {
		if !slices.Contains(names, n) {
			return fmt.Errorf("simulate: -no-prefill %q: not among -providers %q", n, *providers)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(capacity)) {
		if !slices.Contains(names, n) {
			return fmt.Errorf("simulate: -capacity %q: not among -providers %q", n, *providers)
		}
	}
	if *words <= 0 {
		return fmt.Errorf("simulate: -answer-words %d: want a positive number", *words)
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	sim := New(Options{
		Providers:       names,
		NoPrefill:       noPrefill,
		Capacity:        capacity,
		AnswerWords:     *words,
		TokenInterval:   *interval,
		FirstTokenDelay: *first,
		SameAnswers:     *same,
		Logger:          logger,
	})
	defer sim.Close()
	for _, v := range faults {
		if err := applyFaultFlag(sim, v); err != nil {
			return err
		}
	}
	if *schedule != "" {
		if err := applyScheduleFile(sim, *schedule); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	base := "http://" + ln.Addr().String()
	printBanner(stdout, base, names)

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("simulate: %w", err)
	case <-ctx.Done():
	}
	sim.Close() // hanging and stalled handlers end now, so Shutdown need not wait for them
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("simulate: %w", err)
	}
	return nil
}

func applyFaultFlag(sim *Simulator, v string) error {
	name, spec, _ := strings.Cut(v, "=")
	f := Fault{Kind: spec}
	if strings.HasPrefix(spec, "{") {
		f = Fault{}
		if err := decodeStrict(strings.NewReader(spec), &f); err != nil {
			return fmt.Errorf("simulate: -fault %s: %w", v, err)
		}
	}
	if err := sim.SetFault(name, f); err != nil {
		return fmt.Errorf("simulate: -fault %s: %w", v, err)
	}
	return nil
}

func applyScheduleFile(sim *Simulator, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("simulate: -schedule: %w", err)
	}
	var schedules map[string][]Step
	if err := decodeStrict(bytes.NewReader(b), &schedules); err != nil {
		return fmt.Errorf("simulate: -schedule %s: %w", path, err)
	}
	for _, name := range slices.Sorted(maps.Keys(schedules)) {
		if err := sim.Schedule(name, schedules[name]); err != nil {
			return fmt.Errorf("simulate: -schedule %s: provider %q: %w", path, name, err)
		}
	}
	return nil
}

func printBanner(w io.Writer, base string, names []string) {
	fmt.Fprintf(w, "understudy simulate: serving %d providers on %s\n", len(names), base)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s/%s/v1\n", width, n, base, n)
	}
	fmt.Fprintf(w, "Azure-style: %s/%s/openai/deployments/{model}/chat/completions?api-version=2024-10-21\n", base, names[0])
	fmt.Fprintf(w, "Anthropic-style: %s/%s/v1/messages (header anthropic-version required)\n", base, names[0])
	fmt.Fprintf(w, "Control API:\n")
	fmt.Fprintf(w, "  curl -s %s/_sim/providers\n", base)
	fmt.Fprintf(w, "  curl -s -X PUT %s/_sim/providers/%s/fault -d '{\"kind\":\"rate_limit\",\"retry_after\":\"5\",\"count\":3}'\n", base, names[0])
	fmt.Fprintf(w, "  curl -s -X DELETE %s/_sim/providers/%s/fault\n", base, names[0])
}
