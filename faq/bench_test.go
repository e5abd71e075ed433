package faq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchFAQ writes a 500-entry English FAQ to a file of dir and returns the
// entries' questions and queries paraphrasing some of them, with the
// question each should find.
func benchFAQ(tb testing.TB, dir string) (questions []string, queries [][2]string) {
	tb.Helper()
	verbs := [][2]string{
		{"reset", "Resetting"}, {"change", "Changing"}, {"cancel", "Cancelling"}, {"update", "Updating"},
		{"delete", "Deleting"}, {"export", "Exporting"}, {"transfer", "Transferring"}, {"verify", "Verifying"},
		{"enable", "Enabling"}, {"disable", "Disabling"}, {"renew", "Renewing"}, {"download", "Downloading"},
		{"share", "Sharing"}, {"restore", "Restoring"},
	}
	nouns := []string{"password", "account", "subscription", "invoice", "email address", "payment card",
		"plan", "profile", "device", "API key", "report", "conversation"}
	quals := []string{"", " on mobile", " for a team"}
	var b strings.Builder
	for _, q := range quals {
		for _, n := range nouns {
			for _, v := range verbs {
				if len(questions) == 500 {
					break
				}
				question := fmt.Sprintf("%s %ss%s", v[1], n, q)
				fmt.Fprintf(&b, "- question: %s\n  answer: To %s your %s%s, open Settings, find the %s section and choose %s. Article %d.\n",
					question, v[0], n, q, n, v[0], len(questions))
				if len(questions)%31 == 7 {
					queries = append(queries, [2]string{fmt.Sprintf("How do I %s my %s%s?", v[0], n, q), question})
				}
				questions = append(questions, question)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.en.yaml"), []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return questions, queries
}

// naiveSearch is the baseline: the question containing the most words of
// the query (case-insensitive strings.Contains, words of 3 letters or more).
func naiveSearch(questions []string, query string) string {
	words := strings.FieldsFunc(strings.ToLower(query), func(r rune) bool {
		return !('a' <= r && r <= 'z' || r >= 0x80)
	})
	best, bestN := "", 0
	for _, q := range questions {
		lq, n := strings.ToLower(q), 0
		for _, w := range words {
			if len(w) >= 3 && strings.Contains(lq, w) {
				n++
			}
		}
		if n > bestN {
			best, bestN = q, n
		}
	}
	return best
}

// BenchmarkSearch compares Search over a 500-entry index with a naive
// strings.Contains scan of the same questions. hit-rate is the share of
// paraphrased queries that find their entry.
func BenchmarkSearch(b *testing.B) {
	dir := b.TempDir()
	questions, queries := benchFAQ(b, dir)
	k := MustNew(b, Options{Dir: dir})
	if k.Entries() != 500 {
		b.Fatalf("Entries() = %d, want 500 (%v)", k.Entries(), k.Errors())
	}
	ctx := context.Background()
	b.Run("bleve", func(b *testing.B) {
		hits := 0
		for _, q := range queries {
			if m, ok := k.Search(ctx, q[0], "en"); ok && m.Question == q[1] {
				hits++
			}
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k.Search(ctx, queries[i%len(queries)][0], "en")
		}
		b.ReportMetric(float64(hits)/float64(len(queries)), "hit-rate")
	})
	b.Run("naive-contains", func(b *testing.B) {
		hits := 0
		for _, q := range queries {
			if naiveSearch(questions, q[0]) == q[1] {
				hits++
			}
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			naiveSearch(questions, queries[i%len(queries)][0])
		}
		b.ReportMetric(float64(hits)/float64(len(queries)), "hit-rate")
	})
}
