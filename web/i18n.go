package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// langCookie keeps the language a visitor chose with ?lang=.
const langCookie = "lang"

// defaultLang is shown when nothing says otherwise.
const defaultLang = "en"

// langs are the supported languages, in the switcher's order.
var langs = []string{"en", "fr"}

func supported(l string) bool { return l == "en" || l == "fr" }

// locale formats text, numbers and dates in one language. Every string
// comes from its catalogue (catalog.go).
type locale struct {
	lang string
	msgs map[string]string
}

func newLocale(lang string) *locale { return &locale{lang: lang, msgs: catalogs[lang]} }

// T returns the message key, formatted with args (fmt verbs) when given.
// A missing key shows as itself, so it is seen; the catalogue tests keep
// that from happening.
func (l *locale) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return m
	}
	return fmt.Sprintf(m, args...)
}

// N returns the plural form of key for n ("KEY.one" or "KEY.other"), with
// n formatted as the first argument.
func (l *locale) N(key string, n int64) string {
	form := ".other"
	if l.one(n) {
		form = ".one"
	}
	return l.T(key+form, l.Int(n))
}

// one is the language's "one" plural category: English 1 only, French 0
// and 1.
func (l *locale) one(n int64) bool {
	if l.lang == "fr" {
		return n == 0 || n == 1
	}
	return n == 1
}

// Int formats n with the language's digit grouping.
func (l *locale) Int(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := l.T("number.group")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Pct formats a ratio (0..1) as a percentage with two decimals, rounded
// down so that 99.999% never shows as 100%.
func (l *locale) Pct(r float64) string {
	v := math.Floor(r*10000) / 100
	var s string
	if v >= 100 {
		s = "100"
	} else {
		s = strings.Replace(strconv.FormatFloat(v, 'f', 2, 64), ".", l.T("number.decimal"), 1)
	}
	return l.T("number.percent", s)
}

// Day formats t's UTC date, e.g. "March 5, 2026" or "5 mars 2026".
func (l *locale) Day(t time.Time) string {
	t = t.UTC()
	return l.T("format.day", t.Day(), l.T("month."+strconv.Itoa(int(t.Month()))), t.Year())
}

// Month formats t's UTC month and year, capitalized: "March 2026", "Mars 2026".
func (l *locale) Month(t time.Time) string {
	t = t.UTC()
	s := l.T("format.month", l.T("month."+strconv.Itoa(int(t.Month()))), t.Year())
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// DateTime formats t in UTC with date and time; "" for a zero time.
func (l *locale) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return l.T("format.datetime", l.Day(t), t.UTC().Format("15:04"))
}

// Time formats t's UTC time of day, e.g. "14:02 UTC".
func (l *locale) Time(t time.Time) string {
	return l.T("format.time", t.UTC().Format("15:04"))
}

// Duration formats d in days, hours and minutes ("2 h 5 min"), at most two
// units.
func (l *locale) Duration(d time.Duration) string {
	if d < time.Minute {
		return l.T("duration.under_minute")
	}
	mins := int64(d / time.Minute)
	days, hours, m := mins/(24*60), mins/60%24, mins%60
	var parts []string
	if days > 0 {
		parts = append(parts, l.T("duration.days", days))
	}
	if hours > 0 {
		parts = append(parts, l.T("duration.hours", hours))
	}
	if m > 0 && days == 0 {
		parts = append(parts, l.T("duration.minutes", m))
	}
	return strings.Join(parts, " ")
}

// negotiate picks the page's language: ?lang= first, then the cookie a
// previous ?lang= set, then Accept-Language, then English. It reports
// whether the choice came from the query, which makes it sticky.
func negotiate(r *http.Request) (lang string, fromQuery bool) {
	if q := r.URL.Query().Get("lang"); supported(q) {
		return q, true
	}
	if c, err := r.Cookie(langCookie); err == nil && supported(c.Value) {
		return c.Value, false
	}
	return acceptLanguage(r.Header.Get("Accept-Language")), false
}

// acceptLanguage picks the supported language the header ranks highest
// (RFC 9110 §12.5.4): q-values weigh and q=0 excludes; a range matches on
// its primary subtag ("fr-CA" → fr), the exact range ("fr") deciding over
// regional ones; "*" stands for every language not named; ties go to the
// range that comes first. Malformed entries are ignored; when nothing is
// acceptable, English.
func acceptLanguage(header string) string {
	type cand struct {
		q     float64
		pos   int
		exact bool
	}
	cands := map[string]cand{}
	wildcard := cand{q: -1}
	for pos, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		if tag == "" {
			continue
		}
		q, ok := qvalue(params)
		if !ok {
			continue
		}
		if tag == "*" {
			if wildcard.q < 0 {
				wildcard = cand{q: q, pos: pos}
			}
			continue
		}
		primary, _, _ := strings.Cut(tag, "-")
		if !supported(primary) {
			continue
		}
		c, seen := cands[primary]
		exact := tag == primary
		if !seen || (exact && !c.exact) || (exact == c.exact && q > c.q) {
			cands[primary] = cand{q: q, pos: pos, exact: exact}
		}
	}
	best, bestC := defaultLang, cand{q: 0}
	for _, l := range langs {
		c, seen := cands[l]
		if !seen {
			c = wildcard
		}
		if c.q > bestC.q || (c.q == bestC.q && c.q > 0 && c.pos < bestC.pos) {
			best, bestC = l, c
		}
	}
	return best
}

// qvalue reads the q parameter of an Accept-Language entry: 1 when absent;
// not ok when malformed or outside 0..1.
func qvalue(params string) (float64, bool) {
	q := 1.0
	for p := range strings.SplitSeq(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) == 0 || len(v) > 5 {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, false
		}
		q = f
	}
	return q, true
}
