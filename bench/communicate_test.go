package main

import (
	"io"
	"testing"
)

func TestMailIncident(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		id, subject string
	}{
		{"incident", "From: Status <status@example.com>\r\nSubject: [Status] Errors from provider primary: Investigating\r\nReferences: <incident-12@example.com>\r\n\r\nbody",
			"12", "[Status] Errors from provider primary: Investigating"},
		{"component", "Subject: [Status] Provider primary: Degraded\r\nReferences: <component-provider-primary@example.com>\r\n\r\nbody",
			"", "[Status] Provider primary: Degraded"},
		{"confirmation", "Subject: [Status] Confirm your subscription\r\n\r\nReferences: <incident-3@example.com> in the body", "", "[Status] Confirm your subscription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only the header counts, not a body that quotes one.
			if id, subject := mailIncident(headerOf([]byte(tt.data))); id != tt.id || subject != tt.subject {
				t.Errorf("got %q, %q, want %q, %q", id, subject, tt.id, tt.subject)
			}
		})
	}
}

func TestCommunicateFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"defaults", []string{"-phases", "communicate"}, true},
		{"runs", []string{"-phases", "communicate", "-communicate-runs", "2"}, true},
		{"no runs", []string{"-phases", "communicate", "-communicate-runs", "0"}, false},
		{"zero timeout", []string{"-phases", "communicate", "-communicate-timeout", "0s"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if (err == nil) != tt.ok {
				t.Fatalf("got error %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (!o.Phases["communicate"] || len(o.Phases) != 1) {
				t.Errorf("got phases %v, want communicate only", o.Phases)
			}
		})
	}
}
