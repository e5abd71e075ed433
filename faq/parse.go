package faq

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

var (
	// ErrMalformed is wrapped by every problem found in the content of a
	// FAQ file (syntax, missing question or answer, unknown field).
	ErrMalformed = errors.New("malformed FAQ")
	// ErrLanguage is wrapped when a file or entry names a language the
	// knowledge base has no analyzer for.
	ErrLanguage = errors.New("unsupported language")
	// ErrNoEntries is returned by New when no file yields an entry.
	ErrNoEntries = errors.New("no FAQ entries loaded")
)

// FileError is a problem with one FAQ file, at a line when known.
type FileError struct {
	File string // path of the file, as found under Options.Dir
	Line int    // 1-based; 0 when the problem is not at one line
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// entry is one question–answer pair as read from a file.
type entry struct {
	Questions []string // phrasings of the question; at least one
	Answer    string
	Lang      string // a supported language
	Tags      []string
	File      string
	Line      int // where the entry starts
}

// isFAQFile reports whether a file name is one the knowledge base reads.
func isFAQFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false // editor temporaries, Kubernetes' ..data
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".yaml", ".yml":
		return true
	}
	return false
}

// parseFile parses a FAQ file by its extension. Every problem found is
// returned (joined), each a *FileError; entries are nil when there is any.
func parseFile(path string, b []byte) ([]entry, error) {
	lang, err := langFromName(path)
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	if strings.ToLower(filepath.Ext(path)) == ".md" {
		return parseMarkdown(path, b, lang)
	}
	return parseYAML(path, b, lang)
}

// langTag is a file-name suffix that names a language: "fr", "en-GB".
var langTag = regexp.MustCompile(`^[A-Za-z]{2}([-_][A-Za-z]{2})?$`)

// langFromName is the language a file's name gives its entries: the suffix
// before the extension when it looks like a language tag (faq.fr.yaml),
// else "en".
func langFromName(path string) (string, error) {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	suffix := strings.TrimPrefix(filepath.Ext(base), ".")
	if suffix == "" || !langTag.MatchString(suffix) {
		return "en", nil
	}
	return checkLang(suffix)
}

// checkLang normalizes a language tag to its primary subtag and checks that
// it is supported.
func checkLang(tag string) (string, error) {
	l := normalizeLang(tag)
	if _, ok := analyzers[l]; !ok {
		return "", fmt.Errorf("%w %q (supported: %s)", ErrLanguage, tag, strings.Join(supportedLangs(), ", "))
	}
	return l, nil
}

// normalizeLang is the lower-case primary subtag of a language tag:
// "fr-CA" → "fr".
func normalizeLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return tag
}

// yamlEntry is one element of a YAML FAQ file.
type yamlEntry struct {
	Question any      `yaml:"question"` // a string or a list of strings
	Answer   string   `yaml:"answer"`
	Lang     string   `yaml:"lang"`
	Tags     []string `yaml:"tags"`
}

// parseYAML parses a list of {question, answer, lang, tags}.
func parseYAML(path string, b []byte, lang string) (entries []entry, err error) {
	defer func() {
		// Files are parsed again on every change: a bug in the YAML library
		// must not take the running gateway down with it.
		if p := recover(); p != nil {
			entries, err = nil, &FileError{File: path, Err: fmt.Errorf("%w: cannot parse YAML: %v", ErrMalformed, p)}
		}
	}()
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, yamlError(path, err)
	}
	var body ast.Node
	for i, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, &FileError{File: path, Line: line(doc.Body), Err: fmt.Errorf("%w: only one YAML document is allowed (document %d)", ErrMalformed, i+1)}
		}
		body = doc.Body
	}
	if body == nil {
		return nil, nil // an empty file has no entries
	}
	seq, ok := body.(*ast.SequenceNode)
	if !ok {
		return nil, &FileError{File: path, Line: line(body), Err: fmt.Errorf("%w: expected a list of entries (- question: …\\n  answer: …), got %s", ErrMalformed, body.Type())}
	}
	var errs []error
	for i, n := range seq.Values {
		e, err := yamlEntryAt(path, n, i+1, lang)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return entries, nil
}

