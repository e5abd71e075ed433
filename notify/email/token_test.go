package email_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/notify/email"
)

func TestTokens(t *testing.T) {
	tokens := email.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}
	expires := t0.Add(48 * time.Hour)
	confirm := tokens.Make(email.PurposeConfirm, 42, expires)
	tamper := func(tok string, i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name    string
		tokens  email.Tokens
		purpose string
		token   string
		now     time.Time
		wantID  int64
		wantErr error
	}{
		{"valid", tokens, email.PurposeConfirm, confirm, t0, 42, nil},
		{"valid a second before expiry", tokens, email.PurposeConfirm, confirm, expires.Add(-time.Second), 42, nil},
		{"expired at expiry", tokens, email.PurposeConfirm, confirm, expires, 0, email.ErrTokenExpired},
		{"expired after", tokens, email.PurposeConfirm, confirm, expires.Add(time.Hour), 0, email.ErrTokenExpired},
		{"wrong purpose", tokens, email.PurposeUnsubscribe, confirm, t0, 0, email.ErrTokenInvalid},
		{"unsubscribe token as confirm", tokens, email.PurposeConfirm, tokens.Make(email.PurposeUnsubscribe, 42, expires), t0, 0, email.ErrTokenInvalid},
		{"tampered id", tokens, email.PurposeConfirm, tamper(confirm, 5), t0, 0, email.ErrTokenInvalid},
		{"tampered expiry", tokens, email.PurposeConfirm, tamper(confirm, 16), t0, 0, email.ErrTokenInvalid},
		{"tampered mac", tokens, email.PurposeConfirm, tamper(confirm, len(confirm)-3), t0, 0, email.ErrTokenInvalid},
		{"truncated", tokens, email.PurposeConfirm, confirm[:len(confirm)-1], t0, 0, email.ErrTokenInvalid},
		{"not base64url", tokens, email.PurposeConfirm, strings.Repeat("+", len(confirm)), t0, 0, email.ErrTokenInvalid},
		{"empty", tokens, email.PurposeConfirm, "", t0, 0, email.ErrTokenInvalid},
		{"other secret", email.Tokens{Secret: []byte("fedcba9876543210fedcba9876543210")}, email.PurposeConfirm, confirm, t0, 0, email.ErrTokenInvalid},
		{"expired and forged is invalid, not expired", tokens, email.PurposeConfirm, tamper(confirm, len(confirm)-3), expires.Add(time.Hour), 0, email.ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.tokens.Check(tt.purpose, tt.token, tt.now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if id != tt.wantID {
				t.Errorf("got id %d, want %d", id, tt.wantID)
			}
		})
	}
}

func TestTokensFormat(t *testing.T) {
	tok := email.Tokens{Secret: []byte("0123456789abcdef")}.Make(email.PurposeUnsubscribe, 1<<40, t0)
	if len(tok) != 64 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("got token %q (%d characters), want 64 base64url characters without padding", tok, len(tok))
	}
}

func TestTokensShortSecret(t *testing.T) {
	short := email.Tokens{Secret: []byte("short")}
	if _, err := short.Check(email.PurposeConfirm, "x", t0); err == nil {
		t.Error("Check with a short secret: got no error, want one")
	}
	defer func() {
		if recover() == nil {
			t.Error("Make with a short secret: got no panic, want one")
		}
	}()
	short.Make(email.PurposeConfirm, 1, t0)
}
