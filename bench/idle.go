package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// idleResult is what holding many silent streams open cost a server.
type idleResult struct {
	Wanted, Tried, Opened int           // asked for, tried (what fits), open when measured
	OpenTime              time.Duration // until every stream had its first chunk
	Before                procMem       // of the server in front of the upstream, before
	Mem                   procMem       // … and with all streams open
	UpstreamMem           procMem
	FirstError            string
}

// PerStream is the server's resident memory per open stream.
func (r idleResult) PerStream() int64 {
	if r.Opened == 0 {
		return 0
	}
	return (r.Mem.RSS - r.Before.RSS) / int64(r.Opened)
}

// Projected is the server's resident memory projected to n open streams.
func (r idleResult) Projected(n int) int64 {
	return r.Before.RSS + r.PerStream()*int64(n)
}

// idleStreams opens n streams against url (an idle upstream behind the
// server), at most openers at a time, waits until each has received its first
// content chunk (at most timeout), reads the memory of server and upstream,
// then closes every stream and waits for them to end.
func idleStreams(ctx context.Context, url string, body []byte, n, openers int, timeout time.Duration, server, upstream int) (idleResult, error) {
	res := idleResult{Tried: n}
	var err error
	if res.Before, err = readMem(server); err != nil {
		return res, err
	}
	holdCtx, closeAll := context.WithCancel(ctx)
	defer closeAll()
	// One connection per stream: no cap per host, and no idle pool to speak
	// of since no connection is ever handed back while its stream is open.
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxConnsPerHost:     0,
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr} // streams end when holdCtx does

	var (
		opened, broken atomic.Int64
		firstErr       atomic.Value
		openWG, holdWG sync.WaitGroup
		sem            = make(chan struct{}, openers)
	)
	start := time.Now()
	openDeadline := time.NewTimer(timeout)
	defer openDeadline.Stop()
launch:
	for range n {
		select {
		case sem <- struct{}{}:
		case <-openDeadline.C:
			break launch
		case <-ctx.Done():
			break launch
		}
		openWG.Add(1)
		holdWG.Add(1)
		go func() {
			defer holdWG.Done()
			resp, err := openIdle(holdCtx, client, url, body)
			<-sem
			if err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
				openWG.Done()
				return
			}
			opened.Add(1)
			openWG.Done()
			defer resp.Body.Close()
			// Hold: the upstream sends nothing more, so this read blocks until
			// the stream is closed by closeAll (or breaks, which is counted).
			var b [512]byte
			for {
				if _, err := resp.Body.Read(b[:]); err != nil {
					if holdCtx.Err() == nil {
						broken.Add(1)
						firstErr.CompareAndSwap(nil, "stream ended while held: "+err.Error())
					}
					return
				}
			}
		}()
	}
	if !waitTimeout(&openWG, time.Until(start.Add(timeout))+time.Second) {
		firstErr.CompareAndSwap(nil, fmt.Sprintf("not all streams opened within %s", timeout))
	}
	res.OpenTime = time.Since(start)
	// Let the servers settle, then measure with every stream still open.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	if res.Mem, err = readMem(server); err != nil {
		return res, err
	}
	if res.UpstreamMem, err = readMem(upstream); err != nil {
		return res, err
	}
	res.Opened = int(opened.Load() - broken.Load()) // open right now
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	closeAll()
	if !waitTimeout(&holdWG, 30*time.Second) {
		return res, errors.New("idle streams did not all close within 30s")
	}
	return res, ctx.Err()
}

// openIdle sends a streaming request and reads until the first data line
// with content. The response stays open for the caller to hold.
func openIdle(ctx context.Context, client *http.Client, url string, body []byte) (*http.Response, error) {
	resp, err := post(ctx, client, url, body)
	if err != nil {
		return nil, err
	}
	// The bufio.Reader is dropped on return: the idle upstream sends nothing
	// after its first content chunk, so nothing it buffered is lost.
	br := bufio.NewReaderSize(resp.Body, 1024)
	for range 16 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("before the first chunk: %w", err)
		}
		if data, ok := bytes.CutPrefix(line, dataPrefix); ok && hasContent(data) {
			return resp, nil
		}
	}
	resp.Body.Close()
	return nil, errors.New("no content chunk in the first 16 lines")
}

// fdHeadroom is the descriptors kept free in each process for listeners,
// logs and stray connections.
const fdHeadroom = 32

// idleFit is how many idle streams every process can hold at once under its
// open-files limit: the client holds one descriptor per stream, the upstream
// one, a server in between two (its client's and its upstream's).
func idleFit(self, upstream int, servers ...int) (int, error) {
	fit := func(pid, perStream int) (int, error) {
		lim, err := openFilesLimit(pid)
		if err != nil {
			return 0, err
		}
		used, err := openFiles(pid)
		if err != nil {
			return 0, err
		}
		return max(int(min(lim, 1<<30))-used-fdHeadroom, 0) / perStream, nil
	}
	n, err := fit(self, 1)
	if err != nil {
		return 0, err
	}
	m, err := fit(upstream, 1)
	if err != nil {
		return 0, err
	}
	n = min(n, m)
	for _, pid := range servers {
		m, err := fit(pid, 2)
		if err != nil {
			return 0, err
		}
		n = min(n, m)
	}
	return n, nil
}

// waitTimeout waits for wg at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
