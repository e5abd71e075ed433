package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/chat"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/health"
	"github.com/understudy/understudy/provider"
)

// exchange is one client request on its way through a route's targets.
type exchange struct {
	g     *Gateway
	rt    *runtime
	route *route
	req   *chat.Request
	key   *apiKey
	w     http.ResponseWriter
	start time.Time
	// deadlineAt is when the request's overall deadline runs out.
	deadlineAt time.Time

	attempts  int
	notes     []string          // why each target did not answer, for the final error
	lastFinal *provider.Failure // a context-length failure to return if no larger target answers
	failed    bool              // some attempt failed: later successes are failovers
	// contextFloor: after context_length_exceeded, only different models with a
	// larger (or unknown) context window may be tried.
	excludedModels map[string]bool
	contextFloor   int
	retriedSame    bool // the one quick same-target retry is spent
	// stream is what the client has received of a streamed answer, from the
	// first byte sent; nil before.
	stream *streamState
	// instruction marks targets that refused a prefill: they continue with
	// an instruction instead.
	instruction map[string]bool

	// mu guards attempts and the race while a hedge runs two attempts.
	mu sync.Mutex
	// race is the hedge in progress: its racers' cancels and the winner.
	race *race
	// raced are targets already attempted as hedges: the loop skips them.
	raced map[*target]bool
	// acceptLanguage is the client's Accept-Language, for degraded answers.
	acceptLanguage string
	// user is the end user, hashed (Outcome.User); "" when unknown.
	user string
	// limited: some target refused the request under its adaptive
	// concurrency limit (overload, not failure).
	limited bool
	// ttft and usage of the answer that served the request.
	ttft  time.Duration
	usage *chat.Usage
}

// action is what to do after an attempt.
type action int

const (
	actDone      action = iota // the client has its answer (or error)
	actRetrySame               // try the same target again (after a wait)
	actNext                    // fail over to the next target
)

func (x *exchange) run(ctx context.Context) {
	x.route.budget.request()
	for _, tier := range x.route.tiers {
		for _, t := range order(tier, x.route.selection, x.g.rnd) {
			if x.excludedModels[t.model] || (x.contextFloor > 0 && t.contextWindow > 0 && t.contextWindow <= x.contextFloor) {
				continue
			}
			if x.stream != nil && t.continuation == config.ContinueNone {
				continue
			}
			if x.raced[t.target] {
				continue
			}
			for {
				if ctx.Err() != nil {
					x.deadline(ctx)
					return
				}
				if max := x.route.retry.MaxAttempts; max > 0 && x.attempts >= max {
					x.notes = append(x.notes, fmt.Sprintf("max_attempts (%d) reached", max))
					x.exhausted()
					return
				}
				act, wait := x.try(ctx, t)
				if act == actDone {
					return
				}
				if act == actNext {
					break
				}
				if !sleep(ctx, x.g.clk, wait) {
					x.deadline(ctx)
					return
				}
			}
		}
	}
	x.exhausted()
}

// try makes one attempt at t (hedged when the route says so) and decides
// what comes next.
func (x *exchange) try(ctx context.Context, t routeTarget) (action, time.Duration) {
	done, ok := x.admit(ctx, t, true)
	if !ok {
		return actNext, 0
	}
	started := x.g.clk.Now()
	if x.route.hedge.Enabled && x.stream == nil {
		return x.hedged(ctx, t, done, started)
	}
	res := x.attemptSafely(ctx, t, done, x.stream != nil)
	return x.settle(ctx, t, res, done, started)
}

