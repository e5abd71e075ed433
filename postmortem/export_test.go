package postmortem_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/postmortem"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./postmortem -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test ./postmortem -update rewrites it)\ngot:\n%s", path, got)
	}
}

// sample is a published postmortem with every section, Markdown and text
// that needs escaping.
func sample() postmortem.Postmortem {
	return postmortem.Postmortem{
		ID: 3, IncidentID: 12, Status: postmortem.StatusPublished,
		Title: "Errors from provider primary", Severity: understudy.SeverityMajor, Cause: understudy.CauseTechnical,
		Components: []string{"assistant", "provider:primary"},
		Impact: postmortem.Impact{From: at(0), To: at(720), Routes: []string{"assistant"}, Duration: 670 * time.Second,
			Traffic: postmortem.Traffic{Requests: 26, Failed: 4, ServedByFailover: 10, HandedOff: 2, UsersAffected: 2, Canceled: 1,
				Degraded: map[string]int64{"degraded_cache": 3, "notice": 1}}},
		Metrics: postmortem.Metrics{Detector: "target_down", OpenedBy: "understudy", StartedAt: at(30), DetectedAt: at(90),
			AcknowledgedAt: at(150), AcknowledgedBy: "alice", FirstUpdateAt: at(90), MitigatedAt: at(400), ResolvedAt: at(700),
			TimeToDetect: time.Minute, TimeToAcknowledge: time.Minute, TimeToFirstUpdate: time.Minute,
			TimeToMitigate: 310 * time.Second, TimeToResolve: 610 * time.Second},
		Timeline: []postmortem.TimelineEntry{
			{Time: at(90), Kind: postmortem.EntryEvent, Type: "incident.opened", Author: "understudy", Text: "opened by detector target_down: 5 failures"},
			{Time: at(90), Kind: postmortem.EntryUpdate, Type: "investigating", Author: "understudy", Text: "We are investigating | errors."},
			{Time: at(150), Kind: postmortem.EntryEvent, Type: "incident.updated", Author: "alice", Text: "alice: status investigating → identified"},
			{Time: at(700), Kind: postmortem.EntryUpdate, Type: "resolved", Author: "alice", Text: "Resolved <for good>."},
		},
		Summary:             "The primary provider answered **500** for 11 minutes; the backup served most requests.",
		Trigger:             "A deploy at the provider (see [their note](https://status.example.com/x)).",
		RootCause:           "A bad `config` push.\n\nIt removed the model alias.",
		ContributingFactors: "- no canary on our side\n- alerts went to one person",
		WentWell:            "1. Failover took 0 requests' worth of errors\n2. The page said so within a minute",
		WentBadly:           "> Nobody was paged at night.\n\n<script>alert(1)</script>",
		Lucky:               "",
		ActionItems: []postmortem.ActionItem{
			{ID: 7, Title: "Add a canary", Owner: "bob", Due: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Status: postmortem.ItemOpen, Link: "https://tracker.example.com/7"},
			{ID: 8, Title: "Page a rota | not a person", Status: postmortem.ItemDone},
		},
		CreatedAt: at(720), UpdatedAt: at(7200), PublishedAt: at(7200), Author: "carol",
	}
}

func TestExportGolden(t *testing.T) {
	golden(t, "postmortem.md", postmortem.Markdown(sample()))
	page, err := postmortem.HTML(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "postmortem.html", page)
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), "<link") {
		t.Errorf("the page holds a script or an outside resource")
	}
	bare := postmortem.Postmortem{ID: 1, IncidentID: 2, Status: postmortem.StatusDraft, Title: "Slow answers", Author: "understudy"}
	golden(t, "bare.md", postmortem.Markdown(bare))
}

func TestRenderMarkdown(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"paragraphs", "one\ntwo\n\nthree", "<p>one\ntwo</p>\n<p>three</p>\n"},
		{"escaped", `<b>"x" & y</b>`, "<p>&lt;b&gt;&#34;x&#34; &amp; y&lt;/b&gt;</p>\n"},
		{"inline", "**bold** *it* `a<b` [t](https://e.com/?a=1&b=2)", `<p><strong>bold</strong> <em>it</em> <code>a&lt;b</code> <a href="https://e.com/?a=1&amp;b=2">t</a></p>` + "\n"},
		{"unsafe link kept as text", "[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"},
		{"protocol-relative link kept as text", "[x](//evil.example)", "<p>[x](//evil.example)</p>\n"},
		{"lists", "- a\n- b\n  more\n\n1. one\n2) two", "<ul>\n<li>a</li>\n<li>b\nmore</li>\n</ul>\n<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n"},
		{"headings", "# Top\n### Deep\n#nospace", "<h3>Top</h3>\n<h5>Deep</h5>\n<p>#nospace</p>\n"},
		{"code", "```\n<x> **y**\n```\nafter", "<pre><code>&lt;x&gt; **y**</code></pre>\n<p>after</p>\n"},
		{"quote", "> a\n> b\nc", "<blockquote><p>a\nb</p>\n</blockquote>\n<p>c</p>\n"},
		{"unclosed", "**a `b [c](", "<p>**a `b [c](</p>\n"},
		{"snake_case stays", "root_cause_here", "<p>root_cause_here</p>\n"},
		{"utf-8", "« é »", "<p>« é »</p>\n"},
		{"backslash link kept as text", `[x](/\evil.example)`, `<p>[x](/\evil.example)</p>` + "\n"},
		{"quotes nest at most 4 deep", ">>>>>> deep", "<blockquote><blockquote><blockquote><blockquote><p>&gt;&gt; deep</p>\n</blockquote>\n</blockquote>\n</blockquote>\n</blockquote>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(postmortem.RenderMarkdown(tt.in)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A field of nothing but ">" (the longest a field may be) renders in one
// go, not in a pass per ">": the public page renders it on every request.
func TestRenderMarkdownDeepQuotes(t *testing.T) {
	out := string(postmortem.RenderMarkdown(strings.Repeat(">", 64<<10)))
	if n := strings.Count(out, "<blockquote>"); n != 4 {
		t.Errorf("got %d nested quotes, want 4", n)
	}
	if len(out) > 400<<10 {
		t.Errorf("output of %d bytes for a 64 KiB field", len(out))
	}
}
