package notice_test

import (
	"testing"

	"github.com/understudy/understudy/notice"
)

func TestNegotiate(t *testing.T) {
	offered := []string{"en", "fr"}
	for _, tt := range []struct{ explicit, accept, want string }{
		{"", "", "en"},
		{"fr", "en", "fr"},
		{"de", "fr", "fr"},
		{"", "fr-CA,fr;q=0.9,en;q=0.8", "fr"},
		{"", "de-DE,de;q=0.9,en;q=0.4,fr;q=0.5", "fr"},
		{"", "de", "en"},
		{"", "EN-gb", "en"},
	} {
		if got := notice.Negotiate(tt.explicit, tt.accept, offered); got != tt.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.explicit, tt.accept, got, tt.want)
		}
	}
}