// admit takes a concurrency slot and the breaker's permission for one
// attempt at t; when refused it notes why. Under an adaptive limit the
// request may wait for a slot (up to its priority's queue wait) when
// canWait; the returned done then also gives the slot back.
func (x *exchange) admit(ctx context.Context, t routeTarget, canWait bool) (func(health.Outcome), bool) {
	if x.g.isDrained(t.id) {
		x.notes = append(x.notes, t.id+": drained for maintenance")
		return nil, false
	}
	var slot permit
	if t.adm != nil {
		if t.breaker.State() == health.Open {
			// Do not queue for a target that will refuse anyway.
			return x.refusedByBreaker(t)
		}
		wait := time.Duration(0)
		if canWait {
			wait = x.rt.cfg.Limits.QueueWait.For(x.key.priority).D()
		}
		var err error
		if slot, err = t.adm.acquire(ctx, x.key.priority, wait); err != nil {
			limit, inflight, queued := t.adm.state()
			x.g.metrics.admission.WithLabelValues(t.id, x.key.priority, admissionResult(err)).Inc()
			x.notes = append(x.notes, fmt.Sprintf("%s: not admitted under its adaptive concurrency limit: %v (limit %d, %d in flight, %d queued)", t.id, err, limit, inflight, queued))
			x.limited = true
			return nil, false
		}
		x.g.metrics.admission.WithLabelValues(t.id, x.key.priority, "admitted").Inc()
	}
	if !t.acquire() {
		if slot.p != nil {
			slot.release(false)
		}
		x.notes = append(x.notes, t.id+": at its concurrency limit")
		return nil, false
	}
	done, err := t.breaker.AllowOutcome()
	if err != nil {
		t.release()
		if slot.p != nil {
			slot.release(false)
		}
		return x.refusedByBreaker(t)
	}
	x.mu.Lock()
	x.attempts++
	x.mu.Unlock()
	if slot.p == nil {
		return done, true
	}
	// Once: a panicking attempt is accounted for twice (its cleanup, then
	// the race's), and a slot given back twice would let one more in.
	var once sync.Once
	return func(o health.Outcome) {
		done(o)
		once.Do(func() { slot.release(o == health.Success) })
	}, true
}

// refusedByBreaker notes that t's breaker is open.
func (x *exchange) refusedByBreaker(t routeTarget) (func(health.Outcome), bool) {
	note := t.id + ": circuit open"
	if until := t.breaker.OpenUntil(); !until.IsZero() {
		note += fmt.Sprintf(" (next try in %s)", x.g.clk.Until(until).Round(time.Second))
	}
	x.notes = append(x.notes, note)
	return nil, false
}

// admissionResult names an admission refusal for the metrics.
func admissionResult(err error) string {
	switch {
	case errors.Is(err, errAtLimit):
		return "at_limit"
	case errors.Is(err, errQueueFull):
		return "queue_full"
	case errors.Is(err, errQueueWait):
		return "queue_wait"
	case errors.Is(err, errEvicted):
		return "evicted"
	}
	return "canceled"
}

// account does the bookkeeping of a finished attempt: metrics, the
// attempt's record, the breaker's outcome, latency statistics.
func (x *exchange) account(t routeTarget, res result, done func(health.Outcome), started time.Time) {
	m := x.g.metrics
	rec := understudy.Attempt{Time: x.g.clk.Now(), Route: x.route.name, Target: t.id, Class: understudy.ClassSuccess, Stream: x.req.Stream}
	rec.Duration = rec.Time.Sub(started)
	if res.fail != nil {
		rec.Class, rec.Status, rec.Message = res.fail.Class, res.fail.Status, res.fail.Message
	}
	defer x.g.recordAttempt(rec)
	if res.fail == nil {
		done(health.Success)
		t.observeLatency(res.ttft)
		m.attempts.WithLabelValues(x.route.name, t.id, string(understudy.ClassSuccess)).Inc()
		m.ttft.WithLabelValues(x.route.name, t.id).Observe(res.ttft.Seconds())
		return
	}
	f := res.fail
	m.attempts.WithLabelValues(x.route.name, t.id, string(f.Class)).Inc()
	switch {
	case f.Class == understudy.ClassCanceled || f.Class == understudy.ClassDeadline || f.Untranslatable:
		done(health.Ignore) // tells nothing about the target
	case f.Class.Retryable():
		done(health.Failure)
	default:
		done(health.Success) // the target answered; the request was the problem
	}
	if f.Class == understudy.ClassTimeout {
		// Latency-aware selection must learn that this target is slow.
		t.observeLatency(x.g.clk.Since(started))
	}
}

