package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/simulate"
)

// The resume phase (f): streams cut mid-answer, through a gateway that
// continues them on the next target and through one with continuation off.
//
// Faults in the simulator belong to a provider, not to a request, and a
// fault with count 1 affects whichever request comes next. So each worker
// gets its own pair of simulated providers (pN, sN) and its own route
// (resume-N: tiers [pN], [sN]) and sends its streams one at a time: the cut
// it sets on pN just before a stream can only be taken by that stream. Both
// gateways use the same providers, and each stream of the seeded plan is sent
// once to each gateway, back to back, so the two rows see the same cuts at
// the same points.

// resumeSample is one stream through one gateway.
type resumeSample struct {
	cut     bool
	whole   bool          // text == the full answer, one finish, [DONE], no error event
	total   time.Duration // from sending to the end of the stream
	seamGap time.Duration // cut streams: the longest gap between content chunks (or the last one and [DONE])
	gaps    []time.Duration
	failure string // why it is not whole
}

// resumeResult is what the report shows for one gateway.
type resumeResult struct {
	Streams, Cut       int
	Whole, WholeCut    int
	TypicalGap         time.Duration // median gap between content chunks of uncut streams
	SeamGap            quantiles     // cut streams delivered whole
	SeamAdded          quantiles     // SeamGap − TypicalGap
	FullUncut, FullCut quantiles     // time to the end of the stream
	FirstFailure       string
}

func (r resumeResult) wholeShare() float64 {
	if r.Streams == 0 {
		return 0
	}
	return float64(r.Whole) / float64(r.Streams)
}

