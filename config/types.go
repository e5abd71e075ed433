// Package config reads understudy.yaml: Default() → Parse(r, getenv) → Validate().
// Every field's comment states its default and what zero means.
package config

import (
	"time"
)

// Config is the whole file.
type Config struct {
	// Listen is the gateway's address. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// PublicURL is where users reach the status page; used in notices. Default "" (none).
	PublicURL string `yaml:"public_url"`
	// StatusPageName is the status page's title, e.g. "Acme Assistant
	// status". Default "Understudy".
	StatusPageName string `yaml:"status_page_name"`
	// Limits bound what a client may send and how much the gateway takes on.
	Limits Limits `yaml:"limits"`
	// Keys are the gateway's client keys. Empty means no authentication (allowed
	// only when Listen is a loopback address; Validate refuses otherwise).
	Keys []Key `yaml:"keys"`
	// Providers are the upstream endpoints. At least one.
	Providers []Provider `yaml:"providers"`
	// Routes are the model names clients ask for. At least one.
	Routes []Route `yaml:"routes"`
	// Log sets the structured log output.
	Log Log `yaml:"log"`
	// Storage is where events and per-minute rollups are kept.
	Storage Storage `yaml:"storage"`
	// Incidents configures detection and the incident lifecycle.
	Incidents Incidents `yaml:"incidents"`
	// Communication is the crisis communication plan: languages and message
	// templates of public updates.
	Communication Communication `yaml:"communication"`
	// FAQ is the knowledge base of the "faq" degradation step.
	FAQ FAQ `yaml:"faq"`
	// EndUserHeader names a request header identifying the end user (e.g.
	// X-End-User-Id), for the "end users affected" of incidents; requests
	// without it use the body's "user" field. Only a hash is stored.
	// Default none: the "user" field only.
	EndUserHeader string `yaml:"end_user_header"`
	// Handoff configures the human handoff: the agents' SLA and an outside
	// support desk.
	Handoff Handoff `yaml:"handoff"`
	// Notifications configures how subscribers are told: webhooks, Slack,
	// Teams and e-mail.
	Notifications Notifications `yaml:"notifications"`

	// src records where each field was written (nil for a Config built in
	// Go) so that Validate can give line numbers.
	src *source
}

// Limits bound requests and admission.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted; larger gets 413. Default 4 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxInflight is how many requests the gateway serves at once; beyond it,
	// requests are shed with 503 and Retry-After. Default 0 = unlimited.
	MaxInflight int `yaml:"max_inflight"`
	// ShedRetryAfter is the Retry-After sent when shedding. Default 1s.
	ShedRetryAfter Duration `yaml:"shed_retry_after"`
	// QueueWait is how long a request may wait, per priority, in a target's
	// admission queue for a slot under its adaptive concurrency limit
	// (providers[].adaptive_concurrency) before it goes on to the next
	// target, then the route's degradation ladder.
	QueueWait QueueWait `yaml:"queue_wait"`
}

// QueueWait are the admission deadlines per priority. A zero written in the
// file means "never wait": the request goes on at once.
type QueueWait struct {
	// Critical requests wait up to this. Default 5s.
	Critical Duration `yaml:"critical"`
	// Default-priority requests wait up to this. Default 1s.
	Default Duration `yaml:"default"`
	// Batch requests wait up to this. Default 0: they never wait.
	Batch Duration `yaml:"batch"`
}

// For returns the deadline of priority (critical, default or batch).
func (q QueueWait) For(priority string) Duration {
	switch priority {
	case PriorityCritical:
		return q.Critical
	case PriorityBatch:
		return q.Batch
	}
	return q.Default
}

// Key is one gateway client key. Only its SHA-256 is kept after loading.
type Key struct {
	// Name identifies the key in logs and metrics. Required, unique.
	Name string `yaml:"name"`
	// Key must be an environment reference such as ${WEB_CHAT_KEY}; a literal
	// secret in the file is refused. Required.
	Key Secret `yaml:"key"`
	// Priority is critical, default or batch. Default "default".
	Priority string `yaml:"priority"`
	// RequestsPerMinute caps this key; over it the gateway answers 429 with
	// Retry-After. Default 0 = unlimited.
	RequestsPerMinute int `yaml:"requests_per_minute"`
	// TokensPerMinute caps the tokens (prompt + completion, as the
	// providers report them) this key's requests use per minute; once a
	// minute's total reaches it, further requests get 429 with Retry-After
	// until the next minute. Default 0 = unlimited.
	TokensPerMinute int `yaml:"tokens_per_minute"`
}

