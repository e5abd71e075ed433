package config

import (
	"reflect"
	"regexp"

	"github.com/goccy/go-yaml/ast"
	"github.com/understudy/understudy/internal/yamlpos"
)

// source remembers where each field of a parsed Config came from, so that
// problems found after decoding still point at the right line.
type source struct {
	file string
	// pos holds each field path's position (routes[0].tiers[1][0].provider).
	pos *yamlpos.Map
	// problems were found while parsing (environment expansion, literal
	// secrets) and are reported by Validate together with the rest.
	problems []FieldError
}

func newSource(file string) *source {
	return &source{file: file, pos: yamlpos.New(func(path string, value ast.Node) ast.Node {
		// Fraction fields also take a percentage: "20%" is read as 0.2.
		if fractionPaths.MatchString(path) {
			return fractionNode(value)
		}
		return value
	})}
}

// has reports whether path was written in the file.
func (s *source) has(path string) bool {
	return s != nil && s.pos.Has(path)
}

// fieldError builds a FieldError located at path, or at its nearest
// ancestor written in the file.
func (s *source) fieldError(path, value, msg string) FieldError {
	fe := FieldError{Field: path, Value: value, Message: msg}
	if s != nil {
		fe.File = s.file
		if p, ok := s.pos.Lookup(path); ok {
			fe.Line, fe.Column = p.Line, p.Column
		}
	}
	return fe
}

// walk records the positions of n and everything under it, and rewrites
// percentages of fraction fields into numbers.
func (s *source) walk(n ast.Node, path string, _ int) { s.pos.Walk(n, path) }

// fractionPaths are the float fields that also accept a percentage ("20%").
var fractionPaths = regexp.MustCompile(`^(routes\[\d+\]\.retry\.budget|providers\[\d+\]\.breaker\.failure_rate|routes\[\d+\]\.slo\.(availability|latency_target)|incidents\.\w+\.threshold|faq\.threshold)$`)

// decodeError turns an error from the YAML parser or decoder into a
// *ValidationError with file, line, column and, when known, the field.
func (s *source) decodeError(err error) error {
	pr := s.pos.Locate(err)
	fe := FieldError{File: s.file, Line: pr.Line, Column: pr.Column, Field: pr.Field, Message: pr.Message}
	if pr.Type != nil && pr.Type.DstType != nil && pr.Type.DstType.Kind() == reflect.Float64 && fractionPaths.MatchString(fe.Field) {
		fe.Message += " (write 0.2 or 20%)"
	}
	return &ValidationError{Errors: []FieldError{fe}}
}

// tokenPos is the position of n's token.
func tokenPos(n ast.Node) yamlpos.Position { return yamlpos.TokenPos(n) }

// unwrapTag returns the node under any tags and anchors.
func unwrapTag(n ast.Node) ast.Node { return yamlpos.UnwrapTag(n) }

// nodeError is an error the decoder passes through with its token, so that
// Parse can report the line, the column and the field.
func nodeError(n ast.Node, msg string) error { return yamlpos.NodeError(n, msg) }
