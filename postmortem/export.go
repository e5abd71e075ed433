package postmortem

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
	"time"
)

// Exports: the whole postmortem as one Markdown document, and as one HTML
// page that needs nothing else (its style is inline). Both show the same
// sections in the same order; times are UTC.

// Written sections in the order the exports show them.
var sections = []struct {
	Title string
	Get   func(Postmortem) string
}{
	{"Trigger", func(p Postmortem) string { return p.Trigger }},
	{"Root cause", func(p Postmortem) string { return p.RootCause }},
	{"Contributing factors", func(p Postmortem) string { return p.ContributingFactors }},
	{"What went well", func(p Postmortem) string { return p.WentWell }},
	{"What went badly", func(p Postmortem) string { return p.WentBadly }},
	{"Where we got lucky", func(p Postmortem) string { return p.Lucky }},
}

// notWritten stands for an empty written section.
const notWritten = "Not written yet."

// Figure is one line of the impact table.
type Figure struct {
	Name  string
	Value string
}

// degradedNames are the degraded modes' names for people.
var degradedNames = map[string]string{
	"degraded_cache": "from the cache",
	"degraded_faq":   "from the FAQ",
	"notice":         "with the notice only",
}

// ImpactFigures are the impact's lines for people, in order.
func ImpactFigures(im Impact) []Figure {
	if len(im.Routes) == 0 {
		return []Figure{{"Duration", FormatDuration(im.Duration)}, {"Routes", "none named by the incident: traffic not measured"}}
	}
	out := []Figure{
		{"Window measured", when(im.From) + " – " + when(im.To) + " (whole minutes)"},
		{"Duration", FormatDuration(im.Duration)},
		{"Routes", strings.Join(im.Routes, ", ")},
		{"Requests", fmt.Sprint(im.Requests)},
		{"Failed as seen by users", fmt.Sprint(im.Failed)},
		{"Served by failover", fmt.Sprint(im.ServedByFailover)},
	}
	for _, mode := range slices.Sorted(maps.Keys(im.Degraded)) {
		name := degradedNames[mode]
		if name == "" {
			name = "(" + mode + ")"
		}
		out = append(out, Figure{"Served degraded " + name, fmt.Sprint(im.Degraded[mode])})
	}
	out = append(out,
		Figure{"Handed off to a person", fmt.Sprint(im.HandedOff)},
		Figure{"End users affected", fmt.Sprint(im.UsersAffected)})
	if im.Canceled > 0 {
		out = append(out, Figure{"Canceled by the client (not counted above)", fmt.Sprint(im.Canceled)})
	}
	return out
}

// Step is one line of the detection and response table.
type Step struct {
	What  string
	At    string // when, or "—"
	Delay string // the measure, e.g. "TTD 1m30s", or ""
}

// Steps are the metrics for people, in order.
func Steps(m Metrics) []Step {
	by := func(who string) string {
		if who == "" {
			return ""
		}
		return " by " + who
	}
	opened := "Detected"
	if m.Detector != "" {
		opened += " by detector " + m.Detector
	} else {
		opened = "Opened" + by(m.OpenedBy)
	}
	// measure is a duration, unknown when either end is.
	measure := func(name string, at, from time.Time, d time.Duration) string {
		if at.IsZero() || from.IsZero() {
			return name + " unknown"
		}
		return name + " " + FormatDuration(d)
	}
	ack := "Acknowledged" + by(m.AcknowledgedBy)
	if m.AcknowledgedAt.IsZero() {
		ack = "Acknowledged: no person acted on it"
	}
	return []Step{
		{"Started (first failure)", when(m.StartedAt), ""},
		{opened, when(m.DetectedAt), measure("time to detect", m.DetectedAt, m.StartedAt, m.TimeToDetect)},
		{ack, when(m.AcknowledgedAt), measure("time to acknowledge", m.AcknowledgedAt, m.DetectedAt, m.TimeToAcknowledge)},
		{"First public update", when(m.FirstUpdateAt), measure("time to first public update", m.FirstUpdateAt, m.StartedAt, m.TimeToFirstUpdate)},
		{"Mitigated (monitoring)", when(m.MitigatedAt), measure("time to mitigate", m.MitigatedAt, m.DetectedAt, m.TimeToMitigate)},
		{"Resolved", when(m.ResolvedAt), measure("time to resolve", m.ResolvedAt, m.DetectedAt, m.TimeToResolve)},
	}
}

