package yamlpos_test

import (
	"errors"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
	"github.com/understudy/understudy/internal/yamlpos"
)

const doc = `name: drill
steps:
  - {at: 1s, provider: primary}
  - at: 2s
    fault: {kind: hang}
`

func TestPositions(t *testing.T) {
	f, err := parser.ParseBytes([]byte(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	m := yamlpos.New(nil)
	m.Walk(f.Docs[0].Body, "")
	for _, tt := range []struct {
		path       string
		line, col  int
		written    bool
		wantLookup bool
	}{
		{"name", 1, 7, true, true},
		{"steps[0].provider", 3, 24, true, true},
		{"steps[1]", 4, 5, true, true},
		{"steps[1].fault.kind", 5, 19, true, true},
		{"steps[1].fault.count", 5, 5, false, true}, // missing: its mapping's position
		{"nothing", 0, 0, false, false},
	} {
		p, ok := m.Lookup(tt.path)
		if ok != tt.wantLookup || (ok && (p.Line != tt.line || p.Column != tt.col)) || m.Has(tt.path) != tt.written {
			t.Errorf("%s: got %v %v (written %v), want %d:%d %v (written %v)", tt.path, p, ok, m.Has(tt.path), tt.line, tt.col, tt.wantLookup, tt.written)
		}
	}
}

func TestLocate(t *testing.T) {
	f, err := parser.ParseBytes([]byte(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	m := yamlpos.New(nil)
	m.Walk(f.Docs[0].Body, "")
	var v struct {
		Name  string
		Steps []struct {
			At       int
			Provider string
			Fault    struct{ Kind string }
		}
	}
	err = yaml.UnmarshalWithOptions([]byte(doc), &v, yaml.Strict())
	if err == nil {
		t.Fatal("decoding a duration into an int succeeded")
	}
	pr := m.Locate(err)
	if pr.Line != 3 || pr.Field != "steps[0].at" || pr.Message != "expected an integer, got a string" {
		t.Errorf("got %+v", pr)
	}
	if pr := m.Locate(errors.New("plain")); pr.Line != 0 || pr.Message != "plain" {
		t.Errorf("plain error: %+v", pr)
	}
	for _, tt := range [][2]string{{"a[1].b[2]", "a[1].b"}, {"a[1].b", "a[1]"}, {"a[1]", "a"}, {"a", ""}} {
		if got := yamlpos.ParentPath(tt[0]); got != tt[1] {
			t.Errorf("ParentPath(%s) = %q, want %q", tt[0], got, tt[1])
		}
	}
}
