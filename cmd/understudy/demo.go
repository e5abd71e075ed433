package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/simulate"
)

//go:embed demo.yaml
var demoConfig []byte

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "gateway address")
	simListen := fs.String("sim-listen", "127.0.0.1:9090", "simulator address")
	traffic := fs.Duration("traffic", time.Second, "send a sample request this often and print who served it (0 = no traffic)")
	outageAt := fs.Duration("outage-at", 5*time.Second, "start a scripted outage of the primary after this long (0 = none)")
	outageFor := fs.Duration("outage-for", 15*time.Second, "how long the scripted outage lasts")
	duration := fs.Duration("duration", 0, "stop after this long (0 = run until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	// SameAnswers: the simulated providers answer like one model family, so
	// a continuation on another provider completes the primary's answer.
	sim := simulate.New(simulate.Options{Providers: []string{"primary", "secondary", "backup"}, TokenInterval: 20 * time.Millisecond, SameAnswers: true})
	defer sim.Close()
	simLn, err := net.Listen("tcp", *simListen)
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = simSrv.Serve(simLn) }()
	defer simSrv.Close()
	simURL := "http://" + simLn.Addr().String()

	dir, err := os.MkdirTemp("", "understudy-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "understudy.db")
	// The console and the admin API need a token: the one in the
	// environment, else a fresh one for this run.
	token := getenv("UNDERSTUDY_ADMIN_TOKEN")
	if token == "" {
		if token, err = admin.GenerateToken(); err != nil {
			return err
		}
	}
	env := func(k string) string {
		switch k {
		case "SIM_URL":
			return simURL
		case "DEMO_DB":
			return dbPath
		case "UNDERSTUDY_ADMIN_TOKEN":
			return token
		}
		return getenv(k)
	}
	cfg, err := config.Parse(bytes.NewReader(demoConfig), "demo.yaml", env)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("embedded demo config: %w", err)
	}
	ready := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, cfg, serveOptions{listen: *listen, getenv: env, stdout: io.Discard, stderr: stderr,
			ready: func(a net.Addr) { ready <- a }, onEvent: demoEvent(stdout)})
	}()
	var gwURL string
	select {
	case a := <-ready:
		gwURL = "http://" + a.String()
	case err := <-errc:
		return err
	}
	fmt.Fprintf(stdout, `Understudy demo
  gateway    %[1]s   (OpenAI-compatible: POST /v1/chat/completions, GET /v1/models, /metrics, /readyz)
  simulator  %[2]s   (providers primary, secondary, backup; control API under /_sim/)
  store      %[3]s   (SQLite: events, rollups, incidents; removed at exit)
  status     %[1]s/   (public status page, live; Statuspage API at /api/v2/summary.json; feeds /history.rss, /history.atom)
  console    %[1]s/console/   (sign in with the admin token below)
  token      %[4]s

Route "assistant": primary/gpt-4o-mini, then secondary/claude-haiku-4-5 (Anthropic Messages API), then backup/llama3.1-8b.

Try it:
  curl -s %[1]s/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"assistant","messages":[{"role":"user","content":"Hello"}]}'
  curl -sN %[1]s/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"assistant","stream":true,"messages":[{"role":"user","content":"Hello"}]}'
Break the primary yourself (then watch who serves):
  curl -s -X PUT %[2]s/_sim/providers/primary/fault -d '{"kind":"server_error"}'
  curl -s -X PUT %[2]s/_sim/providers/primary/fault -d '{"kind":"stall","after_chunks":2}'
  curl -s -X DELETE %[2]s/_sim/providers/primary/fault
Break all three (primary, secondary, backup) and answers come from the cache, then as an honest notice.
Incidents open by themselves when the primary breaks; follow them in the
console or with the CLI:
  UNDERSTUDY_SERVER=%[1]s UNDERSTUDY_TOKEN=%[4]s go run ./cmd/understudy incident list
Press Ctrl-C to stop.

`, gwURL, simURL, dbPath, token)

	if *outageAt > 0 {
		go demoScript(ctx, sim, *outageAt, *outageFor, stdout)
	}
	if *traffic > 0 {
		go demoTraffic(ctx, gwURL, *traffic, stdout)
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		return <-errc
	}
}

