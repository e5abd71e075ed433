package drill

import (
	"bytes"
	_ "embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
)

//go:embed report.md.tmpl
var markdownTemplate string

//go:embed report.html.tmpl
var htmlTemplate string

var funcs = map[string]any{
	// cell makes text safe in a Markdown table cell.
	"cell": func(s string) string {
		return strings.NewReplacer("|", `\|`, "\n", " ", "\r", "").Replace(s)
	},
	"join": strings.Join,
}

var (
	mdTmpl   = template.Must(template.New("md").Funcs(funcs).Parse(markdownTemplate))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(htmlTemplate))
)

// view is a Result as the reports show it: every figure already in words.
type view struct {
	Title, Verdict string
	Passed         bool
	Met, Total     int
	PlanPath       string
	ConfigPath     string
	Date           string
	Ran            string
	Load           string
	Objectives     []ObjectiveResult
	Requests       []requestRow
	Answers        []Count
	ServedBy       []Count
	Modes          []Count
	Retried        int
	Latency        []latencyRow
	Steps          []stepView
	Incidents      []incidentView
	FirstIncident  string
	TTI, TTU       string
	Timeline       []timelineView
	Dropped        int
	EventCounts    []Count
	Setup          []string
	Warnings       []string
}

type requestRow struct {
	Phase                      string
	Sent, OK, Degraded, Failed int
}

type latencyRow struct {
	What               string
	N                  int
	P50, P95, P99, Max string
}

type stepView struct {
	N                              int
	Label, Where, Change           string
	Planned, Applied, Ended        string
	Sent, Failed                   int
	Failover, By, Maintenance, Err string
	Recovery                       string
}

type incidentView struct {
	ID                                       int64
	Title, Detector, Cause, Severity, Status string
	Components                               string
	Detected, FirstUpdate, Message           string
	Warmup                                   bool
}

type timelineView struct {
	At, What, Detail string
}

func newView(res *Result) view {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return rel(t, res.T0)
	}
	v := view{Title: res.Title, Passed: res.Passed, Total: len(res.Objectives), PlanPath: res.PlanPath, ConfigPath: res.ConfigPath,
		Date: res.Started.UTC().Format(time.RFC3339), Load: res.Load, Objectives: res.Objectives,
		Answers: res.Answers, ServedBy: res.ServedBy, Modes: res.Modes, Retried: res.Retried,
		Dropped: res.TimelineDropped, EventCounts: res.EventCounts, Setup: res.Setup, Warnings: res.Warnings}
	v.Ran = fmt.Sprintf("%s warm-up, %s of load, last answer at %s", secs(res.T0.Sub(res.Started)), secs(res.End.Sub(res.T0)), at(res.Ended))
	for _, o := range res.Objectives {
		if o.Pass {
			v.Met++
		}
	}
	v.Verdict = "FAIL"
	if res.Passed {
		v.Verdict = "PASS"
	}
	v.Requests = []requestRow{
		{"warm-up (not judged)", res.Warmup.Sent, res.Warmup.OK, res.Warmup.Degraded, res.Warmup.Failed},
		{"after the warm-up", res.Counts.Sent, res.Counts.OK, res.Counts.Degraded, res.Counts.Failed},
	}
	lat := func(what string, l Latency) latencyRow {
		if l.N == 0 {
			return latencyRow{What: what, P50: "—", P95: "—", P99: "—", Max: "—"}
		}
		return latencyRow{what, l.N, secs(l.P50), secs(l.P95), secs(l.P99), secs(l.Max)}
	}
	v.Latency = []latencyRow{lat("whole request (failed ones included)", res.Latency), lat("time to first token (streams)", res.TTFT)}
	for _, s := range res.Steps {
		sv := stepView{N: s.Number, Label: s.Label, Where: s.Where, Change: s.Change, Applied: at(s.Applied), Ended: at(s.Ended),
			Sent: s.Sent, Failed: s.Failed, By: s.FailoverBy, Maintenance: s.Maintenance, Err: s.Err}
		sv.Planned = "T+" + Duration(s.At).String() + ", until the end"
		if s.For != nil {
			sv.Planned = "T+" + Duration(s.At).String() + " for " + Duration(*s.For).String()
		}
		switch s.FailoverState {
		case FailoverMeasured:
			sv.Failover = secs(*s.Failover)
		case "":
			sv.Failover = "—"
		default:
			sv.Failover = s.FailoverState
		}
		switch s.RecoveryState {
		case FailoverMeasured:
			sv.Recovery = secs(*s.Recovery)
		case "":
			sv.Recovery = "—"
		default:
			sv.Recovery = s.RecoveryState
		}
		v.Steps = append(v.Steps, sv)
	}
	for _, inc := range res.Incidents {
		iv := incidentView{ID: inc.ID, Title: inc.Title, Detector: inc.Detector, Cause: inc.Cause, Severity: inc.Severity,
			Status: inc.Status, Components: strings.Join(inc.Components, ", "), Detected: at(inc.DetectedAt),
			FirstUpdate: at(inc.FirstUpdateAt), Message: inc.FirstUpdate, Warmup: inc.DuringWarmup}
		v.Incidents = append(v.Incidents, iv)
	}
	v.TTI, v.TTU = "none", "none"
	if res.FirstFault.IsZero() {
		v.TTI, v.TTU = "— (no fault step)", "— (no fault step)"
	}
	if res.TimeToIncident != nil {
		v.TTI = secs(*res.TimeToIncident)
		v.FirstIncident = fmt.Sprintf("#%d", res.FirstIncident.ID)
	}
	if res.TimeToFirstUpdate != nil {
		v.TTU = secs(*res.TimeToFirstUpdate)
	}
	type entry struct {
		t time.Time
		timelineView
	}
	var entries []entry
	for _, s := range res.Steps {
		if !s.Applied.IsZero() {
			entries = append(entries, entry{s.Applied, timelineView{What: "step " + fmt.Sprint(s.Number) + " applied", Detail: s.Label}})
		}
		if !s.Ended.IsZero() && s.Err == "" {
			entries = append(entries, entry{s.Ended, timelineView{What: "step " + fmt.Sprint(s.Number) + " over", Detail: s.Where}})
		}
	}
	for _, e := range res.Timeline {
		what, detail := e.Type, e.Message
		if e.Incident != 0 {
			what += fmt.Sprintf(" #%d", e.Incident)
		}
		if e.Target != "" && !strings.Contains(detail, e.Target) {
			detail = e.Target + ": " + detail
		}
		entries = append(entries, entry{e.Time, timelineView{What: what, Detail: detail}})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].t.Before(entries[j].t) })
	for _, e := range entries {
		e.At = at(e.t)
		v.Timeline = append(v.Timeline, e.timelineView)
	}
	return v
}