// settle accounts for an attempt and decides what comes next.
func (x *exchange) settle(ctx context.Context, t routeTarget, res result, done func(health.Outcome), started time.Time) (action, time.Duration) {
	x.account(t, res, done, started)
	if res.fail == nil {
		x.succeeded(t, res)
		return actDone, 0
	}
	f := res.fail
	if res.committed {
		return x.streamBroke(t, f)
	}
	x.g.log.Info("attempt failed", "route", x.route.name, "target", t.id, "class", f.Class, "status", f.Status, "msg", f.Message)
	if x.stream != nil {
		if act, ok := x.continuationFailed(t, f); ok {
			return act, 0
		}
	}
	switch f.Class {
	case understudy.ClassCanceled:
		x.finish(t, "client_canceled", f)
		return actDone, 0
	case understudy.ClassDeadline:
		x.deadline(ctx)
		return actDone, 0
	case understudy.ClassInvalid, understudy.ClassContentFilter, understudy.ClassNotImpl:
		f.Target = t.id
		if f.Untranslatable {
			x.lastFinal = f
			x.notes = append(x.notes, t.id+": "+f.Message)
			return actNext, 0
		}
		x.returnUpstream(t, f)
		return actDone, 0
	case understudy.ClassContextLength:
		if x.excludedModels == nil {
			x.excludedModels = make(map[string]bool)
		}
		x.excludedModels[t.model] = true
		if t.contextWindow > x.contextFloor {
			x.contextFloor = t.contextWindow
		}
		f.Target = t.id
		x.lastFinal = f
		x.notes = append(x.notes, t.id+": context length exceeded")
		return actNext, 0
	}
	x.failed = true
	x.notes = append(x.notes, t.id+": "+describe(f))
	return x.afterRetryable(ctx, t, f)
}

// afterRetryable decides between a same-target retry and failover, and cools
// the target down when the upstream asked for it.
func (x *exchange) afterRetryable(ctx context.Context, t routeTarget, f *provider.Failure) (action, time.Duration) {
	rc := x.route.retry
	switch f.Class {
	case understudy.ClassRateLimit:
		ra := f.RetryAfter
		if ra > 0 && ra <= rc.RetryAfterMaxWait.D() && x.fits(ra) && !x.retriedSame && x.route.budget.tryRetry() {
			x.retriedSame = true
			return actRetrySame, ra
		}
		if ra <= 0 {
			// No Retry-After: back off with jitter, without hammering.
			ra = jitter(rc.RetryAfterMaxWait.D(), x.g.rnd)
		}
		ra = min(ra, t.maxOpenFor)
		x.cool(t, ra, fmt.Sprintf("rate limited (429), cooling down %s", ra.Round(time.Millisecond)), false)
	case understudy.ClassQuota:
		x.cool(t, longCooldown(t, f.RetryAfter), "quota or billing exhausted: "+f.Message+" — needs a person", true)
	case understudy.ClassAuth:
		x.cool(t, longCooldown(t, 0), fmt.Sprintf("provider refused our credentials or model (HTTP %d): %s — check the configuration", f.Status, f.Message), true)
	case understudy.ClassOverloaded:
		if f.RetryAfter > 0 {
			x.cool(t, f.RetryAfter, fmt.Sprintf("overloaded, Retry-After %s", f.RetryAfter), false)
		}
	case understudy.ClassConnect, understudy.ClassReset, understudy.ClassServer:
		// One quick retry on the same target, only for the request's first
		// transient error, and only within the retry budget.
		if !x.retriedSame && x.attempts == 1 && x.route.budget.tryRetry() {
			x.retriedSame = true
			return actRetrySame, jitter(rc.Backoff.D(), x.g.rnd)
		}
	}
	x.g.metrics.failovers.WithLabelValues(x.route.name, t.id, string(f.Class)).Inc()
	return actNext, 0
}

func (x *exchange) fits(d time.Duration) bool {
	return x.g.clk.Now().Add(d).Before(x.deadlineAt)
}

// longCooldown keeps a misconfigured or unpaid target out for a long time:
// the breaker's max_open_for, or longer if the provider said so.
func longCooldown(t routeTarget, ra time.Duration) time.Duration {
	d := t.maxOpenFor
	if ra > d {
		d = ra
	}
	return d
}

