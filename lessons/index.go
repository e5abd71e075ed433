package lessons

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
	"github.com/blevesearch/bleve/v2/analysis/tokenmap"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/understudy/understudy/internal/textindex"
)

// Languages the library analyses every text in, with their analyzers:
//
//   - "en": bleve's English chain (possessive filter, lower case, stop
//     words, Porter stemmer): "timeouts" finds "timeout".
//   - "fr": ASCII folding, lower case, elision (l', d', qu'…), stop words
//     and the Snowball French stemmer, as in package faq: "pannes" finds
//     "panne", "epuise" finds "épuisé".
//
// Both drop the English and the French stop words (see newMapping).
//
// Every document is indexed under both (the same text twice), because one
// incident holds both languages (updates carry their French translations)
// and a query's language is not known: a query matches a document when
// either analysis of the query matches the same analysis of the document.
var langs = []string{"en", "fr"}

const (
	analyzerEN = "lessons_en"
	analyzerFR = "lessons_fr"
	// titleBoost weighs a term in a title above one in the text.
	titleBoost = 2.0
)

func newMapping() (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	im.StoreDynamic, im.IndexDynamic, im.DocValuesDynamic = false, false, false
	// One stop list for both chains: the English and French Snowball stop
	// words, the French ones also ASCII-folded. Texts mix both languages,
	// so "the" must not match every English sentence through the French
	// analysis, nor "de" every French one through the English analysis.
	var stops []any
	for _, lang := range []string{"en", "fr"} {
		words, err := textindex.StopWords(lang)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			stops = append(stops, w)
		}
	}
	if err := im.AddCustomTokenMap("lessons_stop", map[string]any{"type": tokenmap.Name, "tokens": stops}); err != nil {
		return nil, err
	}
	if err := im.AddCustomTokenFilter("lessons_stop", map[string]any{"type": stop.Name, "stop_token_map": "lessons_stop"}); err != nil {
		return nil, err
	}
	if err := textindex.AddAnalyzers(im, analyzerEN, []any{"lessons_stop"}, analyzerFR, []any{"lessons_stop"}); err != nil {
		return nil, err
	}
	root := bleve.NewDocumentStaticMapping()
	kind := bleve.NewKeywordFieldMapping()
	kind.Analyzer = keyword.Name
	kind.Store, kind.IncludeInAll, kind.DocValues = false, false, false
	root.AddFieldMappingsAt("kind", kind)
	for _, lang := range langs {
		an := analyzerName(lang)
		dm := bleve.NewDocumentStaticMapping()
		dm.DefaultAnalyzer = an
		dm.AddFieldMappingsAt("title", textField(an))
		dm.AddFieldMappingsAt("text", textField(an))
		root.AddSubDocumentMapping(lang, dm)
	}
	im.DefaultMapping = root
	return im, im.Validate()
}

func analyzerName(lang string) string {
	if lang == "fr" {
		return analyzerFR
	}
	return analyzerEN
}

// textField is an indexed, unstored text field.
func textField(analyzer string) *mapping.FieldMapping { return textindex.TextField(analyzer) }

// indexDoc is what bleve indexes of a document.
func indexDoc(d Document) map[string]any {
	m := map[string]any{"kind": string(d.Kind)}
	for _, lang := range langs {
		m[lang] = map[string]any{"title": d.Title, "text": d.Text}
	}
	return m
}

// build indexes docs in a new in-memory index. It is scorch without a
// path: no persister and no merger, so it is built in one batch and
// rebuilt whole on change (see Library), never updated in place, which
// would add a segment per change and never merge them.
func build(m mapping.IndexMapping, docs map[string]Document) (bleve.Index, error) {
	idx, err := bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("lessons: create index: %w", err)
	}
	batch := idx.NewBatch()
	for key, d := range docs {
		if err := batch.Index(key, indexDoc(d)); err != nil {
			_ = idx.Close()
			return nil, fmt.Errorf("lessons: index %s: %w", key, err)
		}
	}
	if err := idx.Batch(batch); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("lessons: index: %w", err)
	}
	return idx, nil
}

// termSet is a set of analyzed terms.
type termSet map[string]struct{}

func analyze(a analysis.Analyzer, text string) termSet {
	ts := termSet{}
	for _, tk := range a.Analyze([]byte(text)) {
		ts[string(tk.Term)] = struct{}{}
	}
	return ts
}

