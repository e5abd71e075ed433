package lessons

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/understudy/understudy"
)

// Weights of a Match's parts in its Score; they add up to 1.
//
// Two incidents are compared on where (components), why (cause) and how
// they failed (the error signature: failure classes and messages):
//
//		Score = 0.35 × Components + 0.20 × Cause + 0.20 × Classes + 0.25 × Text
//
//	  - Components: Jaccard index of the two component sets, |A ∩ B| / |A ∪ B|
//	    (1 for the same set, 0.5 for "provider:openai" against
//	    "provider:openai" and "assistant").
//	  - Cause: 1 when both have the same cause and it is known (not
//	    "unknown"), else 0.
//	  - Classes: Jaccard index of the failure classes in the evidence
//	    (Evidence.Classes keys), 0 when either has none.
//	  - Text: IDF-weighted Jaccard index of the English-analysed words of the
//	    title and sample error messages: Σ idf(t) over shared words / Σ idf(t)
//	    over all words of both, idf(t) = ln(1 + (N − n(t) + 0.5) / (n(t) +
//	    0.5)) over the N incidents of the library (n(t) of which have t), so
//	    that words every incident has ("error", "provider") weigh little and a
//	    rare code ("insufficient_quota", "529") weighs much.
//
// Candidates are the other incidents that started before it (or at the same
// time with a lower id), that were not merged into another (the incident
// they were merged into stands for them). Those scoring at least MinScore
// are returned, best first (ties: the most recent first, then the highest
// id), TopN at most.
const (
	WeightComponents = 0.35
	WeightCause      = 0.20
	WeightClasses    = 0.20
	WeightText       = 0.25
)

// Match is a past incident like another, with why.
type Match struct {
	Incident understudy.Incident
	Score    float64 // in [0, 1]: the weighted sum of the parts below
	// The parts, each in [0, 1], before weighting.
	Components, Cause, Classes, Text float64
	// Reasons say in words what the two share, e.g. "same cause: overload".
	Reasons []string
}

// signature is what Similar compares of an incident.
type signature struct {
	components []string // sorted
	cause      understudy.Cause
	classes    []string // sorted
	terms      []string // sorted: analysed words of the title and samples
	samples    []string
	sampleSets []termSet // analysed words of each sample
}

func (l *Library) signature(inc understudy.Incident) *signature {
	en := l.analyzers["en"]
	s := &signature{components: slices.Sorted(slices.Values(inc.Components)), cause: inc.Cause, samples: inc.Evidence.Samples}
	s.components = slices.Compact(s.components)
	for c := range inc.Evidence.Classes {
		s.classes = append(s.classes, string(c))
	}
	slices.Sort(s.classes)
	all := analyze(en, inc.Title)
	for _, smp := range inc.Evidence.Samples {
		ts := analyze(en, smp)
		s.sampleSets = append(s.sampleSets, ts)
		for t := range ts {
			all[t] = struct{}{}
		}
	}
	s.terms = all.sorted()
	return s
}

// Similar returns the past incidents most like inc (see the weights above),
// best first. inc need not be in the library yet.
func (l *Library) Similar(ctx context.Context, inc understudy.Incident) []Match {
	sig := l.signature(inc)
	l.mu.RLock()
	defer l.mu.RUnlock()
	// Document frequencies over the library, inc counted once with its
	// signature as given.
	df := map[string]int{}
	n := 0
	count := func(s *signature) {
		n++
		for _, t := range s.terms {
			df[t]++
		}
	}
	count(sig)
	for id, s := range l.sigs {
		if id != inc.ID {
			count(s)
		}
	}
	idf := func(t string) float64 {
		d := float64(df[t])
		return math.Log(1 + (float64(n)-d+0.5)/(d+0.5))
	}
	var out []Match
	for id, c := range l.incs {
		if !candidate(inc, c) || ctx.Err() != nil {
			continue
		}
		m := compare(sig, l.sigs[id], idf)
		if m.Score >= l.o.MinScore {
			m.Incident = c
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Match) int {
		switch {
		case a.Score != b.Score:
			if a.Score > b.Score {
				return -1
			}
			return 1
		case !a.Incident.StartedAt.Equal(b.Incident.StartedAt):
			return b.Incident.StartedAt.Compare(a.Incident.StartedAt)
		case a.Incident.ID > b.Incident.ID:
			return -1
		case a.Incident.ID < b.Incident.ID:
			return 1
		}
		return 0
	})
	if len(out) > l.o.TopN {
		out = out[:l.o.TopN]
	}
	return out
}

