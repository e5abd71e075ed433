package faq

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	type want struct {
		questions []string
		lang      string
		answer    string
		line      int
		tags      []string
	}
	tests := []struct {
		name    string
		file    string
		content string
		want    []want
		wantErr []string // substrings of the error, in order; nil when none
	}{
		{
			name: "yaml",
			file: "faq.yaml",
			content: `# comment
- question: How do I reset my password?
  answer: Use the link.
  tags: [account, " password "]
- question:
    - Billing
    - Where are my invoices?
  answer: |
    In Settings.
  lang: fr
`,
			want: []want{
				{questions: []string{"How do I reset my password?"}, lang: "en", answer: "Use the link.", line: 2, tags: []string{"account", "password"}},
				{questions: []string{"Billing", "Where are my invoices?"}, lang: "fr", answer: "In Settings.", line: 5},
			},
		},
		{
			name:    "yaml lang from the file name",
			file:    "dir/help.fr.yml",
			content: "- question: Facturation\n  answer: Dans les réglages.\n- {question: Panne, answer: Voir la page d'état, lang: en-GB}\n",
			want: []want{
				{questions: []string{"Facturation"}, lang: "fr", answer: "Dans les réglages.", line: 1},
				{questions: []string{"Panne"}, lang: "en", answer: "Voir la page d'état", line: 3},
			},
		},
		{name: "yaml empty file", file: "empty.yaml", content: "# nothing yet\n"},
		{name: "yaml dotted name is not a language", file: "faq.v2.yaml", content: "- question: Q\n  answer: A\n", want: []want{{questions: []string{"Q"}, lang: "en", answer: "A", line: 1}}},
		{
			name:    "yaml missing answer",
			file:    "faq.yaml",
			content: "- question: Fine?\n  answer: Yes.\n\n- question: Where is the answer?\n  tags: [x]\n",
			wantErr: []string{`faq.yaml:4: malformed FAQ: entry 2: question "Where is the answer?" has no answer`},
		},
		{
			name:    "yaml every problem reported",
			file:    "faq.yaml",
			content: "- answer: No question.\n- question: [ok, 3]\n  answer: A\n- question: Q\n  answer: A\n  lang: de\n- question: Q\n  anwser: typo\n",
			wantErr: []string{
				"faq.yaml:1: malformed FAQ: entry 1: no question",
				"faq.yaml:2: malformed FAQ: entry 2: question 2: expected a string, got a number",
				`faq.yaml:6: entry 3: unsupported language "de" (supported: en, fr)`,
				`faq.yaml:8: malformed FAQ: entry 4:`, "anwser",
			},
		},
		{
			name:    "yaml question of the wrong type",
			file:    "faq.yaml",
			content: "- question: {a: b}\n  answer: A\n",
			wantErr: []string{"faq.yaml:1: malformed FAQ: entry 1: question: expected a string or a list of strings, got a mapping"},
		},
		{
			name:    "yaml field of the wrong type",
			file:    "faq.yaml",
			content: "- question: Q\n  answer: [a, b]\n",
			wantErr: []string{"faq.yaml:2: malformed FAQ: entry 1: answer: expected a string, got a list"},
		},
		{
			name:    "yaml syntax error",
			file:    "faq.yaml",
			content: "- question: Q\n  answer: A\n- question: \"unclosed\n  answer: B\n",
			wantErr: []string{"faq.yaml:3: malformed FAQ:"},
		},
		{
			name:    "yaml not a list",
			file:    "faq.yaml",
			content: "question: Q\nanswer: A\n",
			wantErr: []string{"faq.yaml:1: malformed FAQ: expected a list of entries"},
		},
		{
			name:    "yaml unsupported language suffix",
			file:    "faq.de.yaml",
			content: "- question: Q\n  answer: A\n",
			wantErr: []string{`faq.de.yaml: unsupported language "de"`},
		},
		{
			name: "markdown",
			file: "help.md",
			content: `# Help

Intro text, ignored.

## How do I reset my password?

Use the **Forgot password** link.

### Still stuck?

Write to us.

## Billing ##
Invoices are in Settings.
` + "```\n## not a heading\n```\n" + `
# Another section
Ignored.
`,
			want: []want{
				{questions: []string{"How do I reset my password?"}, lang: "en", line: 5,
					answer: "Use the **Forgot password** link.\n\n### Still stuck?\n\nWrite to us."},
				{questions: []string{"Billing"}, lang: "en", line: 13, answer: "Invoices are in Settings.\n```\n## not a heading\n```"},
			},
		},
		{
			name:    "markdown front matter",
			file:    "aide.md",
			content: "---\ntitle: Aide\nlang: fr\ntags: [compte, aide]\n---\n## Mot de passe oublié ?\nUtilisez le lien.\n",
			want:    []want{{questions: []string{"Mot de passe oublié ?"}, lang: "fr", answer: "Utilisez le lien.", line: 6, tags: []string{"compte", "aide"}}},
		},
		{
			name:    "markdown lang line and CRLF",
			file:    "aide.md",
			content: "lang: fr\r\n\r\n## Panne\r\nVoir la page d'état.\r\n",
			want:    []want{{questions: []string{"Panne"}, lang: "fr", answer: "Voir la page d'état.", line: 3}},
		},
		{
			name:    "markdown lang from the file name",
			file:    "aide.fr.md",
			content: "## Panne\nVoir la page d'état.\n",
			want:    []want{{questions: []string{"Panne"}, lang: "fr", answer: "Voir la page d'état.", line: 1}},
		},
		{
			name:    "markdown problems",
			file:    "help.md",
			content: "---\nlang: klingon\n---\n## First\n\n## \ntext\n## Last\n",
			wantErr: []string{
				`help.md:2: unsupported language "klingon"`,
				`help.md:4: malformed FAQ: question "First" has no answer`,
				"help.md:6: malformed FAQ: empty question heading",
				`help.md:8: malformed FAQ: question "Last" has no answer`,
			},
		},
		{
			name:    "markdown unclosed front matter",
			file:    "help.md",
			content: "---\nlang: fr\n## Q\nA\n",
			wantErr: []string{"help.md:1: malformed FAQ: front matter opened with --- is not closed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFile(tt.file, []byte(tt.content))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("parseFile(%s) = %d entries, want an error", tt.file, len(got))
				}
				msg := err.Error()
				rest := msg
				for _, w := range tt.wantErr {
					i := strings.Index(rest, w)
					if i < 0 {
						t.Fatalf("parseFile(%s) error:\n%s\nwant, in order: %q", tt.file, msg, tt.wantErr)
					}
					rest = rest[i+len(w):]
				}
				var fe *FileError
				if !errors.As(err, &fe) || fe.File != tt.file {
					t.Errorf("parseFile(%s) error %v: want a *FileError of the file", tt.file, err)
				}
				if got != nil {
					t.Errorf("parseFile(%s) = %d entries with an error, want none", tt.file, len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFile(%s): %v", tt.file, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseFile(%s) = %d entries, want %d: %+v", tt.file, len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if !slices.Equal(g.Questions, w.questions) || g.Lang != w.lang || g.Answer != w.answer || g.Line != w.line || g.File != tt.file || !slices.Equal(g.Tags, w.tags) {
					t.Errorf("entry %d = %+v,\nwant %+v", i, g, w)
				}
			}
		})
	}
}

func TestParseErrorsWrap(t *testing.T) {
	_, err := parseFile("faq.yaml", []byte("- question: Q\n"))
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("missing answer: errors.Is(%v, ErrMalformed) = false", err)
	}
	_, err = parseFile("faq.yaml", []byte("- question: Q\n  answer: A\n  lang: xx\n"))
	if !errors.Is(err, ErrLanguage) {
		t.Errorf("unknown language: errors.Is(%v, ErrLanguage) = false", err)
	}
}
