package provider

import (
	"net/http"
	"testing"
	"time"

	"github.com/understudy/understudy"
)

func TestClassifyResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   understudy.Class
	}{
		{"rate limit", 429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, understudy.ClassRateLimit},
		{"openai quota", 429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, understudy.ClassQuota},
		{"credit balance", 429, `{"error":{"message":"no credit","type":"insufficient_quota","code":"credit_balance_exhausted"}}`, understudy.ClassQuota},
		{"anthropic credit balance", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`, understudy.ClassQuota},
		{"anthropic billing error", 402, `{"type":"error","error":{"type":"billing_error","message":"billing"}}`, understudy.ClassQuota},
		{"spend limit", 429, `{"error":{"message":"limit","type":"insufficient_quota","code":"project_spend_limit_exceeded"}}`, understudy.ClassQuota},
		{"anthropic rate limit", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, understudy.ClassRateLimit},
		{"bad key", 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, understudy.ClassAuth},
		{"forbidden", 403, `{"error":{"message":"no access"}}`, understudy.ClassAuth},
		{"unknown model", 404, `{"error":{"message":"The model foo does not exist","type":"invalid_request_error","code":"model_not_found"}}`, understudy.ClassAuth},
		{"server error", 500, `{"error":{"message":"oops","type":"server_error"}}`, understudy.ClassServer},
		{"bad gateway html", 502, `<html>502</html>`, understudy.ClassServer},
		{"not implemented", 501, ``, understudy.ClassNotImpl},
		{"overloaded 503", 503, `{"error":{"message":"overloaded"}}`, understudy.ClassOverloaded},
		{"anthropic 529", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, understudy.ClassOverloaded},
		{"context length", 400, `{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}`, understudy.ClassContextLength},
		{"anthropic prompt too long", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}}`, understudy.ClassContextLength},
		{"content policy", 400, `{"error":{"message":"blocked","type":"invalid_request_error","code":"content_policy_violation"}}`, understudy.ClassContentFilter},
		{"azure content filter", 400, `{"error":{"message":"filtered","type":null,"code":"content_filter"}}`, understudy.ClassContentFilter},
		{"invalid request", 400, `{"error":{"message":"messages: required","type":"invalid_request_error"}}`, understudy.ClassInvalid},
		{"unprocessable", 422, `{"detail":"bad"}`, understudy.ClassInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyResponse(tt.status, http.Header{}, []byte(tt.body), time.Unix(0, 0))
			if got.Class != tt.want {
				t.Errorf("got %s, want %s", got.Class, tt.want)
			}
		})
	}
}

func TestClassifyStreamError(t *testing.T) {
	tests := []struct {
		name string
		data string
		want understudy.Class
	}{
		{"server error", `{"error":{"message":"boom","type":"server_error"}}`, understudy.ClassStreamErr},
		{"anthropic overloaded", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, understudy.ClassOverloaded},
		{"quota", `{"error":{"message":"q","type":"insufficient_quota"}}`, understudy.ClassQuota},
		{"garbage", `not json`, understudy.ClassStreamErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyStreamError([]byte(tt.data)).Class; got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"fraction", http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{"ms wins", http.Header{"Retry-After": {"3"}, "Retry-After-Ms": {"1200"}}, 1200 * time.Millisecond},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"negative", http.Header{"Retry-After": {"-4"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.h, now); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
