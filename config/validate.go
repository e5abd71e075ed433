package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	// nameRE is the shape of key and provider names: they appear in logs,
	// metrics labels and "provider/model" strings.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// routeRE is the shape of a route name, i.e. a model name clients send.
	routeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
	// headerRE is an HTTP header field name (RFC 9110 token).
	headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Validate checks the whole configuration and returns every problem at once
// as a *ValidationError, or nil. Problems found while parsing (unset
// environment variables, literal secrets) are included. Positions are known
// when the Config came from Parse; a Config built in Go gets field paths only.
func (c *Config) Validate() error {
	v := &validator{src: c.src}
	if c.src != nil {
		v.errs = append(v.errs, c.src.problems...)
	}
	v.listen(c)
	if c.PublicURL != "" {
		v.url("public_url", c.PublicURL)
	}
	v.limits(c.Limits)
	v.keys(c.Keys)
	providers := v.providers(c.Providers)
	v.routes(c.Routes, providers, c.Providers, c.FAQ.Dir, c.Storage.Disabled)
	if !(c.FAQ.Threshold > 0 && c.FAQ.Threshold <= 1) {
		v.add("faq.threshold", strconv.FormatFloat(c.FAQ.Threshold, 'f', -1, 64), "must be above 0 and at most 1, got %v", c.FAQ.Threshold)
	}
	if c.Storage.PostgresDSN.Ref != "" {
		v.secret("storage.postgres_dsn", c.Storage.PostgresDSN, true)
		if c.Storage.SQLite != "" {
			v.add("storage.sqlite", c.Storage.SQLite, "set either sqlite or postgres_dsn, not both")
		}
	}
	v.positive("storage.flush_every", c.Storage.FlushEvery)
	v.positive("storage.events_retention", c.Storage.EventsRetention)
	v.positive("storage.rollups_retention", c.Storage.RollupsRetention)
	v.incidents(c.Incidents)
	v.communication(c.Communication, c.Routes)
	v.notifications(c.Notifications)
	v.handoff(c.Handoff, c.Storage.Disabled)
	if c.EndUserHeader != "" && !headerRE.MatchString(c.EndUserHeader) {
		v.add("end_user_header", c.EndUserHeader, "%q is not a valid HTTP header name", c.EndUserHeader)
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if len(v.errs) == 0 {
		return nil
	}
	sortErrors(v.errs)
	return &ValidationError{Errors: v.errs}
}

type validator struct {
	src  *source
	errs []FieldError
}

// add records a problem at path, unless path already has one: the first
// problem of a field (say, an unset variable) makes the next ones (the
// unexpanded value is not a URL) noise.
func (v *validator) add(path, value, format string, args ...any) {
	if v.reported(path) {
		return
	}
	v.errs = append(v.errs, v.src.fieldError(path, value, fmt.Sprintf(format, args...)))
}

func (v *validator) listen(c *Config) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		v.add("listen", c.Listen, "%q is not host:port (e.g. 127.0.0.1:8080, :8080, [::1]:8080)", c.Listen)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("listen", c.Listen, "port %q of %q is not a number from 0 to 65535", port, c.Listen)
		return
	}
	if len(c.Keys) == 0 && !isLoopback(host) {
		v.add("listen", c.Listen, "no keys configured: refusing to serve without authentication on a non-loopback address (%q); add keys or listen on 127.0.0.1", c.Listen)
	}
}

// isLoopback reports whether host only accepts local connections. An empty
// host means every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// url checks an http(s) URL with a host and without credentials or query.
func (v *validator) url(path, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.add(path, raw, "%q is not a URL: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, raw, "%q must start with http:// or https://", raw)
	case u.Host == "":
		v.add(path, raw, "%q has no host", raw)
	case u.User != nil:
		v.add(path, "", "must not contain credentials (user:password@); use api_key or headers")
	case u.RawQuery != "" || u.ForceQuery:
		v.add(path, raw, "%q must not have a query string", raw)
	case u.Fragment != "":
		v.add(path, raw, "%q must not have a fragment", raw)
	}
}

func (v *validator) oneOf(path, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.add(path, value, "%q is not one of %s", value, strings.Join(allowed, ", "))
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, d.String(), "must be a positive duration, got %s", d)
	}
}

func (v *validator) atLeast(path string, n, lo int) {
	if n < lo {
		v.add(path, strconv.Itoa(n), "must be at least %d, got %d", lo, n)
	}
}

