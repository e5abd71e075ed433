package faq

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// MustNew returns a KB of opts, closed when the test ends.
func MustNew(tb testing.TB, opts Options) *KB {
	tb.Helper()
	k, err := New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(k.Close)
	return k
}

// MustWrite writes content to name in dir.
func MustWrite(tb testing.TB, dir, name, content string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestSearch(t *testing.T) {
	k := MustNew(t, Options{Dir: "testdata/example"})
	if got, want := k.Entries(), 18; got != want {
		t.Fatalf("Entries() = %d, want %d (errors %v)", got, want, k.Errors())
	}
	if errs := k.Errors(); len(errs) != 0 {
		t.Fatalf("Errors() = %v, want none", errs)
	}
	tests := []struct {
		name     string
		query    string
		lang     string
		wantOK   bool
		wantQ    string // the matched phrasing, when wantOK
		wantLang string
	}{
		{"en stemming", "How do I reset my password?", "en", true, "Resetting passwords", "en"},
		{"en stemming plural", "How do I cancel my subscriptions?", "en", true, "Cancelling a subscription", "en"},
		{"en stop words only differ", "Where are the invoices?", "en", true, "Where can I find my invoices?", "en"},
		{"en question words", "How can I talk to a human?", "en", true, "Talking to a human agent", "en"},
		{"en answer words only", "Is there an outage?", "en", true, "Is the service down?", "en"},
		{"en language tag with region", "How do I delete my account?", "en-GB", true, "Deleting my account and data", "en"},
		{"fr stemming", "Comment réinitialiser mon mot de passe ?", "fr", true, "Réinitialisation du mot de passe", "fr"},
		{"fr without accents", "comment reinitialiser mon mot de passe", "fr", true, "Réinitialisation du mot de passe", "fr"},
		{"fr second phrasing", "J'ai oublié le mot de passe", "fr", true, "J'ai oublié mon mot de passe", "fr"},
		{"fr elision", "Comment j'annule l'abonnement ?", "fr", true, "Annuler un abonnement", "fr"},
		{"fr elision d'", "Suppression d'un compte", "fr", true, "Suppression du compte et des données", "fr"},
		{"fr stemming plural", "Où sont mes factures ?", "fr", true, "Où trouver mes factures ?", "fr"},
		{"fr question words", "Comment puis-je contacter le support ?", "fr", true, "Contacter le support", "fr"},
		{"below threshold en", "What is the weather on Mars?", "en", false, "", ""},
		{"below threshold fr", "Quel temps fait-il sur Mars ?", "fr", false, "", ""},
		{"below threshold one word shared", "How do I reset my bank PIN?", "en", false, "", ""},
		{"below threshold long", "Hi, I forgot my password yesterday and cannot log in, how do I reset it?", "en", false, "", ""},
		{"stop words only", "What is it?", "en", false, "", ""},
		{"empty", "", "en", false, "", ""},
		{"no fallback when the language has entries", "How do I reset my password?", "fr", false, "", ""},
		{"fallback to all languages", "How do I reset my password?", "de", true, "Resetting passwords", "en"},
		{"fallback finds french", "Comment réinitialiser mon mot de passe ?", "es", true, "Réinitialisation du mot de passe", "fr"},
		{"no language", "Où sont mes factures ?", "", true, "Où trouver mes factures ?", "fr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := k.Search(context.Background(), tt.query, tt.lang)
			if m.Confidence < 0 || m.Confidence > 1 {
				t.Errorf("Confidence = %v, want within [0, 1]", m.Confidence)
			}
			if ok != tt.wantOK {
				t.Fatalf("Search(%q, %q) ok = %v (match %q, confidence %.2f), want %v", tt.query, tt.lang, ok, m.Question, m.Confidence, tt.wantOK)
			}
			if !ok {
				return
			}
			if m.Question != tt.wantQ || m.Lang != tt.wantLang {
				t.Errorf("Search(%q, %q) = %q (%s), want %q (%s)", tt.query, tt.lang, m.Question, m.Lang, tt.wantQ, tt.wantLang)
			}
			if m.Answer == "" || m.File == "" || m.Score <= 0 || m.Confidence < DefaultThreshold {
				t.Errorf("Search(%q) = %+v, want an answer, a file, a score > 0 and a confidence ≥ %v", tt.query, m, DefaultThreshold)
			}
		})
	}
}

func TestSearchConfidence(t *testing.T) {
	k := MustNew(t, Options{Dir: "testdata/example"})
	ctx := context.Background()
	tests := []struct {
		name  string
		query string
		lang  string
		want  float64 // exact confidence
	}{
		{"every term in the question", "reset passwords", "en", 1},
		{"every term in the answer only", "spam folder", "en", answerCredit},
		{"nothing in common", "weather on Mars", "en", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := k.Search(ctx, tt.query, tt.lang)
			if d := m.Confidence - tt.want; d > 1e-9 || d < -1e-9 {
				t.Errorf("Confidence(%q) = %v, want %v", tt.query, m.Confidence, tt.want)
			}
		})
	}

	// A rare term unmatched costs more than a common one.
	rare, _ := k.Search(ctx, "reset password zanzibar", "en")
	common, _ := k.Search(ctx, "reset password account", "en")
	if !(rare.Confidence < common.Confidence) {
		t.Errorf("confidence with an unknown term %.3f, with a common term %.3f: want the first lower", rare.Confidence, common.Confidence)
	}

	// The threshold decides ok.
	strict := MustNew(t, Options{Dir: "testdata/example", Threshold: 0.9})
	if m, ok := strict.Search(ctx, "Is there an outage?", "en"); ok {
		t.Errorf("threshold 0.9: Search ok with confidence %.2f, want false", m.Confidence)
	}
	if _, ok := strict.Search(ctx, "Is the service down?", "en"); !ok {
		t.Errorf("threshold 0.9: Search of a question as written not ok")
	}
}

func TestAnalyzers(t *testing.T) {
	m, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		lang string
		text string
		want []string
	}{
		{"en stemming", "en", "Resetting passwords", []string{"password", "reset"}},
		{"en stop and question words", "en", "How can I do it, please?", nil},
		{"en possessive", "en", "the team's invoices", []string{"invoic", "team"}},
		{"fr elision", "fr", "l'abonnement d'un compte qu'il a", []string{"abon", "compt"}},
		{"fr stemming", "fr", "réinitialiser réinitialisation", []string{"reinitialis"}},
		{"fr accents folded", "fr", "Réinitialisation", []string{"reinitialis"}},
		{"fr stop words with and without accents", "fr", "à a où ou été le la les des", nil},
		{"fr question words", "fr", "Comment puis-je faire ?", nil},
		{"fr curly apostrophe", "fr", "l’abonnement", []string{"abon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := m.AnalyzerNamed(analyzers[tt.lang])
			var got []string
			for term := range terms(a, tt.text) {
				got = append(got, term)
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("terms(%s, %q) = %q, want %q", tt.lang, tt.text, got, tt.want)
			}
		})
	}
}
