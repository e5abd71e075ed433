package chatwoot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		attempt int
		want    time.Duration
	}{
		{"first", errors.New("connection refused"), 1, time.Second},
		{"doubling", &apiError{Status: 500}, 3, 4 * time.Second},
		{"capped", &apiError{Status: 503}, 10, maxBackoff},
		{"Retry-After", &apiError{Status: 429, RetryAfter: 7 * time.Second}, 1, 7 * time.Second},
		{"Retry-After capped", &apiError{Status: 429, RetryAfter: time.Hour}, 1, maxRetryAfter},
		{"wrapped", fmt.Errorf("post: %w", &apiError{Status: 429, RetryAfter: 3 * time.Second}), 4, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryDelay(tt.err, tt.attempt); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"network", errors.New("connection reset"), true},
		{"500", &apiError{Status: 500}, true},
		{"502", &apiError{Status: 502}, true},
		{"429", &apiError{Status: 429}, true},
		{"501", &apiError{Status: 501}, false},
		{"400", &apiError{Status: 400}, false},
		{"401", &apiError{Status: 401}, false},
		{"404", &apiError{Status: 404}, false},
		{"undecodable answer", finalError{errors.New("bad JSON")}, false},
		{"canceled", fmt.Errorf("post: %w", context.Canceled), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"12", 12 * time.Second},
		{"0", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q): got %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestRecent(t *testing.T) {
	r := newRecent(2)
	if !r.add(1) || !r.add(2) || r.add(1) {
		t.Fatalf("add: want 1 and 2 new, 1 again not")
	}
	r.add(3) // forgets 1
	if !r.add(1) {
		t.Errorf("1 after the set overflowed: got known, want forgotten")
	}
	r.remove(1)
	if !r.add(1) {
		t.Errorf("1 after remove: got known, want new")
	}
}
