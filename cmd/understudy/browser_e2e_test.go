package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/understudy/understudy/simulate"
)

// TestStatusPageInBrowser: the real serve command, the status page open in
// headless Chromium; an outage is triggered in the simulator and the page,
// without a reload, shows the provider down and the incident the detectors
// opened.
func TestStatusPageInBrowser(t *testing.T) {
	exe := os.Getenv("UNDERSTUDY_TEST_CHROMIUM")
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("UNDERSTUDY_TEST_CHROMIUM is empty, and CI must run the browser tests")
		}
		t.Skip("UNDERSTUDY_TEST_CHROMIUM is not set")
	}
	ctx, cancel := testCtx(t)
	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	db := filepath.Join(t.TempDir(), "u.db")
	env := func(k string) string { return map[string]string{"SIM_URL": simSrv.URL, "DB": db}[k] }
	path := writeFile(t, t.TempDir(), "understudy.yaml", serveConfig)
	stdout, stderr := newLines(), newLines()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", path}, env, stdout, stderr) }()
	line := stdout.waitFor(ctx, t, "listening on ")
	base := strings.TrimSpace(line[strings.Index(line, "http://"):])

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/?lang=en")); err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithTimeout(browser, 30*time.Second)
	defer bcancel()
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.documentElement.dataset.liveState === "open"`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the page did not connect to /live: %v", err)
	}
	const status = `document.querySelector("#cs-provider_3Aprimary .ctext").textContent`
	if s, err := chromedp.Run(bctx, chromedp.Evaluate[string](status)); err != nil || s != "Operational" {
		t.Fatalf("primary before the outage: %q %v", s, err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__marker = "same page"`)); err != nil {
		t.Fatal(err)
	}

	if err := sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError}); err != nil {
		t.Fatal(err)
	}
	client := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	for range 6 {
		if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`(() => {
			const t = document.getElementById("incident-1-title");
			return !!t && t.textContent.includes("Errors from provider primary") &&
				document.querySelector("#cs-provider_3Aprimary .ctext").textContent === "Major outage";
		})()`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		s, _ := chromedp.Run(bctx, chromedp.Evaluate[string](status))
		t.Fatalf("the page does not show the outage (primary %q): %v", s, err)
	}
	if m, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__marker || ""`)); err != nil || m != "same page" {
		t.Errorf("the page was reloaded (marker %q, %v)", m, err)
	}
	cancelBrowser()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
