package gateway

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/health"
	"github.com/understudy/understudy/provider"
)

// runtime is everything built from one config. Requests load it once and use
// it to the end, so a reload never changes a request halfway.
type runtime struct {
	cfg        *config.Config
	routes     map[string]*route
	routeNames []string
	keys       map[[32]byte]*apiKey
	targets    map[string]*target
}

type route struct {
	name      string
	tiers     [][]routeTarget
	selection string
	timeouts  config.Timeouts
	retry     config.Retry
	budget    *retryBudget
	// resumeDisabled: a stream broken mid-answer is not continued.
	resumeDisabled bool
	// minRate (chunks per second over rateWindow) below which a stream is
	// treated as stalled; 0 = no check.
	minRate    float64
	rateWindow time.Duration
	hedge      config.Hedge
	degrade    []string // the degradation ladder, in order
	// cache keeps answers for the "cache" step; nil when the ladder has none.
	cache *answerCache
	// fastPath: answers no older than this are served from the cache
	// before any target is tried; 0 when the route has no fast path.
	fastPath time.Duration
	// cacheSettings are the cache's, to keep it across reloads.
	cacheSettings config.Cache
	// notice: the route has its own notice text, added to cached answers.
	notice bool
}

type apiKey struct {
	name     string
	priority string
	limiter  *rateLimiter // nil when unlimited
	tokens   *tokenBudget // nil when unlimited
}

// build makes a runtime from cfg, reusing targets (and so their breakers and
// statistics) and retry budgets from prev when their definition is unchanged.
func (g *Gateway) build(cfg *config.Config, prev *runtime) (*runtime, error) {
	rt := &runtime{
		cfg:     cfg,
		routes:  make(map[string]*route, len(cfg.Routes)),
		keys:    make(map[[32]byte]*apiKey, len(cfg.Keys)),
		targets: make(map[string]*target),
	}
	providers := make(map[string]config.Provider, len(cfg.Providers))
	for _, p := range cfg.Providers {
		providers[p.Name] = p
	}
	for _, k := range cfg.Keys {
		ak := &apiKey{name: k.Name, priority: k.Priority}
		if k.TokensPerMinute > 0 {
			ak.tokens = &tokenBudget{clk: g.clk, perMinute: int64(k.TokensPerMinute)}
			if prev != nil {
				for _, old := range prev.keys {
					if old.name == k.Name && old.tokens != nil && old.tokens.perMinute == int64(k.TokensPerMinute) {
						ak.tokens = old.tokens
					}
				}
			}
		}
		if k.RequestsPerMinute > 0 {
			ak.limiter = newRateLimiter(g.clk, k.RequestsPerMinute)
			if prev != nil {
				for _, old := range prev.keys {
					if old.name == k.Name && old.limiter != nil && old.limiter.perMinute == k.RequestsPerMinute {
						ak.limiter = old.limiter
					}
				}
			}
		}
		rt.keys[config.HashKey(k.Key.Value)] = ak
	}
	for _, rc := range cfg.Routes {
		r := &route{name: rc.Name, selection: rc.Selection, timeouts: rc.Timeouts, retry: rc.Retry, resumeDisabled: rc.Resume.Disabled,
			minRate: rc.Resume.MinChunksPerSecond, rateWindow: rc.Resume.Window.D(), hedge: rc.Hedge, degrade: rc.Degrade}
		if prev != nil {
			if old, ok := prev.routes[rc.Name]; ok && old.retry == rc.Retry {
				r.budget = old.budget
			}
		}
		r.cacheSettings, r.notice = rc.Cache, len(rc.Notice) > 0
		if rc.Cache.FastPath {
			r.fastPath = rc.Cache.FastPathTTL.D()
		}
		if slices.Contains(rc.Degrade, config.DegradeCache) || rc.Cache.FastPath {
			if prev != nil {
				if old, ok := prev.routes[rc.Name]; ok && old.cache != nil && old.cacheSettings == rc.Cache {
					r.cache = old.cache
				}
			}
			if r.cache == nil {
				r.cache = newAnswerCache(rc.Cache.MaxBytes, rc.Cache.TTL.D())
			}
		}
		if r.budget == nil {
			r.budget = newRetryBudget(g.clk, rc.Retry.Budget, rc.Retry.MinPerSecond)
		}
		for _, tier := range rc.Tiers {
			var rts []routeTarget
			for _, tc := range tier {
				p, ok := providers[tc.Provider]
				if !ok {
					return nil, fmt.Errorf("route %s: unknown provider %q", rc.Name, tc.Provider)
				}
				t, err := g.targetFor(rt, prev, p, tc)
				if err != nil {
					return nil, err
				}
				mode := tc.Continuation
				if mode == "" {
					mode = p.Continuation
				}
				rts = append(rts, routeTarget{target: t, weight: tc.Weight, contextWindow: tc.ContextWindow, continuation: mode})
			}
			r.tiers = append(r.tiers, rts)
		}
		rt.routes[rc.Name] = r
		rt.routeNames = append(rt.routeNames, rc.Name)
	}
	sort.Strings(rt.routeNames)
	return rt, nil
}

