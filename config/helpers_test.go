package config

import (
	"errors"
	"strings"
	"testing"
)

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// testEnv holds every variable the test files refer to.
var testEnv = env{
	"OPENAI_API_KEY":       "sk-test-openai",
	"OPENAI_ORG":           "org-test",
	"AZURE_OPENAI_API_KEY": "az-test",
	"WEB_CHAT_KEY":         "web-chat-secret",
	"BATCH_KEY":            "batch-secret",
	"WH_NEW":               "new-webhook-secret",
	"WH_OLD":               "old-webhook-secret",
	"LINK":                 "link-secret-0123456789",
	"SMTP_PASSWORD":        "smtp-pass",
}

// validBase is the smallest valid file; cases below build on it.
const validBase = `listen: 127.0.0.1:8080
providers:
  - name: openai
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY}
routes:
  - name: assistant
    tiers:
      - [{provider: openai, model: gpt-4o-mini}]
`

// MustParse parses src as u.yaml with testEnv, failing the test on error.
func MustParse(tb testing.TB, src string) *Config {
	tb.Helper()
	c, err := Parse(strings.NewReader(src), "u.yaml", testEnv.get)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return c
}

// MustFieldErrors returns the problems in err, failing if err is not a *ValidationError.
func MustFieldErrors(tb testing.TB, err error) []FieldError {
	tb.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("got error %v (%T), want a *ValidationError", err, err)
	}
	return ve.Errors
}