// when formats t to the second, "—" when zero.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// StatusWords is a status for people.
func StatusWords(s Status) string { return words(s) }

// Markdown is the postmortem as a Markdown document.
func Markdown(p Postmortem) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Postmortem: %s\n\n", oneLine(p.Title))
	fmt.Fprintf(&b, "%s  \n", strings.Join(Facts(p), " · "))
	fmt.Fprintf(&b, "Status: %s", words(p.Status))
	if !p.PublishedAt.IsZero() {
		fmt.Fprintf(&b, " on %s", when(p.PublishedAt))
	}
	fmt.Fprintf(&b, " · last change by %s on %s\n\n", p.Author, when(p.UpdatedAt))

	section(&b, "Summary", p.Summary)

	b.WriteString("## Impact\n\n| figure | value |\n|---|---|\n")
	for _, f := range ImpactFigures(p.Impact) {
		fmt.Fprintf(&b, "| %s | %s |\n", cell(f.Name), cell(f.Value))
	}
	b.WriteString("\n## Detection and response\n\n| step | when | measure |\n|---|---|---|\n")
	for _, s := range Steps(p.Metrics) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(s.What), cell(s.At), cell(s.Delay))
	}
	b.WriteString("\n## Timeline\n\n")
	if len(p.Timeline) == 0 {
		b.WriteString("No events.\n\n")
	} else {
		b.WriteString("| time | what | by | |\n|---|---|---|---|\n")
		for _, e := range p.Timeline {
			what := "`" + e.Type + "`"
			if e.Kind == EntryUpdate {
				what = "public update (" + e.Type + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", when(e.Time), what, cell(e.Author), cell(e.Text))
		}
		b.WriteString("\n")
	}
	for _, s := range sections {
		section(&b, s.Title, s.Get(p))
	}
	b.WriteString("## Action items\n\n")
	if len(p.ActionItems) == 0 {
		b.WriteString("None yet.\n")
	} else {
		b.WriteString("| # | action | owner | due | status | link |\n|---|---|---|---|---|---|\n")
		for _, it := range p.ActionItems {
			due := "—"
			if !it.Due.IsZero() {
				due = it.Due.UTC().Format("2006-01-02")
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", it.ID, cell(it.Title), cell(it.Owner), due, it.Status, cell(it.Link))
		}
	}
	return b.Bytes()
}

func section(b *bytes.Buffer, title, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		text = "_" + notWritten + "_"
	}
	fmt.Fprintf(b, "## %s\n\n%s\n\n", title, text)
}

// Facts are the incident's facts for the header line: number, severity,
// cause, components (the empty ones left out).
func Facts(p Postmortem) []string {
	out := []string{fmt.Sprintf("Incident #%d", p.IncidentID)}
	if p.Severity != "" {
		out = append(out, string(p.Severity))
	}
	if p.Cause != "" {
		out = append(out, "cause "+string(p.Cause))
	}
	if len(p.Components) > 0 {
		out = append(out, strings.Join(p.Components, ", "))
	}
	return out
}

// cell makes recorded text fit in one Markdown table cell, as text: no
// line breaks, | escaped, and <, > and & as entities (a Markdown viewer
// would take them for HTML).
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(oneLine(s))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

//go:embed templates/postmortem.html
var pageTemplate string

var page = template.Must(template.New("postmortem").Funcs(template.FuncMap{
	"markdown": RenderMarkdown,
	"when":     when,
	"words":    words,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"join":     strings.Join,
	"facts":    Facts,
	"figures":  ImpactFigures,
	"steps":    Steps,
	"sections": func() any { return sections },
	"empty":    func(s string) bool { return strings.TrimSpace(s) == "" },
}).Parse(pageTemplate))

// HTML is the postmortem as a self-contained HTML page.
func HTML(p Postmortem) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("postmortem: render HTML: %w", err)
	}
	return b.Bytes(), nil
}
