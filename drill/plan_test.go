package drill_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/drill"
)

// MustWritePlan writes a plan next to a copy of testdata/team.yaml and
// returns its path.
func MustWritePlan(tb testing.TB, plan string) string {
	tb.Helper()
	dir := tb.TempDir()
	team, err := os.ReadFile(filepath.Join("testdata", "team.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "team.yaml"), team, 0o644); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		plan string
		want []string // each line of the error, in order
	}{
		{
			name: "unknown field",
			plan: "config: team.yaml\nload:\n  rate: 5\n  bogus: 1\nobjectives: {client_success_rate: 99%}\n",
			want: []string{`plan.yaml:4:3: load: unknown field "bogus"`},
		},
		{
			name: "share out of range",
			plan: "config: team.yaml\nload:\n  rate: 5\n  stream_share: 150%\nobjectives: {client_success_rate: 99%}\n",
			want: []string{`plan.yaml:4:17: load.stream_share: share 150% is outside 0%–100%`},
		},
		{
			name: "duration without unit",
			plan: "config: team.yaml\nload: {rate: 5, warmup: 5}\nobjectives: {client_success_rate: 99%}\n",
			want: []string{`plan.yaml:2:25: load.warmup: duration 5 has no unit: write 5s or 5ms`},
		},
		{
			name: "wrong type",
			plan: "config: team.yaml\nload: {rate: fast}\nobjectives: {client_success_rate: 99%}\n",
			want: []string{`plan.yaml:2:14: load.rate: expected a number, got a string`},
		},
		{
			name: "yaml syntax",
			plan: "config: team.yaml\nload: {rate: 5\nobjectives: {}\n",
			want: []string{`plan.yaml:3:1: `},
		},
		{
			name: "every problem at once",
			plan: `config: team.yaml
load: {rate: 0}
steps:
  - at: 1s
    provider: primary
    fault: {kind: explode}
    for: 2s
  - at: 2s
    provider: nosuch
    capacity: {slots: 0}
  - provider: primary
    maintenance: {title: Upgrade}
objectives: {}
`,
			want: []string{
				`plan.yaml:2:14: load.rate: 0: want more than 0 and at most 500 requests per second`,
				`plan.yaml:6:19: steps[0].fault.kind: "explode" is not a fault kind`,
				`plan.yaml:9:15: steps[1].provider: unknown provider "nosuch" (the team's config has: primary, backup)`,
				`plan.yaml:10:23: steps[1].capacity.slots: 0 is less than 1`,
				`plan.yaml:11:5: steps[2].for: required for a maintenance window`,
				`plan.yaml:13:1: objectives: required: at least one objective`,
			},
		},
		{
			name: "names checked against the team's configuration",
			plan: `config: team.yaml
env: {PRIMARY_MODEL: gpt-4o-mini}
load: {rate: 5, routes: [assistant, helpdesk], priorities: {critical: 50%, default: 50%}}
duration: 10s
steps:
  - at: 1s
    target: primary/wrong
    fault: {kind: hang}
  - at: 2s
    provider: primary
    fault: {kind: server_error}
objectives:
  max_failover_time: 2s
  incident_components: [provider:nope]
`,
			want: []string{
				`plan.yaml:3:37: load.routes[1]: unknown route "helpdesk" (the team's config has: assistant)`,
				`plan.yaml:3:85: load.priorities.default: the team's config has no key of priority default`,
				`plan.yaml:7:13: steps[0].target: unknown target "primary/wrong" (the team's routes use: backup/claude-haiku-4-5, primary/gpt-4o-mini)`,
				`plan.yaml:9:9: steps[1].at: overlaps steps[0] on provider primary`,
				`plan.yaml:14:25: objectives.incident_components[0]: unknown component "provider:nope"`,
			},
		},
		{
			name: "step after the end",
			plan: "config: team.yaml\nload: {rate: 5}\nduration: 5s\nsteps:\n  - {at: 6s, provider: primary, fault: {kind: hang}}\nobjectives: {p99_latency: 1s}\n",
			want: []string{`plan.yaml:5:10: steps[0].at: 6s is not before the end of the drill (duration 5s)`},
		},
		{
			name: "priorities must add up",
			plan: "config: team.yaml\nload: {rate: 5, priorities: {critical: 50%, batch: 20%}}\nobjectives: {p99_latency: 1s}\n",
			want: []string{`plan.yaml:2:17: load.priorities: the shares add up to 70%: they must add up to 100%`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := drill.Load(MustWritePlan(t, tt.plan))
			var pe *drill.PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *drill.PlanError", err)
			}
			if len(pe.Errors) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(pe.Errors), len(tt.want), err)
			}
			for i, fe := range pe.Errors {
				got := filepath.Base(fe.File) + strings.TrimPrefix(fe.Error(), fe.File)
				if !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("problem %d:\ngot  %s\nwant %s…", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestTeamConfigProblems(t *testing.T) {
	tests := []struct {
		name, team, want string
	}{
		{"missing", "", "no such file"},
		{"invalid", "providers: []\nroutes: []\n", "team.yaml"},
		{"literal secret", "providers:\n  - {name: p, base_url: http://x/v1, api_key: sk-123}\nroutes:\n  - {name: a, tiers: [[{provider: p, model: m}]]}\n",
			"providers[0].api_key: a literal secret is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			plan := filepath.Join(dir, "plan.yaml")
			if err := os.WriteFile(plan, []byte("config: team.yaml\nload: {rate: 1}\nobjectives: {p99_latency: 1s}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.team != "" {
				if err := os.WriteFile(filepath.Join(dir, "team.yaml"), []byte(tt.team), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := drill.Load(plan)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p, err := drill.Load(MustWritePlan(t, `config: team.yaml
load: {rate: 2}
steps:
  - {at: 3s, provider: primary, fault: {kind: hang}, for: 4s}
  - {at: 1s, provider: backup, maintenance: {}, for: 2s}
objectives: {answered_rate: 0.95}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Duration.D(), 17*time.Second; got != want {
		t.Errorf("duration: got %s, want %s (the last step's end + 10s)", got, want)
	}
	if got, want := p.Warmup(), drill.DefaultWarmup; got != want {
		t.Errorf("warm-up: got %s, want %s", got, want)
	}
	if got, want := float64(*p.Load.StreamShare), 0.5; got != want {
		t.Errorf("stream share: got %v, want %v", got, want)
	}
	if got, want := p.Steps[1].Maintenance.Title, "Drill maintenance"; got != want {
		t.Errorf("maintenance title: got %q, want %q", got, want)
	}
	if got, want := p.Steps[0].Label(), "primary: fault hang"; got != want {
		t.Errorf("label: got %q, want %q", got, want)
	}
	if got, want := p.Title(), "plan"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
}

// TestExamplePlans: every example plan is valid against its team
// configuration.
func TestExamplePlans(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "examples", "drills", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range paths {
		if filepath.Base(path) == "understudy.yaml" {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			p, err := drill.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if total := p.Warmup() + p.Duration.D(); total > 30*time.Second {
				t.Errorf("runs %s: keep example drills well under a minute", total)
			}
		})
	}
	if n < 5 {
		t.Errorf("got %d example plans, want at least 5 (outage, slow, cuts, overload, maintenance)", n)
	}
}