// Provider kinds.
const (
	KindOpenAI = "openai" // any OpenAI-compatible API: OpenAI, Mistral, Groq, vLLM, Ollama, the simulator
	KindAzure  = "azure"  // Azure OpenAI: api-key header, deployments path, api-version
	// KindAnthropic is the Anthropic Messages API (x-api-key, anthropic-version),
	// translated to and from OpenAI's format.
	KindAnthropic = "anthropic"
)

// Provider is one upstream endpoint.
type Provider struct {
	// Name identifies the provider; targets refer to it. Required, unique.
	Name string `yaml:"name"`
	// Kind is "openai" (default), "azure" or "anthropic".
	Kind string `yaml:"kind"`
	// BaseURL is the API root, e.g. https://api.openai.com/v1. Required; http or https.
	BaseURL string `yaml:"base_url"`
	// APIKey must be an environment reference (${OPENAI_API_KEY}). Default none
	// (local servers such as Ollama need no key).
	APIKey Secret `yaml:"api_key"`
	// Headers are added to every upstream request (e.g. OpenAI-Organization).
	// Values may use ${ENV}. Default none.
	Headers map[string]string `yaml:"headers"`
	// APIVersion is Azure's api-version query parameter. Default "2024-10-21" for azure.
	APIVersion string `yaml:"api_version"`
	// MaxConcurrency caps in-flight requests to each target of this provider;
	// a target at its cap is skipped. Default 0 = unlimited. A target may override.
	MaxConcurrency int `yaml:"max_concurrency"`
	// AdaptiveConcurrency limits each target of this provider to a
	// concurrency that follows its latency (a gradient limiter), with an
	// admission queue ordered by priority. Default off.
	AdaptiveConcurrency AdaptiveConcurrency `yaml:"adaptive_concurrency"`
	// Probe configures active health checks of this provider's targets.
	Probe Probe `yaml:"probe"`
	// Breaker configures the circuit breaker of each target of this provider.
	Breaker Breaker `yaml:"breaker"`
	// Continuation is how this provider's targets are asked to continue an
	// answer another target left cut mid-stream: "prefix" (Mistral,
	// DeepSeek: a final assistant message with "prefix": true),
	// "continue_final_message" (vLLM), "instruction" (the partial answer then
	// a user message asking to continue; works anywhere), or "none" (never
	// used to continue). Kind anthropic uses "native" (a final assistant
	// message is a prefill). Default "native" for anthropic, else
	// "instruction". A target may override it.
	Continuation string `yaml:"continuation"`
	// StatusPage is the provider's public status page in the Statuspage
	// format, e.g. https://status.openai.com/api/v2/summary.json. Polled;
	// incidents the provider declares are attached to ours as evidence (they
	// never open one). Default "" = not polled.
	StatusPage string `yaml:"status_page"`
	// StatusComponents are the names (or parts of names) of the status page's
	// components that matter to us, e.g. ["API", "Chat Completions"]. Default
	// none = every incident on the page is relevant.
	StatusComponents []string `yaml:"status_components"`
}

// AdaptiveConcurrency configures a target's adaptive concurrency limit.
type AdaptiveConcurrency struct {
	// Enabled turns the limiter on. Default false.
	Enabled bool `yaml:"enabled"`
	// Min is the lowest the limit goes. Default 1.
	Min int `yaml:"min"`
	// Max is the highest the limit goes. Default 200 (max_concurrency when
	// that is set and lower).
	Max int `yaml:"max"`
	// Initial is the limit at start. Default 10 (within min and max).
	Initial int `yaml:"initial"`
	// Queue bounds the admission queue at this many times the current
	// limit. Default 2.
	Queue float64 `yaml:"queue"`
}

// Probe configures active probes: a tiny chat completion sent to each target.
type Probe struct {
	// Interval between probes while a target's breaker is open. Default 2s.
	Interval Duration `yaml:"interval"`
	// HealthyInterval between probes while the target is healthy. Default 0 = probe only while open.
	HealthyInterval Duration `yaml:"healthy_interval"`
	// Timeout of one probe. Default 5s.
	Timeout Duration `yaml:"timeout"`
	// Disabled turns probes off. Default false.
	Disabled bool `yaml:"disabled"`
}

