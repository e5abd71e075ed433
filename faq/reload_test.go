package faq

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/jonboulle/clockwork"
)

const (
	enPassword = "## Resetting passwords\nUse the Forgot password link.\n"
	enBilling  = "## Where are my invoices?\nUnder Settings, Billing.\n"
	frPassword = "- question: Réinitialisation du mot de passe\n  answer: Utilisez le lien.\n"
)

func TestRunReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, "help.en.md", enPassword)
	clk := clockwork.NewFakeClock()
	var logs bytes.Buffer // written by Run, read after <-polled
	k := MustNew(t, Options{Dir: dir, Clock: clk, Every: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	polled := make(chan struct{})
	k.afterPoll = func() { polled <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	<-polled // Run's first look
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	const (
		qPassword = "How do I reset my password?"
		qBilling  = "Where are the invoices?"
		qFrench   = "Comment réinitialiser mon mot de passe ?"
	)
	steps := []struct {
		name      string
		change    func(t *testing.T)
		entries   int
		errs      []string // substrings of Errors(), one per file
		found     []string // queries answered (en for English ones, fr for qFrench)
		notFound  []string
		wantInLog string
	}{
		{
			name:      "file added",
			change:    func(t *testing.T) { MustWrite(t, dir, "aide.fr.yaml", frPassword) },
			entries:   2,
			found:     []string{qPassword, qFrench},
			notFound:  []string{qBilling},
			wantInLog: "added=[" + filepath.Join(dir, "aide.fr.yaml") + "]",
		},
		{
			name:      "file changed",
			change:    func(t *testing.T) { MustWrite(t, dir, "help.en.md", enPassword+enBilling) },
			entries:   3,
			found:     []string{qPassword, qBilling, qFrench},
			wantInLog: "changed=[" + filepath.Join(dir, "help.en.md") + "]",
		},
		{
			name: "malformed file keeps its previous entries",
			change: func(t *testing.T) {
				MustWrite(t, dir, "help.en.md", "## Resetting passwords\n\n## Billing\nSettings.\n")
			},
			entries:   3,
			errs:      []string{"help.en.md:1: malformed FAQ: question \"Resetting passwords\" has no answer"},
			found:     []string{qPassword, qBilling, qFrench},
			wantInLog: "FAQ file rejected; keeping its previous entries",
		},
		{
			name:     "malformed new file is reported",
			change:   func(t *testing.T) { MustWrite(t, dir, "extra.yaml", "- question: Orphan\n") },
			entries:  3,
			errs:     []string{"extra.yaml:1: malformed FAQ", "help.en.md:1: malformed FAQ"},
			found:    []string{qPassword, qBilling, qFrench},
			notFound: []string{"Orphan"},
		},
		{
			name: "files fixed",
			change: func(t *testing.T) {
				MustWrite(t, dir, "help.en.md", enBilling)
				MustWrite(t, dir, "extra.yaml", "- question: Orphan\n  answer: Adopted.\n")
			},
			entries:  3,
			found:    []string{qBilling, qFrench, "Orphan"},
			notFound: []string{qPassword},
		},
		{
			name:      "file removed",
			change:    func(t *testing.T) { mustRemove(t, filepath.Join(dir, "aide.fr.yaml")) },
			entries:   2,
			found:     []string{qBilling},
			notFound:  []string{qFrench},
			wantInLog: "removed=[" + filepath.Join(dir, "aide.fr.yaml") + "]",
		},
		{
			name:    "nothing changed",
			change:  func(t *testing.T) {},
			entries: 2,
			found:   []string{qBilling},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			logs.Reset()
			st.change(t)
			if err := clk.BlockUntilContext(ctx, 1); err != nil { // Run's ticker
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			<-polled
			if got := k.Entries(); got != st.entries {
				t.Errorf("Entries() = %d, want %d", got, st.entries)
			}
			errs := k.Errors()
			if len(errs) != len(st.errs) {
				t.Errorf("Errors() = %v, want %d", errs, len(st.errs))
			}
			for i := 0; i < len(errs) && i < len(st.errs); i++ {
				if !strings.Contains(errs[i].Error(), st.errs[i]) {
					t.Errorf("Errors()[%d] = %v, want it to contain %q", i, errs[i], st.errs[i])
				}
			}
			for _, q := range st.found {
				if m, ok := k.Search(ctx, q, langOf(q)); !ok {
					t.Errorf("Search(%q) not found (best %q, %.2f)", q, m.Question, m.Confidence)
				}
			}
			for _, q := range st.notFound {
				if m, ok := k.Search(ctx, q, langOf(q)); ok {
					t.Errorf("Search(%q) = %q, want not found", q, m.Question)
				}
			}
			if st.wantInLog != "" && !strings.Contains(logs.String(), st.wantInLog) {
				t.Errorf("logs:\n%s\nwant them to contain %q", logs.String(), st.wantInLog)
			}
		})
	}
}

func langOf(q string) string {
	if strings.Contains(q, "mot de passe") {
		return "fr"
	}
	return "en"
}

func mustRemove(tb testing.TB, path string) {
	tb.Helper()
	if err := os.Remove(path); err != nil {
		tb.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, "help.md", enPassword)
	k := MustNew(t, Options{Dir: dir})
	if err := k.Reload(); err != nil {
		t.Fatalf("Reload() unchanged = %v, want nil", err)
	}
	MustWrite(t, dir, "bad.yaml", "- question: [\n")
	err := k.Reload()
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != filepath.Join(dir, "bad.yaml") || fe.Line == 0 || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Reload() = %v, want a *FileError of bad.yaml at a line, wrapping ErrMalformed", err)
	}
	if got := k.Entries(); got != 1 {
		t.Errorf("Entries() = %d, want 1", got)
	}

	// The directory vanishing keeps the index.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reload() of a removed directory = %v, want ErrNotExist", err)
	}
	if _, ok := k.Search(context.Background(), "reset password", "en"); !ok {
		t.Errorf("Search after the directory vanished: not found, want the index kept")
	}

	k.Close()
	if _, ok := k.Search(context.Background(), "reset password", "en"); ok {
		t.Errorf("Search after Close found an entry")
	}
	if err := k.Reload(); err == nil {
		t.Errorf("Reload after Close = nil, want an error")
	}
}

