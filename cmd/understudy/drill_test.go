package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDrillCommandFails runs a drill against the example team
// configuration in which every provider is down: the degradation ladder
// answers (a notice), so clients get answers but not from a model. The
// command exits non-zero, prints the FAIL rows and writes both reports.
func TestDrillCommandFails(t *testing.T) {
	team, err := filepath.Abs(filepath.Join("..", "..", "examples", "drills", "understudy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plan := filepath.Join(dir, "total-outage.yaml")
	if err := os.WriteFile(plan, []byte(`name: Total outage
config: `+team+`
simulator: {first_token_delay: 10ms, token_interval: 1ms, answer_words: 8}
load: {rate: 20, warmup: 1s}
duration: 3s
steps:
  - {at: 0s, provider: openai, fault: {kind: server_error}}
  - {at: 0s, provider: anthropic, fault: {kind: overloaded}}
  - {at: 0s, provider: local, fault: {kind: reset}}
objectives:
  client_success_rate: 99%
  answered_rate: 99%
  degraded_share: 1%
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "reports")
	ctx, _ := testCtx(t)
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"drill", "-out", out, plan}, func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, errDrillFailed) || exitCode(err) != 1 {
		t.Fatalf("got error %v (exit %d), want %v (exit 1)\nstdout:\n%s\nstderr:\n%s", err, exitCode(err), errDrillFailed, stdout.String(), stderr.String())
	}
	if want := "2 of 3 objectives not met"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	for _, re := range []string{`drill "Total outage": FAIL \(1/3 objectives met\)`, `FAIL\s+client_success_rate`,
		`PASS\s+answered_rate`, `FAIL\s+degraded_share`, `report: .*total-outage\.report\.md`} {
		if !regexp.MustCompile(re).MatchString(stdout.String()) {
			t.Errorf("stdout does not match %s:\n%s", re, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "sent ") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
	md, err := os.ReadFile(filepath.Join(out, "total-outage.report.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A request sent as the faults land may still be answered: the share
	// is near 0, not exactly 0.
	for _, re := range []string{`# Drill report: Total outage — FAIL`, `\| client_success_rate \| ≥ 99% \| [0-9.]+% \([0-9]+/[0-9]+\) \| FAIL \|`, `\| notice \|`} {
		if !regexp.MustCompile(re).Match(md) {
			t.Errorf("the report does not match %s:\n%s", re, md)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "total-outage.report.html")); err != nil {
		t.Error(err)
	}
}

func TestDrillCommandUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("config: team.yaml\nload: {rate: 5, burst: 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no plan", []string{"drill"}, "usage"},
		{"two plans", []string{"drill", "a.yaml", "b.yaml"}, "usage"},
		{"missing plan", []string{"drill", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"bad plan", []string{"drill", bad}, `bad.yaml:2:17: load: unknown field "burst"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, _ := testCtx(t)
			var out bytes.Buffer
			err := run(ctx, tt.args, func(string) string { return "" }, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