func (x *exchange) cool(t routeTarget, d time.Duration, reason string, needsPerson bool) {
	// An upstream's Retry-After is capped: a bogus year-long value must not
	// take a target out until restart.
	d = min(d, t.maxOpenFor)
	t.breaker.Trip(d, reason)
	lvl := x.g.log.Warn
	if needsPerson {
		lvl = x.g.log.Error
	}
	lvl("target cooled down", "target", t.id, "for", d, "reason", reason)
	x.g.emit(understudy.Event{Type: understudy.EventTargetCooled, Route: x.route.name, Target: t.id, Message: reason,
		NeedsPerson: needsPerson, Details: map[string]any{"seconds": d.Seconds()}})
}

func describe(f *provider.Failure) string {
	if f.Status != 0 {
		return fmt.Sprintf("HTTP %d %s", f.Status, f.Class)
	}
	return string(f.Class)
}

func (x *exchange) succeeded(t routeTarget, res result) {
	x.ttft, x.usage = res.ttft, res.usage
	if x.route.cache != nil && x.req.Cacheable {
		answer := res.answer
		if x.stream != nil && !x.stream.tools && !x.stream.multi {
			answer = x.stream.text.String()
		}
		if answer != "" {
			x.route.cache.put(x.req.ConversationKey(), answer, t.model, x.g.clk.Now())
		}
	}
	if x.stream != nil && x.stream.broken != nil {
		// A continued stream: count every attempt's reported tokens.
		sum := x.stream.usage
		if res.usage != nil {
			sum.PromptTokens += res.usage.PromptTokens
			sum.CompletionTokens += res.usage.CompletionTokens
			sum.TotalTokens += res.usage.TotalTokens
		}
		x.usage = &sum
	}
	mode := "primary"
	if x.stream != nil && x.stream.broken != nil {
		mode = "resumed"
		x.g.emit(understudy.Event{Type: understudy.EventStreamResumed, Route: x.route.name, Target: t.id,
			Message: fmt.Sprintf("stream broken on %s (%s) continued by %s after %d attempts", x.stream.broken.Target, x.stream.broken.Class, t.id, x.attempts)})
	} else if x.failed {
		mode = "failover"
		x.g.emit(understudy.Event{Type: understudy.EventFailover, Route: x.route.name, Target: t.id,
			Message: fmt.Sprintf("served by %s after %d attempts (%s)", t.id, x.attempts, strings.Join(x.notes, "; "))})
	}
	if res.usage != nil {
		x.g.metrics.tokens.WithLabelValues(x.route.name, t.id, "prompt").Add(float64(res.usage.PromptTokens))
		x.g.metrics.tokens.WithLabelValues(x.route.name, t.id, "completion").Add(float64(res.usage.CompletionTokens))
	}
	x.finish(t, mode, nil)
}

// finish records the request's outcome.
func (x *exchange) finish(t routeTarget, outcome string, f *provider.Failure) {
	target := ""
	if t.target != nil {
		target = t.id
	}
	latency := x.g.clk.Since(x.start)
	x.g.metrics.requests.WithLabelValues(x.route.name, target, outcome).Inc()
	x.g.metrics.duration.WithLabelValues(x.route.name, outcome).Observe(latency.Seconds())
	o := understudy.Outcome{Time: x.g.clk.Now(), Route: x.route.name, Target: target, Class: understudy.ClassSuccess,
		Mode: outcome, Latency: latency, TTFT: x.ttft, Attempts: x.attemptCount(), Stream: x.req.Stream, User: x.user}
	if f != nil {
		o.Class = f.Class
	}
	if x.usage != nil {
		o.PromptTokens, o.CompletionTokens = x.usage.PromptTokens, x.usage.CompletionTokens
		if x.key != nil && x.key.tokens != nil {
			x.key.tokens.spend(x.usage.PromptTokens + x.usage.CompletionTokens)
		}
	}
	x.g.recordOutcome(o)
	if f != nil && outcome != "client_canceled" {
		x.g.log.Warn("request failed", "route", x.route.name, "key", x.key.name, "target", target, "outcome", outcome, "class", f.Class, "attempts", x.attemptCount())
	}
}

