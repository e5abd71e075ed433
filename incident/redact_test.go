package incident_test

import (
	"strings"
	"testing"

	"github.com/understudy/understudy/incident"
)

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"openai key", "Incorrect API key provided: sk-proj-abc123def456. You can find your key", "Incorrect API key provided: [redacted]. You can find your key"},
		{"our token", "token us_6E8IJY_xDBs3m097VOSubNWAVcWgiyVW rejected", "token [redacted] rejected"},
		{"bearer", "Authorization: Bearer abc.def.ghi failed", "Authorization: [redacted] failed"},
		{"email", "account ops@example.com is over quota", "account [redacted] is over quota"},
		{"opaque", "session 0123456789abcdef0123456789abcdef01 expired", "session [redacted] expired"},
		{"url kept", `Post "http://127.0.0.1:35679/secondary/v1/chat/completions": EOF`, `Post "http://127.0.0.1:35679/secondary/v1/chat/completions": EOF`},
		{"plain", "The server had an error while processing your request.", "The server had an error while processing your request."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := incident.Redact(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	long := strings.Repeat("word ", 100)
	if got := incident.Redact(long); len([]rune(got)) != 200 || !strings.HasSuffix(got, "…") {
		t.Errorf("a long message is cut to 200 runes with an ellipsis; got %d runes", len([]rune(got)))
	}
}