func (v *validator) limits(l Limits) {
	if l.MaxBodyBytes <= 0 {
		v.add("limits.max_body_bytes", strconv.FormatInt(l.MaxBodyBytes, 10), "must be positive, got %d", l.MaxBodyBytes)
	}
	v.atLeast("limits.max_inflight", l.MaxInflight, 0)
	v.positive("limits.shed_retry_after", l.ShedRetryAfter)
	for _, w := range []struct {
		name string
		d    Duration
	}{{"critical", l.QueueWait.Critical}, {"default", l.QueueWait.Default}, {"batch", l.QueueWait.Batch}} {
		if w.d < 0 {
			v.add("limits.queue_wait."+w.name, w.d.String(), "must not be negative")
		}
	}
}

func (v *validator) keys(keys []Key) {
	seen := map[string]int{}
	hashes := map[[32]byte]int{}
	for i, k := range keys {
		path := fmt.Sprintf("keys[%d]", i)
		v.nameAt(path+".name", k.Name, "key", seen, i)
		if v.secret(path+".key", k.Key, true) {
			h := k.Hash()
			if first, dup := hashes[h]; dup {
				v.add(path+".key", "", "same key value as keys[%d]: each client needs its own key", first)
			} else {
				hashes[h] = i
			}
		}
		v.oneOf(path+".priority", k.Priority, PriorityCritical, PriorityDefault, PriorityBatch)
		v.atLeast(path+".requests_per_minute", k.RequestsPerMinute, 0)
		v.atLeast(path+".tokens_per_minute", k.TokensPerMinute, 0)
	}
}

// nameAt checks a key or provider name; seen maps names to their index.
func (v *validator) nameAt(path, name, what string, seen map[string]int, i int) {
	list := what + "s"
	switch {
	case name == "":
		v.add(path, "", "%s name is required", what)
	case !nameRE.MatchString(name):
		v.add(path, name, "%s name %q may only contain letters, digits, '.', '_' and '-', starting with a letter or digit", what, name)
	}
	if name == "" {
		return
	}
	if first, dup := seen[name]; dup {
		v.add(path, name, "duplicate %s name %q (first at %s[%d])", what, name, list, first)
		return
	}
	seen[name] = i
}

// secret checks a secret; it reports whether it holds a usable value.
func (v *validator) secret(path string, s Secret, required bool) bool {
	switch {
	case s.Ref != "" && !refPattern.MatchString(s.Ref):
		v.add(path, "", "a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME")
		return false
	case s.Ref != "" && s.Value == "":
		name := refPattern.FindStringSubmatch(s.Ref)[1]
		v.add(path, s.Ref, "environment variable %s is unset or empty", name)
		return false
	case s.Ref == "" && s.Value == "":
		// A literal refused by Parse is already reported and was cleared.
		if required {
			v.add(path, "", "required: write ${NAME} and set the environment variable NAME")
		}
		return false
	}
	return true
}

func (v *validator) reported(path string) bool {
	for _, e := range v.errs {
		if e.Field == path {
			return true
		}
	}
	return false
}

// providers checks the providers and returns the index of each name.
func (v *validator) providers(ps []Provider) map[string]int {
	seen := map[string]int{}
	if len(ps) == 0 {
		v.add("providers", "", "at least one provider is required")
	}
	for i, p := range ps {
		path := fmt.Sprintf("providers[%d]", i)
		v.nameAt(path+".name", p.Name, "provider", seen, i)
		v.oneOf(path+".kind", p.Kind, KindOpenAI, KindAzure, KindAnthropic)
		v.oneOf(path+".continuation", p.Continuation, ContinueNative, ContinuePrefix, ContinueFinalMessage, ContinueInstruction, ContinueNone)
		if p.BaseURL == "" {
			v.add(path+".base_url", "", "required, e.g. https://api.openai.com/v1")
		} else {
			v.url(path+".base_url", p.BaseURL)
		}
		v.secret(path+".api_key", p.APIKey, false)
		for _, name := range sortedKeys(p.Headers) {
			hp := path + ".headers." + name
			if !headerRE.MatchString(name) {
				v.add(hp, name, "%q is not a valid HTTP header name", name)
			}
			if strings.ContainsAny(p.Headers[name], "\r\n\x00") {
				v.add(hp, "", "header value must not contain line breaks or NUL")
			}
		}
		if p.Kind == KindAzure && p.APIVersion == "" {
			v.add(path+".api_version", "", "required for kind azure, e.g. %s", DefaultAzureAPIVersion)
		}
		v.atLeast(path+".max_concurrency", p.MaxConcurrency, 0)
		if a := p.AdaptiveConcurrency; a.Enabled {
			ap := path + ".adaptive_concurrency"
			v.atLeast(ap+".min", a.Min, 1)
			v.atLeast(ap+".max", a.Max, a.Min)
			if a.Initial < a.Min || a.Initial > a.Max {
				v.add(ap+".initial", strconv.Itoa(a.Initial), "must be between min (%d) and max (%d)", a.Min, a.Max)
			}
			if p.MaxConcurrency > 0 && a.Max > p.MaxConcurrency {
				v.add(ap+".max", strconv.Itoa(a.Max), "is above max_concurrency (%d), which caps the target anyway", p.MaxConcurrency)
			}
			if a.Queue < 0 {
				v.add(ap+".queue", strconv.FormatFloat(a.Queue, 'g', -1, 64), "must not be negative (0 = no queue)")
			}
		}
		if p.StatusPage != "" {
			v.url(path+".status_page", p.StatusPage)
		}
		v.probe(path+".probe", p.Probe)
		v.breaker(path+".breaker", p.Breaker)
	}
	return seen
}

