// Package yamlpos remembers where each field of a YAML document was
// written, so that problems found after decoding — and errors the decoder
// reports by token — name the file's line, column and field path
// (routes[0].tiers[1][0].provider). The configuration and drill plans share
// it.
package yamlpos

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Position is a place in the file; Line and Column count from 1.
type Position struct {
	Line, Column int
}

// MaxDepth bounds the walk; real documents are far shallower, and deeper
// nodes (from a hostile or broken file) only get no positions.
const MaxDepth = 32

// Map is where each field path of one document was written.
type Map struct {
	// pos maps a field path to the position of its value, or of its key
	// when the value is a list or a mapping.
	pos map[string]Position
	// byToken maps the position of every key and value token to its field
	// path, to name the field of an error the decoder reports by token.
	byToken map[Position]string
	// rewrite, when set, may replace an entry's value before it is walked
	// (e.g. "20%" into 0.2 for fraction fields).
	rewrite func(path string, value ast.Node) ast.Node
}

// New returns an empty Map. rewrite, when not nil, is called with each
// mapping entry's path and value and returns the value to keep.
func New(rewrite func(path string, value ast.Node) ast.Node) *Map {
	return &Map{pos: map[string]Position{}, byToken: map[Position]string{}, rewrite: rewrite}
}

// Has reports whether path was written in the file.
func (m *Map) Has(path string) bool {
	if m == nil {
		return false
	}
	_, ok := m.pos[path]
	return ok
}

// Lookup finds the position of path, or of its nearest ancestor written in
// the file (a missing field points at the element that lacks it).
func (m *Map) Lookup(path string) (Position, bool) {
	if m == nil {
		return Position{}, false
	}
	for path != "" {
		if p, ok := m.pos[path]; ok {
			return p, true
		}
		path = ParentPath(path)
	}
	return Position{}, false
}

// ParentPath drops the last element of a field path:
// routes[0].tiers[1] → routes[0].tiers → routes[0] → routes → "".
func ParentPath(path string) string {
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

// JoinPath appends a mapping key to a field path.
func JoinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// Walk records the positions of n and everything under it; path is n's.
func (m *Map) Walk(n ast.Node, path string) { m.walk(n, path, 0) }

func (m *Map) walk(n ast.Node, path string, depth int) {
	if n == nil || depth > MaxDepth {
		return
	}
	switch v := n.(type) {
	case *ast.TagNode:
		m.walk(v.Value, path, depth+1)
	case *ast.AnchorNode:
		m.walk(v.Value, path, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			m.walkEntry(mv, path, depth)
		}
	case *ast.MappingValueNode:
		m.walkEntry(v, path, depth)
	case *ast.SequenceNode:
		for i, e := range v.Values {
			child := path + "[" + strconv.Itoa(i) + "]"
			m.record(child, startPos(e))
			m.recordToken(e, child)
			m.walk(e, child, depth+1)
		}
	}
}

func (m *Map) walkEntry(mv *ast.MappingValueNode, path string, depth int) {
	if mv == nil || mv.Key == nil {
		return
	}
	key := mv.Key.GetToken()
	if key == nil || key.Value == "<<" {
		return
	}
	child := JoinPath(path, key.Value)
	if m.rewrite != nil {
		mv.Value = m.rewrite(child, mv.Value)
	}
	switch UnwrapTag(mv.Value).(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode, *ast.NullNode, nil:
		m.record(child, TokenPos(mv.Key))
	default:
		m.record(child, TokenPos(mv.Value))
	}
	m.recordToken(mv.Key, child)
	m.recordToken(mv.Value, child)
	m.walk(mv.Value, child, depth+1)
}

func (m *Map) record(path string, p Position) {
	if _, ok := m.pos[path]; !ok && p.Line > 0 {
		m.pos[path] = p
	}
}

func (m *Map) recordToken(n ast.Node, path string) {
	if p := TokenPos(n); p.Line > 0 {
		if _, ok := m.byToken[p]; !ok {
			m.byToken[p] = path
		}
	}
}

// TokenPos is the position of n's token; zero when it has none.
func TokenPos(n ast.Node) Position {
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
	if m, ok := UnwrapTag(n).(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return TokenPos(m.Values[0].Key)
	}
	return TokenPos(n)
}

// Problem is a decoding error located in the file.
type Problem struct {
	Line, Column int    // 0 when unknown
	Field        string // "" when unknown
	Message      string
	// Type is the decoder's type mismatch, when that is what it was.
	Type *yaml.TypeError
}

// Locate turns an error from the YAML parser or decoder into a Problem with
// the line, column and, when known, the field; a type mismatch is said the
// way a YAML author would ("expected an integer, got a string"), an
// unknown field names the mapping that does not have it.
func (m *Map) Locate(err error) Problem {
	pr := Problem{Message: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		pr.Message = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p := Position{Line: tk.Position.Line, Column: tk.Position.Column}
			pr.Line, pr.Column = p.Line, p.Column
			if m != nil {
				pr.Field = m.byToken[p]
			}
		}
	}
	var te *yaml.TypeError
	var ue *yaml.UnknownFieldError
	switch {
	case errors.As(err, &te):
		pr.Message = fmt.Sprintf("expected %s, got %s", GoKind(te.DstType), GoKind(te.SrcType))
		pr.Type = te
	case errors.As(err, &ue):
		pr.Field = ParentPath(pr.Field)
	}
	return pr
}

// GoKind names a Go type the way a YAML author would.
func GoKind(t reflect.Type) string {
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
	case reflect.Pointer:
		return GoKind(t.Elem())
	default:
		return t.String()
	}
}

// UnwrapTag returns the node under any tags and anchors.
func UnwrapTag(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		default:
			return n
		}
	}
}

// NodeError is an error the decoder passes through with n's token, so that
// Locate can report its line, column and field.
func NodeError(n ast.Node, msg string) error {
	var tk *token.Token
	if n != nil {
		tk = n.GetToken()
	}
	if tk == nil {
		return errors.New(msg)
	}
	return &yaml.SyntaxError{Message: msg, Token: tk}
}