// Breaker configures a target's circuit breaker.
type Breaker struct {
	// ConsecutiveFailures opens the breaker. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// FailureRate (0..1) over Window opens it once MinRequests were seen. Default 0.5.
	FailureRate float64 `yaml:"failure_rate"`
	// MinRequests in Window before FailureRate applies. Default 10.
	MinRequests int `yaml:"min_requests"`
	// Window for the failure rate. Default 30s.
	Window Duration `yaml:"window"`
	// OpenFor is how long the breaker stays open before a trial. Default 5s.
	OpenFor Duration `yaml:"open_for"`
	// MaxOpenFor bounds the exponential ejection of a flapping target. Default 5m.
	MaxOpenFor Duration `yaml:"max_open_for"`
	// HalfOpenRequests is the number of trial requests let through while half-open. Default 1.
	HalfOpenRequests int `yaml:"half_open_requests"`
}

// Continuation modes (see Provider.Continuation).
const (
	ContinueNative       = "native" // a final assistant message (Anthropic)
	ContinuePrefix       = "prefix"
	ContinueFinalMessage = "continue_final_message"
	ContinueInstruction  = "instruction"
	ContinueNone         = "none"
)

// Selection policies inside a tier.
const (
	SelectWeighted = "weighted" // random, proportional to weight
	SelectLatency  = "latency"  // power of two choices on EWMA latency
)

// Route is a model name clients ask for.
type Route struct {
	// Name is the model name clients send. Required, unique.
	Name string `yaml:"name"`
	// Tiers are tried in order; targets inside a tier share load. At least one.
	Tiers [][]Target `yaml:"tiers"`
	// Selection inside a tier: "weighted" (default) or "latency".
	Selection string `yaml:"selection"`
	// Timeouts bound each attempt and the whole request.
	Timeouts Timeouts `yaml:"timeouts"`
	// Retry bounds retries and waits.
	Retry Retry `yaml:"retry"`
	// Resume controls mid-stream continuation.
	Resume Resume `yaml:"resume"`
	// Hedge starts a second attempt on another target when the first is slow.
	Hedge Hedge `yaml:"hedge"`
	// SLO is the route's service level objective.
	SLO SLO `yaml:"slo"`
	// Degrade is the degradation ladder used when no target can answer, in
	// order. Available now: "cache" (a recent answer to the same
	// conversation), "faq" (the best answer of the FAQ knowledge base above
	// its confidence threshold), "handoff" (the conversation is queued for a
	// human agent; the reply says so, with the estimated wait) and "notice"
	// (an honest answer in the user's language with the status page link
	// and ETA). Default none: a 503.
	Degrade []string `yaml:"degrade"`
	// Cache bounds the answers kept for the "cache" step.
	Cache Cache `yaml:"cache"`
	// Notice is a short text per language (e.g. {en: "…", fr: "…"}) shown
	// to users while the route's component is not operational: in replies
	// served by degraded modes, by GET /api/notice and the embeddable
	// banner. Placeholders as in communication templates. Default none
	// (the built-in text of the communication plan is used by the API).
	Notice map[string]string `yaml:"notice"`
}

// Cache is a route's answer cache: recent successful answers per
// normalized conversation (exact match on the messages), used by the
// "cache" degradation step.
type Cache struct {
	// TTL is how long an answer may be served again. Default 1h.
	TTL Duration `yaml:"ttl"`
	// MaxBytes bounds the cache's memory (least recently used out first).
	// Default 8 MiB.
	MaxBytes int `yaml:"max_bytes"`
	// FastPath serves a cached answer before trying any target when the
	// same conversation was answered within FastPathTTL. Default false.
	FastPath bool `yaml:"fast_path"`
	// FastPathTTL is the age limit of answers the fast path serves. Default
	// (and at most) TTL.
	FastPathTTL Duration `yaml:"fast_path_ttl"`
}