// returnUpstream hands a final upstream error to the client as is.
func (x *exchange) returnUpstream(t routeTarget, f *provider.Failure) {
	x.finish(t, "upstream_error", f)
	if _, _, _, ok := chat.ParseError(f.Body); ok && f.Status >= 400 {
		h := x.w.Header()
		h.Set("Content-Type", "application/json")
		x.routeHeaders()
		if f.Target != "" {
			h.Set("X-Understudy-Target", f.Target)
		}
		x.w.WriteHeader(f.Status)
		_, _ = x.w.Write(f.Body)
		return
	}
	status := f.Status
	if status < 400 {
		status = http.StatusBadRequest
	}
	writeError(x.w, x.g.log, &understudy.Error{Code: understudy.EUPSTREAM, Status: status, Message: f.Message, Type: f.Type, UpstreamCode: f.Code})
}

// exhausted answers when no target could: the last context-length error if
// that is why, else an explicit 503 with Retry-After, at once.
func (x *exchange) exhausted() {
	if x.stream != nil {
		x.finish(routeTarget{}, "stream_broken", x.stream.broken)
		x.endStream(x.stream.broken, "")
		return
	}
	if x.lastFinal != nil && !x.failed {
		x.returnUpstream(routeTarget{}, x.lastFinal)
		return
	}
	x.g.emit(understudy.Event{Type: understudy.EventRouteExhausted, Route: x.route.name,
		Message: "no target could answer: " + strings.Join(x.notes, "; ")})
	if x.degrade() {
		return
	}
	class, retry := understudy.ClassServer, x.retryAfter()
	if x.limited && !x.failed {
		// Every target was busy, none failed: overload, with the shedding
		// Retry-After.
		class, retry = understudy.ClassOverloaded, x.rt.cfg.Limits.ShedRetryAfter.D()
	}
	x.finish(routeTarget{}, "unavailable", &provider.Failure{Class: class})
	x.routeHeaders()
	writeError(x.w, x.g.log, &understudy.Error{
		Code:       understudy.EUNAVAILABLE,
		Message:    fmt.Sprintf("No upstream model for %q can answer right now (%s). Please retry later.", x.route.name, strings.Join(x.notes, "; ")),
		RetryAfter: retry,
	})
}

// routeHeaders names the route and the attempts made on an error answer.
func (x *exchange) routeHeaders() {
	h := x.w.Header()
	h.Set("X-Understudy-Route", x.route.name)
	h.Set("X-Understudy-Attempts", strconv.Itoa(x.attemptCount()))
}

// attemptSafely runs one attempt and releases its concurrency slot; a panic
// (a bug) still releases the slot and the breaker's trial before going on up.
func (x *exchange) attemptSafely(ctx context.Context, t routeTarget, done func(health.Outcome), resume bool) result {
	ok := false
	defer func() {
		t.release()
		if !ok {
			done(health.Ignore)
		}
	}()
	res := x.attempt(ctx, t, resume)
	ok = true
	return res
}

// retryAfter is the time until the first target of the route may be tried
// again, between 1 s and 60 s.
func (x *exchange) retryAfter() time.Duration {
	best := time.Duration(0)
	now := x.g.clk.Now()
	for _, tier := range x.route.tiers {
		for _, t := range tier {
			until := t.breaker.OpenUntil()
			if until.IsZero() {
				continue
			}
			if d := until.Sub(now); best == 0 || d < best {
				best = d
			}
		}
	}
	return min(max(best, time.Second), time.Minute)
}

func (x *exchange) deadline(ctx context.Context) {
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		x.finish(routeTarget{}, "client_canceled", nil)
		return
	}
	x.finish(routeTarget{}, "deadline", &provider.Failure{Class: understudy.ClassDeadline})
	if x.stream != nil {
		x.endStream(&provider.Failure{Class: understudy.ClassDeadline}, "")
		return
	}
	x.routeHeaders()
	writeError(x.w, x.g.log, &understudy.Error{
		Code: understudy.EUPSTREAM, Status: http.StatusGatewayTimeout, Type: "timeout", UpstreamCode: "deadline_exceeded",
		Message: fmt.Sprintf("No answer for %q within the request deadline of %s (%s).", x.route.name, x.route.timeouts.Total.D(), strings.Join(x.notes, "; ")),
	})
}