func (ts termSet) sorted() []string {
	out := make([]string, 0, len(ts))
	for t := range ts {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// queryTerms analyses q in every language; languages where q has only
// stop words are left out.
func (l *Library) queryTerms(q string) map[string][]string {
	out := map[string][]string{}
	for _, lang := range langs {
		if ts := analyze(l.analyzers[lang], q); len(ts) > 0 {
			out[lang] = ts.sorted()
		}
	}
	return out
}

// searchQuery matches documents holding, in one language's analysis, every
// term of the query (all true) or any (all false), in the title (boosted)
// or the text, optionally of one kind.
func searchQuery(terms map[string][]string, all bool, kind Kind) query.Query {
	var perLang []query.Query
	for _, lang := range langs {
		ts := terms[lang]
		if len(ts) == 0 {
			continue
		}
		var parts []query.Query
		for _, t := range ts {
			title := bleve.NewTermQuery(t)
			title.SetField(lang + ".title")
			title.SetBoost(titleBoost)
			text := bleve.NewTermQuery(t)
			text.SetField(lang + ".text")
			parts = append(parts, bleve.NewDisjunctionQuery(title, text))
		}
		if all {
			perLang = append(perLang, bleve.NewConjunctionQuery(parts...))
		} else {
			perLang = append(perLang, bleve.NewDisjunctionQuery(parts...))
		}
	}
	var q query.Query = bleve.NewDisjunctionQuery(perLang...)
	if kind != "" {
		k := bleve.NewTermQuery(string(kind))
		k.SetField("kind")
		q = bleve.NewConjunctionQuery(q, k)
	}
	return q
}

// searchIndex runs q on idx and returns the keys and scores of every hit.
func searchIndex(ctx context.Context, idx bleve.Index, q query.Query, size int) (map[string]float64, error) {
	res, err := idx.SearchInContext(ctx, bleve.NewSearchRequestOptions(q, size, 0, false))
	if err != nil {
		return nil, fmt.Errorf("lessons: search: %w", err)
	}
	out := make(map[string]float64, len(res.Hits))
	for _, h := range res.Hits {
		out[h.ID] = h.Score
	}
	return out, nil
}

// snippetLen bounds a snippet, in bytes of text.
const snippetLen = 240

// snippet picks the line of d with the most query terms (the first one on
// ties; the title when no line has any) and returns it escaped, with the
// matching words in <mark>, cut to about snippetLen bytes around the first
// match.
func (l *Library) snippet(d Document, terms map[string][]string) template.HTML {
	sets := map[string]termSet{}
	for lang, ts := range terms {
		sets[lang] = termSet{}
		for _, t := range ts {
			sets[lang][t] = struct{}{}
		}
	}
	best, bestN := d.Title, 0
	var bestMarks [][2]int
	for i, line := range strings.Split(d.Text, "\n") {
		if i >= 500 {
			break
		}
		marks := l.marks(line, sets)
		if len(marks) > bestN {
			best, bestN, bestMarks = line, len(marks), marks
		}
	}
	if bestN == 0 {
		best, bestMarks = d.Title, l.marks(d.Title, sets)
	}
	start, end := 0, len(best)
	if end > snippetLen {
		if len(bestMarks) > 0 {
			start = max(0, bestMarks[0][0]-snippetLen/4)
		}
		end = min(len(best), start+snippetLen)
		for start > 0 && !utf8.RuneStart(best[start]) {
			start--
		}
		for end < len(best) && !utf8.RuneStart(best[end]) {
			end++
		}
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	pos := start
	for _, m := range bestMarks {
		if m[0] < start || m[1] > end {
			continue
		}
		b.WriteString(html.EscapeString(best[pos:m[0]]))
		b.WriteString("<mark>" + html.EscapeString(best[m[0]:m[1]]) + "</mark>")
		pos = m[1]
	}
	b.WriteString(html.EscapeString(best[pos:end]))
	if end < len(best) {
		b.WriteString("…")
	}
	return template.HTML(b.String())
}

// marks returns the byte ranges of the words of line that match a query
// term in one of the languages.
func (l *Library) marks(line string, sets map[string]termSet) [][2]int {
	var out [][2]int
	for _, tk := range l.words.Tokenize([]byte(line)) {
		word := line[tk.Start:tk.End]
		for _, lang := range langs {
			if len(sets[lang]) == 0 {
				continue
			}
			hit := false
			for t := range analyze(l.analyzers[lang], word) {
				if _, ok := sets[lang][t]; ok {
					hit = true
				}
			}
			if hit {
				out = append(out, [2]int{tk.Start, tk.End})
				break
			}
		}
	}
	return out
}
