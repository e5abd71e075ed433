package analytics

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Grade is a component's letter on the scorecard, A (best) to F, and why.
//
// Three criteria each give a letter; the grade is the worst of them:
//
//	letter   availability   incidents per 30 days   MTTR
//	A        ≥ 99.9 %       ≤ 1                     ≤ 15 min
//	B        ≥ 99.5 %       ≤ 2                     ≤ 30 min
//	C        ≥ 99 %         ≤ 4                     ≤ 1 h
//	D        ≥ 95 %         ≤ 8                     ≤ 4 h
//	F        below          above                   above
//
// Incidents per 30 days are the window's incidents × 30 / days. A criterion
// without data does not limit the grade: no traffic (availability), no
// resolved incident (MTTR). A component with neither traffic nor incidents
// in the window is not graded (Letter "").
//
// Providers are ranked by grade, then availability (higher first; none
// last), then incidents (fewer first), then MTTR (shorter first; none
// first), then name; ungraded ones come last with Rank 0.
type Grade struct {
	Letter string // "A" … "F"; "" when not graded
	// Reason names the criteria that set the letter, with their values,
	// e.g. "availability 99.42%"; "" when every criterion is at A.
	Reason string
}

// Grading thresholds, best first: index i is the bound of letter letters[i].
var (
	letters          = []string{"A", "B", "C", "D"}
	availabilityBars = []float64{0.999, 0.995, 0.99, 0.95}
	incidentBars     = []float64{1, 2, 4, 8}
	mttrBars         = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 4 * time.Hour}
)

// letterRank is 0 for A … 4 for F, 5 for ungraded.
func letterRank(l string) int {
	if l == "" {
		return 5
	}
	if i := slices.Index(letters, l); i >= 0 {
		return i
	}
	return 4
}

func grade(s *Stats, days int) Grade {
	if s.Requests == 0 && s.Incidents == 0 {
		return Grade{}
	}
	type crit struct {
		rank int
		text string
	}
	var cs []crit
	if s.Availability != nil {
		a := *s.Availability
		r := len(letters)
		for i, bar := range availabilityBars {
			if a >= bar {
				r = i
				break
			}
		}
		cs = append(cs, crit{r, "availability " + Percent(a)})
	}
	perMonth := float64(s.Incidents) * 30 / float64(days)
	r := len(letters)
	for i, bar := range incidentBars {
		if perMonth <= bar {
			r = i
			break
		}
	}
	cs = append(cs, crit{r, fmt.Sprintf("%s incidents per 30 days", trimFloat(perMonth))})
	if s.MTTR != nil {
		r := len(letters)
		for i, bar := range mttrBars {
			if *s.MTTR <= bar {
				r = i
				break
			}
		}
		cs = append(cs, crit{r, "MTTR " + Duration(*s.MTTR)})
	}
	worst := 0
	for _, c := range cs {
		worst = max(worst, c.rank)
	}
	g := Grade{Letter: "F"}
	if worst < len(letters) {
		g.Letter = letters[worst]
	}
	if worst > 0 {
		var why []string
		for _, c := range cs {
			if c.rank == worst {
				why = append(why, c.text)
			}
		}
		g.Reason = strings.Join(why, ", ")
	}
	return g
}

// rank grades ps and sorts them by rank.
func rank(ps []Stats, days int) {
	for i := range ps {
		ps[i].Grade = grade(&ps[i], days)
	}
	slices.SortStableFunc(ps, func(a, b Stats) int {
		return cmp.Or(
			cmp.Compare(letterRank(a.Grade.Letter), letterRank(b.Grade.Letter)),
			cmpAvailability(a.Availability, b.Availability),
			cmp.Compare(a.Incidents, b.Incidents),
			cmpMTTR(a.MTTR, b.MTTR),
			strings.Compare(a.Name, b.Name))
	})
	n := 0
	for i := range ps {
		if ps[i].Grade.Letter != "" {
			n++
			ps[i].Rank = n
		}
	}
}

// cmpAvailability puts higher availability first, none last.
func cmpAvailability(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*b, *a)
}

// cmpMTTR puts shorter MTTR first, none (nothing to repair) before all.
func cmpMTTR(a, b *time.Duration) int {
	var x, y time.Duration
	if a != nil {
		x = *a
	}
	if b != nil {
		y = *b
	}
	return cmp.Compare(x, y)
}