func (r *runner) resume(ctx context.Context) error {
	o := r.opts
	progress(r.stderr, "(f) resume: %d streams per gateway, %.0f%% cut, %d workers, token interval %s", o.ResumeStreams, o.ResumeCut*100, o.ResumeWorkers, o.ResumeInterval)
	names := make([]string, 0, 2*o.ResumeWorkers)
	for w := range o.ResumeWorkers {
		names = append(names, fmt.Sprintf("p%d", w), fmt.Sprintf("s%d", w))
	}
	sim, err := r.start("simulate", "/_sim/providers", r.bin, "simulate", "-listen", "127.0.0.1:0", "-same-answers",
		"-providers", strings.Join(names, ","), "-token-interval", o.ResumeInterval.String())
	if err != nil {
		return err
	}
	sim.chatty = true // logs every fault set and spent
	simURL := "http://" + sim.addr
	gateways := []struct {
		name     string
		disabled bool
		proc     *child
	}{{name: "continuation on"}, {name: "continuation off", disabled: true}}
	for i := range gateways {
		g := &gateways[i]
		cfg := filepath.Join(r.tmp, fmt.Sprintf("resume-%d.yaml", i))
		if err := os.WriteFile(cfg, []byte(resumeConfig(simURL, o.ResumeWorkers, g.disabled, sqliteStorage(filepath.Join(r.tmp, fmt.Sprintf("resume-%d.db", i))))), 0o600); err != nil {
			return err
		}
		if g.proc, err = r.start("understudy-"+strings.ReplaceAll(g.name, " ", "-"), "/healthz", r.bin, "serve", "-config", cfg); err != nil {
			return err
		}
		g.proc.chatty = g.disabled // logs every stream it cannot continue

	}

	// The plan: which streams are cut (exactly round(n × share) of them) and
	// after how many content chunks (1 … words−1: text has reached the
	// client and some is still to come).
	n := o.ResumeStreams
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	cutAfter := make([]int, n) // 0: not cut
	for _, i := range rng.Perm(n)[:int(float64(n)*o.ResumeCut+0.5)] {
		cutAfter[i] = 1 + rng.IntN(simulate.DefaultAnswerWords-1)
	}

	samples := make([][]resumeSample, len(gateways))
	for i := range samples {
		samples[i] = make([]resumeSample, n)
	}
	control := newClient(4*o.ResumeWorkers, 10*time.Second)
	defer control.CloseIdleConnections()
	clients := make([]*http.Client, len(gateways))
	for i := range clients {
		clients[i] = newClient(4*o.ResumeWorkers, 30*time.Second)
		defer clients[i].CloseIdleConnections()
	}
	var wg sync.WaitGroup
	errc := make(chan error, o.ResumeWorkers)
	for w := range o.ResumeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			primary := fmt.Sprintf("p%d", w)
			route := fmt.Sprintf("resume-%d", w)
			for i := w; i < n; i += o.ResumeWorkers {
				q := fmt.Sprintf("Question %d: why is the sky blue on a clear day?", i)
				body, _ := json.Marshal(map[string]any{"model": route, "stream": true,
					"messages": []map[string]string{{"role": "user", "content": q}}})
				want := simulate.Answer("", "", simulate.Message{Role: "user", Content: q})
				for k := range gateways {
					g := (i + k) % len(gateways) // alternate which gateway goes first
					if cutAfter[i] > 0 {
						f := fmt.Sprintf(`{"kind":"cut","after_chunks":%d,"count":1}`, cutAfter[i])
						if err := setFault(ctx, control, simURL, primary, f); err != nil {
							errc <- err
							return
						}
					}
					s := resumeStream(ctx, clients[g], "http://"+gateways[g].proc.addr+"/v1/chat/completions", body, want)
					s.cut = cutAfter[i] > 0
					if s.failure != "" {
						s.failure = fmt.Sprintf("stream %d (%s): %s", i, cutNote(cutAfter[i]), s.failure)
					}
					samples[g][i] = s
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, c := range append([]*child{sim}, gateways[0].proc, gateways[1].proc) {
		if err := c.alive(); err != nil {
			return err
		}
	}

	// Every planned cut must have been taken by its stream, once per gateway.
	cuts := 0
	for _, c := range cutAfter {
		if c > 0 {
			cuts++
		}
	}
	taken := 0
	for w := range o.ResumeWorkers {
		st, err := simStats(ctx, control, simURL, fmt.Sprintf("p%d", w))
		if err != nil {
			return err
		}
		taken += st.Outcomes[simulate.KindCut]
	}
	if taken != len(gateways)*cuts {
		r.rep.warn(fmt.Sprintf("resume: the primaries cut %d streams, the plan %d (%d per gateway)", taken, len(gateways)*cuts, cuts))
	}
	for i, g := range gateways {
		r.rep.resume = append(r.rep.resume, named[resumeResult]{g.name, resumeResultOf(samples[i])})
	}
	return nil
}

func cutNote(after int) string {
	if after == 0 {
		return "not cut"
	}
	return fmt.Sprintf("cut after %d chunks", after)
}

func resumeResultOf(ss []resumeSample) resumeResult {
	var res resumeResult
	var gaps, seams, fullCut, fullUncut []time.Duration
	for _, s := range ss {
		res.Streams++
		if s.cut {
			res.Cut++
			fullCut = append(fullCut, s.total)
		} else {
			fullUncut = append(fullUncut, s.total)
			gaps = append(gaps, s.gaps...)
		}
		if !s.whole {
			if res.FirstFailure == "" {
				res.FirstFailure = s.failure
			}
			continue
		}
		res.Whole++
		if s.cut {
			res.WholeCut++
			seams = append(seams, s.seamGap)
		}
	}
	res.TypicalGap = quantilesOf(gaps).P50
	res.SeamGap = quantilesOf(seams)
	if len(seams) > 0 {
		res.SeamAdded = quantiles{P50: res.SeamGap.P50 - res.TypicalGap, P99: res.SeamGap.P99 - res.TypicalGap}
	}
	res.FullCut, res.FullUncut = quantilesOf(fullCut), quantilesOf(fullUncut)
	return res
}

// resumeStream sends one streaming request and checks that the client gets
// exactly want, one finish reason and one [DONE], and no error event.
func resumeStream(ctx context.Context, client *http.Client, url string, body []byte, want string) (s resumeSample) {
	start := time.Now()
	defer func() { s.total = time.Since(start) }()
	resp, err := post(ctx, client, url, body)
	if err != nil {
		s.failure = err.Error()
		return s
	}
	defer resp.Body.Close()
	var (
		text            strings.Builder
		events          []time.Time // content chunks, then [DONE]
		finishes, dones int
		errEvent        string
	)
	br := bufio.NewReaderSize(resp.Body, 4096)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) || dones == 0 {
				s.failure = fmt.Sprintf("stream ended without [DONE] (%v)", err)
			}
			break
		}
		data, ok := bytes.CutPrefix(line, dataPrefix)
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		if bytes.Equal(data, doneLine) {
			dones++
			events = append(events, time.Now())
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			s.failure = fmt.Sprintf("bad chunk %q: %v", data, err)
			break
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			errEvent = string(c.Error)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				text.WriteString(ch.Delta.Content)
				events = append(events, time.Now())
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finishes++
			}
		}
	}
	for i := 1; i < len(events); i++ {
		g := events[i].Sub(events[i-1])
		s.seamGap = max(s.seamGap, g)
		if i < len(events)-1 || dones == 0 { // between content chunks
			s.gaps = append(s.gaps, g)
		}
	}
	switch {
	case s.failure != "":
	case errEvent != "":
		s.failure = "error event " + errEvent
	case text.String() != want:
		s.failure = fmt.Sprintf("got text %q, want %q", text.String(), want)
	case finishes != 1 || dones != 1:
		s.failure = fmt.Sprintf("got %d finish reasons and %d [DONE], want 1 and 1", finishes, dones)
	}
	if s.failure != "" && errEvent != "" && !strings.Contains(s.failure, "error event") {
		s.failure += "; error event " + errEvent
	}
	if s.failure != "" && text.String() != want && !strings.Contains(s.failure, "got text") {
		s.failure += fmt.Sprintf("; got text %q, want %q", text.String(), want)
	}
	s.whole = s.failure == ""
	return s
}

