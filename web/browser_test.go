package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/live"
)

// chromium is the browser the test drives: UNDERSTUDY_TEST_CHROMIUM, set by
// scripts/test (scripts/chromium-for-tests). Without it the test is
// skipped, except on CI, where it must run.
func chromium(t *testing.T) string {
	t.Helper()
	exe := os.Getenv("UNDERSTUDY_TEST_CHROMIUM")
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("UNDERSTUDY_TEST_CHROMIUM is empty, and CI must run the browser test (scripts/test sets it with scripts/chromium-for-tests)")
		}
		t.Skip("UNDERSTUDY_TEST_CHROMIUM is not set: no browser test (scripts/test sets it with scripts/chromium-for-tests)")
	}
	return exe
}

// streamDropper cuts every open /live stream on demand, as a proxy or a
// restart would.
type streamDropper struct {
	mu      sync.Mutex
	cancels []context.CancelFunc
}

func (d *streamDropper) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/live" {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			d.mu.Lock()
			d.cancels = append(d.cancels, cancel)
			d.mu.Unlock()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

func (d *streamDropper) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.cancels {
		c()
	}
	d.cancels = nil
}

// TestBrowserLiveUpdates loads the page in headless Chromium, changes the
// source, publishes the change on the hub, and checks that the page shows
// it within 2 s without a reload; then cuts the stream and checks that the
// page reconnects and catches up with a change it missed.
func TestBrowserLiveUpdates(t *testing.T) {
	exe := chromium(t)
	src := operationalSource()
	hub := live.New()
	var dropper streamDropper
	srv := httptest.NewServer(dropper.wrap(newHandler(t, src, hub)))
	t.Cleanup(srv.Close)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)

	// The first action starts the browser: its context has no deadline
	// (one would stop the browser); the later ones have theirs.
	if err := chromedp.Do(browser, chromedp.Navigate(srv.URL+"/?lang=en")); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#cs-assistant")),
		// Connected: the script has seen the stream's hello.
		voidOf(chromedp.Poll[bool](`document.documentElement.dataset.liveState === "open"`,
			chromedp.WithPollingTimeout(15*time.Second))),
	); err != nil {
		t.Fatalf("waiting for the live stream: %v", err)
	}
	before := mustRun(t, ctx, chromedp.Text(chromedp.CSS("#cs-assistant .ctext")))
	if before != "Operational" {
		t.Fatalf("assistant before the change: got %q, want %q", before, "Operational")
	}
	mustRun(t, ctx, chromedp.Evaluate[string](`window.__understudyMarker = "still the same page"`))
	if n := hub.Subscribers(); n != 1 {
		t.Fatalf("hub subscribers: got %d, want 1", n)
	}

	// The change: the assistant goes down and an incident opens.
	inc := majorIncident()
	inc.ID, inc.Title, inc.Severity, inc.Status = 9, "The assistant does not answer", understudy.SeverityCritical, understudy.IncidentInvestigating
	inc.Updates = inc.Updates[:1]
	src.addIncident(inc)
	src.setComponent("assistant", understudy.ComponentMajorOutage, 9)
	start := time.Now()
	hub.Publish("incident", 9)

	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
			const s = document.querySelector("#cs-assistant .ctext");
			return !!s && s.textContent === "Major outage" && !!document.getElementById("incident-9");
		})()`, chromedp.WithPollingTimeout(2*time.Second), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("the change did not show within 2 s: %v", err)
	}
	t.Logf("the change showed %v after it was published", time.Since(start).Round(time.Millisecond))
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#incident-9")),
		chromedp.WaitVisible(chromedp.CSS("#cs-assistant")),
	); err != nil {
		t.Fatalf("the changed parts are not visible: %v", err)
	}
	for _, c := range []struct {
		what string
		got  string
		want string
	}{
		{"component status", mustRun(t, ctx, chromedp.Text(chromedp.CSS("#cs-assistant .ctext"))), "Major outage"},
		{"incident title", mustRun(t, ctx, chromedp.Text(chromedp.CSS("#incident-9-title"))), "The assistant does not answer"},
		{"banner", mustRun(t, ctx, chromedp.Text(chromedp.CSS("#live-banner .banner-text"))), "Major outage"},
		{"live announcement", mustRun(t, ctx, chromedp.TextContent(chromedp.CSS("#live-announce"))), "Major outage"},
		{"marker set before the change (no reload)", mustRun(t, ctx, chromedp.Evaluate[string](`window.__understudyMarker`)), "still the same page"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}

	// The stream is cut; a change happens meanwhile, unannounced. The page
	// reconnects by itself and catches up.
	dropper.drop()
	inc.Status, inc.ResolvedAt = understudy.IncidentResolved, now
	src.mu.Lock()
	for i := range src.incidents {
		if src.incidents[i].ID == 9 {
			src.incidents[i] = inc
		}
	}
	src.mu.Unlock()
	src.setComponent("assistant", understudy.ComponentOperational, 0)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
			const s = document.querySelector("#cs-assistant .ctext");
			return !!s && s.textContent === "Operational" && !document.getElementById("incident-9");
		})()`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the page did not catch up after reconnecting: %v", err)
	}
	if marker := mustRun(t, ctx, chromedp.Evaluate[string](`window.__understudyMarker`)); marker != "still the same page" {
		t.Errorf("marker after reconnecting: got %q (the page reloaded)", marker)
	}
}

// mustRun runs a browser action and returns its value.
func mustRun[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// voidOf drops an action's value, to run it among others with Do.
func voidOf[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, tg)
		return chromedp.Void{}, err
	}
}
