// Package textindex holds the bleve analysis shared by the full-text
// indexes (the FAQ knowledge base, the lessons library): an English and a
// French analyzer chain, and unstored text fields.
package textindex

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/fr"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
)

// AddAnalyzers registers two analyzers on im. English (enName): possessive
// filter, lower case, the stop filters enStops, Porter stemmer. French
// (frName): ASCII folding, lower case, elision (l', d', qu'…), the stop
// filters frStops, Snowball stemmer — "pannes" finds "panne", "epuise"
// finds "épuisé". The stop filters are names registered on im (or bleve's).
func AddAnalyzers(im *mapping.IndexMappingImpl, enName string, enStops []any, frName string, frStops []any) error {
	enChain := append(append([]any{en.PossessiveName, lowercase.Name}, enStops...), porter.Name)
	if err := im.AddCustomAnalyzer(enName, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": enChain,
	}); err != nil {
		return err
	}
	frChain := append(append([]any{lowercase.Name, fr.ElisionName}, frStops...), fr.SnowballStemmerName)
	return im.AddCustomAnalyzer(frName, map[string]any{
		"type":          custom.Name,
		"char_filters":  []any{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": frChain,
	})
}

// StopWords are the Snowball stop words of lang ("en", "fr"); French ones
// also ASCII-folded ("été" and "ete"), since the French chain folds text
// before it tokenizes.
func StopWords(lang string) ([]string, error) {
	list := en.EnglishStopWords
	if lang == "fr" {
		list = fr.FrenchStopWords
	}
	words := analysis.NewTokenMap()
	if err := words.LoadBytes(list); err != nil {
		return nil, err
	}
	fold := asciifolding.New()
	var out []string
	for w := range words {
		out = append(out, w)
		if f := string(fold.Filter([]byte(w))); f != w {
			out = append(out, f)
		}
	}
	return out, nil
}

// TextField is an indexed, unstored text field analyzed by analyzer.
func TextField(analyzer string) *mapping.FieldMapping {
	f := bleve.NewTextFieldMapping()
	f.Analyzer = analyzer
	f.Store, f.IncludeInAll, f.IncludeTermVectors, f.DocValues = false, false, false, false
	return f
}
