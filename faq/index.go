package faq

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
	"github.com/blevesearch/bleve/v2/analysis/tokenmap"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/understudy/understudy/internal/textindex"
)

// Retrieval and confidence constants (see Match.Confidence).
const (
	// questionBoost weighs a term found in the question above one found in
	// the answer in bleve's ranking.
	questionBoost = 3.0
	// answerCredit is the share of a query term's weight earned when the
	// term is only in the answer, not in the question.
	answerCredit = 0.5
	// candidates is how many of bleve's best hits are scored for confidence.
	candidates = 10
)

// analyzers names the bleve analyzer of each supported language.
//
//   - "en" is bleve's English analyzer (lang/en: possessive filter, lower
//     case, Snowball stop words, Porter stemmer) with FAQ question words
//     added to the stop words.
//   - "fr" is built from bleve's lang/fr parts: lower case, elision (l', d',
//     qu'…), Snowball stop words and the Snowball French stemmer, after ASCII
//     folding so that "reinitialiser" typed without accents matches
//     "réinitialiser". bleve's stock "fr" analyzer uses the light stemmer,
//     which stems "réinitialiser" to "reinitialis" but "réinitialisation"
//     to "reinitial", and "facture" and "facturation" apart: the Snowball
//     stemmer conflates both pairs.
var analyzers = map[string]string{
	"en": "faq_en",
	"fr": "faq_fr",
}

// questionWords are words of questions that say nothing of their topic,
// beyond the Snowball stop words: without them "Comment réinitialiser mon
// mot de passe ?" would count "comment" as a topic word the entry lacks.
var questionWords = map[string][]string{
	"en": {"can", "may", "might", "must", "shall", "will", "please", "want", "like", "hi", "hello"},
	"fr": {
		"comment", "pourquoi", "quand", "combien", "quel", "quelle", "quels", "quelles",
		"lequel", "laquelle", "lesquels", "lesquelles", "puis", "peux", "peut", "pouvez",
		"pouvons", "peuvent", "pourrais", "pourrait", "pourriez", "voudrais", "voudrait",
		"voulez", "veux", "veut", "dois", "doit", "devez", "faut", "faire", "fais", "fait",
		"svp", "stp", "plait", "bonjour",
	},
}

// supportedLangs lists the supported languages, sorted.
func supportedLangs() []string {
	out := make([]string, 0, len(analyzers))
	for l := range analyzers {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// newMapping is the index mapping: one sub-document per language, whose
// question and answer fields are analyzed with that language's analyzer.
func newMapping() (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	im.StoreDynamic, im.IndexDynamic, im.DocValuesDynamic = false, false, false
	im.DefaultMapping.Dynamic = false

	// French text is ASCII-folded before it is tokenized, so the French
	// stop words are folded too ("à" → "a", "été" → "ete").
	frStop, err := textindex.StopWords("fr")
	if err != nil {
		return nil, err
	}
	stops := map[string][]any{"en": nil, "fr": nil}
	for _, w := range frStop {
		stops["fr"] = append(stops["fr"], w)
	}
	for lang, words := range questionWords {
		for _, w := range words {
			stops[lang] = append(stops[lang], w)
		}
		name := "faq_stop_" + lang
		if err := im.AddCustomTokenMap(name, map[string]any{"type": tokenmap.Name, "tokens": stops[lang]}); err != nil {
			return nil, err
		}
		if err := im.AddCustomTokenFilter(name, map[string]any{"type": stop.Name, "stop_token_map": name}); err != nil {
			return nil, err
		}
	}
	if err := textindex.AddAnalyzers(im, analyzers["en"], []any{en.StopName, "faq_stop_en"}, analyzers["fr"], []any{"faq_stop_fr"}); err != nil {
		return nil, err
	}
	// Each language is a sub-document ("en.question", "fr.answer"…) with
	// its own analyzer, so that a query on a language's fields only meets
	// entries of that language, with no filter to intersect.
	root := bleve.NewDocumentStaticMapping()
	for lang, an := range analyzers {
		dm := bleve.NewDocumentStaticMapping()
		dm.DefaultAnalyzer = an
		dm.AddFieldMappingsAt("question", textField(an))
		dm.AddFieldMappingsAt("answer", textField(an))
		root.AddSubDocumentMapping(lang, dm)
	}
	im.DefaultMapping = root
	return im, im.Validate()
}

// textField is an indexed, unstored text field.
func textField(analyzer string) *mapping.FieldMapping { return textindex.TextField(analyzer) }

// document is what bleve indexes of an entry: its question (every
// phrasing) and answer under its language, {"fr": {"question": …}}.
func document(e entry) map[string]any {
	return map[string]any{e.Lang: map[string]any{"question": e.Questions, "answer": e.Answer}}
}

// termSet is a set of analyzed terms.
type termSet map[string]struct{}

func terms(a analysis.Analyzer, text string) termSet {
	ts := termSet{}
	for _, tk := range a.Analyze([]byte(text)) {
		ts[string(tk.Term)] = struct{}{}
	}
	return ts
}

// indexed is an entry with its analyzed terms.
type indexed struct {
	entry
	questionTerms []termSet // one per phrasing
	answerTerms   termSet
}

// langIndex is what confidence needs of one language's entries.
type langIndex struct {
	analyzer analysis.Analyzer
	n        int            // entries in this language
	df       map[string]int // entries whose question or answer has the term
}

// idf is the weight of a term among the language's entries, BM25's inverse
// document frequency: always > 0, highest for terms no entry has.
func (l *langIndex) idf(term string) float64 {
	n, df := float64(l.n), float64(l.df[term])
	return math.Log(1 + (n-df+0.5)/(df+0.5))
}

// snapshot is one immutable generation of the index. Searches hold a
// reference; the bleve index is closed when the last one is released after
// the snapshot was replaced.
type snapshot struct {
	idx     bleve.Index
	entries []indexed
	langs   map[string]*langIndex
	order   []string // languages present, sorted
	refs    atomic.Int64
}

// build indexes entries in a new in-memory bleve index.
//
// The index is scorch, bleve's default index type, with no path: kept in
// memory, with neither persister nor merger (one batch, one segment).
// bleve.NewMemOnly would use the legacy upsidedown type over a gtreap
// store, whose iterators hand over every posting through a goroutine and a
// channel: 3.4 times slower per search on the 500-entry BenchmarkSearch.
func build(m mapping.IndexMapping, entries []entry) (*snapshot, error) {
	idx, err := bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("faq: create index: %w", err)
	}
	s := &snapshot{idx: idx, entries: make([]indexed, len(entries)), langs: map[string]*langIndex{}}
	s.refs.Store(1) // the KB's own reference, dropped when replaced
	batch := idx.NewBatch()
	for i, e := range entries {
		li := s.langs[e.Lang]
		if li == nil {
			li = &langIndex{analyzer: m.AnalyzerNamed(analyzers[e.Lang]), df: map[string]int{}}
			if li.analyzer == nil {
				_ = idx.Close()
				return nil, fmt.Errorf("faq: no analyzer for %q", e.Lang)
			}
			s.langs[e.Lang] = li
			s.order = append(s.order, e.Lang)
		}
		x := indexed{entry: e, answerTerms: terms(li.analyzer, e.Answer)}
		all := termSet{}
		for t := range x.answerTerms {
			all[t] = struct{}{}
		}
		for _, q := range e.Questions {
			qt := terms(li.analyzer, q)
			x.questionTerms = append(x.questionTerms, qt)
			for t := range qt {
				all[t] = struct{}{}
			}
		}
		li.n++
		for t := range all {
			li.df[t]++
		}
		s.entries[i] = x
		if err := batch.Index(strconv.Itoa(i), document(e)); err != nil {
			_ = idx.Close()
			return nil, fmt.Errorf("faq: index %s:%d: %w", e.File, e.Line, err)
		}
	}
	if err := idx.Batch(batch); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("faq: index: %w", err)
	}
	sort.Strings(s.order)
	return s, nil
}

