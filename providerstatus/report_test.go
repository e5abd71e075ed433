package providerstatus_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy/providerstatus"
)

func MustReport(tb testing.TB, fixture string) providerstatus.Report {
	tb.Helper()
	fp := MustServe(tb, MustReadFile(tb, fixture))
	p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
	MustWatch(tb, p, "openai", fp.URL())
	p.PollOnce(tb.Context())
	r, ok := p.Snapshot("openai")
	if !ok || r.LastError != nil {
		tb.Fatalf("got ok=%v err=%v, want a report", ok, r.LastError)
	}
	return r
}

func TestEvidence(t *testing.T) {
	const (
		chat = `provider reports: "Elevated error rates on Chat Completions" (investigating, major) since 14:02 UTC — https://stspg.io/xyz`
		gpt  = `provider reports: "Increased latency for ChatGPT conversations" (monitoring, minor) since 2026-11-22 22:47 UTC — https://stspg.io/abc`
	)
	r := MustReport(t, "incident.json")
	tests := []struct {
		name   string
		report providerstatus.Report
		hints  []string
		want   []string
	}{
		{name: "no hint: all", report: r, want: []string{chat, gpt}},
		{name: "exact component", report: r, hints: []string{"Chat Completions"}, want: []string{chat}},
		{name: "case-insensitive", report: r, hints: []string{"CHATGPT"}, want: []string{gpt}},
		{name: "substring matches both", report: r, hints: []string{"chat"}, want: []string{chat, gpt}},
		{name: "any hint", report: r, hints: []string{"embeddings", "responses"}, want: []string{chat}},
		{name: "no match: all", report: r, hints: []string{"embeddings"}, want: []string{chat, gpt}},
		{name: "blank hints ignored", report: r, hints: []string{"", "  "}, want: []string{chat, gpt}},
		{name: "nothing declared", report: MustReport(t, "operational.json"), hints: []string{"api"}, want: nil},
		{name: "maintenance is not an incident", report: MustReport(t, "maintenance.json"), want: nil},
		{
			name: "no shortlink, no impact, no poll time",
			report: providerstatus.Report{Incidents: []providerstatus.IncidentReport{{
				Name: "Degraded Batch API", Status: "identified",
				Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("PST", -8*3600)),
			}}},
			want: []string{`provider reports: "Degraded Batch API" (identified) since 11:04 UTC`},
		},
		{
			name: "name quoted safely",
			report: providerstatus.Report{Incidents: []providerstatus.IncidentReport{{
				Name: "Errors \"everywhere\"\nsecond line", Status: "investigating", Impact: "critical",
			}}},
			want: []string{`provider reports: "Errors \"everywhere\"\nsecond line" (investigating, critical)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.report.Evidence(tt.hints...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestUnsafeShortlinkDropped(t *testing.T) {
	fp := MustServe(t, []byte(`{"page":{"id":"x"},"status":{"indicator":"minor"},"incidents":[
		{"id":"i","name":"Bad link","status":"investigating","impact":"minor","shortlink":"javascript:alert(1)"}]}`))
	p := providerstatus.New(providerstatus.Options{Clock: clockwork.NewFakeClockAt(t0)})
	MustWatch(t, p, "p", fp.URL())
	p.PollOnce(t.Context())
	r, _ := p.Snapshot("p")
	want := []string{`provider reports: "Bad link" (investigating, minor)`}
	if got := r.Evidence(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStale(t *testing.T) {
	tests := []struct {
		name   string
		polled time.Time
		now    time.Time
		want   bool
	}{
		{name: "never polled", now: t0, want: true},
		{name: "fresh", polled: t0, now: t0.Add(time.Minute), want: false},
		{name: "old", polled: t0, now: t0.Add(10 * time.Minute), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (providerstatus.Report{PolledAt: tt.polled}).Stale(tt.now, 5*time.Minute); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