func (v *validator) probe(path string, p Probe) {
	v.positive(path+".interval", p.Interval)
	v.positive(path+".timeout", p.Timeout)
	if p.HealthyInterval < 0 {
		v.add(path+".healthy_interval", p.HealthyInterval.String(), "must not be negative (0 = probe only while the breaker is open)")
	}
}

func (v *validator) breaker(path string, b Breaker) {
	v.atLeast(path+".consecutive_failures", b.ConsecutiveFailures, 1)
	if !(b.FailureRate > 0 && b.FailureRate <= 1) {
		v.add(path+".failure_rate", fmt.Sprint(b.FailureRate), "must be above 0 and at most 1 (e.g. 0.5 or 50%%), got %v", b.FailureRate)
	}
	v.atLeast(path+".min_requests", b.MinRequests, 1)
	v.positive(path+".window", b.Window)
	v.positive(path+".open_for", b.OpenFor)
	v.positive(path+".max_open_for", b.MaxOpenFor)
	if b.OpenFor > 0 && b.MaxOpenFor > 0 && b.MaxOpenFor < b.OpenFor {
		v.add(path+".max_open_for", b.MaxOpenFor.String(), "must not be shorter than open_for (%s)", b.OpenFor)
	}
	v.atLeast(path+".half_open_requests", b.HalfOpenRequests, 1)
}

func (v *validator) routes(rs []Route, providers map[string]int, ps []Provider, faqDir string, storageOff bool) {
	if len(rs) == 0 {
		v.add("routes", "", "at least one route is required")
	}
	seen := map[string]int{}
	type targetCap struct {
		path string
		conc int
	}
	capAt := map[string]targetCap{}
	for i, r := range rs {
		path := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Name == "":
			v.add(path+".name", "", "route name is required: it is the model name clients ask for")
		case !routeRE.MatchString(r.Name):
			v.add(path+".name", r.Name, "route name %q may only contain letters, digits, '.', '_', ':', '/' and '-', starting with a letter or digit", r.Name)
		}
		if first, dup := seen[r.Name]; dup && r.Name != "" {
			v.add(path+".name", r.Name, "duplicate route name %q (first at routes[%d])", r.Name, first)
		} else if r.Name != "" {
			seen[r.Name] = i
		}
		v.tiers(path, r.Tiers, providers, ps)
		// A target (provider/model) is one upstream with one state, shared by
		// every route that lists it: its concurrency cap must agree.
		for j, tier := range r.Tiers {
			for k, tg := range tier {
				id := tg.Provider + "/" + tg.Model
				tpath := fmt.Sprintf("%s.tiers[%d][%d]", path, j, k)
				if first, ok := capAt[id]; ok && first.conc != tg.MaxConcurrency {
					v.add(tpath+".max_concurrency", strconv.Itoa(tg.MaxConcurrency),
						"target %s has max_concurrency %d here but %d at %s: a target shared by routes must have one cap", id, tg.MaxConcurrency, first.conc, first.path)
				} else if !ok {
					capAt[id] = targetCap{tpath, tg.MaxConcurrency}
				}
			}
		}
		v.oneOf(path+".selection", r.Selection, SelectWeighted, SelectLatency)
		v.timeouts(path+".timeouts", r.Timeouts)
		v.retry(path+".retry", r.Retry)
		if r.Resume.MinChunksPerSecond < 0 {
			v.add(path+".resume.min_chunks_per_second", strconv.FormatFloat(r.Resume.MinChunksPerSecond, 'f', -1, 64), "must not be negative (0 turns the slow-stream check off)")
		}
		v.positive(path+".resume.window", r.Resume.Window)
		v.slo(path+".slo", r.SLO)
		v.positive(path+".cache.ttl", r.Cache.TTL)
		v.atLeast(path+".cache.max_bytes", r.Cache.MaxBytes, 1024)
		v.positive(path+".cache.fast_path_ttl", r.Cache.FastPathTTL)
		if r.Cache.FastPathTTL > r.Cache.TTL {
			v.add(path+".cache.fast_path_ttl", r.Cache.FastPathTTL.String(), "is longer than cache.ttl (%s), after which answers are gone", r.Cache.TTL)
		}
		for j, step := range r.Degrade {
			sp := fmt.Sprintf("%s.degrade[%d]", path, j)
			switch step {
			case DegradeNotice, DegradeCache:
			case DegradeFAQ:
				if faqDir == "" {
					v.add(sp, step, "the faq step needs faq.dir: the directory of question–answer files")
				}
			case DegradeHandoff:
				if storageOff {
					v.add(sp, step, "the handoff step keeps conversations in the store: storage must not be disabled")
				}
			default:
				v.add(sp, step, "unknown degradation step %q (available: cache, faq, handoff, notice)", step)
			}
		}
	}
}

