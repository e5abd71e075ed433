package lessons

import (
	"math"
	"testing"

	"github.com/understudy/understudy"
)

func TestCompare(t *testing.T) {
	one := func(string) float64 { return 1 }
	rareC := func(t string) float64 {
		if t == "c" {
			return 2
		}
		return 1
	}
	a := &signature{components: []string{"assistant", "provider:openai"}, cause: understudy.CauseTechnical,
		classes: []string{"first_token_timeout", "server_error"}, terms: []string{"a", "b", "c", "d"}}
	b := &signature{components: []string{"provider:openai"}, cause: understudy.CauseTechnical,
		classes: []string{"server_error"}, terms: []string{"c", "d", "e"}}
	unknown := &signature{components: []string{"x"}, cause: understudy.CauseUnknown}
	tests := []struct {
		name                                    string
		a, b                                    *signature
		idf                                     func(string) float64
		components, cause, classes, text, score float64
		reasons                                 int
	}{
		// 0.35×1/2 + 0.20×1 + 0.20×1/2 + 0.25×2/5
		{"uniform weights", a, b, one, 0.5, 1, 0.5, 0.4, 0.575, 4},
		// Text: (2+1) / (1+1+2+1+1)
		{"a rare shared word weighs more", a, b, rareC, 0.5, 1, 0.5, 0.5, 0.6, 4},
		{"itself", a, a, one, 1, 1, 1, 1, 1, 4},
		{"unknown causes are not a shared cause", unknown, unknown, one, 1, 0, 0, 0, 0.35, 1},
		{"nothing in common", a, unknown, one, 0, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compare(tt.a, tt.b, tt.idf)
			got := []float64{m.Components, m.Cause, m.Classes, m.Text, m.Score}
			want := []float64{tt.components, tt.cause, tt.classes, tt.text, tt.score}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-12 {
					t.Errorf("got components, cause, classes, text, score %v, want %v", got, want)
					break
				}
			}
			if len(m.Reasons) != tt.reasons {
				t.Errorf("got reasons %q, want %d", m.Reasons, tt.reasons)
			}
		})
	}
}