func setFault(ctx context.Context, c *http.Client, simURL, provider, fault string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, simURL+"/_sim/providers/"+provider+"/fault", strings.NewReader(fault))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("setting a fault on %s: %w", provider, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("setting a fault on %s: %s: %s", provider, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

func simStats(ctx context.Context, c *http.Client, simURL, provider string) (simulate.Stats, error) {
	var st simulate.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, simURL+"/_sim/providers/"+provider+"/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats of %s: %s", provider, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// resumeConfig: one route per worker, resume-N with tiers [pN], [sN] (kind
// openai, so instruction-based continuation), probes off, breakers that a
// share of cut streams never opens.
func resumeConfig(simURL string, workers int, disabled bool, storage string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by the benchmark (bench/), phase resume.\nlisten: 127.0.0.1:0\nlog: {level: warn}\n%sproviders:\n", storage)
	const breaker = "{consecutive_failures: 1000, failure_rate: 1, min_requests: 100000}"
	for w := range workers {
		for _, p := range []string{"p", "s"} {
			fmt.Fprintf(&b, "  - {name: %[1]s%[2]d, kind: openai, base_url: %[3]s/%[1]s%[2]d/v1, probe: {disabled: true}, breaker: %[4]s}\n", p, w, simURL, breaker)
		}
	}
	b.WriteString("routes:\n")
	for w := range workers {
		fmt.Fprintf(&b, `  - name: resume-%[1]d
    tiers:
      - [{provider: p%[1]d, model: %[2]s}]
      - [{provider: s%[1]d, model: %[2]s}]
    timeouts: {first_token: 10s, stream_idle: 10s, total: 60s}
    resume: {disabled: %[3]v}
`, w, mockModel, disabled)
	}
	return b.String()
}
