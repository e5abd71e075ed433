// Package provider holds the upstream adapters: how to send a chat completion
// to one kind of provider and how to read its failures. The gateway speaks
// OpenAI's wire format with clients; adapters translate when they must.
package provider

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/understudy/understudy/config"
)

// OpenAI is the adapter for OpenAI-compatible APIs: OpenAI, Mistral, Groq,
// vLLM, Ollama, the simulator (kind "openai"), and Azure OpenAI (kind "azure").
type OpenAI struct {
	name       string
	kind       string
	base       *url.URL
	apiKey     string
	headers    http.Header
	apiVersion string
}

// NewOpenAI builds the adapter from a validated provider config.
func NewOpenAI(p config.Provider) (*OpenAI, error) {
	u, h, err := endpoint(p)
	if err != nil {
		return nil, err
	}
	return &OpenAI{name: p.Name, kind: p.Kind, base: u, apiKey: p.APIKey.Value, headers: h, apiVersion: p.APIVersion}, nil
}

// endpoint is a provider's API root and the headers sent with every request.
func endpoint(p config.Provider) (*url.URL, http.Header, error) {
	u, err := url.Parse(strings.TrimRight(p.BaseURL, "/"))
	if err != nil {
		return nil, nil, fmt.Errorf("provider %s: base_url: %w", p.Name, err)
	}
	h := make(http.Header, len(p.Headers))
	for k, v := range p.Headers {
		h.Set(k, v)
	}
	return u, h, nil
}

// Name is the provider's configured name.
func (a *OpenAI) Name() string { return a.name }

// NewRequest builds the upstream HTTP request for one attempt. body is the
// client's request with model already set to the upstream model id.
func (a *OpenAI) NewRequest(ctx context.Context, model string, body []byte) (*http.Request, error) {
	u := *a.base
	if a.kind == config.KindAzure {
		u.Path += "/openai/deployments/" + url.PathEscape(model) + "/chat/completions"
		q := u.Query()
		q.Set("api-version", a.apiVersion)
		u.RawQuery = q.Encode()
	} else {
		u.Path += "/chat/completions"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range a.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if a.apiKey != "" {
		if a.kind == config.KindAzure {
			req.Header.Set("api-key", a.apiKey)
		} else {
			req.Header.Set("Authorization", "Bearer "+a.apiKey)
		}
	}
	return req, nil
}