func (v *validator) slo(path string, o SLO) {
	v.share(path+".availability", o.Availability, "e.g. 99.9%% or 0.999")
	v.share(path+".latency_target", o.LatencyTarget, "e.g. 95%% or 0.95")
	if o.Latency < 0 {
		v.add(path+".latency", o.Latency.String(), "must not be negative (0 = no latency objective)")
	}
	v.positive(path+".period", o.Period)
	for i, step := range o.DegradedGood {
		v.oneOf(fmt.Sprintf("%s.degraded_good[%d]", path, i), step, DegradeCache, DegradeFAQ, DegradeHandoff, DegradeNotice)
	}
}

// share reports a fraction outside (0, 1).
func (v *validator) share(path string, f float64, example string) {
	if !(f > 0 && f < 1) {
		v.add(path, strconv.FormatFloat(f, 'f', -1, 64), "must be above 0 and below 1 ("+example+"), got %v", f)
	}
}

func (v *validator) incidents(in Incidents) {
	v.positive("incidents.every", in.Every)
	for name, d := range map[string]Detector{"route_errors": in.RouteErrors, "overload": in.Overload, "slo_burn": in.SLOBurn} {
		path := "incidents." + name
		v.positive(path+".window", d.Window)
		if name != "slo_burn" {
			if d.Window.D() > 10*time.Minute {
				v.add(path+".window", d.Window.String(), "at most 10m: live traffic is kept for the last 10 minutes (the slo_burn detector covers longer windows)")
			}
			v.atLeast(path+".min_requests", d.MinRequests, 1)
			if !(d.Threshold > 0 && d.Threshold <= 1) {
				v.add(path+".threshold", strconv.FormatFloat(d.Threshold, 'f', -1, 64), "must be above 0 and at most 1 (e.g. 20%% or 0.2), got %v", d.Threshold)
			}
		}
	}
	if in.Overload.LatencyFactor < 1 {
		v.add("incidents.overload.latency_factor", strconv.FormatFloat(in.Overload.LatencyFactor, 'f', -1, 64), "must be at least 1 (e.g. 3: three times the baseline)")
	}
	v.positive("incidents.recover_after", in.RecoverAfter)
	v.positive("incidents.resolve_after", in.ResolveAfter)
	v.positive("incidents.component_hold", in.ComponentHold)
	v.positive("incidents.remind_after", in.RemindAfter)
	v.positive("incidents.provider_status_every", in.ProviderStatusEvery)
}

