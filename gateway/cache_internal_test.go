package gateway

import (
	"github.com/understudy/understudy/chat"
	"testing"
	"time"
)

func TestAnswerCache(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	key := func(b byte) [32]byte { return [32]byte{b} }
	c := newAnswerCache(3*(entryOverhead+100), time.Hour)
	for i := byte(1); i <= 3; i++ {
		c.put(key(i), string(make([]byte, 100-1)), "m", t0)
	}
	if n, _ := c.size(); n != 3 {
		t.Fatalf("entries %d, want 3", n)
	}
	if _, ok := c.get(key(1), t0); !ok { // 1 is now the most recent
		t.Fatal("entry 1 missing")
	}
	c.put(key(4), string(make([]byte, 99)), "m", t0) // over the bound: the least recent (2) goes
	if _, ok := c.get(key(2), t0); ok {
		t.Error("entry 2 kept past the byte bound")
	}
	for _, k := range []byte{1, 3, 4} {
		if _, ok := c.get(key(k), t0); !ok {
			t.Errorf("entry %d evicted", k)
		}
	}
	if _, b := c.size(); b > 3*(entryOverhead+100) {
		t.Errorf("bytes %d over the bound", b)
	}
	c.put(key(9), string(make([]byte, 10_000)), "m", t0) // larger than the whole cache: not kept
	if _, ok := c.get(key(9), t0); ok {
		t.Error("an answer larger than the cache was kept")
	}
	if e, ok := c.get(key(3), t0.Add(time.Hour)); !ok || e.model != "m" {
		t.Error("an answer exactly at its TTL is still fresh")
	}
	if _, ok := c.get(key(3), t0.Add(time.Hour+time.Second)); ok {
		t.Error("an answer past its TTL was served")
	}
	if n, _ := c.size(); n != 2 {
		t.Errorf("the expired entry was not dropped: %d entries", n)
	}
	c.put(key(1), "new", "m2", t0)
	if e, _ := c.get(key(1), t0); e.answer != "new" || e.model != "m2" {
		t.Errorf("replaced entry %+v", e)
	}
}

func TestLastUserText(t *testing.T) {
	msg := func(role, content string) chat.Message { return chat.Message{Role: role, Content: []byte(content)} }
	for _, tt := range []struct {
		msgs []chat.Message
		want string
	}{
		{[]chat.Message{msg("system", `"be nice"`), msg("user", `"first"`), msg("assistant", `"ok"`), msg("user", `"second?"`)}, "second?"},
		{[]chat.Message{msg("user", `[{"type":"text","text":"look at"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"this"}]`)}, "look at this"},
		{[]chat.Message{msg("system", `"only a system message"`)}, ""},
	} {
		if got := lastUserText(tt.msgs); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if got := firstLanguage("fr-CA,fr;q=0.9,en;q=0.5"); got != "fr-CA" {
		t.Errorf("firstLanguage: %q", got)
	}
}