// candidate reports whether c may be listed as a past incident like inc.
func candidate(inc, c understudy.Incident) bool {
	if c.ID == inc.ID || c.MergedInto != 0 {
		return false
	}
	return c.StartedAt.Before(inc.StartedAt) || (c.StartedAt.Equal(inc.StartedAt) && c.ID < inc.ID)
}

// compare scores past incident b against a, with reasons.
func compare(a, b *signature, idf func(string) float64) Match {
	var m Match
	var common []string
	m.Components, common = jaccard(a.components, b.components)
	if len(common) > 0 {
		words := strings.Join(componentWords(common), ", ")
		if m.Components == 1 {
			m.Reasons = append(m.Reasons, "same components: "+words)
		} else {
			m.Reasons = append(m.Reasons, fmt.Sprintf("components in common: %s (%d of %d)", words, len(common), len(union(a.components, b.components))))
		}
	}
	if a.cause != "" && a.cause != understudy.CauseUnknown && a.cause == b.cause {
		m.Cause = 1
		m.Reasons = append(m.Reasons, "same cause: "+string(a.cause))
	}
	m.Classes, common = jaccard(a.classes, b.classes)
	if len(common) > 0 {
		if m.Classes == 1 {
			m.Reasons = append(m.Reasons, "same failures: "+strings.Join(common, ", "))
		} else {
			m.Reasons = append(m.Reasons, "failures in common: "+strings.Join(common, ", "))
		}
	}
	m.Text = weightedJaccard(a.terms, b.terms, idf)
	if pct := int(math.Floor(m.Text * 100)); pct > 0 {
		if smp := b.bestSample(a.terms, idf); smp != "" {
			m.Reasons = append(m.Reasons, fmt.Sprintf("similar errors (%d%% alike): %q", pct, shorten(smp, 120)))
		} else {
			m.Reasons = append(m.Reasons, fmt.Sprintf("similar titles (%d%% alike)", pct))
		}
	}
	m.Score = WeightComponents*m.Components + WeightCause*m.Cause + WeightClasses*m.Classes + WeightText*m.Text
	return m
}

// bestSample is the sample of s sharing the most weight with terms; "" when
// none shares a word.
func (s *signature) bestSample(terms []string, idf func(string) float64) string {
	best, bestW := "", 0.0
	for i, set := range s.sampleSets {
		w := 0.0
		for _, t := range terms { // sorted: the sum is the same on every run
			if _, ok := set[t]; ok {
				w += idf(t)
			}
		}
		if w > bestW {
			best, bestW = s.samples[i], w
		}
	}
	return best
}

// jaccard is |a ∩ b| / |a ∪ b| of two sorted sets (0 when either is
// empty), and a ∩ b.
func jaccard(a, b []string) (float64, []string) {
	if len(a) == 0 || len(b) == 0 {
		return 0, nil
	}
	var common []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); ok {
			common = append(common, x)
		}
	}
	return float64(len(common)) / float64(len(union(a, b))), common
}

// weightedJaccard is Σ w over a ∩ b / Σ w over a ∪ b of two sorted sets,
// summed in order so that equal inputs give equal floats.
func weightedJaccard(a, b []string, w func(string) float64) float64 {
	var inter, all float64
	for _, t := range union(a, b) {
		x := w(t)
		all += x
		_, inA := slices.BinarySearch(a, t)
		_, inB := slices.BinarySearch(b, t)
		if inA && inB {
			inter += x
		}
	}
	if all == 0 {
		return 0
	}
	return inter / all
}

// union of two sorted sets, sorted.
func union(a, b []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a), b...))))
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
