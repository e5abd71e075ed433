package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzParse checks that no input makes Parse, Validate, Describe or Warnings
// panic, and that Parse fails only with a *ValidationError.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		string(example),
		validBase,
		"",
		"listen: [\n",
		"routes:\n  - tiers: [[{weight: x}]]\n",
		"keys: [{name: a, key: ${A}}]\nlisten: ${L}$$\n",
		"a: &x [*x]\n",
		"<<: {listen: x}\n",
		"routes: [{retry: {budget: 20%}}]\nproviders: [{breaker: {failure_rate: '%'}}]\n",
		"---\n---\n",
		"!!map {listen: !!str 1}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data), "f.yaml", testEnv.get)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got error %v (%T), want a *ValidationError", err, err)
			}
			return
		}
		_ = c.Validate()
		c.Describe(io.Discard)
		_ = c.Warnings()
	})
}