// SLO is a route's objective: availability (requests served by a model,
// not failed nor degraded) and optionally latency.
type SLO struct {
	// Availability is the share of requests that must be served well, e.g.
	// "99.9%" or 0.999. Default 99.9%.
	Availability float64 `yaml:"availability"`
	// Latency, when set, is the answer time LatencyTarget of good requests
	// must meet (e.g. 6s). Default 0 = no latency objective.
	Latency Duration `yaml:"latency"`
	// LatencyTarget is the share of good requests that must answer within
	// Latency. Default 95%.
	LatencyTarget float64 `yaml:"latency_target"`
	// Period over which the error budget is counted. Default 720h (30 days).
	Period Duration `yaml:"period"`
	// DegradedGood lists ladder steps (cache, faq, handoff, notice) whose
	// answers count as good for availability. Default none: a degraded
	// answer spends error budget like a failure.
	DegradedGood []string `yaml:"degraded_good"`
}

// Hedge configures hedged requests: when the first attempt has produced
// nothing after Delay, a second one starts on the next target; the first to
// answer wins and the other is cancelled. Non-streaming requests, and
// streams until their first token. Hedges come out of the retry budget.
type Hedge struct {
	// Enabled turns hedging on for the route. Default false.
	Enabled bool `yaml:"enabled"`
	// Delay before the hedge. Default 0 = the first target's observed p95
	// time to first token (over its last 128 answers; until it has 20, half
	// of first_token).
	Delay Duration `yaml:"delay"`
}

// Resume controls what happens when a stream breaks after text reached the
// client.
type Resume struct {
	// Disabled turns continuation off: a broken stream then ends with an
	// explicit error event. Default false (continuation on).
	Disabled bool `yaml:"disabled"`
	// MinChunksPerSecond, when set, treats a stream whose rate of chunks
	// (about one token each) stays below it over Window as stalled: it is
	// abandoned and continued on the next target. Default 0 = off.
	MinChunksPerSecond float64 `yaml:"min_chunks_per_second"`
	// Window over which the rate is measured, from the first token. Default 5s.
	Window Duration `yaml:"window"`
}

// Target is one model on one provider.
type Target struct {
	// Provider names an entry of providers. Required.
	Provider string `yaml:"provider"`
	// Model is the provider's model id (Azure: the deployment name). Required.
	Model string `yaml:"model"`
	// Weight inside the tier for weighted selection. Default 1.
	Weight int `yaml:"weight"`
	// ContextWindow in tokens, when known; used to pick a larger-context target
	// after context_length_exceeded. Default 0 = unknown.
	ContextWindow int `yaml:"context_window"`
	// MaxConcurrency overrides the provider's. Default 0 = the provider's.
	MaxConcurrency int `yaml:"max_concurrency"`
	// Continuation overrides the provider's. Default "" = the provider's.
	Continuation string `yaml:"continuation"`
}

// Timeouts of a route.
type Timeouts struct {
	// Connect bounds dialing and TLS. Default 2s.
	Connect Duration `yaml:"connect"`
	// FirstToken bounds a streaming attempt from sending to its first token.
	// Default 10s.
	FirstToken Duration `yaml:"first_token"`
	// Response bounds a non-streaming attempt from sending to the complete
	// answer (a non-streamed answer arrives all at once). Default 60s.
	Response Duration `yaml:"response"`
	// StreamIdle bounds the silence between two chunks of a stream. Default 10s.
	StreamIdle Duration `yaml:"stream_idle"`
	// Total bounds the whole request, all attempts included. Default 120s.
	Total Duration `yaml:"total"`
}

// Retry bounds retries of a route.
type Retry struct {
	// Budget is the share of requests that may be retries (0..1). Default 0.2.
	Budget float64 `yaml:"budget"`
	// MinPerSecond is the floor of retries always allowed. Default 3.
	MinPerSecond float64 `yaml:"min_per_second"`
	// RetryAfterMaxWait: a 429 with Retry-After up to this is waited out on the
	// same target; longer cools the target down and fails over. Default 2s.
	RetryAfterMaxWait Duration `yaml:"retry_after_max_wait"`
	// Backoff is the base of the jittered backoff before a same-target retry. Default 100ms.
	Backoff Duration `yaml:"backoff"`
	// MaxAttempts bounds attempts per request across all targets. Default 0 = one per target plus one retry.
	MaxAttempts int `yaml:"max_attempts"`
}

