package admintest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/admin"
)

// Tokens is an in-memory token store. Unknown tokens are errors wrapping
// admin.ErrNotFound, taken names admin.ErrExists (the defaults of
// admin.Options).
type Tokens struct {
	mu      sync.Mutex
	tokens  []understudy.Token
	touches map[string]int
}

var _ admin.Tokens = (*Tokens)(nil)

// NewTokens returns an empty store.
func NewTokens() *Tokens { return &Tokens{touches: map[string]int{}} }

// Add stores a token called name with scope whose secret is raw, and
// returns raw.
func (t *Tokens) Add(name string, scope understudy.Scope, raw string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens = append(t.tokens, understudy.Token{Name: name, Scope: scope, Hash: admin.HashToken(raw), CreatedAt: time.Now().UTC()})
	return raw
}

// Touches is how many times TouchToken was called for name.
func (t *Tokens) Touches(name string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.touches[name]
}

func (t *Tokens) TokenByHash(ctx context.Context, hash [32]byte) (understudy.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tok := range t.tokens {
		if tok.Hash == hash {
			return tok, nil
		}
	}
	return understudy.Token{}, fmt.Errorf("admintest: token by hash: %w", admin.ErrNotFound)
}

func (t *Tokens) CreateToken(ctx context.Context, tok understudy.Token) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, old := range t.tokens {
		if old.Name == tok.Name || old.Hash == tok.Hash {
			return fmt.Errorf("admintest: create token %q: %w", tok.Name, admin.ErrExists)
		}
	}
	t.tokens = append(t.tokens, tok)
	return nil
}

func (t *Tokens) Tokens(ctx context.Context) ([]understudy.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.tokens)
	slices.SortFunc(out, func(a, b understudy.Token) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (t *Tokens) RevokeToken(ctx context.Context, name string, at time.Time) error {
	return t.change(name, func(tok *understudy.Token) {
		if tok.RevokedAt.IsZero() {
			tok.RevokedAt = at
		}
	})
}

func (t *Tokens) TouchToken(ctx context.Context, name string, at time.Time) error {
	return t.change(name, func(tok *understudy.Token) {
		tok.LastUsed = at
		t.touches[name]++
	})
}

func (t *Tokens) change(name string, f func(*understudy.Token)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.tokens {
		if t.tokens[i].Name == name {
			f(&t.tokens[i])
			return nil
		}
	}
	return fmt.Errorf("admintest: token %q: %w", name, admin.ErrNotFound)
}

// Forget deletes the token called name, as if it never existed.
func (t *Tokens) Forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens = slices.DeleteFunc(t.tokens, func(tok understudy.Token) bool { return tok.Name == name })
}
