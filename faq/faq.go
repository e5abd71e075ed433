// Package faq is the FAQ knowledge base of the degradation ladder: when no
// model can answer, a question that an FAQ entry answers confidently gets
// that entry's answer, and any other question passes to the next step.
//
// Entries are read from a directory of Markdown and YAML files, kept up to
// date by polling (see KB.Run), and searched with bleve, in memory, with a
// language-aware analysis per language (English and French: stemming, stop
// words, elision).
//
// # Files
//
// YAML (*.yaml, *.yml) is a list of entries:
//
//	# help.yaml
//	- question: How do I reset my password?   # or a list of phrasings
//	  answer: Open Settings › Security and choose "Reset password".
//	  lang: en                                 # optional
//	  tags: [account, password]                # optional
//
// Markdown (*.md): each "## Question?" heading starts an entry whose answer
// is the text up to the next "#" or "##" heading; a front matter line
// "lang: fr" (between "---" lines at the top) sets the language of the
// file's entries. An entry's language is, in order: its own lang (YAML),
// the file's front matter (Markdown), the file name's suffix (faq.fr.yaml,
// help.fr.md), else "en".
package faq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/jonboulle/clockwork"
)

// Defaults of Options.
const (
	DefaultThreshold = 0.5
	DefaultEvery     = 2 * time.Second
)

// Options configure a KB.
type Options struct {
	// Dir is the directory of *.md, *.yaml and *.yml files (not its
	// subdirectories; names starting with "." are skipped). Required.
	Dir string
	// Threshold is the least Match.Confidence for Search to answer, in
	// (0, 1]. Default DefaultThreshold (0.5); zero means the default.
	Threshold float64
	// Clock drives polling. Default the real clock; nil means the default.
	Clock clockwork.Clock
	// Logger receives reloads and file problems. Nil discards logs.
	Logger *slog.Logger
	// Every is how often Run looks at the files. Default DefaultEvery
	// (2s); zero means the default.
	Every time.Duration
}

// Match is the entry that best answers a query.
type Match struct {
	Question string   // the phrasing of the entry's question that matched best
	Answer   string   // the entry's answer, as written (Markdown allowed)
	Lang     string   // the entry's language: "en", "fr"
	Tags     []string // the entry's tags (shared: do not modify)
	File     string   // the file of the entry
	// Score is bleve's relevance score (TF-IDF, question terms boosted):
	// comparable between the hits of one search only.
	Score float64
	// Confidence, in [0, 1], is the IDF-weighted share of the query's
	// content terms that the entry's question covers:
	//
	//	Confidence = max over phrasings p of Σ_t w(t)·c(t, p) / Σ_t w(t)
	//
	// over the distinct terms t of the query once analyzed in the
	// entry's language (lower-cased, stop words, question words such as
	// "how" or "comment" and elisions removed, stemmed), where
	//   - c(t, p) is 1 when t is in phrasing p of the question, 1/2 when
	//     it is only in the answer, else 0;
	//   - w(t) = ln(1 + (N − df(t) + ½) / (df(t) + ½)) is BM25's inverse
	//     document frequency, N the entries of that language and df(t)
	//     those whose question or answer has t.
	//
	// 1 means every content word of the query is in the question: the
	// query asks that question, maybe in other words of the same stems.
	// Rare terms weigh more than common ones, and terms no entry has weigh
	// most, so a query about something else ("What is the weather on
	// Mars?") stays near 0 even if it shares a common word with an entry.
	// Unlike bleve's score it does not depend on the size of the index or
	// the length of the query, so one threshold fits every knowledge base.
	Confidence float64
}

// KB is a FAQ knowledge base. Its methods are safe for concurrent use:
// searches never wait for a reload, which builds a new index and swaps it
// in atomically.
type KB struct {
	dir       string
	threshold float64
	clock     clockwork.Clock
	logger    *slog.Logger
	every     time.Duration
	mapping   mapping.IndexMapping

	cur    atomic.Pointer[snapshot]
	errs   atomic.Pointer[[]error]
	closed atomic.Bool

	mu      sync.Mutex // serializes loads
	files   map[string]*fileState
	listErr string // last directory error logged, so that it is logged once

	afterPoll func() // test hook, called by Run after each poll
}