func TestNewErrors(t *testing.T) {
	good := t.TempDir()
	bad := t.TempDir()
	MustWrite(t, bad, "faq.yaml", "- question: Q\n  answer: A\n  lang: de\n")
	MustWrite(t, bad, "help.md", "## Q\n")
	MustWrite(t, bad, "notes.txt", "## Q\nA\n")
	MustWrite(t, good, "file.md", enPassword)
	file := filepath.Join(good, "file.md")
	tests := []struct {
		name    string
		opts    Options
		wantIs  error
		wantMsg []string
	}{
		{"no dir", Options{}, nil, []string{"Options.Dir is required"}},
		{"missing dir", Options{Dir: filepath.Join(good, "nope")}, os.ErrNotExist, nil},
		{"not a dir", Options{Dir: file}, nil, []string{"is not a directory"}},
		{"no entries", Options{Dir: t.TempDir()}, ErrNoEntries, []string{"no *.md, *.yaml or *.yml file with entries"}},
		{"only bad files", Options{Dir: bad}, ErrNoEntries, []string{"faq.yaml:3: entry 1: unsupported language \"de\"", "help.md:1: malformed FAQ: question \"Q\" has no answer"}},
		{"threshold", Options{Dir: good, Threshold: 1.5}, nil, []string{"Threshold 1.5"}},
		{"every", Options{Dir: good, Every: -time.Second}, nil, []string{"Every -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := New(tt.opts)
			if err == nil {
				k.Close()
				t.Fatalf("New(%+v) = nil error", tt.opts)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("New: %v, want it to wrap %v", err, tt.wantIs)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSearchDuringReload(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, "stable.md", enPassword)
	MustWrite(t, dir, "moving.md", enBilling)
	k := MustNew(t, Options{Dir: dir})
	ctx := context.Background()

	var stop sync.WaitGroup
	done := make(chan struct{})
	failures := make(chan string, 100)
	for range 4 {
		stop.Add(1)
		go func() {
			defer stop.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					if i >= 10 {
						return
					}
				default:
				}
				if m, ok := k.Search(ctx, "How do I reset my password?", "en"); !ok || m.Question != "Resetting passwords" {
					select {
					case failures <- m.Question:
					default:
					}
				}
				_ = k.Entries()
				_ = k.Errors()
			}
		}()
	}
	for i := range 20 {
		content := enBilling
		if i%2 == 0 {
			content = "## Billing\nSettings.\n## Outage\nSee the status page.\n"
		}
		if i%5 == 0 {
			content = "## Broken\n"
		}
		MustWrite(t, dir, "moving.md", content)
		_ = k.Reload()
	}
	close(done)
	stop.Wait()
	close(failures)
	for q := range failures {
		t.Errorf("Search during reload = %q, want Resetting passwords", q)
	}
}

func TestReplacedIndexClosedAfterLastSearch(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, "help.md", enPassword)
	k := MustNew(t, Options{Dir: dir})
	old := k.acquire() // a search under way
	MustWrite(t, dir, "help.md", enBilling)
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	if k.cur.Load() == old {
		t.Fatal("Reload did not swap the index")
	}
	if _, found, err := old.search(context.Background(), "reset password", "en"); err != nil || !found {
		t.Errorf("search on the replaced index while held = %v, %v; want found", found, err)
	}
	old.release()
	if _, err := old.idx.Search(bleve.NewSearchRequest(bleve.NewMatchAllQuery())); !errors.Is(err, bleve.ErrorIndexClosed) {
		t.Errorf("replaced index after its last search: %v, want it closed", err)
	}
}