// RenderMarkdown writes the report in Markdown.
func RenderMarkdown(w io.Writer, res *Result) error { return mdTmpl.Execute(w, newView(res)) }

// RenderHTML writes the report as one self-contained HTML page.
func RenderHTML(w io.Writer, res *Result) error { return htmlTmpl.Execute(w, newView(res)) }

// ReportPaths are the files WriteReports writes for a plan in dir: dir is
// the plan's directory when empty.
func ReportPaths(res *Result, dir string) (md, html string) {
	base := "drill"
	if res.PlanPath != "" {
		base = strings.TrimSuffix(filepath.Base(res.PlanPath), filepath.Ext(res.PlanPath))
		if dir == "" {
			dir = filepath.Dir(res.PlanPath)
		}
	}
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, base+".report.md"), filepath.Join(dir, base+".report.html")
}

// WriteReports writes the Markdown and HTML reports (see ReportPaths),
// creating dir when needed.
func WriteReports(res *Result, dir string) (md, html string, err error) {
	md, html = ReportPaths(res, dir)
	if err := os.MkdirAll(filepath.Dir(md), 0o755); err != nil {
		return "", "", err
	}
	for _, f := range []struct {
		path   string
		render func(io.Writer, *Result) error
	}{{md, RenderMarkdown}, {html, RenderHTML}} {
		var b bytes.Buffer
		if err := f.render(&b, res); err != nil {
			return "", "", fmt.Errorf("render %s: %w", f.path, err)
		}
		if err := os.WriteFile(f.path, b.Bytes(), 0o644); err != nil {
			return "", "", err
		}
	}
	return md, html, nil
}

// WriteSummary writes the verdict and the objectives in a few lines.
func WriteSummary(w io.Writer, res *Result) {
	v := newView(res)
	fmt.Fprintf(w, "drill %q: %s (%d/%d objectives met)\n", res.Title, v.Verdict, v.Met, v.Total)
	c := res.Counts
	fmt.Fprintf(w, "  after the warm-up: %d requests, %d answered by a model, %d degraded, %d failed; latency p50 %s, p99 %s\n",
		c.Sent, c.OK, c.Degraded, c.Failed, secs(res.Latency.P50), secs(res.Latency.P99))
	for _, s := range v.Steps {
		fmt.Fprintf(w, "  step %d %s: applied %s, failover %s, traffic back %s\n", s.N, s.Label, s.Applied, s.Failover, s.Recovery)
	}
	if inc := res.FirstIncident; inc != nil {
		fmt.Fprintf(w, "  incident #%d detected %s after the first fault (%s, %s, %s), first update %s after it\n",
			inc.ID, v.TTI, inc.Detector, inc.Cause, strings.Join(inc.Components, ", "), v.TTU)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range res.Objectives {
		verdict := "FAIL"
		if o.Pass {
			verdict = "PASS"
		}
		line := fmt.Sprintf("  %s\t%s\t%s\twant %s", verdict, o.Name, o.Got, o.Want)
		if !o.Pass && o.Note != "" {
			line += "\t(" + o.Note + ")"
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}
