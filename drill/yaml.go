package drill

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
	"github.com/understudy/understudy/config"
)

// FieldError is one problem in a plan, with where it is.
type FieldError struct {
	File         string // the plan's file name as given
	Line, Column int    // from 1; 0 when unknown
	Field        string // e.g. steps[1].fault.kind; "" for a YAML syntax error
	Message      string
}

// Error formats the problem as file:line:col: field: message, leaving out
// the parts that are unknown.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// PlanError holds every problem found in a plan, in file order.
type PlanError struct {
	Errors []FieldError
}

func (e *PlanError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// position is a place in the plan file.
type position struct{ line, col int }

// source remembers where each field of a plan was written, so that problems
// found after decoding point at the right line.
type source struct {
	file    string
	pos     map[string]position // field path → its value (or its key for lists and mappings)
	byToken map[position]string // token → field path, to name a decoder error's field
}

func newSource(file string) *source {
	return &source{file: file, pos: map[string]position{}, byToken: map[position]string{}}
}

// fieldError is a problem at path, located at path or its nearest written
// ancestor.
func (s *source) fieldError(path, format string, args ...any) FieldError {
	fe := FieldError{File: s.file, Field: path, Message: fmt.Sprintf(format, args...)}
	for p := path; p != ""; p = parentPath(p) {
		if at, ok := s.pos[p]; ok {
			fe.Line, fe.Column = at.line, at.col
			break
		}
	}
	return fe
}

// has reports whether path was written in the file.
func (s *source) has(path string) bool {
	_, ok := s.pos[path]
	return ok
}

// parentPath drops the last element: steps[0].fault → steps[0] → steps → "".
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

// maxWalkDepth bounds the walk; a plan is far shallower.
const maxWalkDepth = 16

// walk records the positions of n and everything under it.
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
	if key == nil {
		return
	}
	child := key.Value
	if path != "" {
		child = path + "." + key.Value
	}
	switch unwrap(mv.Value).(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode, *ast.NullNode, nil:
		s.record(child, tokenPos(mv.Key))
	default:
		s.record(child, tokenPos(mv.Value))
	}
	s.recordToken(mv.Key, child)
	s.recordToken(mv.Value, child)
	s.walk(mv.Value, child, depth+1)
}

func (s *source) record(path string, p position) {
	if _, ok := s.pos[path]; !ok && p.line > 0 {
		s.pos[path] = p
	}
}

func (s *source) recordToken(n ast.Node, path string) {
	if p := tokenPos(n); p.line > 0 {
		if _, ok := s.byToken[p]; !ok {
			s.byToken[p] = path
		}
	}
}

func tokenPos(n ast.Node) position {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return position{}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return position{}
	}
	return position{tk.Position.Line, tk.Position.Column}
}

// startPos is where an element of a list begins: the first key of a block
// mapping, else the node's own token.
func startPos(n ast.Node) position {
	if m, ok := unwrap(n).(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return tokenPos(m.Values[0].Key)
	}
	return tokenPos(n)
}

func unwrap(n ast.Node) ast.Node {
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

// decodeError turns an error of the YAML parser or decoder into a
// *PlanError with the line, the column and, when known, the field.
func (s *source) decodeError(err error) error {
	fe := FieldError{File: s.file, Message: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		fe.Message = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p := position{tk.Position.Line, tk.Position.Column}
			fe.Line, fe.Column = p.line, p.col
			fe.Field = s.byToken[p]
		}
	}
	var te *yaml.TypeError
	var ue *yaml.UnknownFieldError
	switch {
	case errors.As(err, &te):
		fe.Message = fmt.Sprintf("expected %s, got %s", goKind(te.DstType), goKind(te.SrcType))
	case errors.As(err, &ue):
		// The token is the unknown key: its path is the field that does
		// not exist; name its parent and say which key.
		fe.Field = parentPath(fe.Field)
	}
	return &PlanError{Errors: []FieldError{fe}}
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
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return goKind(t.Elem())
	default:
		return t.String()
	}
}

// nodeError is an error the decoder passes through with its token, so that
// the line, the column and the field can be reported.
func nodeError(n ast.Node, msg string) error {
	var tk *token.Token
	if n != nil {
		tk = n.GetToken()
	}
	if tk == nil {
		return errors.New(msg)
	}
	return &yaml.SyntaxError{Message: msg, Token: tk}
}

// Duration is a time.Duration written as "2s", "150ms" or "1m30s": the
// configuration's own type, so plans and configs read durations alike.
type Duration = config.Duration

// Percent is a share from 0 to 1, written "99%" or 0.99.
type Percent float64

// String writes the share as a percentage: "99%", "99.5%".
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p)*100, 'f', -1, 64) + "%"
}

// UnmarshalYAML reads "99.5%" or a number from 0 to 1.
func (p *Percent) UnmarshalYAML(node ast.Node) error {
	node = unwrap(node)
	scalar, ok := node.(ast.ScalarNode)
	if !ok {
		return nodeError(node, "expected a share such as 99% or 0.99")
	}
	var f float64
	switch v := scalar.GetValue().(type) {
	case string:
		num, isPct := strings.CutSuffix(strings.TrimSpace(v), "%")
		x, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if !isPct || err != nil {
			return nodeError(node, fmt.Sprintf("invalid share %q: write a percentage such as 99%% or a number from 0 to 1", v))
		}
		f = x / 100
	case int64:
		f = float64(v)
	case uint64:
		f = float64(v)
	case float64:
		f = v
	default:
		return nodeError(node, "expected a share such as 99% or 0.99")
	}
	if f < 0 || f > 1 {
		return nodeError(node, fmt.Sprintf("share %v is outside 0%%–100%%: write 99%% or 0.99", scalar.GetValue()))
	}
	*p = Percent(f)
	return nil
}