// yamlEntryAt decodes and checks the n-th entry of a YAML file.
func yamlEntryAt(path string, node ast.Node, n int, lang string) (entry, error) {
	at := startLine(node)
	fail := func(key, format string, args ...any) error {
		return &FileError{File: path, Line: keyLine(node, key, at), Err: fmt.Errorf("%w: entry %d: %s", ErrMalformed, n, fmt.Sprintf(format, args...))}
	}
	var y yamlEntry
	if err := yaml.NodeToValue(node, &y, yaml.DisallowUnknownField()); err != nil {
		l, msg := yamlProblem(err)
		if l == 0 {
			l = at
		}
		return entry{}, &FileError{File: path, Line: l, Err: fmt.Errorf("%w: entry %d: %s", ErrMalformed, n, msg)}
	}
	e := entry{File: path, Line: at, Lang: lang, Answer: strings.TrimSpace(y.Answer)}
	switch q := y.Question.(type) {
	case nil:
		return entry{}, fail("", "no question")
	case string:
		e.Questions = []string{q}
	case []any:
		for i, p := range q {
			s, ok := p.(string)
			if !ok {
				return entry{}, fail("question", "question %d: expected a string, got %v", i+1, kindOf(p))
			}
			e.Questions = append(e.Questions, s)
		}
	default:
		return entry{}, fail("question", "question: expected a string or a list of strings, got %v", kindOf(q))
	}
	for i, q := range e.Questions {
		e.Questions[i] = strings.TrimSpace(q)
		if e.Questions[i] == "" {
			return entry{}, fail("question", "empty question")
		}
	}
	if len(e.Questions) == 0 {
		return entry{}, fail("", "no question")
	}
	if e.Answer == "" {
		return entry{}, fail("answer", "question %q has no answer", e.Questions[0])
	}
	if y.Lang != "" {
		l, err := checkLang(y.Lang)
		if err != nil {
			return entry{}, &FileError{File: path, Line: keyLine(node, "lang", at), Err: fmt.Errorf("entry %d: %w", n, err)}
		}
		e.Lang = l
	}
	e.Tags = cleanTags(y.Tags)
	return e, nil
}

// yamlError turns an error of the YAML parser into a *FileError with the
// line where it is.
func yamlError(path string, err error) *FileError {
	l, msg := yamlProblem(err)
	return &FileError{File: path, Line: l, Err: fmt.Errorf("%w: %s", ErrMalformed, msg)}
}

// yamlProblem is the line (0 if unknown) and message of an error of the
// YAML parser or decoder.
func yamlProblem(err error) (int, string) {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return 0, err.Error()
	}
	l := 0
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		l = tk.Position.Line
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		field := "value"
		if te.StructFieldName != nil {
			_, f, _ := strings.Cut(*te.StructFieldName, ".")
			field = strings.ToLower(f)
		}
		return l, fmt.Sprintf("%s: expected %s, got %s", field, typeName(te.DstType), typeName(te.SrcType))
	}
	return l, ye.GetMessage()
}

// typeName names a Go type the way a YAML author would.
func typeName(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Bool:
		return "true or false"
	default:
		return "a number"
	}
}

// line is where a node is (0 if unknown).
func line(n ast.Node) int {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// startLine is where an element of a list begins: the first key of a block
// mapping (the mapping's own token is its first colon), else the node's.
func startLine(n ast.Node) int {
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return line(m.Values[0].Key)
	}
	return line(n)
}

// keyLine is the line of the value of key in a mapping node, else def.
func keyLine(n ast.Node, key string, def int) int {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return def
	}
	for _, mv := range m.Values {
		if k, ok := mv.Key.(ast.ScalarNode); ok && fmt.Sprint(k.GetValue()) == key {
			if l := line(mv.Value); l > 0 {
				return l
			}
		}
	}
	return def
}

// kindOf names a decoded YAML value the way a YAML author would.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return "true or false"
	default:
		return "a number"
	}
}

// cleanTags trims tags and drops empty ones.
func cleanTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// parseMarkdown parses a Markdown FAQ: each level-2 heading ("## How do I…?")
// starts an entry whose answer is the text up to the next level-1 or level-2
// heading. Deeper headings, lists, code and so on belong to the answer, and
// headings inside fenced code blocks are text. A front matter block between
// "---" lines at the top (or a "lang:" line before the first heading) may
// set "lang: fr" and "tags: a, b" for every entry of the file; other keys
// are ignored. A level-1 heading is a title, not an entry.
func parseMarkdown(path string, b []byte, lang string) ([]entry, error) {
	p := mdParser{path: path, lang: lang}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), len(b)+1)
	n := 0
	for sc.Scan() {
		n++
		p.line(n, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	if p.state == mdFrontMatter {
		p.fail(p.frontStart, "front matter opened with --- is not closed")
	}
	p.flush()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	for i := range p.entries {
		p.entries[i].Lang, p.entries[i].Tags = p.lang, p.tags
	}
	return p.entries, nil
}

type mdState int

const (
	mdStart       mdState = iota // before anything but blank lines
	mdPreamble                   // after the front matter or other text, before the first entry
	mdFrontMatter                // inside --- … ---
	mdEntry                      // inside an entry
)

// mdParser holds the state of parseMarkdown, one line at a time.
type mdParser struct {
	path       string
	lang       string
	tags       []string
	state      mdState
	frontStart int
	fence      string // the marker of the open code fence, "" when none

	cur     *entry
	answer  []string
	entries []entry
	errs    []error
}

func (p *mdParser) fail(at int, format string, args ...any) {
	p.errs = append(p.errs, &FileError{File: p.path, Line: at, Err: fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))})
}

