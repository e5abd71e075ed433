package drill

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/internal/yamlpos"
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

// source remembers where each field of a plan was written, so that problems
// found after decoding point at the right line.
type source struct {
	file string
	*yamlpos.Map
}

func newSource(file string) *source { return &source{file: file, Map: yamlpos.New(nil)} }

// fieldError is a problem at path, located at path or its nearest written
// ancestor.
func (s *source) fieldError(path, format string, args ...any) FieldError {
	fe := FieldError{File: s.file, Field: path, Message: fmt.Sprintf(format, args...)}
	if at, ok := s.Lookup(path); ok {
		fe.Line, fe.Column = at.Line, at.Column
	}
	return fe
}

// has reports whether path was written in the file.
func (s *source) has(path string) bool { return s.Has(path) }

// walk records the positions of the plan's fields.
func (s *source) walk(n ast.Node, path string, _ int) { s.Walk(n, path) }

// decodeError turns an error of the YAML parser or decoder into a
// *PlanError with the line, the column and, when known, the field.
func (s *source) decodeError(err error) error {
	pr := s.Locate(err)
	return &PlanError{Errors: []FieldError{{File: s.file, Line: pr.Line, Column: pr.Column, Field: pr.Field, Message: pr.Message}}}
}

// unwrap returns the node under any tags and anchors.
func unwrap(n ast.Node) ast.Node { return yamlpos.UnwrapTag(n) }

// nodeError is an error the decoder passes through with its token, so that
// the line, the column and the field can be reported.
func nodeError(n ast.Node, msg string) error { return yamlpos.NodeError(n, msg) }

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
