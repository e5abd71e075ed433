// Package lessons is the lessons library: full-text search over past
// incidents and postmortems, similar past incidents for a new one, and the
// console fragments that show them (search results, similar incidents).
//
// The library keeps every document in memory and searches them with bleve
// (an in-memory index analysed in English and French, rebuilt whole after
// changes: see build). It is loaded from the store at start (Load) and kept
// up to date by the incident engine's events (OnIncidentEvent, drained by
// Run), and by Put and Remove for other kinds of documents (postmortems).
//
// # Documents
//
// A Document is what search sees of an incident or a postmortem: a title,
// a text, the incident it belongs to and a time. IncidentDocument builds an
// incident's (title, cause, components, detector, evidence classes, routes,
// targets, samples, signals and provider reports, then every update's
// message and its translations); a postmortem's comes from a Source (at
// Load) and Put (on change).
//
// # Similar incidents
//
// The Weight constants say how two incidents are compared; Similar returns
// the best past incidents for one, and the hook (OnIncidentEvent, Run)
// records them on a new incident's timeline as an EventSimilar event.
package lessons

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/store"
)

// Kind is what a document is.
type Kind string

const (
	KindIncident   Kind = "incident"
	KindPostmortem Kind = "postmortem"
)

// Document is one searchable text. Kind and ID identify it: putting a
// document with the same Kind and ID replaces it.
type Document struct {
	Kind       Kind
	ID         string // unique within Kind: the incident's or postmortem's id
	IncidentID int64  // the incident it is about (its own id for an incident)
	Title      string
	Text       string    // plain text; lines are the units of snippets
	When       time.Time // when it happened: an incident's start, a postmortem's publication
}

func (d Document) key() string { return string(d.Kind) + "/" + d.ID }

// Incidents reads incidents; *store.Store implements it.
type Incidents interface {
	// IncidentsDuring with zero times returns every incident, with updates.
	IncidentsDuring(ctx context.Context, from, to time.Time) ([]understudy.Incident, error)
	Incident(ctx context.Context, id int64) (understudy.Incident, error)
}

// Recorder appends events to an incident's timeline; *store.Store
// implements it.
type Recorder interface {
	AppendIncidentEvents(ctx context.Context, incidentID int64, evs []understudy.Event) error
}

// Source lists documents of another kind (postmortems) for Load.
type Source interface {
	Documents(ctx context.Context) ([]Document, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) ([]Document, error)

// Documents calls f.
func (f SourceFunc) Documents(ctx context.Context) ([]Document, error) { return f(ctx) }

var (
	_ Incidents = (*store.Store)(nil)
	_ Recorder  = (*store.Store)(nil)
	_ Source    = SourceFunc(nil)
)

// Defaults of Options.
const (
	DefaultTopN     = 5
	DefaultMinScore = 0.35
	DefaultWait     = 10 * time.Second
	DefaultQueue    = 1024
)

// Options configure a Library.
type Options struct {
	// Incidents is where incidents are read. Required.
	Incidents Incidents
	// Recorder receives the EventSimilar event of new incidents. Nil: similar
	// incidents are computed on demand only (Similar), never recorded.
	Recorder Recorder
	// Sources list the other documents (postmortems) at Load. Optional.
	Sources []Source
	// TopN is the most similar incidents returned and recorded. Default
	// DefaultTopN (5); zero means the default.
	TopN int
	// MinScore is the least Score of a similar incident, in (0, 1].
	// Default DefaultMinScore (0.35): the same components alone, or the same
	// cause with the same failure classes and some common words; zero means
	// the default.
	MinScore float64
	// Wait bounds how long, after incident.opened, the hook waits for the
	// detector's first evidence (the same tick's incident.evidence event)
	// before comparing the incident as it is. Default DefaultWait (10 s);
	// zero means the default.
	Wait time.Duration
	// Queue is how many incident events OnIncidentEvent holds before it
	// drops them. Default DefaultQueue (1024); zero means the default.
	Queue int
	// Clock is the time of recorded events and of Wait. Default the real clock.
	Clock clockwork.Clock
	// Logger receives dropped events and errors of Run. Nil discards logs.
	Logger *slog.Logger
}

// Library is the lessons library. It is safe for concurrent use.
type Library struct {
	o         Options
	mapping   *mapping.IndexMappingImpl
	analyzers map[string]analysis.Analyzer
	words     analysis.Tokenizer // splits snippets into words, with positions
	queue     chan queued

	mu    sync.RWMutex
	docs  map[string]Document           // by key
	incs  map[int64]understudy.Incident // every incident, for Similar
	sigs  map[int64]*signature
	idx   bleve.Index // nil until the first search after a change
	dirty bool        // docs changed since idx was built

	pmu     sync.Mutex
	pending map[int64]time.Time // opened incidents waiting for evidence, since
}

// New returns an empty library; Load fills it.
func New(o Options) (*Library, error) {
	if o.Incidents == nil {
		return nil, errors.New("lessons: Options.Incidents is required")
	}
	if o.TopN <= 0 {
		o.TopN = DefaultTopN
	}
	if o.MinScore <= 0 {
		o.MinScore = DefaultMinScore
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("lessons: mapping: %w", err)
	}
	l := &Library{o: o, mapping: m, analyzers: map[string]analysis.Analyzer{}, words: unicode.NewUnicodeTokenizer(),
		queue: make(chan queued, o.Queue), docs: map[string]Document{}, incs: map[int64]understudy.Incident{},
		sigs: map[int64]*signature{}, dirty: true, pending: map[int64]time.Time{}}
	for _, lang := range langs {
		if l.analyzers[lang] = m.AnalyzerNamed(analyzerName(lang)); l.analyzers[lang] == nil {
			return nil, fmt.Errorf("lessons: no analyzer for %s", lang)
		}
	}
	return l, nil
}

// Load replaces the library's content with every incident and every
// source's documents, and builds the index.
func (l *Library) Load(ctx context.Context) error {
	incs, err := l.o.Incidents.IncidentsDuring(ctx, time.Time{}, time.Time{})
	if err != nil {
		return fmt.Errorf("lessons: load incidents: %w", err)
	}
	docs := map[string]Document{}
	byID := make(map[int64]understudy.Incident, len(incs))
	sigs := make(map[int64]*signature, len(incs))
	for _, inc := range incs {
		d := IncidentDocument(inc)
		docs[d.key()] = d
		byID[inc.ID] = inc
		sigs[inc.ID] = l.signature(inc)
	}
	for _, src := range l.o.Sources {
		ds, err := src.Documents(ctx)
		if err != nil {
			return fmt.Errorf("lessons: load documents: %w", err)
		}
		for _, d := range ds {
			docs[d.key()] = d
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.docs, l.incs, l.sigs, l.dirty = docs, byID, sigs, true
	return l.rebuildLocked()
}

// Put adds or replaces documents (a postmortem when it is saved). The index
// is rebuilt at the next search.
func (l *Library) Put(docs ...Document) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range docs {
		l.docs[d.key()] = d
	}
	l.dirty = true
}

// Remove removes the document of kind with id, if any.
func (l *Library) Remove(kind Kind, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := Document{Kind: kind, ID: id}.key()
	if _, ok := l.docs[key]; ok {
		delete(l.docs, key)
		l.dirty = true
	}
}

// PutIncident adds or replaces an incident: its document and what Similar
// compares. The hook calls it on every incident event.
func (l *Library) PutIncident(inc understudy.Incident) {
	d, sig := IncidentDocument(inc), l.signature(inc)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.docs[d.key()] = d
	l.incs[inc.ID] = inc
	l.sigs[inc.ID] = sig
	l.dirty = true
}

// Len returns the number of documents.
func (l *Library) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.docs)
}

