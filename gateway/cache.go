package gateway

import (
	"container/list"
	"sync"
	"time"
)

// answerCache keeps recent successful answers per normalized conversation:
// the "cache" step of the degradation ladder (and, when configured, a fast
// path). Bounded by bytes (least recently used out first) and by age.
type answerCache struct {
	mu       sync.Mutex
	maxBytes int
	ttl      time.Duration
	bytes    int
	order    *list.List // front: most recently used; values *cacheEntry
	byKey    map[[32]byte]*list.Element
}

type cacheEntry struct {
	key    [32]byte
	answer string
	model  string // the model that wrote it
	at     time.Time
}

// entryOverhead approximates an entry's bookkeeping beyond its text.
const entryOverhead = 128

func newAnswerCache(maxBytes int, ttl time.Duration) *answerCache {
	return &answerCache{maxBytes: maxBytes, ttl: ttl, order: list.New(), byKey: map[[32]byte]*list.Element{}}
}

func (c *answerCache) put(key [32]byte, answer, model string, now time.Time) {
	size := len(answer) + len(model) + entryOverhead
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, answer: answer, model: model, at: now})
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.remove(c.order.Back())
	}
}

// get returns a fresh answer for key.
func (c *answerCache) get(key [32]byte, now time.Time) (cacheEntry, bool) {
	return c.getWithin(key, now, c.ttl)
}

// getWithin returns an answer for key no older than maxAge (and the TTL).
func (c *answerCache) getWithin(key [32]byte, now time.Time, maxAge time.Duration) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if age := now.Sub(e.at); age > c.ttl {
		c.remove(el)
		return cacheEntry{}, false
	} else if age > maxAge {
		return cacheEntry{}, false
	}
	c.order.MoveToFront(el)
	return *e, true
}

func (c *answerCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.order.Remove(el)
	delete(c.byKey, e.key)
	c.bytes -= len(e.answer) + len(e.model) + entryOverhead
}

// size is the cache's entries and bytes.
func (c *answerCache) size() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}