func (p *mdParser) line(n int, s string) {
	trimmed := strings.TrimSpace(s)
	switch p.state {
	case mdStart:
		if trimmed == "" {
			return
		}
		if trimmed == "---" {
			p.state, p.frontStart = mdFrontMatter, n
			return
		}
		p.state = mdPreamble
	case mdFrontMatter:
		if trimmed == "---" || trimmed == "..." {
			p.state = mdPreamble
			return
		}
		p.meta(n, trimmed)
		return
	}
	if p.fence != "" {
		if strings.HasPrefix(trimmed, p.fence) {
			p.fence = ""
		}
		p.text(s)
		return
	}
	if f := fenceMarker(s); f != "" {
		p.fence = f
		p.text(s)
		return
	}
	level, title := atxHeading(s)
	switch {
	case level == 1:
		p.flush()
		p.state = mdPreamble
	case level == 2:
		p.flush()
		p.state = mdEntry
		if title == "" {
			p.fail(n, "empty question heading")
			return
		}
		p.cur = &entry{File: p.path, Line: n, Questions: []string{title}}
	case p.state == mdPreamble:
		if k, _, ok := strings.Cut(trimmed, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "lang") {
			p.meta(n, trimmed)
		}
	default:
		p.text(s)
	}
}

// meta reads one "key: value" line of front matter.
func (p *mdParser) meta(n int, s string) {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return
	}
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	switch strings.ToLower(strings.TrimSpace(k)) {
	case "lang":
		l, err := checkLang(v)
		if err != nil {
			p.errs = append(p.errs, &FileError{File: p.path, Line: n, Err: err})
			return
		}
		p.lang = l
	case "tags":
		p.tags = cleanTags(strings.Split(strings.Trim(v, "[]"), ","))
		for i, t := range p.tags {
			p.tags[i] = strings.Trim(t, `"'`)
		}
	}
}

func (p *mdParser) text(s string) {
	if p.cur != nil {
		p.answer = append(p.answer, s)
	}
}

// flush ends the current entry.
func (p *mdParser) flush() {
	if p.cur == nil {
		return
	}
	p.cur.Answer = strings.TrimSpace(strings.Join(p.answer, "\n"))
	if p.cur.Answer == "" {
		p.fail(p.cur.Line, "question %q has no answer (the text up to the next ## heading)", p.cur.Questions[0])
	} else {
		p.entries = append(p.entries, *p.cur)
	}
	p.cur, p.answer = nil, nil
}

// atxHeading is the level and text of an ATX heading line ("## Title ##"),
// 0 when the line is not one.
func atxHeading(s string) (int, string) {
	t := strings.TrimLeft(s, " ")
	if len(s)-len(t) > 3 {
		return 0, "" // indented code
	}
	level := len(t) - len(strings.TrimLeft(t, "#"))
	if level == 0 || level > 6 {
		return 0, ""
	}
	rest := t[level:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, "" // "#hashtag"
	}
	rest = strings.TrimSpace(rest)
	if closed := strings.TrimRight(rest, "#"); closed == "" || strings.HasSuffix(closed, " ") {
		rest = strings.TrimSpace(closed)
	}
	return level, rest
}

// fenceMarker is the opening marker of a fenced code block (``` or ~~~),
// "" when the line does not open one.
func fenceMarker(s string) string {
	t := strings.TrimLeft(s, " ")
	if len(s)-len(t) > 3 {
		return ""
	}
	for _, c := range []string{"`", "~"} {
		n := len(t) - len(strings.TrimLeft(t, c))
		if n >= 3 {
			return strings.Repeat(c, n)
		}
	}
	return ""
}