// Close releases the index.
func (l *Library) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idx == nil {
		return nil
	}
	err := l.idx.Close()
	l.idx, l.dirty = nil, true
	return err
}

// rebuildLocked builds a new index of l.docs and closes the old one; l.mu
// is held for writing, so no search is using it.
func (l *Library) rebuildLocked() error {
	idx, err := build(l.mapping, l.docs)
	if err != nil {
		return err
	}
	if l.idx != nil {
		_ = l.idx.Close()
	}
	l.idx, l.dirty = idx, false
	return nil
}

// SearchOptions narrow a search.
type SearchOptions struct {
	Kind  Kind // only documents of this kind; "" for all
	Limit int  // the most hits returned; 0 means 20
}

// Hit is a document that matches a search.
type Hit struct {
	Document
	// Score is bleve's relevance (TF-IDF, title terms boosted): comparable
	// between the hits of one search only.
	Score float64
	// Snippet is the document's line with the most query words, escaped,
	// with those words in <mark>.
	Snippet template.HTML
}

// Search finds the documents holding every word of q (after analysis: stop
// words dropped, stems compared, accents ignored in French), in English or
// in French, in the title or the text; when none holds them all, those
// holding any. Hits are ordered by score, then newest first, then by kind
// and id. An empty query, or one of stop words only, finds nothing.
func (l *Library) Search(ctx context.Context, q string, o SearchOptions) ([]Hit, error) {
	if o.Limit <= 0 {
		o.Limit = 20
	}
	terms := l.queryTerms(q)
	if len(terms) == 0 {
		return nil, nil
	}
	for {
		l.mu.RLock()
		if !l.dirty {
			break
		}
		l.mu.RUnlock()
		l.mu.Lock()
		var err error
		if l.dirty {
			err = l.rebuildLocked()
		}
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	defer l.mu.RUnlock()
	size := max(len(l.docs), 1)
	scores, err := searchIndex(ctx, l.idx, searchQuery(terms, true, o.Kind), size)
	if err == nil && len(scores) == 0 {
		scores, err = searchIndex(ctx, l.idx, searchQuery(terms, false, o.Kind), size)
	}
	if err != nil {
		return nil, err
	}
	hits := make([]Hit, 0, len(scores))
	for key, score := range scores {
		if d, ok := l.docs[key]; ok {
			hits = append(hits, Hit{Document: d, Score: score})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		switch {
		case a.Score != b.Score:
			if a.Score > b.Score {
				return -1
			}
			return 1
		case !a.When.Equal(b.When):
			return b.When.Compare(a.When)
		}
		return compareKeys(a.Document, b.Document)
	})
	if len(hits) > o.Limit {
		hits = hits[:o.Limit]
	}
	for i := range hits {
		hits[i].Snippet = l.snippet(hits[i].Document, terms)
	}
	return hits, nil
}

// compareKeys orders documents by kind, then numerically by id when both
// are numbers.
func compareKeys(a, b Document) int {
	if a.Kind != b.Kind {
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	}
	x, errX := strconv.ParseInt(a.ID, 10, 64)
	y, errY := strconv.ParseInt(b.ID, 10, 64)
	if errX == nil && errY == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}
