package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/simulate"
)

// TestIncidentEndToEnd runs the real serve command: an outage of the
// primary opens an incident by itself; an operator lists it, updates it
// and resolves it with the CLI, authenticated by a token; the admin API
// refuses requests without one.
func TestIncidentEndToEnd(t *testing.T) {
	ctx, cancel := testCtx(t)
	sim := simulate.New(simulate.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	const adminToken = "us_e2e-admin-token"
	db := filepath.Join(t.TempDir(), "u.db")
	var base string
	env := func(k string) string {
		switch k {
		case "SIM_URL":
			return simSrv.URL
		case "DB":
			return db
		case "UNDERSTUDY_ADMIN_TOKEN", "UNDERSTUDY_TOKEN":
			return adminToken
		case "UNDERSTUDY_SERVER":
			return base
		}
		return ""
	}
	path := writeFile(t, t.TempDir(), "understudy.yaml", serveConfig)
	stdout, stderr := newLines(), newLines()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", path}, env, stdout, stderr) }()
	line := stdout.waitFor(ctx, t, "listening on ")
	base = strings.TrimSpace(line[strings.Index(line, "http://"):])

	resp, err := http.Get(base + "/admin/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin API without a token: HTTP %d, want 401", resp.StatusCode)
	}

	client := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	if err := sim.SetFault("primary", simulate.Fault{Kind: simulate.KindServerError}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}})
		if err != nil || c.Model != "claude-haiku-4-5" {
			t.Fatalf("request %d: %v %v, want failover", i, c, err)
		}
	}
	stderr.waitFor(ctx, t, "incident opened")

	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, args, env, &out, &errOut); err != nil {
			t.Fatalf("understudy %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	var list admin.IncidentsJSON
	if err := json.Unmarshal([]byte(cli("incident", "list", "-open", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Incidents) != 1 {
		t.Fatalf("open incidents: %+v", list.Incidents)
	}
	inc := list.Incidents[0]
	if inc.Cause != "technical" || inc.Detector != "target_down" || strings.Join(inc.Components, ",") != "provider:primary" {
		t.Errorf("incident %+v", inc)
	}
	id := strconv.FormatInt(inc.ID, 10)
	if out := cli("incident", "list"); !strings.Contains(out, "Errors from provider primary") {
		t.Errorf("incident list:\n%s", out)
	}
	// The public side shows it: Statuspage API, the page, the notice, and
	// the answers' headers.
	for path, want := range map[string]string{
		"/api/v2/incidents/unresolved.json": `"name":"Errors from provider primary"`,
		"/api/v2/summary.json":              `"impact":"minor"`,
		"/":                                 "Errors from provider primary",
		"/history.atom":                     "Errors from provider primary",
		"/api/notice?route=assistant":       `"active":true`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s: %d, want %q in:\n%.1500s", path, resp.StatusCode, want, b.String())
		}
	}
	var hdr *http.Response
	if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}, option.WithResponseInto(&hdr)); err != nil {
		t.Fatal(err)
	}
	if hdr.Header.Get("X-Understudy-Incident") != id || hdr.Header.Get("X-Understudy-Status") != "degraded_performance" {
		t.Errorf("answer headers during the incident: %v", hdr.Header)
	}
	cli("incident", "update", id, "-message", "The primary provider is failing; answers come from the backup.", "-status", "identified", "-eta", "30m")
	show := cli("incident", "show", id)
	for _, want := range []string{"identified", "The primary provider is failing", "bootstrap", "server_error", "incident.opened"} {
		if !strings.Contains(show, want) {
			t.Errorf("incident show lacks %q:\n%s", want, show)
		}
	}
	cli("incident", "resolve", id, "-message", "Fixed.")
	if err := json.Unmarshal([]byte(cli("incident", "list", "-open", "-json")), &list); err != nil || len(list.Incidents) != 0 {
		t.Errorf("open incidents after resolve: %+v %v", list.Incidents, err)
	}
	var comps admin.ComponentsJSON
	if err := json.Unmarshal([]byte(cliGet(t, ctx, base+"/admin/v1/components", adminToken)), &comps); err != nil || len(comps.Components) != 3 {
		t.Errorf("components: %+v %v", comps, err)
	}
	// A reader has the status page open (its live stream): shutting down
	// must not wait for it.
	liveResp, err := http.Get(base + "/live")
	if err != nil {
		t.Fatal(err)
	}
	defer liveResp.Body.Close()
	stopped := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("shutdown took %s with a status page open, want it not to wait for the stream", d)
	}
}

func cliGet(t *testing.T, ctx context.Context, url, token string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d %s", url, resp.StatusCode, b.String())
	}
	return b.String()
}
