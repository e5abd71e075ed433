package analytics

import (
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/understudy/understudy"
)

// Charts are inline SVG written by hand: no script, no style element and no
// style attribute (the console's Content-Security-Policy allows neither),
// presentation attributes only. Each has role="img", a <title> and a <desc>
// summarising it in words (aria-labelledby points at both), a visible
// title, text labels on its axes, and a <title> per bar with the day's or
// cause's figures. Output depends on the data only: numbers are printed
// with fixed decimals and ids derive from the component's name.
//
// The SVG has a viewBox and a fixed width and height; the page may scale it
// with CSS (svg.chart { max-width: 100%; height: auto; }).

// Colors: the console's palette.
const (
	colorOK    = "#067647"
	colorBad   = "#b42318"
	colorNone  = "#d8dde3"
	colorLoss  = "#fee4e2"
	colorMuted = "#5b6470"
	colorBar   = "#1f5fbf"
	colorFG    = "#1b1f24"
)

// Availability chart geometry.
const (
	avW, avH                       = 640, 180
	avLeft, avRight, avTop, avBott = 60, 12, 30, 26
)

// yScales are the ranges the availability axis may cover, below 100 %:
// the smallest one wider than the lowest day (and the objective) is used.
var yScales = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}

// AvailabilitySVG draws s's daily availability: one bar per day of the
// window, from the bottom of the axis up to the day's availability, the
// rest of the column (what was lost) in pale red; with an objective, days
// below it in red and the others in green, without one in blue; days
// without traffic as a grey mark; the objective as a dashed line. The axis starts at the highest
// of 99.9 %, 99.8 %, 99.5 %, 99 %, 98 %, 95 %, 90 %, 80 %, 50 %, 0 % below
// both the lowest day and the objective, so that small losses show.
func AvailabilitySVG(s Stats) template.HTML {
	id := "av-" + slug(s.Component)
	n := len(s.Days)
	if n == 0 {
		return ""
	}
	obj := -1.0
	if s.Objective != nil {
		obj = s.Objective.Availability
	}
	need := 0.0
	lowest, lowestDay, below, empty := 2.0, -1, 0, 0
	for i, d := range s.Days {
		if d.Availability == nil {
			empty++
			continue
		}
		need = max(need, 1-*d.Availability)
		if *d.Availability < lowest {
			lowest, lowestDay = *d.Availability, i
		}
		if d.BelowObjective {
			below++
		}
	}
	if obj >= 0 {
		need = max(need, 1-obj)
	}
	span := 1.0
	for _, sc := range yScales {
		if sc > need {
			span = sc
			break
		}
	}
	floor := 1 - span
	plotW, plotH := float64(avW-avLeft-avRight), float64(avH-avTop-avBott)
	base := float64(avTop) + plotH
	yOf := func(a float64) float64 { return base - math.Max(0, (a-floor)/span)*plotH }

	var desc strings.Builder
	fmt.Fprintf(&desc, "Daily availability of %s %s over %d days, %s to %s.", kindWord(s.Kind), s.Name, n,
		dayLabel(s.Days[0].Day), dayLabel(s.Days[n-1].Day))
	if s.Availability != nil {
		fmt.Fprintf(&desc, " Over the window: %s.", Percent(*s.Availability))
	}
	if lowestDay >= 0 {
		fmt.Fprintf(&desc, " Lowest day: %s at %s.", dayLabel(s.Days[lowestDay].Day), Percent(lowest))
	}
	if obj >= 0 {
		fmt.Fprintf(&desc, " %d %s below the objective of %s.", below, plural(below, "day", "days"), Percent(obj))
	}
	if empty > 0 {
		fmt.Fprintf(&desc, " %d %s without traffic.", empty, plural(empty, "day", "days"))
	}

	var b strings.Builder
	title := fmt.Sprintf("%s — daily availability, %d days", s.Name, n)
	open(&b, id, avW, avH, title, desc.String())
	fmt.Fprintf(&b, `<text x="0" y="16" font-size="13" font-weight="600" fill="%s">%s</text>`+"\n", colorFG, esc(title))
	// Axis: the 100 % line, the base line and their labels.
	fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s" stroke-dasharray="2 3"/>`+"\n",
		avLeft, num(float64(avTop)), avW-avRight, num(float64(avTop)), colorNone)
	fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s"/>`+"\n", avLeft, num(base), avW-avRight, num(base), colorMuted)
	fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="%s">100%%</text>`+"\n", avLeft-6, num(float64(avTop)+4), colorMuted)
	fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="%s">%s</text>`+"\n", avLeft-6, num(base+4), colorMuted, axisPercent(floor))
	slot := plotW / float64(n)
	bw := math.Max(1, slot*0.75)
	b.WriteString(`<g>` + "\n")
	for i, d := range s.Days {
		x := float64(avLeft) + float64(i)*slot + (slot-bw)/2
		if d.Availability == nil {
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="2" fill="%s"><title>%s: no traffic</title></rect>`+"\n",
				num(x), num(base-2), num(bw), colorNone, dayLabel(d.Day))
			continue
		}
		y := yOf(*d.Availability)
		h := math.Max(1, base-y)
		fill := colorBar
		switch {
		case d.BelowObjective:
			fill = colorBad
		case obj >= 0:
			fill = colorOK
		}
		fmt.Fprintf(&b, `<g><title>%s</title>`, esc(dayTitle(d)))
		if h < plotH {
			// What was lost, from the top down to the bar: shows a day
			// at the bottom of the axis as clearly as a small loss.
			fmt.Fprintf(&b, `<rect x="%s" y="%d" width="%s" height="%s" fill="%s"/>`, num(x), avTop, num(bw), num(plotH-h), colorLoss)
		}
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/></g>`+"\n", num(x), num(base-h), num(bw), num(h), fill)
	}
	b.WriteString(`</g>` + "\n")
	if empty == n {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="%s">no traffic in the window</text>`+"\n",
			num(float64(avLeft)+plotW/2), num(float64(avTop)+plotH/2), colorMuted)
	}
	if obj >= 0 {
		y := yOf(obj)
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s" stroke-dasharray="6 4"/>`+"\n",
			avLeft, num(y), avW-avRight, num(y), colorMuted)
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="%s">objective %s</text>`+"\n",
			avW-avRight, num(y-4), colorMuted, Percent(obj))
	}
	// Day labels: first, middle and last.
	labels := []int{0}
	if n >= 3 {
		labels = append(labels, n/2)
	}
	if n >= 2 {
		labels = append(labels, n-1)
	}
	for _, i := range labels {
		x, anchor := float64(avLeft)+(float64(i)+0.5)*slot, "middle"
		switch {
		case i == 0 && n > 1:
			x, anchor = float64(avLeft), "start"
		case i == n-1 && n > 1:
			x, anchor = float64(avW-avRight), "end"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="%s" fill="%s">%s</text>`+"\n",
			num(x), num(base+16), anchor, colorMuted, dayLabel(s.Days[i].Day))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// Causes chart geometry.
