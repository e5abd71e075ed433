package config

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// UnmarshalYAML reads a duration such as "2s", "150ms" or "1m30s". A bare 0
// is accepted; any other bare number is refused because it has no unit.
// null leaves the field at zero (its default).
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	node = unwrapTag(node)
	scalar, ok := node.(ast.ScalarNode)
	if !ok {
		return nodeError(node, "expected a duration such as 2s or 150ms, got "+nodeKind(node))
	}
	switch v := scalar.GetValue().(type) {
	case nil:
		*d = 0
		return nil
	case string:
		if err := d.UnmarshalText([]byte(v)); err != nil {
			return nodeError(node, err.Error())
		}
		return nil
	case int64, uint64, float64:
		if fmt.Sprint(v) == "0" {
			*d = 0
			return nil
		}
		return nodeError(node, fmt.Sprintf("duration %v has no unit: write %vs or %vms", v, v, v))
	default:
		return nodeError(node, "expected a duration such as 2s or 150ms, got "+nodeKind(node))
	}
}

// UnmarshalText parses a Go duration string ("2s", "150ms", "1m30s").
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number with a unit such as 2s, 150ms or 1m30s", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in the form String returns.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String is time.Duration's form without trailing zero units: "2m", "1h30m", "150ms".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML keeps the text as written in Ref. Parse then checks that it is
// a ${NAME} reference and expands it into Value; a literal secret is dropped
// from the Config (so nothing can print it) and reported by Validate.
func (s *Secret) UnmarshalYAML(node ast.Node) error {
	node = unwrapTag(node)
	scalar, ok := node.(ast.ScalarNode)
	if !ok {
		return nodeError(node, "expected a ${NAME} environment reference, got "+nodeKind(node))
	}
	switch v := scalar.GetValue().(type) {
	case nil:
		*s = Secret{}
	case string:
		*s = Secret{Ref: v}
	default:
		// A number or boolean is still a literal secret: refuse it the same way,
		// without echoing it, once the whole file is decoded.
		*s = Secret{Ref: fmt.Sprint(v)}
	}
	return nil
}

// HashKey is the SHA-256 of a client key. The gateway keeps and compares only
// hashes, never the keys themselves.
func HashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// Hash is HashKey of the key's expanded value.
func (k Key) Hash() [32]byte { return HashKey(k.Key.Value) }

// parseFraction reads "20%" as 0.2. ok is false when s is not a percentage.
func parseFraction(s string) (v float64, ok bool) {
	s = strings.TrimSpace(s)
	num, found := strings.CutSuffix(s, "%")
	if !found {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, false
	}
	return f / 100, true
}

// fractionNode rewrites a percentage scalar into a float node so that the
// decoder reads it into a float64 field. Other nodes are returned unchanged.
func fractionNode(n ast.Node) ast.Node {
	sn, ok := n.(*ast.StringNode)
	if !ok {
		return n
	}
	f, ok := parseFraction(sn.Value)
	if !ok {
		return n
	}
	tk := sn.GetToken()
	var pos *token.Position
	if tk != nil {
		pos = tk.Position
	}
	text := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(text, ".eE") {
		text += ".0" // "100%" is 1.0: a float token, or the decoder reads 0
	}
	return ast.Float(token.New(text, sn.Value, pos))
}

// nodeKind names a node's type the way a YAML author would.
func nodeKind(n ast.Node) string {
	if n == nil {
		return "nothing"
	}
	switch unwrapTag(n).Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.IntegerType:
		return "an integer"
	case ast.FloatType, ast.InfinityType, ast.NanType:
		return "a number"
	case ast.BoolType:
		return "a boolean"
	case ast.NullType:
		return "null"
	default:
		return "a string"
	}
}
