package gateway

import (
	"context"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/health"
	"github.com/understudy/understudy/provider"
)

// Upstream sends attempts to one provider. provider.OpenAI and
// provider.Anthropic implement it.
type Upstream interface {
	Name() string
	// NewRequest builds the upstream request from an OpenAI-format body.
	NewRequest(ctx context.Context, model string, body []byte) (*http.Request, error)
}

// Translator is an Upstream whose answers are not in OpenAI's format.
type Translator interface {
	Response(body []byte, now time.Time) ([]byte, error)
	Stream(includeUsage bool, now time.Time) provider.StreamTranslator
}

var (
	_ Upstream   = (*provider.OpenAI)(nil)
	_ Upstream   = (*provider.Anthropic)(nil)
	_ Translator = (*provider.Anthropic)(nil)
)

// target is one model on one provider, with its live state. Its state
// survives config reloads as long as its definition does not change.
type target struct {
	id       string // provider/model
	provider string
	model    string
	up       Upstream
	client   *http.Client
	maxConc  int64
	// adm is the adaptive concurrency limit and admission queue; nil when
	// the provider has none.
	adm     *admission
	breaker *health.Breaker
	probe   config.Probe
	// maxOpenFor is how long a target with bad credentials or no quota stays out.
	maxOpenFor time.Duration
	// signature is the definition the state belongs to; a reload that changes
	// it builds a fresh target.
	signature string

	inflight  atomic.Int64
	lastProbe atomic.Pointer[probeResult]
	ewmaNs    atomic.Uint64 // float64 bits of the latency EWMA (time to first token), ns
	recent    latencyRing   // recent times to first token, for the hedge delay
}

// p95 of the target's recent times to first token.
func (t *target) p95() (time.Duration, bool) { return t.recent.p95() }

// acquire takes a concurrency slot; false when the target is at its cap.
func (t *target) acquire() bool {
	n := t.inflight.Add(1)
	if t.maxConc > 0 && n > t.maxConc {
		t.inflight.Add(-1)
		return false
	}
	return true
}

func (t *target) release() { t.inflight.Add(-1) }

const ewmaAlpha = 0.3

// observeLatency feeds the EWMA used by latency-aware selection and the
// samples of the hedge delay.
func (t *target) observeLatency(d time.Duration) {
	t.recent.add(d)
	for {
		old := t.ewmaNs.Load()
		cur := math.Float64frombits(old)
		next := float64(d)
		if cur != 0 {
			next = ewmaAlpha*float64(d) + (1-ewmaAlpha)*cur
		}
		if t.ewmaNs.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// latencyScore is the EWMA weighted by load: lower is better. A target with
// no observation yet scores 0 so that it gets tried.
func (t *target) latencyScore() float64 {
	return math.Float64frombits(t.ewmaNs.Load()) * float64(t.inflight.Load()+1)
}

// routeTarget is a target as placed in one route's tier.
type routeTarget struct {
	*target
	weight        int
	contextWindow int
	continuation  string // config.Continue*: how this target continues a broken stream
}