func (v *validator) tiers(route string, tiers [][]Target, providers map[string]int, ps []Provider) {
	if len(tiers) == 0 {
		v.add(route+".tiers", "", "at least one tier of targets is required")
	}
	var known []string
	for i, p := range ps {
		if first, ok := providers[p.Name]; ok && first == i {
			known = append(known, p.Name)
		}
	}
	firstAt := map[string]string{}
	for t, tier := range tiers {
		tpath := fmt.Sprintf("%s.tiers[%d]", route, t)
		if len(tier) == 0 {
			v.add(tpath, "", "empty tier: list at least one target")
		}
		for j, tg := range tier {
			path := fmt.Sprintf("%s[%d]", tpath, j)
			switch _, ok := providers[tg.Provider]; {
			case tg.Provider == "":
				v.add(path+".provider", "", "required: the name of one of providers (%s)", strings.Join(known, ", "))
			case !ok && len(known) == 0:
				v.add(path+".provider", tg.Provider, "unknown provider %q (no providers are configured)", tg.Provider)
			case !ok:
				v.add(path+".provider", tg.Provider, "unknown provider %q (known: %s)", tg.Provider, strings.Join(known, ", "))
			}
			if tg.Model == "" {
				v.add(path+".model", "", "required: the provider's model id (Azure: the deployment name)")
			}
			switch {
			case tg.Weight < 0:
				v.add(path+".weight", strconv.Itoa(tg.Weight), "must not be negative (0 means the default, 1), got %d", tg.Weight)
			case tg.Weight == 0:
				v.add(path+".weight", "0", "must be at least 1")
			}
			v.atLeast(path+".context_window", tg.ContextWindow, 0)
			v.atLeast(path+".max_concurrency", tg.MaxConcurrency, 0)
			if tg.Continuation != "" {
				v.oneOf(path+".continuation", tg.Continuation, ContinueNative, ContinuePrefix, ContinueFinalMessage, ContinueInstruction, ContinueNone)
			}
			if tg.Provider == "" || tg.Model == "" {
				continue
			}
			id := tg.Provider + "/" + tg.Model
			if first, dup := firstAt[id]; dup {
				v.add(path, id, "target %s is repeated in this route (first at %s)", id, first)
			} else {
				firstAt[id] = strings.TrimPrefix(path, route+".")
			}
		}
	}
}

func (v *validator) timeouts(path string, t Timeouts) {
	v.positive(path+".connect", t.Connect)
	v.positive(path+".first_token", t.FirstToken)
	v.positive(path+".response", t.Response)
	v.positive(path+".stream_idle", t.StreamIdle)
	v.positive(path+".total", t.Total)
	if t.Total > 0 {
		if t.Connect > t.Total {
			v.add(path+".connect", t.Connect.String(), "must not be longer than total (%s)", t.Total)
		}
		if t.FirstToken > t.Total {
			v.add(path+".first_token", t.FirstToken.String(), "must not be longer than total (%s)", t.Total)
		}
		if t.Response > t.Total {
			v.add(path+".response", t.Response.String(), "must not be longer than total (%s)", t.Total)
		}
	}
}

func (v *validator) retry(path string, r Retry) {
	if !(r.Budget >= 0 && r.Budget <= 1) {
		v.add(path+".budget", fmt.Sprint(r.Budget), "must be from 0 to 1 (e.g. 0.2 or 20%%), got %v", r.Budget)
	}
	if !(r.MinPerSecond >= 0) {
		v.add(path+".min_per_second", fmt.Sprint(r.MinPerSecond), "must not be negative, got %v", r.MinPerSecond)
	}
	if r.RetryAfterMaxWait < 0 {
		v.add(path+".retry_after_max_wait", r.RetryAfterMaxWait.String(), "must not be negative, got %s", r.RetryAfterMaxWait)
	}
	v.positive(path+".backoff", r.Backoff)
	v.atLeast(path+".max_attempts", r.MaxAttempts, 0)
}

// Template vocabulary: what communication.templates may name.
var (
	TemplateCauses       = []string{"technical", "overload", "maintenance", "quota", "misconfiguration", "unknown"}
	TemplatePhases       = []string{"investigating", "identified", "monitoring", "resolved"}
	TemplatePlaceholders = []string{"{title}", "{components}", "{eta}", "{start}", "{workaround}"}
)

var placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)

