package drill_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/understudy/understudy/drill"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// MustRun loads and runs a plan, progress going to the test's log.
func MustRun(tb testing.TB, plan string) *drill.Result {
	tb.Helper()
	p, err := drill.Load(MustWritePlan(tb, plan))
	if err != nil {
		tb.Fatal(err)
	}
	var progress bytes.Buffer
	res, err := drill.Run(context.Background(), p, drill.Options{Progress: &progress})
	tb.Log("progress:\n" + progress.String())
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(progress.String(), "sent ") || !strings.Contains(progress.String(), "▶ step 1") {
		tb.Errorf("progress lines missing: %q", progress.String())
	}
	return res
}

// objectives maps each objective's name to its verdict.
func objectives(res *drill.Result) map[string]bool {
	out := map[string]bool{}
	for _, o := range res.Objectives {
		out[o.Name] = o.Pass
	}
	return out
}

// TestDrillPasses runs a short outage of the primary: failover hides it
// from clients, an incident opens on the primary's component.
func TestDrillPasses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res := MustRun(t, `name: Primary outage
config: team.yaml
env: {PRIMARY_MODEL: gpt-4o-mini}
simulator: {first_token_delay: 20ms, token_interval: 2ms, answer_words: 8}
load: {rate: 20, warmup: 1s, priorities: {critical: 50%, batch: 50%}}
duration: 4s
steps:
  - {name: Primary answers 500, at: 0s, provider: primary, fault: {kind: server_error}, for: 3s}
objectives:
  client_success_rate: 99%
  answered_rate: 99%
  degraded_share: 0%
  max_failover_time: 3s
  time_to_incident: 4s
  time_to_first_update: 4s
  p99_latency: 3s
  incident_opened: true
  incident_components: [provider:primary]
`)
	for _, o := range res.Objectives {
		if !o.Pass {
			t.Errorf("objective %s: got %s (%s), want %s", o.Name, o.Got, o.Note, o.Want)
		}
	}
	if !res.Passed {
		t.Fatal("the drill failed")
	}
	if got, want := len(res.Objectives), 9; got != want {
		t.Errorf("got %d objectives judged, want %d", got, want)
	}
	// 20 req/s for 4 s after a 1 s warm-up.
	if res.Counts.Sent < 70 || res.Warmup.Sent < 15 {
		t.Errorf("got %d requests after the warm-up and %d during it, want about 80 and 20", res.Counts.Sent, res.Warmup.Sent)
	}
	if res.Counts.Sent != res.Counts.OK+res.Counts.Degraded+res.Counts.Failed {
		t.Errorf("counts do not add up: %+v", res.Counts)
	}
	st := res.Steps[0]
	if st.FailoverState != drill.FailoverMeasured || !strings.HasPrefix(st.FailoverBy, "backup/") {
		t.Errorf("step: failover %s by %q, want measured, by backup/…", st.FailoverState, st.FailoverBy)
	}
	if st.RecoveryState == "" {
		t.Error("step: recovery not measured, want measured or none (the step ended before the drill)")
	}
	if got, want := st.Targets, []string{"primary/gpt-4o-mini"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("step targets: got %v, want %v", got, want)
	}
	if inc := res.FirstIncident; inc == nil || inc.Detector == "" || inc.FirstUpdate == "" {
		t.Errorf("first incident: got %+v, want one with its detector and first update", inc)
	}
	// The report says PASS everywhere and shows what the drill replaced.
	dir := t.TempDir()
	md, html, err := drill.WriteReports(res, dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(md) != "plan.report.md" || filepath.Base(html) != "plan.report.html" {
		t.Errorf("got reports %s and %s, want plan.report.md and plan.report.html", md, html)
	}
	b, _ := os.ReadFile(md)
	for _, want := range []string{"# Drill report: Primary outage — PASS", "| client_success_rate | ≥ 99% | 100% (", "| PASS |",
		"the simulator's Anthropic Messages endpoint", "| 1 | Primary answers 500 | T+0s for 3s |"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the Markdown report lacks %q", want)
		}
	}
	if bytes.Contains(b, []byte("FAIL")) {
		t.Error("the Markdown report of a passing drill says FAIL")
	}
}

// TestDrillFails: both providers down, no degradation ladder: clients see
// failures, the objectives about them fail, the report says so.
func TestDrillFails(t *testing.T) {
	res := MustRun(t, `config: team.yaml
simulator: {first_token_delay: 10ms, token_interval: 1ms, answer_words: 8}
load: {rate: 20, warmup: 1s}
duration: 3s
steps:
  - {at: 0s, provider: primary, fault: {kind: server_error}}
  - {at: 0s, provider: backup, fault: {kind: server_error}}
objectives:
  client_success_rate: 99%
  max_failover_time: 1s
  incident_opened: true
`)
	if res.Passed {
		t.Fatal("the drill passed, want it failed")
	}
	got := objectives(res)
	want := map[string]bool{"client_success_rate": false, "max_failover_time": false, "incident_opened": true}
	for name, pass := range want {
		if got[name] != pass {
			t.Errorf("objective %s: got pass %v, want %v (%+v)", name, got[name], pass, res.Objectives)
		}
	}
	if res.Counts.Failed == 0 {
		t.Errorf("got no failed request, want most: %+v", res.Counts)
	}
	for _, st := range res.Steps {
		if st.FailoverState != drill.FailoverNone {
			t.Errorf("step %d: got failover %q, want %q", st.Number, st.FailoverState, drill.FailoverNone)
		}
	}
	var md, html bytes.Buffer
	if err := drill.RenderMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if err := drill.RenderHTML(&html, res); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^# Drill report: plan — FAIL$`, `\| client_success_rate \| ≥ 99% \| \d+(\.\d+)?% \(\d+/\d+\) \| FAIL \|`,
		`\| max_failover_time \| ≤ 1s \| none \| FAIL \| step 1, step 2: requests failed and none succeeded on another target \|`,
		`\| incident_opened \| true \| \d+ opened after the warm-up \| PASS \|`, `HTTP 503 Service Unavailable \| \d+ \|`} {
		if !regexp.MustCompile(re).Match(md.Bytes()) {
			t.Errorf("the Markdown report does not match %s:\n%s", re, md.String())
		}
	}
	if !strings.Contains(html.String(), `<span class="verdict fail">FAIL</span> 1 of 3 objectives met.`) {
		t.Errorf("the HTML report does not say FAIL, 1 of 3:\n%s", html.String())
	}
}

