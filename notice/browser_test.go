package notice_test

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
	"github.com/understudy/understudy/notice"
)

// source is a route whose notice the test switches on.
type source struct {
	mu     sync.Mutex
	active bool
}

func (s *source) Notice(route, lang string) (understudy.RouteNotice, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.active {
		return understudy.RouteNotice{}, "", false
	}
	msg := "We are having trouble with the assistant."
	if lang == "fr" {
		msg = "Nous rencontrons des difficultés avec l'assistant."
	}
	return understudy.RouteNotice{Route: route, Status: understudy.ComponentPartialOutage, Incident: 7, Title: "Errors", Since: time.Now()}, msg, true
}

func (s *source) Languages() []string { return []string{"en", "fr"} }

// TestBannerInBrowser embeds notice.js in a chat page served from another
// origin and checks, in headless Chromium, that the banner appears in the
// page's language with a link to the incident once the route is not
// operational (CORS included).
func TestBannerInBrowser(t *testing.T) {
	exe := os.Getenv("UNDERSTUDY_TEST_CHROMIUM")
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("UNDERSTUDY_TEST_CHROMIUM is empty, and CI must run the browser tests")
		}
		t.Skip("UNDERSTUDY_TEST_CHROMIUM is not set")
	}
	src := &source{}
	status := httptest.NewServer(notice.New(src, func() string { return "https://status.example.com" }, func() []string { return []string{"assistant"} }))
	defer status.Close()
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="fr"><body><h1>Chat</h1>
<script src="` + status.URL + `/notice.js" data-route="assistant" data-every="1"></script></body></html>`))
	}))
	defer chat.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser, chromedp.Navigate(chat.URL)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	// Operational: no banner after a poll.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`performance.getEntriesByType("resource").some(e => e.name.includes("/api/notice"))`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("the script never asked for the notice: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".understudy-notice").length`)); err != nil || n != 0 {
		t.Fatalf("banner while operational: %d %v", n, err)
	}
	src.mu.Lock()
	src.active = true
	src.mu.Unlock()
	text, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const b = document.querySelector(".understudy-notice"); return b ? b.textContent : null })()`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		t.Fatalf("no banner: %v", err)
	}
	if want := "Nous rencontrons des difficultés avec l'assistant."; len(text) < len(want) || text[:len(want)] != want {
		t.Errorf("banner %q, want it to start with %q", text, want)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".understudy-notice a").href`))
	if err != nil || href != "https://status.example.com/incidents/7" {
		t.Errorf("banner link %q %v", href, err)
	}
	role, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".understudy-notice").getAttribute("role")`))
	if role != "status" {
		t.Errorf("banner role %q, want status (announced by screen readers)", role)
	}
}
