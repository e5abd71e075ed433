package incident_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/recorder"
)

// BenchmarkFeed is the request path's cost of feeding the detectors (one
// attempt and one outcome per request), beside the recorder's cost of
// counting the same outcome, in one run.
func BenchmarkFeed(b *testing.B) {
	cfg, err := config.Parse(strings.NewReader(baseConfig), "bench.yaml", func(string) string { return "http://127.0.0.1:9" })
	if err != nil {
		b.Fatal(err)
	}
	eng := incident.New(cfg, incident.Options{Registry: prometheus.NewRegistry()})
	rec := recorder.New(nil, recorder.Options{Registry: prometheus.NewRegistry()})
	now := time.Now()
	a := understudy.Attempt{Time: now, Route: "assistant", Target: "primary/m-primary", Class: understudy.ClassServer, Message: "HTTP 500"}
	o := understudy.Outcome{Time: now, Route: "assistant", Target: "secondary/m-secondary", Class: understudy.ClassSuccess, Mode: "failover", Latency: time.Second}
	b.Run("recorder", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec.RecordOutcome(o)
			}
		})
	})
	b.Run("detectors", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				eng.RecordAttempt(a)
				eng.RecordOutcome(o)
			}
		})
	})
}
