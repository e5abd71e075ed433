package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a configuration, with where it is.
type FieldError struct {
	// File is the name given to Parse or Load; "" for a Config built in Go.
	File string
	// Line and Column locate the value in File, both from 1; 0 when unknown.
	Line, Column int
	// Field is the path of the offending field, e.g. routes[0].tiers[1][0].provider;
	// "" for a YAML syntax error that belongs to no field.
	Field string
	// Value is the offending value as written, when it helps; never a secret.
	Value string
	// Message says what is wrong and, when it is not obvious, how to fix it.
	Message string
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
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ValidationError holds every problem found in a configuration. Parse returns
// one (with a single entry) for YAML syntax, type and unknown-field errors;
// Validate returns one with all the problems it found.
type ValidationError struct {
	Errors []FieldError
}

// Error prints one problem per line, in file order.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders problems by position; those without one keep their
// order and come last.
func sortErrors(errs []FieldError) {
	slices.SortStableFunc(errs, func(a, b FieldError) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}
