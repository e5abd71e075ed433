package provider

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/understudy/understudy/config"
)

// DefaultAnthropicMaxTokens is sent as max_tokens when the client gave none
// (Anthropic requires it).
const DefaultAnthropicMaxTokens = 4096

// Anthropic is the adapter for the Anthropic Messages API (kind
// "anthropic"): it translates OpenAI chat completions to Messages requests
// and the answers back, streaming or not.
type Anthropic struct {
	name      string
	base      *url.URL
	apiKey    string
	headers   http.Header
	maxTokens int
}

// NewAnthropic builds the adapter from a validated provider config.
func NewAnthropic(p config.Provider) (*Anthropic, error) {
	u, h, err := endpoint(p)
	if err != nil {
		return nil, err
	}
	return &Anthropic{name: p.Name, base: u, apiKey: p.APIKey.Value, headers: h, maxTokens: DefaultAnthropicMaxTokens}, nil
}

// Name is the provider's configured name.
func (a *Anthropic) Name() string { return a.name }

// NewRequest translates the OpenAI request body and builds POST /v1/messages.
// A body that cannot be translated returns a *chat.FieldError.
func (a *Anthropic) NewRequest(ctx context.Context, model string, body []byte) (*http.Request, error) {
	msg, err := AnthropicRequest(body, model, a.maxTokens)
	if err != nil {
		return nil, err
	}
	u := *a.base
	if !strings.HasSuffix(u.Path, "/v1") {
		u.Path += "/v1"
	}
	u.Path += "/messages"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(msg))
	if err != nil {
		return nil, err
	}
	for k, v := range a.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", AnthropicVersion)
	if a.apiKey != "" {
		req.Header.Set("x-api-key", a.apiKey)
	}
	return req, nil
}

// Response translates a non-streaming answer to OpenAI's format.
func (a *Anthropic) Response(body []byte, now time.Time) ([]byte, error) {
	return AnthropicResponse(body, now)
}

// Stream returns a translator of this answer's stream events.
func (a *Anthropic) Stream(includeUsage bool, now time.Time) StreamTranslator {
	return NewAnthropicStream(now, includeUsage)
}

// StreamTranslator turns one upstream SSE event into OpenAI chunk payloads;
// done is true after the upstream's last event.
type StreamTranslator interface {
	Event(name string, data []byte) (chunks [][]byte, done bool, err error)
}

var _ StreamTranslator = (*AnthropicStream)(nil)
