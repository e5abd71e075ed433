package incident

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// classes are the failure classes the windows count, by index.
var classes = []understudy.Class{
	understudy.ClassConnect, understudy.ClassReset, understudy.ClassServer, understudy.ClassOverloaded,
	understudy.ClassRateLimit, understudy.ClassQuota, understudy.ClassAuth, understudy.ClassTimeout,
	understudy.ClassStall, understudy.ClassCut, understudy.ClassStreamErr, understudy.ClassDeadline,
	understudy.ClassContextLength, understudy.ClassInvalid, understudy.ClassContentFilter, understudy.ClassNotImpl,
}

var classIndex = func() map[understudy.Class]int {
	m := make(map[understudy.Class]int, len(classes))
	for i, c := range classes {
		m[c] = i
	}
	return m
}()

// tally counts requests (or attempts) and the bad ones by class.
type tally struct {
	total, bad int64
	byClass    [16]int64 // indexed like classes
}

func (t *tally) add(o tally) {
	t.total += o.total
	t.bad += o.bad
	for i := range t.byClass {
		t.byClass[i] += o.byClass[i]
	}
}

func (t *tally) count(bad bool, c understudy.Class) {
	t.total++
	if !bad {
		return
	}
	t.bad++
	if i, ok := classIndex[c]; ok {
		t.byClass[i]++
	}
}

// share of bad ones; 0 without traffic.
func (t tally) share() float64 {
	if t.total == 0 {
		return 0
	}
	return float64(t.bad) / float64(t.total)
}

// dominant is the most frequent bad class ("" when none); ties go to the
// first in classes order.
func (t tally) dominant() understudy.Class {
	best, n := understudy.Class(""), int64(0)
	for i, c := range t.byClass {
		if c > n {
			best, n = classes[i], c
		}
	}
	return best
}

// seconds is a ring of one-second tallies covering the last len(buckets)
// seconds.
type seconds struct {
	epochs  []int64 // unix second each bucket holds
	buckets []tally
}

func newSeconds(span time.Duration) *seconds {
	n := int(span/time.Second) + 1
	return &seconds{epochs: make([]int64, n), buckets: make([]tally, n)}
}

func (s *seconds) at(now time.Time) *tally {
	sec := now.Unix()
	i := int(sec % int64(len(s.buckets)))
	if s.epochs[i] != sec {
		s.epochs[i], s.buckets[i] = sec, tally{}
	}
	return &s.buckets[i]
}

// sum over the last d (whole seconds, the current one included).
func (s *seconds) sum(now time.Time, d time.Duration) tally {
	var out tally
	cur := now.Unix()
	from := cur - int64(d/time.Second) + 1
	for i, e := range s.epochs {
		if e >= from && e <= cur {
			out.add(s.buckets[i])
		}
	}
	return out
}

// firstBad is the earliest second in the last d with a bad count, zero when none.
func (s *seconds) firstBad(now time.Time, d time.Duration) time.Time {
	cur := now.Unix()
	from := cur - int64(d/time.Second) + 1
	first := int64(0)
	for i, e := range s.epochs {
		if e >= from && e <= cur && s.buckets[i].bad > 0 && (first == 0 || e < first) {
			first = e
		}
	}
	if first == 0 {
		return time.Time{}
	}
	return time.Unix(first, 0).UTC()
}

// latencyBounds are the upper bounds of the latency histogram: 10 ms to
// ~164 s, doubling.
var latencyBounds = func() []time.Duration {
	var b []time.Duration
	for d := 10 * time.Millisecond; len(b) < 15; d *= 2 {
		b = append(b, d)
	}
	return b
}()

type latHist [16]int64 // 15 bounds + overflow

func (h *latHist) observe(d time.Duration) {
	i := sort.Search(len(latencyBounds), func(i int) bool { return d <= latencyBounds[i] })
	h[i]++
}

func (h *latHist) add(o latHist) {
	for i := range h {
		h[i] += o[i]
	}
}

func (h latHist) n() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// bucketRange renders the bucket holding d, e.g. "1.28s–2.56s".
func bucketRange(d time.Duration) string {
	i := sort.Search(len(latencyBounds), func(i int) bool { return d <= latencyBounds[i] })
	switch {
	case i == 0:
		return "≤" + latencyBounds[0].String()
	case i >= len(latencyBounds):
		return ">" + latencyBounds[len(latencyBounds)-1].String()
	}
	return latencyBounds[i-1].String() + "–" + latencyBounds[i].String()
}

// median's bucket upper bound (the overflow reads as twice the last bound).
func (h latHist) median() time.Duration {
	n := h.n()
	if n == 0 {
		return 0
	}
	var seen int64
	for i, c := range h {
		seen += c
		if seen*2 >= n {
			if i < len(latencyBounds) {
				return latencyBounds[i]
			}
			return 2 * latencyBounds[len(latencyBounds)-1]
		}
	}
	return 0
}

// minutes is a ring of per-minute latency histograms over the last hour and
// a bit: the baseline of the latency detector.
type minutes struct {
	epochs  [62]int64
	buckets [62]latHist
}

func (m *minutes) at(now time.Time) *latHist {
	min := now.Unix() / 60
	i := int(min % int64(len(m.buckets)))
	if m.epochs[i] != min {
		m.epochs[i], m.buckets[i] = min, latHist{}
	}
	return &m.buckets[i]
}

// between sums the minutes starting in [from, to).
func (m *minutes) between(from, to time.Time) latHist {
	var out latHist
	f, t := from.Unix()/60, to.Unix()/60
	for i, e := range m.epochs {
		if e >= f && e < t {
			out.add(m.buckets[i])
		}
	}
	return out
}

// samples keeps the last few distinct failure messages, as received: they
// are redacted when read, so the request path pays only a comparison.
type samples struct{ list []string }

const maxSamples = 5

func (s *samples) add(msg string) {
	for i := len(s.list) - 1; i >= 0; i-- {
		if s.list[i] == msg {
			return
		}
	}
	if len(s.list) == maxSamples {
		copy(s.list, s.list[1:])
		s.list = s.list[:maxSamples-1]
	}
	s.list = append(s.list, msg)
}

// read returns the samples redacted, each prefixed.
func (s *samples) read(prefix string) []string {
	out := make([]string, 0, len(s.list))
	for _, m := range s.list {
		if r := Redact(m); r != "" {
			out = append(out, prefix+r)
		}
	}
	return out
}

var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\b(sk|pk|rk|key|us)[-_][A-Za-z0-9_\-*]{6,}`), // provider and our own key shapes
	regexp.MustCompile(`(?i)bearer\s+\S+`),
	regexp.MustCompile(`[A-Za-z0-9+_\-]{32,}={0,2}`), // long opaque tokens (not paths: no '/')
	regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.-]+`),   // e-mail addresses
}

// Redact removes what looks like a secret or personal data from an error
// message and bounds its length. Gateway attempt messages never hold
// prompts, but providers' error texts may echo a key or an address.
func Redact(msg string) string {
	msg = strings.TrimSpace(msg)
	for _, re := range secretPatterns {
		msg = re.ReplaceAllString(msg, "[redacted]")
	}
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:199]) + "…"
	}
	return msg
}