func (v *validator) communication(c Communication, routes []Route) {
	langs := map[string]bool{}
	for i, l := range c.Languages {
		if !langRE.MatchString(l) {
			v.add(fmt.Sprintf("communication.languages[%d]", i), l, "%q is not a language code such as en or fr", l)
		}
		langs[l] = true
	}
	text := func(path, s string) {
		for _, p := range placeholderRE.FindAllString(s, -1) {
			if !slices.Contains(TemplatePlaceholders, p) {
				v.add(path, p, "unknown placeholder %s (known: %s)", p, strings.Join(TemplatePlaceholders, ", "))
			}
		}
	}
	perLang := func(path string, m map[string]string) {
		for _, l := range sortedKeys(m) {
			if !langs[l] {
				v.add(path+"."+l, l, "language %q is not in communication.languages (%s)", l, strings.Join(c.Languages, ", "))
			}
			text(path+"."+l, m[l])
		}
	}
	perLang("communication.workaround", c.Workaround)
	for _, cause := range sortedKeys(c.Templates) {
		path := "communication.templates." + cause
		if !slices.Contains(TemplateCauses, cause) {
			v.add(path, cause, "unknown cause %q (known: %s)", cause, strings.Join(TemplateCauses, ", "))
			continue
		}
		for _, phase := range sortedKeys(c.Templates[cause]) {
			if !slices.Contains(TemplatePhases, phase) {
				v.add(path+"."+phase, phase, "unknown phase %q (known: %s)", phase, strings.Join(TemplatePhases, ", "))
				continue
			}
			perLang(path+"."+phase, c.Templates[cause][phase])
		}
	}
	for i, r := range routes {
		perLang(fmt.Sprintf("routes[%d].notice", i), r.Notice)
	}
}

var langRE = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)

func (v *validator) notifications(n Notifications) {
	for i, sec := range n.WebhookSecrets {
		v.secret(fmt.Sprintf("notifications.webhook_secrets[%d]", i), sec, true)
	}
	if len(n.WebhookSecrets) > 2 {
		v.add("notifications.webhook_secrets", "", "at most two secrets: the current one and the previous one")
	}
	if n.LinkSecret.Ref != "" && v.secret("notifications.link_secret", n.LinkSecret, true) && len(n.LinkSecret.Value) < 16 {
		v.add("notifications.link_secret", n.LinkSecret.Ref, "must be at least 16 characters (e.g. openssl rand -hex 32)")
	}
	for i, cidr := range n.AllowNetworks {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			v.add(fmt.Sprintf("notifications.allow_networks[%d]", i), cidr, "%q is not a CIDR such as 10.1.2.0/24", cidr)
		}
	}
	v.atLeast("notifications.max_attempts", n.MaxAttempts, 1)
	if e := n.Email; e != nil {
		if e.Host == "" {
			v.add("notifications.email.host", "", "required: the SMTP server")
		}
		if e.From == "" {
			v.add("notifications.email.from", "", `required, e.g. "Acme status <status@example.com>"`)
		} else if _, err := mail.ParseAddress(e.From); err != nil {
			v.add("notifications.email.from", e.From, "not an address: %v", err)
		}
		if e.Port < 1 || e.Port > 65535 {
			v.add("notifications.email.port", strconv.Itoa(e.Port), "must be a port number")
		}
		v.secret("notifications.email.password", e.Password, false)
		if e.StartTLS != "" {
			v.oneOf("notifications.email.starttls", e.StartTLS, "required", "opportunistic", "none")
		}
		if n.LinkSecret.Ref == "" {
			v.add("notifications.link_secret", "", "required with notifications.email: it signs the confirmation and unsubscribe links")
		}
	}
}

func (v *validator) handoff(h Handoff, storageOff bool) {
	v.positive("handoff.sla", h.SLA)
	cw := h.Chatwoot
	if cw == nil {
		return
	}
	if cw.BaseURL == "" {
		v.add("handoff.chatwoot.base_url", "", "required, e.g. https://app.chatwoot.com")
	} else {
		v.url("handoff.chatwoot.base_url", cw.BaseURL)
	}
	if cw.AccountID <= 0 {
		v.add("handoff.chatwoot.account_id", strconv.FormatInt(cw.AccountID, 10), "required: the number in /app/accounts/{id}/ of the Chatwoot dashboard")
	}
	if cw.InboxID <= 0 {
		v.add("handoff.chatwoot.inbox_id", strconv.FormatInt(cw.InboxID, 10), "required: the id of an API-channel inbox")
	}
	v.secret("handoff.chatwoot.api_token", cw.APIToken, true)
	v.secret("handoff.chatwoot.webhook_secret", cw.WebhookSecret, true)
	if storageOff {
		v.add("handoff.chatwoot", "", "the Chatwoot connector keeps its links in the store: storage must not be disabled")
	}
}

// Degradation steps (routes[].degrade).
const (
	DegradeCache   = "cache"
	DegradeFAQ     = "faq"
	DegradeHandoff = "handoff"
	DegradeNotice  = "notice"
)

// DegradeMode is the serving mode (as rollups record it) of a ladder step.
func DegradeMode(step string) string {
	switch step {
	case DegradeCache, DegradeFAQ:
		return "degraded_" + step
	}
	return step
}