// demoScript plays the scripted interruptions: an outage of the primary,
// its recovery, then a primary that cuts its streams mid-answer.
func demoScript(ctx context.Context, sim *simulate.Simulator, at, outage time.Duration, out io.Writer) {
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	const cutFor = 10 * time.Second
	steps := []struct {
		after time.Duration
		msg   string
		fault *simulate.Fault
		for_  time.Duration
	}{
		{at, fmt.Sprintf("▶ scripted outage: primary answers HTTP 500 for %s", outage), &simulate.Fault{Kind: "server_error"}, outage},
		{outage, "▶ primary is healthy again: probes close its breaker and traffic returns", nil, 0},
		{5 * time.Second, fmt.Sprintf("▶ primary now cuts every stream after 5 words, for %s: the answers continue on the secondary (an Anthropic-style API), whole", cutFor), &simulate.Fault{Kind: "cut", AfterChunks: 5}, cutFor},
		{cutFor, "▶ primary is healthy again", nil, 0},
	}
	for _, st := range steps {
		if !wait(st.after) {
			return
		}
		fmt.Fprintln(out, st.msg)
		if st.fault != nil {
			_ = sim.Schedule("primary", []simulate.Step{{Fault: st.fault, For: simulate.Duration(st.for_)}})
		}
	}
}

// demoTraffic sends a request every interval and prints who served it.
func demoTraffic(ctx context.Context, gwURL string, every time.Duration, out io.Writer) {
	client := &http.Client{Timeout: 30 * time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		stream := n%2 == 0
		body := fmt.Sprintf(`{"model":"assistant","stream":%t,"messages":[{"role":"user","content":"Question %d"}]}`, stream, n)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gwURL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(out, "%s  request %-3d error: %v\n", time.Now().Format("15:04:05"), n, err)
			}
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		kind := "plain "
		if stream {
			kind = "stream"
		}
		outcome := "complete"
		if stream && !bytes.Contains(data, []byte("data: [DONE]")) {
			outcome = "INCOMPLETE"
		}
		if models := streamModels(data); len(models) > 1 {
			outcome += fmt.Sprintf(" (cut mid-answer, continued by %s)", strings.Join(models[1:], ", "))
		}
		if resp.StatusCode != http.StatusOK {
			outcome = strings.TrimSpace(string(data))
		}
		fmt.Fprintf(out, "%s  request %-3d %s  HTTP %d  served by %-30s attempts %s  %4dms  %s\n",
			time.Now().Format("15:04:05"), n, kind, resp.StatusCode, resp.Header.Get("X-Understudy-Target"),
			resp.Header.Get("X-Understudy-Attempts"), time.Since(start).Milliseconds(), outcome)
	}
}

// demoEvent prints the incident lifecycle as it happens.
func demoEvent(out io.Writer) func(int64, understudy.Event) {
	return func(id int64, ev understudy.Event) {
		switch ev.Type {
		case understudy.EventIncidentOpened, understudy.EventIncidentMonitoring, understudy.EventIncidentResolved,
			understudy.EventIncidentReopened, understudy.EventTargetDown, understudy.EventTargetUp:
		default:
			return
		}
		who := ""
		if id != 0 {
			who = fmt.Sprintf("incident #%d ", id)
		}
		fmt.Fprintf(out, "%s  ⚑ %s%s: %s\n", ev.Time.Local().Format("15:04:05"), who, ev.Type, ev.Message)
	}
}

// streamModels lists the models that sent a stream's chunks, in order: more
// than one means the answer was continued on another target.
func streamModels(body []byte) []string {
	var models []string
	for _, line := range bytes.Split(body, []byte("\n")) {
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		var c struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(data, &c) != nil || c.Model == "" {
			continue
		}
		if len(models) == 0 || models[len(models)-1] != c.Model {
			models = append(models, c.Model)
		}
	}
	return models
}
