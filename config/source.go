package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Position is a place in the file; Line and Column count from 1.
type Position struct {
	Line, Column int
}

// source remembers where each field of a parsed Config came from, so that
// problems found after decoding still point at the right line.
type source struct {
	file string
	// pos maps a field path (routes[0].tiers[1][0].provider) to the position of
	// its value, or of its key when the value is a list or a mapping.
	pos map[string]Position
	// byToken maps the position of every key and value token to its field
	// path, to name the field of an error the decoder reports by token.
	byToken map[Position]string
	// problems were found while parsing (environment expansion, literal
	// secrets) and are reported by Validate together with the rest.
	problems []FieldError
}

func newSource(file string) *source {
	return &source{file: file, pos: map[string]Position{}, byToken: map[Position]string{}}
}

// has reports whether path was written in the file.
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.pos[path]
	return ok
}

// lookup finds the position of path, or of its nearest ancestor written in
// the file (a missing field points at the element that lacks it).
func (s *source) lookup(path string) (Position, bool) {
	if s == nil {
		return Position{}, false
	}
	for path != "" {
		if p, ok := s.pos[path]; ok {
			return p, true
		}
		path = parentPath(path)
	}
	return Position{}, false
}

// fieldError builds a FieldError located at path.
func (s *source) fieldError(path, value, msg string) FieldError {
	fe := FieldError{Field: path, Value: value, Message: msg}
	if s != nil {
		fe.File = s.file
		if p, ok := s.lookup(path); ok {
			fe.Line, fe.Column = p.Line, p.Column
		}
	}
	return fe
}

// parentPath drops the last element of a field path:
// routes[0].tiers[1] → routes[0].tiers → routes[0] → routes → "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// fractionPaths are the float fields that also accept a percentage ("20%").
var fractionPaths = regexp.MustCompile(`^(routes\[\d+\]\.retry\.budget|providers\[\d+\]\.breaker\.failure_rate|routes\[\d+\]\.slo\.(availability|latency_target)|incidents\.\w+\.threshold|faq\.threshold)$`)

// maxWalkDepth bounds the walk; the Config is far shallower, and deeper
// nodes (from a hostile or broken file) only need no positions.
const maxWalkDepth = 32

// walk records the positions of n and everything under it, and rewrites
// percentages of fraction fields into numbers.
func (s *source) walk(n ast.Node, path string, depth int) {
	if n == nil || depth > maxWalkDepth {
		return
	}
	switch v := n.(type) {
	case *ast.TagNode:
		s.walk(v.Value, path, depth+1)
	case *ast.AnchorNode:
		s.walk(v.Value, path, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			s.walkEntry(mv, path, depth)
		}
	case *ast.MappingValueNode:
		s.walkEntry(v, path, depth)
	case *ast.SequenceNode:
		for i, e := range v.Values {
			child := path + "[" + strconv.Itoa(i) + "]"
			s.record(child, startPos(e))
			s.recordToken(e, child)
			s.walk(e, child, depth+1)
		}
	}
}

func (s *source) walkEntry(mv *ast.MappingValueNode, path string, depth int) {
	if mv == nil || mv.Key == nil {
		return
	}
	key := mv.Key.GetToken()
	if key == nil || key.Value == "<<" {
		return
	}
	child := joinPath(path, key.Value)
	if fractionPaths.MatchString(child) {
		mv.Value = fractionNode(mv.Value)
	}
	switch unwrapTag(mv.Value).(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode, *ast.NullNode, nil:
		s.record(child, tokenPos(mv.Key))
	default:
		s.record(child, tokenPos(mv.Value))
	}
	s.recordToken(mv.Key, child)
	s.recordToken(mv.Value, child)
	s.walk(mv.Value, child, depth+1)
}

func (s *source) record(path string, p Position) {
	if _, ok := s.pos[path]; !ok && p.Line > 0 {
		s.pos[path] = p
	}
}

func (s *source) recordToken(n ast.Node, path string) {
	if p := tokenPos(n); p.Line > 0 {
		if _, ok := s.byToken[p]; !ok {
			s.byToken[p] = path
		}
	}
}

func tokenPos(n ast.Node) Position {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return Position{}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Position{}
	}
	return Position{Line: tk.Position.Line, Column: tk.Position.Column}
}

// startPos is where an element of a list begins: the first key of a block
// mapping (its own token is the first colon), otherwise the node's token.
func startPos(n ast.Node) Position {
	if m, ok := unwrapTag(n).(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return tokenPos(m.Values[0].Key)
	}
	return tokenPos(n)
}

// decodeError turns an error from the YAML parser or decoder into a
// *ValidationError with file, line, column and, when known, the field.
func (s *source) decodeError(err error) error {
	fe := FieldError{File: s.file, Message: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		fe.Message = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p := Position{Line: tk.Position.Line, Column: tk.Position.Column}
			fe.Line, fe.Column = p.Line, p.Column
			fe.Field = s.byToken[p]
		}
	}
	var te *yaml.TypeError
	var ue *yaml.UnknownFieldError
	switch {
	case errors.As(err, &te):
		fe.Message = fmt.Sprintf("expected %s, got %s", goKind(te.DstType), goKind(te.SrcType))
		if te.DstType != nil && te.DstType.Kind() == reflect.Float64 && fractionPaths.MatchString(fe.Field) {
			fe.Message += " (write 0.2 or 20%)"
		}
	case errors.As(err, &ue):
		fe.Field = parentPath(fe.Field)
	}
	return &ValidationError{Errors: []FieldError{fe}}
}

// goKind names a Go type the way a YAML author would.
func goKind(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	default:
		return t.String()
	}
}