// tryAcquire takes a reference unless the snapshot is already released.
func (s *snapshot) tryAcquire() bool {
	for {
		n := s.refs.Load()
		if n == 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *snapshot) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.idx.Close()
	}
}

// search finds the entry that best answers text in lang, or in every
// language when lang has no entry. It returns the candidate of highest
// confidence among bleve's best hits, false when no entry shares a term
// with the query.
func (s *snapshot) search(ctx context.Context, text, lang string) (Match, bool, error) {
	langs := []string{lang}
	if s.langs[lang] == nil {
		langs = s.order
	}
	var best Match
	found := false
	for _, l := range langs {
		li := s.langs[l]
		qt := terms(li.analyzer, text)
		if len(qt) == 0 {
			continue // only stop words
		}
		q := make([]string, 0, len(qt))
		for t := range qt {
			q = append(q, t)
		}
		slices.Sort(q)
		res, err := s.idx.SearchInContext(ctx, bleve.NewSearchRequestOptions(searchQuery(q, l), candidates, 0, false))
		if err != nil {
			return Match{}, false, err
		}
		weights, total := make([]float64, len(q)), 0.0
		for i, t := range q {
			weights[i] = li.idf(t)
			total += weights[i]
		}
		for _, h := range res.Hits { // by decreasing score: ties keep the higher score
			i, err := strconv.Atoi(h.ID)
			if err != nil || i < 0 || i >= len(s.entries) {
				continue
			}
			e := &s.entries[i]
			conf, phrasing := e.confidence(q, weights, total)
			if found && conf <= best.Confidence {
				continue
			}
			best, found = Match{
				Question:   e.Questions[phrasing],
				Answer:     e.Answer,
				Lang:       e.Lang,
				Tags:       e.Tags,
				File:       e.File,
				Score:      h.Score,
				Confidence: conf,
			}, true
		}
	}
	return best, found, nil
}

// searchQuery matches entries of lang with any of the terms, in the
// question (boosted) or the answer.
func searchQuery(terms []string, lang string) query.Query {
	qs := make([]query.Query, 0, 2*len(terms))
	for _, t := range terms {
		q := bleve.NewTermQuery(t)
		q.SetField(lang + ".question")
		q.SetBoost(questionBoost)
		a := bleve.NewTermQuery(t)
		a.SetField(lang + ".answer")
		qs = append(qs, q, a)
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// confidence is the share of the query's weight that the entry covers, for
// its best phrasing (see Match.Confidence), and that phrasing's index.
func (e *indexed) confidence(q []string, weights []float64, total float64) (float64, int) {
	best, phrasing := 0.0, 0
	for p, qt := range e.questionTerms {
		got := 0.0
		for i, t := range q {
			if _, ok := qt[t]; ok {
				got += weights[i]
			} else if _, ok := e.answerTerms[t]; ok {
				got += answerCredit * weights[i]
			}
		}
		if got > best {
			best, phrasing = got, p
		}
	}
	if total <= 0 {
		return 0, phrasing
	}
	return math.Min(1, best/total), phrasing
}
