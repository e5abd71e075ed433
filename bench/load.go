package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// newClient is the load generator's HTTP client: plain HTTP/1.1 keep-alive,
// no proxy from the environment, no limit on connections per host and an
// idle pool large enough that connections are reused, not churned.
func newClient(idle int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        idle,
			MaxIdleConnsPerHost: idle,
			MaxConnsPerHost:     0,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// latencyResult is the outcome of a fixed-rate non-streaming attack.
type latencyResult struct {
	Requests      uint64
	Success       float64 // share of 2xx/3xx answers
	P50, P90, P99 time.Duration
	Errors        []string
}

// attack runs vegeta against url at rate requests per second for dur and
// adds the results to m.
func attack(ctx context.Context, client *http.Client, url string, body []byte, rate int, dur time.Duration, m *vegeta.Metrics) {
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(16))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	tr := vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost, URL: url, Body: body,
		Header: http.Header{"Content-Type": {"application/json"}},
	})
	for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, dur, "bench") {
		m.Add(res)
	}
}

func latencyOf(m *vegeta.Metrics) latencyResult {
	m.Close()
	return latencyResult{
		Requests: m.Requests, Success: m.Success,
		P50: m.Latencies.P50, P90: m.Latencies.P90, P99: m.Latencies.P99,
		Errors: m.Errors,
	}
}

// streamResult is the outcome of a fixed-rate streaming run.
type streamResult struct {
	Requests, Failed int
	TTFT, Total      quantiles
	FirstError       string
}

type quantiles struct{ P50, P99 time.Duration }

func quantilesOf(d []time.Duration) quantiles {
	if len(d) == 0 {
		return quantiles{}
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { // nearest rank
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[max(i, 0)]
	}
	return quantiles{P50: q(0.50), P99: q(0.99)}
}

// streamSamples accumulates streaming runs.
type streamSamples struct {
	requests, failed int
	ttft, total      []time.Duration
	firstErr         string
}

func (a *streamSamples) result() streamResult {
	return streamResult{Requests: a.requests, Failed: a.failed, FirstError: a.firstErr,
		TTFT: quantilesOf(a.ttft), Total: quantilesOf(a.total)}
}

// streams is an open-loop streaming load: a new request every 1/rate
// seconds, each in its own goroutine, whatever the previous ones are doing.
// Each stream must carry exactly want content chunks and end with [DONE].
func streams(ctx context.Context, client *http.Client, url string, body []byte, rate int, dur time.Duration, want int, acc *streamSamples) {
	n := max(int(float64(rate)*dur.Seconds()), 1)
	interval := time.Second / time.Duration(rate)
	type sample struct {
		ttft, total time.Duration
		err         error
	}
	samples := make([]sample, n)
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	sent := 0
schedule:
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break schedule
			}
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &samples[i]
			s.ttft, s.total, s.err = oneStream(ctx, client, url, body, want)
		}()
	}
	wg.Wait()
	acc.requests += sent
	for _, s := range samples[:sent] {
		if s.err != nil {
			acc.failed++
			if acc.firstErr == "" {
				acc.firstErr = s.err.Error()
			}
			continue
		}
		acc.ttft = append(acc.ttft, s.ttft)
		acc.total = append(acc.total, s.total)
	}
}

var (
	dataPrefix   = []byte("data: ")
	doneLine     = []byte("[DONE]")
	contentField = []byte(`"content":"`)
	emptyContent = []byte(`"content":""`)
)

// hasContent: a chunk whose delta carries non-empty text.
func hasContent(data []byte) bool {
	return bytes.Contains(data, contentField) && !bytes.Contains(data, emptyContent)
}

// oneStream sends one streaming request and reads it to the end. ttft is the
// time until the first data line with content; total until [DONE].
func oneStream(ctx context.Context, client *http.Client, url string, body []byte, want int) (ttft, total time.Duration, err error) {
	start := time.Now()
	resp, err := post(ctx, client, url, body)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 4096)
	contents := 0
	for range 4*want + 64 { // bounded: a correct stream has want+3 events
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, 0, fmt.Errorf("after %d content chunks: %w", contents, err)
		}
		data, ok := bytes.CutPrefix(line, dataPrefix)
		if !ok {
			continue
		}
		data = bytes.TrimRight(data, "\r\n")
		if bytes.Equal(data, doneLine) {
			total = time.Since(start)
			if contents != want {
				return 0, 0, fmt.Errorf("stream had %d content chunks, want %d", contents, want)
			}
			_, _ = io.Copy(io.Discard, resp.Body) // reach EOF so the connection is reused
			return ttft, total, nil
		}
		if hasContent(data) {
			if contents == 0 {
				ttft = time.Since(start)
			}
			contents++
		}
	}
	return 0, 0, errors.New("stream too long: no [DONE]")
}

// post sends body and checks for 200; on error the response is closed.
func post(ctx context.Context, client *http.Client, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("status %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// throughputResult is the outcome of closed-loop runs.
type throughputResult struct {
	OK, Failed int64
	Elapsed    time.Duration
	ServerCPU  time.Duration // used by the server the client talks to
	MachineCPU float64       // share of the machine's CPU time that was busy
	FirstError string
}

// RPS is successful requests per second.
func (t throughputResult) RPS() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.OK) / t.Elapsed.Seconds()
}

// CPUPerRequest is the server's CPU time per successful request.
func (t throughputResult) CPUPerRequest() time.Duration {
	if t.OK == 0 {
		return 0
	}
	return t.ServerCPU / time.Duration(t.OK)
}

// throughput runs workers closed loops (send, read the whole answer, repeat)
// against url for dur and adds the counts to acc.
func throughput(ctx context.Context, client *http.Client, url string, body []byte, workers int, dur time.Duration, acc *throughputResult) {
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := oneRequest(ctx, client, url, body); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	acc.Elapsed += time.Since(start)
	acc.OK += ok.Load()
	acc.Failed += failed.Load()
	if s, isStr := firstErr.Load().(string); isStr && acc.FirstError == "" {
		acc.FirstError = s
	}
}

func oneRequest(ctx context.Context, client *http.Client, url string, body []byte) error {
	resp, err := post(ctx, client, url, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("empty answer")
	}
	return nil
}
