package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/understudy/understudy/simulate"
)

// report collects one run's figures and renders them as aligned text or
// Markdown; both carry the same tables.
type report struct {
	opts       options
	started    time.Time
	understudy string // where the binary came from
	warnings   []string

	latency    []named[latencyResult]
	streams    []named[streamResult]
	throughput []named[throughputResult]
	mem        []named[procMem]
	idle       []named[idleResult]
	resume     []named[resumeResult]
	recording  []named[recordingResult]
}

func newReport(o options) *report { return &report{opts: o, started: time.Now()} }

func (r *report) warn(s string) { r.warnings = append(r.warnings, s) }

// table is one titled grid; notes follow it.
type table struct {
	title string
	head  []string
	rows  [][]string
	notes []string
}

const gib = 1 << 30

// Targets from the issue.
const (
	maxAddedP50Ratio  = 1.5 // Understudy's added p50 over the bare proxy's
	minThroughputFrac = 0.8 // Understudy's max throughput over the bare proxy's
	idleStreamsTarget = 10000
	maxIdleRSS        = 1 * gib
	minWholeShare     = 0.99 // streams delivered whole with 10% cut mid-answer
)

func (r *report) header() []string {
	o := r.opts
	cmd := "go run ./bench"
	if len(o.Args) > 0 {
		cmd += " " + strings.Join(o.Args, " ")
	}
	h := []string{
		"command:    " + cmd,
		"date:       " + r.started.UTC().Format(time.RFC3339),
		fmt.Sprintf("go:         %s %s/%s, %d CPUs, GOMAXPROCS %d", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		"understudy: " + r.understudy,
		fmt.Sprintf("settings:   non-stream %d req/s; streams %d/s with %d content chunks; %d closed-loop workers; each phase %s per setup in %d rounds, setups taking turns, after a %s warm-up; %d idle streams",
			o.Rate, o.StreamRate, o.Chunks, o.Workers, o.Duration, o.Rounds, o.Warmup, o.Idle),
		"setups:     direct = client → mock upstream; bare proxy = client → httputil.ReverseProxy → mock; understudy = client → understudy serve → mock",
		"understudy config: one route, one openai-kind target at the mock, no keys, probes off, log level warn, timeouts first_token 30s, stream_idle 10m, total 15m, default limits; storage: SQLite (the default store) in a file in the benchmark's temporary directory, flush_every 5s (default)",
	}
	if o.Phases["resume"] {
		h = append(h, fmt.Sprintf("resume:     %d streams per gateway, %.0f%% cut at a random content chunk (seed %d); %d workers, each with its own simulated primary/secondary pair and route, one stream at a time; simulator -same-answers, %d words, token interval %s",
			o.ResumeStreams, o.ResumeCut*100, o.Seed, o.ResumeWorkers, simulate.DefaultAnswerWords, o.ResumeInterval))
	}
	if o.Phases["recording"] {
		h = append(h, fmt.Sprintf("recording:  three gateways with the understudy config above but for storage: disabled; sqlite (temporary directory); postgres (a throwaway database us_bench_*, dropped at the end); flush_every %s; each %d req/s open loop for %s, then %d closed-loop workers for %s, in %d rounds, gateways taking turns; then stopped with SIGTERM and their stores' outcomes counted",
			recordFlushEvery, o.Rate, o.Duration, o.Workers, o.Duration/2, o.Rounds))
	}
	for _, w := range r.warnings {
		h = append(h, "WARNING:    "+w)
	}
	return h
}

func (r *report) tables() []table {
	o := r.opts
	var ts []table

	lat := table{
		title: fmt.Sprintf("(a) Latency, non-streaming, open loop at %d req/s for %s (vegeta)", o.Rate, o.Duration),
		head:  []string{"setup", "requests", "ok", "p50", "p90", "p99", "added p50", "added p99"},
	}
	base, hasBase := find(r.latency, "direct")
	for _, l := range r.latency {
		row := []string{l.setup, fmt.Sprint(l.v.Requests), pct(l.v.Success), ms(l.v.P50), ms(l.v.P90), ms(l.v.P99), "—", "—"}
		if hasBase && l.setup != "direct" {
			row[6], row[7] = added(l.v.P50-base.P50), added(l.v.P99-base.P99)
		}
		lat.rows = append(lat.rows, row)
		if len(l.v.Errors) > 0 {
			lat.notes = append(lat.notes, fmt.Sprintf("%s errors: %s", l.setup, strings.Join(first(l.v.Errors, 3), "; ")))
		}
	}
	ts = append(ts, lat)

	st := table{
		title: fmt.Sprintf("(b) Streaming, open loop at %d streams/s for %s, %d content chunks each", o.StreamRate, o.Duration, o.Chunks),
		head:  []string{"setup", "streams", "failed", "TTFT p50", "TTFT p99", "full p50", "full p99", "added TTFT p50", "added TTFT p99"},
		notes: []string{"TTFT: until the first data line with content; full: until data: [DONE]."},
	}
	sbase, hasSBase := find(r.streams, "direct")
	for _, s := range r.streams {
		row := []string{s.setup, fmt.Sprint(s.v.Requests), fmt.Sprint(s.v.Failed), ms(s.v.TTFT.P50), ms(s.v.TTFT.P99), ms(s.v.Total.P50), ms(s.v.Total.P99), "—", "—"}
		if hasSBase && s.setup != "direct" {
			row[7], row[8] = added(s.v.TTFT.P50-sbase.TTFT.P50), added(s.v.TTFT.P99-sbase.TTFT.P99)
		}
		st.rows = append(st.rows, row)
		if s.v.FirstError != "" {
			st.notes = append(st.notes, fmt.Sprintf("%s first error: %s", s.setup, s.v.FirstError))
		}
	}
	ts = append(ts, st)

	tp := table{
		title: fmt.Sprintf("(c) Maximum throughput, non-streaming, closed loop with %d workers for %s", o.Workers, o.Duration),
		head:  []string{"setup", "req/s", "failed", "vs bare proxy", "server CPU per request", "machine CPU busy"},
		notes: []string{
			"Server CPU per request: user+system time of the process the client talks to (for direct, the mock itself), from /proc/PID/stat (10 ms ticks), over the requests served.",
			"Machine CPU busy: all processes, load generator included; near 100% means the figures compare CPU cost per request.",
		},
	}
	pbase, hasPBase := find(r.throughput, "bare proxy")
	for _, t := range r.throughput {
		row := []string{t.setup, fmt.Sprintf("%.0f", t.v.RPS()), fmt.Sprint(t.v.Failed), "—", us(t.v.CPUPerRequest()), pct(t.v.MachineCPU)}
		if hasPBase && pbase.RPS() > 0 {
			row[3] = pct(t.v.RPS() / pbase.RPS())
		}
		tp.rows = append(tp.rows, row)
		if t.v.FirstError != "" {
			tp.notes = append(tp.notes, fmt.Sprintf("%s first error: %s", t.setup, t.v.FirstError))
		}
	}
	ts = append(ts, tp)

	mem := table{
		title: "(d) Memory of each server process after the load phases",
		head:  []string{"setup", "process", "VmRSS", "peak VmHWM"},
	}
	for _, m := range r.mem {
		proc := m.setup
		if m.setup == "direct" {
			proc = "mock upstream"
		}
		mem.rows = append(mem.rows, []string{m.setup, proc, mib(m.v.RSS), mib(m.v.HWM)})
	}
	ts = append(ts, mem)

	if len(r.idle) > 0 {
		idle := table{
			title: fmt.Sprintf("(e) %d concurrent idle streams (first chunk received, then silence)", o.Idle),
			head:  []string{"setup", "open", "time to open all", "server VmRSS before", "server VmRSS, all open", "per stream", "mock upstream VmRSS"},
			notes: []string{"VmRSS read 2 s after the last stream received its first chunk, before any is closed; per stream = (all open − before) / open."},
		}
		for _, i := range r.idle {
			idle.rows = append(idle.rows, []string{i.setup, fmt.Sprintf("%d/%d", i.v.Opened, i.v.Tried),
				fmt.Sprintf("%.1f s", i.v.OpenTime.Seconds()), mib(i.v.Before.RSS), mib(i.v.Mem.RSS),
				fmt.Sprintf("%.1f KiB", float64(i.v.PerStream())/1024), mib(i.v.UpstreamMem.RSS)})
			if i.v.FirstError != "" {
				idle.notes = append(idle.notes, fmt.Sprintf("%s first error: %s", i.setup, i.v.FirstError))
			}
		}
		ts = append(ts, idle)
	}
	if len(r.resume) > 0 {
		rt := table{
			title: fmt.Sprintf("(f) Streams cut mid-answer: %d streams per gateway, %.0f%% cut at a random content chunk, continuation on vs off", o.ResumeStreams, o.ResumeCut*100),
			head: []string{"gateway", "streams", "cut", "delivered whole", "cut ones whole", "seam gap p50", "seam gap p99",
				"added at seam p50", "added at seam p99", "full uncut p50", "full uncut p99", "full cut p50", "full cut p99"},
			notes: []string{
				"Delivered whole: the client's concatenated text equals the full answer, one finish reason, one data: [DONE], no error event.",
				"Seam gap: in a cut stream delivered whole, the longest gap between consecutive content chunks (or the last one and [DONE]); added = seam gap − the median gap between content chunks of uncut streams.",
				"Full: from sending the request to the stream's end ([DONE], or the error event / closed connection when not whole).",
			},
		}
		for _, x := range r.resume {
			v := x.v
			row := []string{x.setup, fmt.Sprint(v.Streams), fmt.Sprint(v.Cut),
				fmt.Sprintf("%s (%d)", pct(v.wholeShare()), v.Whole), fmt.Sprintf("%d/%d", v.WholeCut, v.Cut),
				"—", "—", "—", "—", ms(v.FullUncut.P50), ms(v.FullUncut.P99), ms(v.FullCut.P50), ms(v.FullCut.P99)}
			if v.WholeCut > 0 {
				row[5], row[6], row[7], row[8] = ms(v.SeamGap.P50), ms(v.SeamGap.P99), added(v.SeamAdded.P50), added(v.SeamAdded.P99)
			}
			rt.rows = append(rt.rows, row)
			rt.notes = append(rt.notes, fmt.Sprintf("%s: median gap between content chunks %s", x.setup, ms(v.TypicalGap)))
			if v.FirstFailure != "" {
				rt.notes = append(rt.notes, fmt.Sprintf("%s first stream not whole: %s", x.setup, v.FirstFailure))
			}
		}
		ts = append(ts, rt)
	}
	if len(r.recording) > 0 {
		ts = append(ts, r.recordingTable())
	}
	ts = append(ts, r.targets())
	return slices.DeleteFunc(ts, func(t table) bool { return len(t.rows) == 0 }) // phases not run
}

// targets checks the issues' targets.
func (r *report) targets() table {
	t := table{title: "Targets", head: []string{"target", "measured", "result"}}
	d, okD := find(r.latency, "direct")
	p, okP := find(r.latency, "bare proxy")
	u, okU := find(r.latency, "understudy")
	if okD && okP && okU {
		ap, au := p.P50-d.P50, u.P50-d.P50
		measured := fmt.Sprintf("understudy %s, bare proxy %s", added(au), added(ap))
		result := "n/a (the bare proxy added nothing measurable)"
		if ap > 0 {
			ratio := float64(au) / float64(ap)
			measured += fmt.Sprintf(" (%.2f×)", ratio)
			result = passFail(ratio <= maxAddedP50Ratio)
		}
		t.rows = append(t.rows, []string{fmt.Sprintf("added p50 ≤ %.1f× the bare proxy's", maxAddedP50Ratio), measured, result})
	}
	tp, okTP := find(r.throughput, "bare proxy")
	tu, okTU := find(r.throughput, "understudy")
	if okTP && okTU && tp.RPS() > 0 {
		frac := tu.RPS() / tp.RPS()
		t.rows = append(t.rows, []string{fmt.Sprintf("max throughput ≥ %.0f%% of the bare proxy's", minThroughputFrac*100),
			fmt.Sprintf("%.0f vs %.0f req/s (%s)", tu.RPS(), tp.RPS(), pct(frac)), passFail(frac >= minThroughputFrac)})
	}
	if iu, ok := find(r.idle, "understudy"); ok {
		target := fmt.Sprintf("%d idle streams under %s RSS", idleStreamsTarget, mib(maxIdleRSS))
		measured := fmt.Sprintf("%s with %d/%d open", mib(iu.Mem.RSS), iu.Opened, iu.Tried)
		var result string
		switch {
		case iu.Opened < iu.Tried:
			result = "FAIL (not every stream opened)"
		case iu.Opened >= idleStreamsTarget:
			result = passFail(iu.Mem.RSS < maxIdleRSS)
		default:
			// Fewer were opened than the target, all of them fine: project.
			p := iu.Projected(idleStreamsTarget)
			measured += fmt.Sprintf("; %.1f KiB per stream → %s projected for %d", float64(iu.PerStream())/1024, mib(p), idleStreamsTarget)
			result = passFail(iu.Mem.RSS < maxIdleRSS && p < maxIdleRSS) + fmt.Sprintf(" (projected from %d streams)", iu.Tried)
		}
		t.rows = append(t.rows, []string{target, measured, result})
	}
	if on, ok := find(r.resume, "continuation on"); ok {
		measured := fmt.Sprintf("%s (%d/%d, %d cut)", pct(on.wholeShare()), on.Whole, on.Streams, on.Cut)
		if off, ok := find(r.resume, "continuation off"); ok {
			measured += fmt.Sprintf("; continuation off: %s", pct(off.wholeShare()))
		}
		t.rows = append(t.rows, []string{fmt.Sprintf("streams delivered whole ≥ %.0f%%, %.0f%% cut mid-answer", minWholeShare*100, r.opts.ResumeCut*100),
			measured, passFail(on.wholeShare() >= minWholeShare)})
	}
	for _, x := range r.recording {
		if x.setup == "disabled" || x.v.Skipped != "" {
			continue
		}
		t.rows = append(t.rows, []string{"every outcome recorded after a graceful stop (" + x.setup + ")",
			fmt.Sprintf("%d/%d", x.v.Recorded, x.v.Sent), passFail(x.v.CountErr == "" && x.v.Recorded == x.v.Sent)})
	}
	return t
}

// recordingTable is phase (g)'s table.
func (r *report) recordingTable() table {
	o := r.opts
	t := table{
		title: fmt.Sprintf("(g) Recording outcomes: open loop at %d req/s for %s, then closed loop with %d workers for %s, per storage", o.Rate, o.Duration, o.Workers, o.Duration/2),
		head: []string{"storage", "requests", "ok", "p50", "p90", "p99", "added p50", "added p99",
			"max req/s", "vs disabled", "server CPU per request", "sent", "recorded", "recorded/sent"},
		notes: []string{
			"Added: p50/p99 minus the storage-disabled gateway's, at the same fixed rate.",
			"Max req/s: closed loop; every request is one outcome, so with recording on it is the outcomes/s the gateway recorded.",
			"Sent: every request sent to the gateway in this phase (warm-up, open and closed loop); recorded: SELECT SUM(count) FROM rollups in its store after SIGTERM.",
		},
	}
	base, hasBase := find(r.recording, "disabled")
	hasBase = hasBase && base.Skipped == ""
	for _, x := range r.recording {
		v := x.v
		if v.Skipped != "" {
			t.rows = append(t.rows, []string{x.setup, "skipped", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", "—"})
			t.notes = append(t.notes, fmt.Sprintf("%s skipped: %s", x.setup, v.Skipped))
			continue
		}
		l, tp := v.Latency, v.Throughput
		row := []string{x.setup, fmt.Sprint(l.Requests), pct(l.Success), ms(l.P50), ms(l.P90), ms(l.P99), "—", "—",
			fmt.Sprintf("%.0f", tp.RPS()), "—", us(tp.CPUPerRequest()), fmt.Sprint(v.Sent), "—", "—"}
		if hasBase && x.setup != "disabled" {
			row[6], row[7] = added(l.P50-base.Latency.P50), added(l.P99-base.Latency.P99)
			if base.Throughput.RPS() > 0 {
				row[9] = pct(tp.RPS() / base.Throughput.RPS())
			}
		}
		if x.setup != "disabled" {
			row[12] = fmt.Sprint(v.Recorded)
			if v.Sent > 0 {
				row[13] = pct(float64(v.Recorded) / float64(v.Sent))
			}
		}
		t.rows = append(t.rows, row)
		if len(l.Errors) > 0 {
			t.notes = append(t.notes, fmt.Sprintf("%s errors: %s", x.setup, strings.Join(first(l.Errors, 3), "; ")))
		}
		if tp.FirstError != "" {
			t.notes = append(t.notes, fmt.Sprintf("%s closed-loop first error: %s", x.setup, tp.FirstError))
		}
		if v.CountErr != "" {
			t.notes = append(t.notes, fmt.Sprintf("%s: %s", x.setup, v.CountErr))
		}
	}
	return t
}

func (r *report) write(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Understudy load benchmark")
	for _, h := range r.header() {
		fmt.Fprintln(w, h)
	}
	for _, t := range r.tables() {
		fmt.Fprintf(w, "\n%s\n", t.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.head, "\t"))
		for _, row := range t.rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		_ = tw.Flush()
		for _, n := range t.notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

func (r *report) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, "# Understudy load benchmark")
	fmt.Fprintln(w)
	for _, h := range r.header() {
		name, val, _ := strings.Cut(h, ":")
		fmt.Fprintf(w, "- **%s:** %s\n", name, strings.TrimSpace(val))
	}
	for _, t := range r.tables() {
		fmt.Fprintf(w, "\n## %s\n\n", t.title)
		fmt.Fprintf(w, "| %s |\n", strings.Join(t.head, " | "))
		fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.head)))
		for _, row := range t.rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		}
		if len(t.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range t.notes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
	}
}

func find[T any](xs []named[T], setup string) (T, bool) {
	for _, x := range xs {
		if x.setup == setup {
			return x.v, true
		}
	}
	var zero T
	return zero, false
}

func first(xs []string, n int) []string { return xs[:min(n, len(xs))] }

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func ms(d time.Duration) string    { return fmt.Sprintf("%.3f ms", d.Seconds()*1e3) }
func added(d time.Duration) string { return fmt.Sprintf("%+.3f ms", d.Seconds()*1e3) }
func us(d time.Duration) string    { return fmt.Sprintf("%.0f µs", d.Seconds()*1e6) }
func pct(f float64) string         { return fmt.Sprintf("%.1f%%", f*100) }
func mib(b int64) string           { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
