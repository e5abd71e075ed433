package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestInsightsThroughServe: the console's analytics and lessons pages
// through `serve`, signed in as an agent would: an incident opened through
// the admin API is found by the lessons search, and the analytics page
// draws its charts.
func TestInsightsThroughServe(t *testing.T) {
	ctx, cancel := testCtx(t)
	const token = "us_insights-e2e-admin"
	s := startServed(ctx, t, serveConfig, map[string]string{"UNDERSTUDY_ADMIN_TOKEN": token})

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/admin/v1/incidents",
		strings.NewReader(`{"title":"Quota exhausted on the primary","severity":"major","cause":"quota","components":["assistant"],"message":"Answers are slower."}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create incident: %d", resp.StatusCode)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, signin := get("/console/signin")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(signin)
	if m == nil {
		t.Fatalf("no CSRF field on the sign-in page")
	}
	form := url.Values{"token": {token}, "csrf": {m[1]}}
	post, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/console/signin", strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := c.Do(post); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The library indexes incidents off the request path: poll the search.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		status, page := get("/console/lessons?q=quota")
		if status == http.StatusOK && strings.Contains(page, `href="/console/incidents/1"`) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the lessons search never found the incident: %d\n%s", status, page)
		case <-tick.C:
		}
	}
	if status, page := get("/console/analytics?days=7"); status != http.StatusOK || !strings.Contains(page, "<svg") || !strings.Contains(page, "assistant") {
		t.Errorf("analytics: %d, want charts for the route:\n%.2000s", status, page)
	}
	if status, _ := get("/console/analytics?days=twelve"); status != http.StatusBadRequest {
		t.Errorf("analytics?days=twelve: %d, want 400", status)
	}
	s.stop(t, cancel)
}