// Storage selects the store: an SQLite file (default) or PostgreSQL.
type Storage struct {
	// Disabled records nothing: events are only logged, and nothing that
	// needs history (status page uptime, incidents, postmortems) is
	// available. For benchmarks and throwaway runs. Default false.
	Disabled bool `yaml:"disabled"`
	// SQLite is the database file. Default "understudy.db" (in the working
	// directory) unless postgres_dsn is set.
	SQLite string `yaml:"sqlite"`
	// PostgresDSN, when set, uses PostgreSQL instead. It holds credentials,
	// so it must be an environment reference such as ${UNDERSTUDY_POSTGRES_DSN}.
	PostgresDSN Secret `yaml:"postgres_dsn"`
	// EventsRetention: events older than this are deleted. Default 90 days (2160h).
	EventsRetention Duration `yaml:"events_retention"`
	// RollupsRetention: per-minute rollups older than this are deleted. Default 400 days (9600h).
	RollupsRetention Duration `yaml:"rollups_retention"`
	// FlushEvery is how often recorded outcomes and events are written. Default 5s.
	FlushEvery Duration `yaml:"flush_every"`
}

// FAQ is a directory of question–answer files (Markdown or YAML), indexed
// for full-text search in English and French and reloaded when it changes.
type FAQ struct {
	// Dir holds the *.md and *.yaml files. Default "" = no FAQ.
	Dir string `yaml:"dir"`
	// Threshold is the confidence (0..1) below which an FAQ answer is not
	// used and the ladder moves on. Default 0.5.
	Threshold float64 `yaml:"threshold"`
}

// Handoff configures the "handoff" degradation step's queue.
type Handoff struct {
	// SLA is how long a conversation may wait for an agent before the
	// console shows it late. Default 2m.
	SLA Duration `yaml:"sla"`
	// Chatwoot, when set, relays handed-off conversations into a Chatwoot
	// inbox and its agents' replies back. Default none.
	Chatwoot *Chatwoot `yaml:"chatwoot"`
}

// Chatwoot is a Chatwoot instance and the API-channel inbox conversations
// are opened in.
type Chatwoot struct {
	// BaseURL of the instance, e.g. https://app.chatwoot.com. Required.
	BaseURL string `yaml:"base_url"`
	// AccountID is the number in /app/accounts/{id}/ of the dashboard. Required.
	AccountID int64 `yaml:"account_id"`
	// InboxID is the API-channel inbox. Required.
	InboxID int64 `yaml:"inbox_id"`
	// APIToken is a Chatwoot user's access token (Profile settings), e.g.
	// ${CHATWOOT_API_TOKEN}. Required.
	APIToken Secret `yaml:"api_token"`
	// WebhookSecret is the secret Chatwoot signs its webhooks with, e.g.
	// ${CHATWOOT_WEBHOOK_SECRET}. Required.
	WebhookSecret Secret `yaml:"webhook_secret"`
}

// Notifications configures delivery to subscribers.
type Notifications struct {
	// Disabled sends nothing (subscribers are kept). Default false.
	Disabled bool `yaml:"disabled"`
	// WebhookSecrets sign outgoing webhooks (HMAC-SHA256): the current
	// secret first, then the previous one while receivers rotate. Each must
	// be an environment reference. Default none: webhook subscribers are not
	// notified (and a warning says so).
	WebhookSecrets []Secret `yaml:"webhook_secrets"`
	// LinkSecret signs the confirmation and unsubscribe links of e-mails.
	// An environment reference. Default none: e-mail subscriptions are off.
	LinkSecret Secret `yaml:"link_secret"`
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses (refused by default, at connect time). Default false.
	AllowPrivate bool `yaml:"allow_private"`
	// AllowNetworks lets webhooks reach these CIDRs even though they are
	// private, e.g. ["10.1.2.0/24"]. Default none.
	AllowNetworks []string `yaml:"allow_networks"`
	// MaxAttempts per delivery before it fails for good. Default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// Email is the SMTP server for e-mail subscribers. Default none: e-mail
	// subscriptions are off.
	Email *Email `yaml:"email"`
}

// Email is an SMTP submission server.
type Email struct {
	// Host of the SMTP server. Required.
	Host string `yaml:"host"`
	// Port. Default 587.
	Port int `yaml:"port"`
	// Username for AUTH PLAIN. Default none (no AUTH).
	Username string `yaml:"username"`
	// Password must be an environment reference. Default none.
	Password Secret `yaml:"password"`
	// From is the sender, e.g. "Acme status <status@example.com>". Required.
	From string `yaml:"from"`
	// StartTLS: required (default, except on loopback hosts: none),
	// opportunistic or none.
	StartTLS string `yaml:"starttls"`
}

