package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDescribe checks `understudy check` output against a golden file; run
// go test ./config -run TestDescribe -update to rewrite it.
func TestDescribe(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		golden string
	}{
		{"example", "testdata/example.yaml", "testdata/example.describe.golden"},
		{"minimal", "", "testdata/minimal.describe.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Config
			if tt.file == "" {
				c = MustParse(t, validBase)
			} else {
				var err error
				if c, err = Load(tt.file, testEnv.get); err != nil {
					t.Fatalf("Load: %v", err)
				}
			}
			var buf bytes.Buffer
			c.Describe(&buf)
			got := buf.Bytes()
			if *update {
				if err := os.WriteFile(tt.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tt.golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant (%s)\n%s", got, filepath.Base(tt.golden), want)
			}
			for _, secret := range testEnv {
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("got secret value %q in the output", secret)
				}
			}
		})
	}
}

// TestExampleHasNoWarnings keeps the documented example clean.
func TestExampleHasNoWarnings(t *testing.T) {
	c, err := Load("testdata/example.yaml", testEnv.get)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("got warnings %s, want none", strings.Join(w, "; "))
	}
}

// TestReferenceExamples keeps the YAML in docs/configuration.md valid: the first
// block is a whole file, the others are fragments that must at least parse.
func TestReferenceExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("got no yaml blocks in docs/configuration.md")
	}
	for i, b := range blocks {
		src, _, _ := strings.Cut(b, "```")
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			c := MustParse(t, src)
			if i == 0 {
				if err := c.Validate(); err != nil {
					t.Errorf("got\n%v\nwant the minimal example to be valid", err)
				}
			}
		})
	}
}
