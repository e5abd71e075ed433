package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// runProxy is the baseline: the least a Go reverse proxy can do, with the
// same upstream connection pool sizes as Understudy's default transport.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	target := fs.String("target", "", "upstream base URL, e.g. http://127.0.0.1:9000")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*listen); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-target %q: want http://HOST:PORT", *target)
	}
	if err := checkLoopback(u.Host); err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		// Streams cut by the client when the idle test ends would each log a
		// line: only other errors are logged.
		ErrorLog: log.New(dropCanceled{stderr}, "", 0),
	}
	return serveHTTP(ctx, *listen, bufferBody(rp), stdout)
}

// bufferBody reads the client's body before proxying, as Understudy does.
// Streaming it through instead races with net/http's HTTP/1 server: the
// transport's last read of the body can land after the server closed it on
// writing the response headers, and the transport then drops the upstream
// connection mid-answer, cutting ~1% of streams (golang/go#40747).
// EnableFullDuplex avoids that but panics ("invalid concurrent Body.Read
// call") when the upstream dial fails.
func bufferBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// maxBodyBytes is Understudy's default limits.max_body_bytes.
const maxBodyBytes = 4 << 20

// dropCanceled drops log lines about requests the client canceled.
type dropCanceled struct{ w io.Writer }

func (d dropCanceled) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("context canceled")) {
		return len(b), nil
	}
	return d.w.Write(b)
}