// New loads the files of opts.Dir. It fails if the directory cannot be read
// or no entry loads (with every file's problem); a file with problems while
// others load is reported by Errors and logged. Close releases the index.
func New(opts Options) (*KB, error) {
	if opts.Dir == "" {
		return nil, errors.New("faq: Options.Dir is required")
	}
	if t := opts.Threshold; math.IsNaN(t) || t < 0 || t > 1 {
		return nil, fmt.Errorf("faq: Options.Threshold %v is outside [0, 1] (0 means the default)", t)
	}
	if opts.Every < 0 {
		return nil, fmt.Errorf("faq: Options.Every %v is negative", opts.Every)
	}
	info, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("faq: %s is not a directory", opts.Dir)
	}
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("faq: index mapping: %w", err)
	}
	k := &KB{
		dir:       opts.Dir,
		threshold: opts.Threshold,
		clock:     opts.Clock,
		logger:    opts.Logger,
		every:     opts.Every,
		mapping:   m,
		files:     map[string]*fileState{},
	}
	if k.threshold == 0 {
		k.threshold = DefaultThreshold
	}
	if k.clock == nil {
		k.clock = clockwork.NewRealClock()
	}
	if k.logger == nil {
		k.logger = slog.New(slog.DiscardHandler)
	}
	if k.every == 0 {
		k.every = DefaultEvery
	}
	fileErrs := k.load("start")
	if k.Entries() == 0 {
		k.Close()
		if fileErrs == nil {
			fileErrs = fmt.Errorf("no *.md, *.yaml or *.yml file with entries in %s", k.dir)
		}
		return nil, fmt.Errorf("faq: %w from %s: %w", ErrNoEntries, k.dir, fileErrs)
	}
	return k, nil
}

// Search returns the entry that best answers query, among the entries in
// lang ("fr", "fr-CA"…) or, when there are none in lang (or lang is ""),
// among all entries. ok is true only when the match's Confidence reaches
// Options.Threshold; when it does not, the best candidate is still
// returned, for logging. A query that shares no term with any entry returns
// a zero Match and false.
func (k *KB) Search(ctx context.Context, query, lang string) (m Match, ok bool) {
	s := k.acquire()
	if s == nil {
		return Match{}, false
	}
	defer s.release()
	m, found, err := s.search(ctx, query, normalizeLang(lang))
	if err != nil {
		k.logger.Debug("faq search failed", "err", err)
		return Match{}, false
	}
	return m, found && m.Confidence >= k.threshold
}

// Entries is the number of entries in the index.
func (k *KB) Entries() int {
	s := k.acquire()
	if s == nil {
		return 0
	}
	defer s.release()
	return len(s.entries)
}

// Errors are the problems of the files as last loaded, one per file (each
// a *FileError or several joined). The entries a file had before its
// problem stay in the index.
func (k *KB) Errors() []error {
	if p := k.errs.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// Close releases the index; Search finds nothing afterwards and Run stops
// reloading.
func (k *KB) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed.Store(true)
	if old := k.cur.Swap(nil); old != nil {
		old.release()
	}
}

// acquire returns the current snapshot with a reference taken, nil when
// there is none.
func (k *KB) acquire() *snapshot {
	for {
		s := k.cur.Load()
		if s == nil {
			return nil
		}
		if s.tryAcquire() {
			return s
		}
		// Released between Load and tryAcquire: a newer one is in place.
	}
}

// Run reloads the files when they change, looking every Options.Every,
// until ctx is done; it returns nil then.
func (k *KB) Run(ctx context.Context) error {
	t := k.clock.NewTicker(k.every)
	defer t.Stop()
	k.poll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
			k.poll()
		}
	}
}

// Reload looks at the files now, as Run does at each tick, and returns
// their problems joined (nil when every file loads).
func (k *KB) Reload() error {
	return k.load("reload")
}

func (k *KB) poll() {
	_ = k.load("poll") // logged
	if k.afterPoll != nil {
		k.afterPoll()
	}
}