const (
	cW, cTop, cRow, cLabel, cRight = 640, 30, 22, 150, 60
)

// CausesSVG draws incidents per cause as horizontal bars, one row per known
// cause (zero ones included, in Causes order) and one per other cause
// present, with the count written after each bar. id must be unique on the
// page (it prefixes the chart's element ids); title is the visible title.
func CausesSVG(id, title string, causes []CauseCount) template.HTML {
	id = "causes-" + slug(id)
	counts := map[understudy.Cause]int{}
	rows := Causes()
	total, most := 0, 0
	for _, c := range causes {
		if _, ok := counts[c.Cause]; !ok && causeRank(c.Cause) == len(causeOrder) {
			rows = append(rows, c.Cause)
		}
		counts[c.Cause] += c.Count
		total += c.Count
		most = max(most, counts[c.Cause])
	}
	var desc strings.Builder
	if total == 0 {
		desc.WriteString("No incident in the window.")
	} else {
		fmt.Fprintf(&desc, "%d %s by cause:", total, plural(total, "incident", "incidents"))
		sep := " "
		for _, c := range rows {
			if counts[c] > 0 {
				fmt.Fprintf(&desc, "%s%s %d", sep, c, counts[c])
				sep = ", "
			}
		}
		desc.WriteString(".")
	}
	h := cTop + len(rows)*cRow + 8
	var b strings.Builder
	open(&b, id, cW, h, title, desc.String())
	fmt.Fprintf(&b, `<text x="0" y="16" font-size="13" font-weight="600" fill="%s">%s</text>`+"\n", colorFG, esc(title))
	maxW := float64(cW - cLabel - cRight)
	for i, c := range rows {
		y := float64(cTop + i*cRow)
		n := counts[c]
		w := 0.0
		if most > 0 {
			w = float64(n) / float64(most) * maxW
		}
		label := fmt.Sprintf("%s: %d %s", c, n, plural(n, "incident", "incidents"))
		fmt.Fprintf(&b, `<g><title>%s</title>`, esc(label))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="%s">%s</text>`, cLabel-8, num(y+14), colorFG, esc(string(c)))
		if n > 0 {
			fmt.Fprintf(&b, `<rect x="%d" y="%s" width="%s" height="16" fill="%s"/>`, cLabel, num(y+2), num(w), colorBar)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" fill="%s">%d</text></g>`+"\n", num(float64(cLabel)+w+6), num(y+14), colorFG, n)
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// open writes the svg element with its accessible name and description.
func open(b *strings.Builder, id string, w, h int, title, desc string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-t %s-d" font-family="system-ui, sans-serif" font-size="11">`+"\n",
		id, w, h, w, h, id, id)
	fmt.Fprintf(b, `<title id="%s-t">%s</title>`+"\n", id, esc(title))
	fmt.Fprintf(b, `<desc id="%s-d">%s</desc>`+"\n", id, esc(desc))
}

func dayTitle(d Day) string {
	total := d.Good + d.Degraded + d.Failed
	t := fmt.Sprintf("%s: %s (%s of %s good", dayLabel(d.Day), Percent(*d.Availability), Count(d.Good), Count(total))
	if d.Degraded > 0 {
		t += ", " + Count(d.Degraded) + " degraded"
	}
	if d.Failed > 0 {
		t += ", " + Count(d.Failed) + " failed"
	}
	if d.Failover > 0 {
		t += ", " + Count(d.Failover) + " by failover"
	}
	return t + ")"
}

// axisPercent renders an axis bound: "99.8%", "95%", "0%".
func axisPercent(v float64) string {
	return strconv.FormatFloat(math.Round(v*100000)/1000, 'f', -1, 64) + "%"
}

// num prints a coordinate with one decimal.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func esc(s string) string { return html.EscapeString(s) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func kindWord(kind string) string {
	if kind == KindProvider {
		return "provider"
	}
	return "route"
}

// slug makes an element id from a name: lower-case letters, digits and
// dashes, and a short hash of the name so that two names never share one.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%s-%06x", b.String(), h.Sum32()&0xffffff)
}
