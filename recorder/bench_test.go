package recorder_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/store"
)

// BenchmarkRecordOutcome is the recorder's cost on the request path: one
// outcome added to its minute's rollup, from many goroutines at once.
func BenchmarkRecordOutcome(b *testing.B) {
	r := recorder.New(&flaky{}, recorder.Options{Registry: prometheus.NewRegistry()})
	modes := []string{"primary", "failover", "unavailable"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.RecordOutcome(understudy.Outcome{Time: t0, Route: "assistant", Target: "primary/m", Class: understudy.ClassSuccess,
				Mode: modes[i%len(modes)], Latency: 300 * time.Millisecond, TTFT: 80 * time.Millisecond})
			i++
		}
	})
}

// BenchmarkThroughput: outcomes recorded and flushed to a real store per
// second, with a realistic spread of keys (5 routes × 4 targets × 3 modes ×
// 10 minutes), on SQLite and on PostgreSQL when a DSN is given.
func BenchmarkThroughput(b *testing.B) {
	stores := map[string]func(testing.TB) *store.Store{"sqlite": func(tb testing.TB) *store.Store { return MustStore(tb) }}
	if dsn := os.Getenv("UNDERSTUDY_TEST_POSTGRES_DSN"); dsn != "" {
		stores["postgres"] = func(tb testing.TB) *store.Store {
			s, err := store.Open(context.Background(), store.Config{PostgresDSN: dsn})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}
	}
	for name, open := range stores {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			r := recorder.New(s, recorder.Options{Registry: prometheus.NewRegistry()})
			routes := []string{"a", "b", "c", "d", "e"}
			targets := []string{"p/1", "p/2", "q/1", "r/1"}
			modes := []string{"primary", "failover", "unavailable"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.RecordOutcome(understudy.Outcome{Time: t0.Add(time.Duration(i%10) * time.Minute), Route: routes[i%5], Target: targets[i%4],
					Class: understudy.ClassSuccess, Mode: modes[i%3], Latency: time.Duration(i%900) * time.Millisecond})
				if i%10000 == 9999 {
					if err := r.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := r.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
		})
	}
}
