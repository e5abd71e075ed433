package analytics

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Percent renders a share in [0, 1] as a percentage rounded down (never
// flattering): two decimals ("99.42%"), three from 99.99 % on ("99.995%"),
// "100%" only when nothing was lost.
func Percent(v float64) string {
	switch {
	case v >= 1:
		return "100%"
	case v <= 0:
		return "0%"
	}
	p, dec := v*100, 2
	if p >= 99.99 {
		dec = 3
	}
	scale := math.Pow10(dec)
	return strconv.FormatFloat(math.Floor(p*scale+1e-6)/scale, 'f', dec, 64) + "%"
}

// Duration renders d rounded to the second: "45 s", "4 min 30 s",
// "2 h 05 min", "3 d 4 h".
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, s)
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %02d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}

// Count renders n with thousands separated by commas: "12,345".
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Burn renders a burn rate: "0.42×".
func Burn(b float64) string { return strconv.FormatFloat(b, 'f', 2, 64) + "×" }

// trimFloat renders v with at most one decimal: "0.3", "2".
func trimFloat(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// dayLabel is a day as the charts and tables name it: "Nov 14".
func dayLabel(t time.Time) string { return t.UTC().Format("Jan 2") }
