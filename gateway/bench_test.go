package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/store"

	"github.com/understudy/understudy/gateway"
)

const benchAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`

// BenchmarkOverhead compares, in one run, a request sent directly to a fast
// upstream, through a bare httputil.ReverseProxy, and through the gateway.
// The whole load (client, proxy, upstream) runs in this process; see bench/
// for the multi-process load benchmark.
func BenchmarkOverhead(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchAnswer)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256} // pooled like the gateway's
	proxy := httptest.NewServer(rp)
	defer proxy.Close()
	cfg := mustConfig(b, `
listen: 127.0.0.1:0
providers:
  - {name: up, base_url: "`+up.URL+`/v1", probe: {disabled: true}}
routes:
  - name: assistant
    tiers:
      - [{provider: up, model: m}]
`, func(string) string { return "" })
	gw, err := gateway.New(cfg, gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	gws := httptest.NewServer(gw.Handler())
	defer gws.Close()

	// The same gateway recording every outcome and event to SQLite.
	st, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(b.TempDir(), "u.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rec := recorder.New(st, recorder.Options{Registry: prometheus.NewRegistry(), FlushEvery: time.Second})
	ctx, stop := context.WithCancel(context.Background())
	recDone := make(chan struct{})
	go func() { rec.Run(ctx); close(recDone) }()
	defer func() { stop(); <-recDone }()
	gwRec, err := gateway.New(cfg, gateway.Options{Events: rec})
	if err != nil {
		b.Fatal(err)
	}
	defer gwRec.Close()
	gwsRec := httptest.NewServer(gwRec.Handler())
	defer gwsRec.Close()

	// And with the incident engine's detectors fed too (what serve runs).
	eng := incident.New(cfg, incident.Options{Store: st, Events: rec, Registry: prometheus.NewRegistry()})
	gwInc, err := gateway.New(cfg, gateway.Options{Events: gateway.Sinks(rec, eng)})
	if err != nil {
		b.Fatal(err)
	}
	defer gwInc.Close()
	eng.SetGateway(gwInc)
	engDone := make(chan struct{})
	go func() { eng.Run(ctx); close(engDone) }()
	defer func() { stop(); <-engDone }()
	gwsInc := httptest.NewServer(gwInc.Handler())
	defer gwsInc.Close()

	body := `{"model":"assistant","messages":[{"role":"user","content":"Hello"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, s := range []struct{ name, url string }{
		{"direct", up.URL},
		{"reverse-proxy", proxy.URL},
		{"understudy", gws.URL},
		{"understudy+recording-sqlite", gwsRec.URL},
		{"understudy+recording+detectors", gwsInc.URL},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(s.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