func (g *Gateway) targetFor(rt *runtime, prev *runtime, p config.Provider, tc config.Target) (*target, error) {
	id := p.Name + "/" + tc.Model
	maxConc := tc.MaxConcurrency
	if maxConc == 0 {
		maxConc = p.MaxConcurrency
	}
	sig := fmt.Sprintf("%s|%s|%s|%s|%v|%s|%d|%+v|%+v|%+v", p.Kind, p.BaseURL, p.APIKey.Value, p.APIVersion, sortedHeaders(p.Headers), tc.Model, maxConc, p.Breaker, p.Probe, p.AdaptiveConcurrency)
	if t, ok := rt.targets[id]; ok {
		if t.signature != sig {
			return nil, fmt.Errorf("target %s is defined twice with different settings (max_concurrency?)", id)
		}
		return t, nil
	}
	if prev != nil {
		if t, ok := prev.targets[id]; ok && t.signature == sig {
			rt.targets[id] = t
			return t, nil
		}
	}
	var up Upstream
	var err error
	if p.Kind == config.KindAnthropic {
		up, err = provider.NewAnthropic(p)
	} else {
		up, err = provider.NewOpenAI(p)
	}
	if err != nil {
		return nil, err
	}
	t := &target{
		id: id, provider: p.Name, model: tc.Model, up: up, client: g.client,
		maxConc: int64(maxConc), probe: p.Probe, signature: sig, maxOpenFor: p.Breaker.MaxOpenFor.D(),
	}
	if ac := p.AdaptiveConcurrency; ac.Enabled {
		limit, queued := g.metrics.limit.WithLabelValues(id), g.metrics.queued.WithLabelValues(id)
		limit.Set(float64(ac.Initial))
		queued.Set(0)
		t.adm = newAdmission(ac, g.clk, func(n int) { limit.Set(float64(n)) }, func(n int) { queued.Set(float64(n)) })
	}
	t.breaker = health.NewBreaker(id, breakerSettings(p.Breaker), g.clk, func(tr health.Transition) { g.onBreakerChange(t, tr) })
	rt.targets[id] = t
	return t, nil
}

func breakerSettings(b config.Breaker) health.Settings {
	return health.Settings{
		ConsecutiveFailures: b.ConsecutiveFailures,
		FailureRate:         b.FailureRate,
		MinRequests:         b.MinRequests,
		Window:              b.Window.D(),
		OpenFor:             b.OpenFor.D(),
		MaxOpenFor:          b.MaxOpenFor.D(),
		HalfOpenRequests:    b.HalfOpenRequests,
	}
}

func sortedHeaders(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k+"="+h[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// rateLimiter is a fixed one-minute window counter per key.
type rateLimiter struct {
	clk       clockwork.Clock
	perMinute int
	mu        sync.Mutex
	window    int64
	count     int
}

func newRateLimiter(clk clockwork.Clock, perMinute int) *rateLimiter {
	return &rateLimiter{clk: clk, perMinute: perMinute}
}

// allow takes one request; when over, it returns how long until the window resets.
func (l *rateLimiter) allow() (bool, int64) {
	now := l.clk.Now()
	w := now.Unix() / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	if w != l.window {
		l.window, l.count = w, 0
	}
	if l.count >= l.perMinute {
		return false, (w+1)*60 - now.Unix()
	}
	l.count++
	return true, 0
}

// tokenBudget counts a key's tokens in fixed one-minute windows.
type tokenBudget struct {
	clk       clockwork.Clock
	perMinute int64
	mu        sync.Mutex
	window    int64
	used      int64
}

// allow reports whether the key may start a request now; when not, how many
// seconds until the window resets.
func (b *tokenBudget) allow() (bool, int64) {
	now := b.clk.Now()
	w := now.Unix() / 60
	b.mu.Lock()
	defer b.mu.Unlock()
	if w != b.window {
		b.window, b.used = w, 0
	}
	if b.used >= b.perMinute {
		return false, (w+1)*60 - now.Unix()
	}
	return true, 0
}

// spend records tokens used by a request that ended now.
func (b *tokenBudget) spend(n int) {
	if n <= 0 {
		return
	}
	w := b.clk.Now().Unix() / 60
	b.mu.Lock()
	defer b.mu.Unlock()
	if w != b.window {
		b.window, b.used = w, 0
	}
	b.used += int64(n)
}