// Communication is the crisis communication plan.
type Communication struct {
	// Languages of public updates, as codes ("en", "fr"). The first is the
	// default: the language of the update's main text. Default [en, fr].
	Languages []string `yaml:"languages"`
	// Workaround fills the {workaround} placeholder, per language. Default none.
	Workaround map[string]string `yaml:"workaround"`
	// Templates override the built-in messages: cause (technical, overload,
	// maintenance, quota, misconfiguration, unknown) → phase (investigating,
	// identified, monitoring, resolved) → language → text. Placeholders:
	// {title}, {components}, {eta}, {start}, {workaround}. Default: the
	// built-in plan (English and French).
	Templates map[string]map[string]map[string]string `yaml:"templates"`
}

// Incidents configures the detectors and the incident lifecycle. Detection
// needs storage (incidents are kept there); with storage disabled it is off.
type Incidents struct {
	// Disabled turns detection off; people can still open incidents. Default false.
	Disabled bool `yaml:"disabled"`
	// Every is how often the detectors look at live traffic. Default 1s.
	Every Duration `yaml:"every"`
	// TargetDown: a target whose breaker opened and whose probes fail is
	// down; an incident opens on its provider's component.
	TargetDown Detector `yaml:"target_down"`
	// RouteErrors: the share of a route's requests that users saw fail or
	// that were served degraded, over Window. Defaults: window 30s, min
	// requests 5, threshold 20%.
	RouteErrors Detector `yaml:"route_errors"`
	// Overload: the share of a target's attempts refused with 429 or
	// overloaded (503/529) over Window, requests shed by the gateway, and
	// latency far above the target's baseline. Defaults: window 60s, min
	// requests 10, threshold 30%, latency_factor 3.
	Overload Detector `yaml:"overload"`
	// SLOBurn: the SRE workbook's multiwindow burn-rate alerts on each
	// route's SLO (14.4× over 1h and 5m, 6× over 6h and 30m, 1× over 3d and
	// 6h), from the stored rollups. Window is how often it is evaluated
	// (default 30s).
	SLOBurn Detector `yaml:"slo_burn"`
	// RecoverAfter: an incident whose signals have been quiet this long
	// moves to monitoring. Default 30s.
	RecoverAfter Duration `yaml:"recover_after"`
	// ResolveAfter: an incident stable in monitoring this long is resolved.
	// Default 5m.
	ResolveAfter Duration `yaml:"resolve_after"`
	// ComponentHold is the hysteresis of component statuses: a status gets
	// worse at once but better only after the better status held this long.
	// Default 60s.
	ComponentHold Duration `yaml:"component_hold"`
	// RemindAfter: an open incident without an update for this long raises
	// a reminder event for the operators. Default 30m; 0 in the file is not
	// allowed (use a large value).
	RemindAfter Duration `yaml:"remind_after"`
	// ProviderStatusEvery is how often providers' status pages are polled.
	// Default 60s.
	ProviderStatusEvery Duration `yaml:"provider_status_every"`
	// PublishProviderStatus puts what a provider's status page says into
	// our public updates too (it is always shown to operators). Default false.
	PublishProviderStatus bool `yaml:"publish_provider_status"`
}

// Detector is one detector's settings. Fields a detector does not use are
// ignored; defaults are per detector (see Incidents).
type Detector struct {
	// Disabled turns the detector off. Default false.
	Disabled bool `yaml:"disabled"`
	// Window the detector looks back over.
	Window Duration `yaml:"window"`
	// MinRequests in Window before the detector may fire.
	MinRequests int `yaml:"min_requests"`
	// Threshold share (0..1, or "20%") of bad requests that fires it.
	Threshold float64 `yaml:"threshold"`
	// LatencyFactor (overload only): time to first token this many times the
	// target's baseline (its median over the previous hour) fires it.
	LatencyFactor float64 `yaml:"latency_factor"`
}

// Log configures slog.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// Duration is a time.Duration read from strings such as "2s" or "150ms".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Secret is a value that came from an environment reference. Its String form
// never shows the value.
type Secret struct {
	// Ref is the reference as written, e.g. "${OPENAI_API_KEY}".
	Ref string
	// Value is the expanded value.
	Value string
}

// String hides the value.
func (s Secret) String() string {
	if s.Ref == "" {
		return ""
	}
	return s.Ref
}