// TestReportGolden renders a fixed result: the reports' structure, with
// known figures.
func TestReportGolden(t *testing.T) {
	res := sampleResult()
	for _, f := range []struct {
		name   string
		render func(*bytes.Buffer, *drill.Result) error
	}{
		{"report.golden.md", func(b *bytes.Buffer, r *drill.Result) error { return drill.RenderMarkdown(b, r) }},
		{"report.golden.html", func(b *bytes.Buffer, r *drill.Result) error { return drill.RenderHTML(b, r) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.render(&b, res); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", f.name)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from the rendering (go test ./drill -run TestReportGolden -update to accept):\n%s", path, b.String())
			}
		})
	}
	var sum bytes.Buffer
	drill.WriteSummary(&sum, res)
	for _, want := range []string{`drill "Sample outage": FAIL (2/3 objectives met)`, "PASS  client_success_rate", "FAIL  max_failover_time"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

// sampleResult is a result with one of everything, at fixed times.
func sampleResult() *drill.Result {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	d := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	failover, recovery, tti, ttu, ten := d(0.44), d(5.4), d(1.5), d(1.5), d(10)
	inc := drill.IncidentResult{ID: 1, Title: "Errors from provider openai", Detector: "target_down", Cause: "technical",
		Severity: "minor", Status: "investigating", Components: []string{"provider:openai"}, DetectedAt: t0.Add(tti),
		FirstUpdateAt: t0.Add(ttu), FirstUpdate: "We are investigating errors | affecting provider openai."}
	return &drill.Result{
		Title: "Sample outage", PlanPath: "examples/drills/sample.yaml", ConfigPath: "examples/drills/understudy.yaml",
		Started: t0.Add(-3 * time.Second), T0: t0, End: t0.Add(15 * time.Second), Ended: t0.Add(d(15.2)),
		Load:   "5 requests/s open loop, 50% streamed, route(s) assistant; 3s warm-up, then 15s",
		Setup:  []string{"provider openai (kind openai): https://api.openai.com/v1 → the simulator's OpenAI-compatible endpoint http://127.0.0.1:1/openai/v1"},
		Warmup: drill.Counts{Sent: 15, OK: 15}, Counts: drill.Counts{Sent: 75, OK: 73, Degraded: 1, Failed: 1},
		Answers:  []drill.Count{{Name: "HTTP 200, answered by a model", N: 73}, {Name: "HTTP 200, notice", N: 1}, {Name: "HTTP 503 Service Unavailable", N: 1}},
		ServedBy: []drill.Count{{Name: "anthropic/claude-haiku-4-5", N: 60}, {Name: "openai/gpt-4o-mini", N: 12}, {Name: "openai/gpt-4o-mini, continued by claude-haiku-4-5", N: 1}},
		Modes:    []drill.Count{{Name: "notice", N: 1}}, Retried: 3,
		Latency: drill.Latency{N: 75, P50: d(0.35), P95: d(0.43), P99: d(0.51), Max: d(0.6)},
		TTFT:    drill.Latency{N: 38, P50: d(0.1), P95: d(0.19), P99: d(0.24), Max: d(0.24)},
		Steps: []drill.StepResult{{Number: 1, Label: "OpenAI answers 500", Where: "openai", Change: "fault server_error", For: &ten,
			Applied: t0, Ended: t0.Add(ten), Targets: []string{"openai/gpt-4o-mini"}, Sent: 50, Failed: 1,
			Failover: &failover, FailoverState: drill.FailoverMeasured, FailoverBy: "anthropic/claude-haiku-4-5",
			Recovery: &recovery, RecoveryState: drill.FailoverMeasured}},
		FirstFault: t0, Incidents: []drill.IncidentResult{inc}, FirstIncident: &inc, TimeToIncident: &tti, TimeToFirstUpdate: &ttu,
		Timeline: []drill.TimelineEntry{
			{Time: t0.Add(d(0.4)), Type: "breaker.changed", Target: "openai/gpt-4o-mini", Message: "circuit closed → open: 5 consecutive failures"},
			{Time: t0.Add(tti), Type: "incident.opened", Incident: 1, Message: "opened by detector target_down"},
		},
		EventCounts: []drill.Count{{Name: "breaker.changed", N: 1}, {Name: "incident.opened", N: 1}},
		Objectives: []drill.ObjectiveResult{
			{Name: "client_success_rate", Want: "≥ 97%", Got: "97.33% (73/75)", Pass: true, Note: "answered whole by a model"},
			{Name: "max_failover_time", Want: "≤ 0.1s", Got: "0.44s", Note: "step 1, answered by anthropic/claude-haiku-4-5"},
			{Name: "time_to_incident", Want: "≤ 10s", Got: "1.50s", Pass: true},
		},
	}
}
