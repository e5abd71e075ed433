package gateway_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/understudy/understudy"
	"github.com/understudy/understudy/gateway"
	"github.com/understudy/understudy/recorder"
	"github.com/understudy/understudy/simulate"
	"github.com/understudy/understudy/store"
)

// stuckStore is the real SQLite store behind a gate: while closed, every
// write waits — a store that has become unavailable mid-load.
type stuckStore struct {
	*store.Store
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{} // closed when a write first waits
	once    sync.Once
}

func (s *stuckStore) wait(ctx context.Context) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	s.once.Do(func() { close(s.entered) })
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stuckStore) WriteBatch(ctx context.Context, b store.Batch) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.WriteBatch(ctx, b)
}

// TestStoreStuckNeverBlocksRequests: with the store hanging in the middle of
// a flush, every request still succeeds; once the store answers again, the
// recorder writes every outcome.
func TestStoreStuckNeverBlocksRequests(t *testing.T) {
	ctx := testCtx(t)
	st, err := store.Open(ctx, store.Config{SQLitePath: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stuck := &stuckStore{Store: st, gate: make(chan struct{}), entered: make(chan struct{})}
	rec := recorder.New(stuck, recorder.Options{Registry: prometheus.NewRegistry()})

	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	cfg := mustConfig(t, baseConfig, func(k string) string {
		switch k {
		case "SIM_URL":
			return simSrv.URL
		case "TEST_KEY":
			return testKey
		}
		return ""
	})
	gw, err := gateway.New(cfg, gateway.Options{Events: rec, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(testKey), option.WithMaxRetries(0))

	flushed := make(chan error, 1)
	rec.RecordOutcome(understudy.Outcome{Time: time.Now(), Route: "assistant", Mode: "primary"}) // something to flush
	go func() { flushed <- rec.Flush(ctx) }()                                                    // hangs on the stuck store
	sim.SetFault("primary", simulate.Fault{Kind: "server_error"})                                // failovers emit events too
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.Chat.Completions.New(ctx, params())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a request failed while the store was stuck: %v", err)
		}
	}
	close(stuck.gate) // the store answers again
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	imp, err := st.Impact(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), []string{"assistant"})
	if err != nil || imp.Requests != 41 {
		t.Errorf("got %+v %v, want all 41 outcomes written", imp, err)
	}
}
