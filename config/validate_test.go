package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// problem is one expected FieldError: where, which field, and a part of the message.
type problem struct {
	at    string // "line:col"
	field string
	msg   string
}

func (p problem) matches(fe FieldError) bool {
	return fmt.Sprintf("%d:%d", fe.Line, fe.Column) == p.at && fe.Field == p.field && strings.Contains(fe.Message, p.msg)
}

func TestValidateRules(t *testing.T) {
	// base with the target line replaced, for the many target cases.
	target := func(t string) string {
		return strings.Replace(validBase, "[{provider: openai, model: gpt-4o-mini}]", t, 1)
	}
	// base with the route's extra settings appended.
	route := func(extra string) string { return validBase + extra }
	// base with provider settings inserted before api_key.
	provider := func(extra string) string {
		return strings.Replace(validBase, "    api_key:", extra+"    api_key:", 1)
	}
	tests := []struct {
		name string
		src  string
		want []problem
	}{
		{"valid", validBase, nil},
		{"listen not host:port", strings.Replace(validBase, "127.0.0.1:8080", "localhost", 1),
			[]problem{{"1:9", "listen", `"localhost" is not host:port`}}},
		{"listen bad port", strings.Replace(validBase, "127.0.0.1:8080", "127.0.0.1:http", 1),
			[]problem{{"1:9", "listen", `port "http"`}}},
		{"listen public without keys", strings.Replace(validBase, "127.0.0.1:8080", "0.0.0.0:8080", 1),
			[]problem{{"1:9", "listen", "no keys configured: refusing to serve without authentication on a non-loopback address"}}},
		{"listen all interfaces without keys", strings.Replace(validBase, "127.0.0.1:8080", "':8080'", 1),
			[]problem{{"1:9", "listen", "no keys configured"}}},
		{"listen public with keys", strings.Replace(validBase, "127.0.0.1:8080", "0.0.0.0:8080", 1) + "keys: [{name: web, key: '${WEB_CHAT_KEY}'}]\n", nil},
		{"listen localhost without keys", strings.Replace(validBase, "127.0.0.1:8080", "localhost:0", 1), nil},
		{"listen ipv6 loopback without keys", strings.Replace(validBase, "127.0.0.1:8080", "'[::1]:8080'", 1), nil},
		{"public_url scheme", "public_url: status.example.com\n" + validBase,
			[]problem{{"1:13", "public_url", "must start with http:// or https://"}}},
		{"limits", validBase + "limits: {max_body_bytes: -1, max_inflight: -2, shed_retry_after: -1s}\n",
			[]problem{
				{"10:26", "limits.max_body_bytes", "must be positive"},
				{"10:44", "limits.max_inflight", "must be at least 0"},
				{"10:66", "limits.shed_retry_after", "must be a positive duration"},
			}},
		{"no providers", "routes: [{name: a, tiers: [[{provider: x, model: m}]]}]\n",
			[]problem{
				{"1:40", "routes[0].tiers[0][0].provider", `unknown provider "x" (no providers are configured)`},
				{"0:0", "providers", "at least one provider is required"},
			}},
		{"no routes", "providers: [{name: a, base_url: 'http://h'}]\n",
			[]problem{{"0:0", "routes", "at least one route is required"}}},
		{"provider name missing", strings.Replace(validBase, "routes:", "  - {base_url: 'http://h'}\nroutes:", 1),
			[]problem{{"6:5", "providers[1].name", "provider name is required"}}},
		{"provider name shape", strings.Replace(validBase, "name: openai", "name: open ai", 1),
			[]problem{
				{"3:11", "providers[0].name", `provider name "open ai" may only contain`},
				{"9:21", "routes[0].tiers[0][0].provider", `unknown provider "openai" (known: open ai)`},
			}},
		{"provider name duplicate", strings.Replace(validBase, "routes:", "  - {name: openai, base_url: 'http://h'}\nroutes:", 1),
			[]problem{{"6:12", "providers[1].name", `duplicate provider name "openai" (first at providers[0])`}}},
		{"provider kind", provider("    kind: bedrock\n"),
			[]problem{{"5:11", "providers[0].kind", `"bedrock" is not one of openai, azure, anthropic`}}},
		{"base_url missing", strings.Replace(validBase, "    base_url: https://api.openai.com/v1\n", "", 1),
			[]problem{{"3:5", "providers[0].base_url", "required"}}},
		{"base_url no host", strings.Replace(validBase, "https://api.openai.com/v1", "'https:///v1'", 1),
			[]problem{{"4:15", "providers[0].base_url", "has no host"}}},
		{"base_url userinfo", strings.Replace(validBase, "https://api.openai.com/v1", "https://u:p@api.openai.com/v1", 1),
			[]problem{{"4:15", "providers[0].base_url", "must not contain credentials"}}},
		{"base_url query", strings.Replace(validBase, "https://api.openai.com/v1", "https://api.openai.com/v1?x=1", 1),
			[]problem{{"4:15", "providers[0].base_url", "must not have a query string"}}},
		{"base_url unparsable", strings.Replace(validBase, "https://api.openai.com/v1", "'http://[::1'", 1),
			[]problem{{"4:15", "providers[0].base_url", "is not a URL"}}},
		{"header name", provider("    headers: {'Bad Header': x}\n"),
			[]problem{{"5:29", "providers[0].headers.Bad Header", "not a valid HTTP header name"}}},
		{"header value line break", provider("    headers: {X-A: \"a\\r\\nX-Evil: 1\"}\n"),
			[]problem{{"5:20", "providers[0].headers.X-A", "must not contain line breaks"}}},
		{"provider max_concurrency", provider("    max_concurrency: -1\n"),
			[]problem{{"5:22", "providers[0].max_concurrency", "must be at least 0"}}},
		{"adaptive limits", provider("    adaptive_concurrency: {enabled: true, min: 5, max: 3, initial: 9, queue: -1}\n"),
			[]problem{
				{"5:56", "providers[0].adaptive_concurrency.max", "must be at least 5"},
				{"5:68", "providers[0].adaptive_concurrency.initial", "must be between min (5) and max (3)"},
				{"5:78", "providers[0].adaptive_concurrency.queue", "must not be negative"},
			}},
		{"adaptive max above max_concurrency", provider("    max_concurrency: 4\n    adaptive_concurrency: {enabled: true, max: 8}\n"),
			[]problem{{"6:48", "providers[0].adaptive_concurrency.max", "above max_concurrency (4)"}}},
		{"chatwoot incomplete", validBase + "handoff:\n  sla: -1s\n  chatwoot: {base_url: ftp://x, api_token: plain}\n",
			[]problem{
				{"11:8", "handoff.sla", "must be a positive duration"},
				{"12:3", "handoff.chatwoot.account_id", "required"},
				{"12:3", "handoff.chatwoot.inbox_id", "required"},
				{"12:3", "handoff.chatwoot.webhook_secret", "required"},
				{"12:24", "handoff.chatwoot.base_url", "http"},
				{"12:44", "handoff.chatwoot.api_token", "literal secret"},
			}},
		{"end user header", "end_user_header: 'X End User'\n" + validBase,
			[]problem{{"1:18", "end_user_header", "not a valid HTTP header name"}}},
		{"negative queue wait", "limits: {queue_wait: {batch: -1s}}\n" + validBase,
			[]problem{{"1:30", "limits.queue_wait.batch", "must not be negative"}}},
		{"probe", provider("    probe: {interval: -1s, timeout: -2s, healthy_interval: -3s}\n"),
			[]problem{
				{"5:23", "providers[0].probe.interval", "must be a positive duration"},
				{"5:37", "providers[0].probe.timeout", "must be a positive duration"},
				{"5:60", "providers[0].probe.healthy_interval", "must not be negative"},
			}},
		{"breaker counts", provider("    breaker: {consecutive_failures: -1, min_requests: -1, half_open_requests: -1}\n"),
			[]problem{
				{"5:37", "providers[0].breaker.consecutive_failures", "must be at least 1"},
				{"5:55", "providers[0].breaker.min_requests", "must be at least 1"},
				{"5:79", "providers[0].breaker.half_open_requests", "must be at least 1"},
			}},
		{"breaker failure_rate above 1", provider("    breaker: {failure_rate: 1.5}\n"),
			[]problem{{"5:29", "providers[0].breaker.failure_rate", "must be above 0 and at most 1"}}},
		{"breaker failure_rate negative", provider("    breaker: {failure_rate: -10%}\n"),
			[]problem{{"5:29", "providers[0].breaker.failure_rate", "got -0.1"}}},
		{"breaker durations", provider("    breaker: {window: -1s, open_for: 10s, max_open_for: 5s}\n"),
			[]problem{
				{"5:23", "providers[0].breaker.window", "must be a positive duration"},
				{"5:57", "providers[0].breaker.max_open_for", "must not be shorter than open_for (10s)"},
			}},
		{"route name missing", strings.Replace(validBase, "  - name: assistant\n", "  - selection: weighted\n", 1),
			[]problem{{"7:5", "routes[0].name", "route name is required"}}},
		{"route name shape", strings.Replace(validBase, "name: assistant", "name: my assistant", 1),
			[]problem{{"7:11", "routes[0].name", `route name "my assistant" may only contain`}}},
		{"route name with slash and colon", strings.Replace(validBase, "name: assistant", "name: 'team/assistant:v2'", 1), nil},
		{"route name duplicate", validBase + "  - name: assistant\n    tiers: [[{provider: openai, model: gpt-4.1}]]\n",
			[]problem{{"10:11", "routes[1].name", `duplicate route name "assistant" (first at routes[0])`}}},
		{"no tiers", strings.Replace(validBase, "    tiers:\n      - [{provider: openai, model: gpt-4o-mini}]\n", "", 1),
			[]problem{{"7:5", "routes[0].tiers", "at least one tier of targets is required"}}},
		{"empty tier", validBase + "      - []\n",
			[]problem{{"10:9", "routes[0].tiers[1]", "empty tier"}}},
		{"unknown provider", target("[{provider: opnai, model: x}]"),
			[]problem{{"9:21", "routes[0].tiers[0][0].provider", `unknown provider "opnai" (known: openai)`}}},
		{"provider missing", target("[{model: x}]"),
			[]problem{{"9:10", "routes[0].tiers[0][0].provider", "required"}}},
		{"model missing", target("[{provider: openai}]"),
			[]problem{{"9:10", "routes[0].tiers[0][0].model", "required"}}},
		{"target numbers", target("[{provider: openai, model: x, weight: -1, context_window: -5, max_concurrency: -2}]"),
			[]problem{
				{"9:47", "routes[0].tiers[0][0].weight", "must not be negative"},
				{"9:67", "routes[0].tiers[0][0].context_window", "must be at least 0"},
				{"9:88", "routes[0].tiers[0][0].max_concurrency", "must be at least 0"},
			}},
		{"target repeated", validBase + "      - [{provider: openai, model: gpt-4o-mini}]\n",
			[]problem{{"10:10", "routes[0].tiers[1][0]", "target openai/gpt-4o-mini is repeated in this route (first at tiers[0][0])"}}},
		{"same target in two routes", validBase + "  - name: other\n    tiers: [[{provider: openai, model: gpt-4o-mini}]]\n", nil},
		{"same target in two routes with different caps", validBase + "  - name: other\n    tiers: [[{provider: openai, model: gpt-4o-mini, max_concurrency: 2}]]\n",
			[]problem{{"11:70", "routes[1].tiers[0][0].max_concurrency", "target openai/gpt-4o-mini has max_concurrency 2 here but 0 at routes[0].tiers[0][0]"}}},
		{"selection", route("    selection: fastest\n"),
			[]problem{{"10:16", "routes[0].selection", `"fastest" is not one of weighted, latency`}}},
		{"timeouts", route("    timeouts: {connect: -1s, first_token: 3m, total: 1m, stream_idle: -1ms}\n"),
			[]problem{
				{"10:25", "routes[0].timeouts.connect", "must be a positive duration"},
				{"10:43", "routes[0].timeouts.first_token", "must not be longer than total (1m)"},
				{"10:71", "routes[0].timeouts.stream_idle", "must be a positive duration"},
			}},
		{"retry", route("    retry: {budget: 1.2, min_per_second: -1, retry_after_max_wait: -1s, backoff: -1s, max_attempts: -1}\n"),
			[]problem{
				{"10:21", "routes[0].retry.budget", "must be from 0 to 1"},
				{"10:42", "routes[0].retry.min_per_second", "must not be negative"},
				{"10:68", "routes[0].retry.retry_after_max_wait", "must not be negative"},
				{"10:82", "routes[0].retry.backoff", "must be a positive duration"},
				{"10:101", "routes[0].retry.max_attempts", "must be at least 0"},
			}},
		{"key name", validBase + "keys:\n  - {key: '${WEB_CHAT_KEY}'}\n  - {name: 'a b', key: '${BATCH_KEY}'}\n",
			[]problem{
				{"11:5", "keys[0].name", "key name is required"},
				{"12:12", "keys[1].name", `key name "a b" may only contain`},
			}},
		{"key duplicates", validBase + "keys:\n  - {name: web, key: '${WEB_CHAT_KEY}'}\n  - {name: web, key: '${WEB_CHAT_KEY}'}\n",
			[]problem{
				{"12:12", "keys[1].name", `duplicate key name "web" (first at keys[0])`},
				{"12:22", "keys[1].key", "same key value as keys[0]"},
			}},
		{"key priority and rate", validBase + "keys:\n  - {name: web, key: '${WEB_CHAT_KEY}', priority: urgent, requests_per_minute: -1}\n",
			[]problem{
				{"11:51", "keys[0].priority", `"urgent" is not one of critical, default, batch`},
				{"11:80", "keys[0].requests_per_minute", "must be at least 0"},
			}},
		{"log", validBase + "log: {level: verbose, format: xml}\n",
			[]problem{
				{"10:14", "log.level", `"verbose" is not one of debug, info, warn, error`},
				{"10:31", "log.format", `"xml" is not one of text, json`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := MustParse(t, tt.src).Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got error\n%v\nwant none", err)
				}
				return
			}
			got := MustFieldErrors(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !w.matches(got[i]) {
					t.Errorf("problem %d: got %d:%d %s: %s\nwant %s %s: …%s…", i,
						got[i].Line, got[i].Column, got[i].Field, got[i].Message, w.at, w.field, w.msg)
				}
			}
		})
	}
}

// TestValidateAllAtOnce checks that every problem comes out, one per line, in file order.
func TestValidateAllAtOnce(t *testing.T) {
	src := `listen: 0.0.0.0:8080
providers:
  - name: openai
    kind: bedrock
    base_url: ftp://api.openai.com
    api_key: sk-literal
routes:
  - name: assistant
    tiers:
      - [{provider: opnai, model: gpt-4o-mini}]
      - []
    retry: {budget: 150%}
`
	err := MustParse(t, src).Validate()
	want := strings.Join([]string{
		`u.yaml:1:9: listen: no keys configured: refusing to serve without authentication on a non-loopback address ("0.0.0.0:8080"); add keys or listen on 127.0.0.1`,
		`u.yaml:4:11: providers[0].kind: "bedrock" is not one of openai, azure, anthropic`,
		`u.yaml:5:15: providers[0].base_url: "ftp://api.openai.com" must start with http:// or https://`,
		`u.yaml:6:14: providers[0].api_key: a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME`,
		`u.yaml:10:21: routes[0].tiers[0][0].provider: unknown provider "opnai" (known: openai)`,
		`u.yaml:11:9: routes[0].tiers[1]: empty tier: list at least one target`,
		`u.yaml:12:21: routes[0].retry.budget: must be from 0 to 1 (e.g. 0.2 or 20%), got 1.5`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// TestValidateWithoutFile checks a Config built in Go: fields, no positions.
func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Providers = []Provider{{Name: "sim", BaseURL: "http://127.0.0.1:9999/v1"}}
	c.Routes = []Route{{Name: "assistant", Tiers: [][]Target{{{Provider: "sim", Model: "m"}, {Provider: "sim2", Model: "m"}}}}}
	c.Keys = []Key{{Name: "web", Key: Secret{Value: "from-code"}}, {Name: "bad", Key: Secret{Ref: "literal"}}}
	c.ApplyDefaults()
	err := c.Validate()
	// Problems without positions keep the order in which they were found.
	want := "keys[1].key: a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME\n" +
		"routes[0].tiers[0][1].provider: unknown provider \"sim2\" (known: sim)"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if got, want := c.Routes[0].Timeouts.Total.D(), 120*time.Second; got != want {
		t.Errorf("got total %v after ApplyDefaults, want %v", got, want)
	}
}

func TestWarnings(t *testing.T) {
	src := strings.Replace(validBase, "routes:", `  - {name: spare, base_url: 'http://h', api_version: '2024-10-21'}
routes:`, 1)
	c := MustParse(t, src)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got := strings.Join(c.Warnings(), "\n")
	want := `u.yaml:6:12: providers[1].name: provider "spare" is not used by any route` + "\n" +
		`u.yaml:6:54: providers[1].api_version: api_version is only used by kind azure; it is ignored here`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestValidateIncidents(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"threshold", "incidents: {route_errors: {threshold: 120%}}", "incidents.route_errors.threshold: must be above 0 and at most 1"},
		{"window too long", "incidents: {overload: {window: 1h}}", "incidents.overload.window: at most 10m"},
		{"latency factor", "incidents: {overload: {latency_factor: 0.5}}", "incidents.overload.latency_factor: must be at least 1"},
		{"slo availability", "routes: [{name: r, tiers: [[{provider: p, model: m}]], slo: {availability: 100%}}]", "routes[0].slo.availability: must be above 0 and below 1"},
		{"status page", "providers: [{name: p, base_url: http://x, status_page: 'ftp://x'}]", "providers[0].status_page"},
		{"template cause", "communication: {templates: {outage: {investigating: {en: x}}}}", "communication.templates.outage: unknown cause \"outage\""},
		{"template phase", "communication: {templates: {technical: {fixed: {en: x}}}}", "communication.templates.technical.fixed: unknown phase"},
		{"template language", "communication: {templates: {technical: {investigating: {de: x}}}}", "communication.templates.technical.investigating.de: language \"de\" is not in communication.languages (en, fr)"},
		{"placeholder", "communication: {templates: {technical: {investigating: {en: 'ETA {etaa}'}}}}", "unknown placeholder {etaa}"},
		{"language code", "communication: {languages: [english]}", "communication.languages[0]"},
		{"handoff without storage", "routes: [{name: r, tiers: [[{provider: p, model: m}]], degrade: [handoff, notice]}]\nstorage: {disabled: true}", "routes[0].degrade[0]: the handoff step keeps conversations in the store"},
		{"faq without dir", "routes: [{name: r, tiers: [[{provider: p, model: m}]], degrade: [faq]}]", "routes[0].degrade[0]: the faq step needs faq.dir"},
		{"degrade unknown", "routes: [{name: r, tiers: [[{provider: p, model: m}]], degrade: [pray]}]", "unknown degradation step \"pray\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := "providers: [{name: p, base_url: http://x}]\nroutes: [{name: r, tiers: [[{provider: p, model: m}]]}]\n"
			if strings.HasPrefix(tt.yaml, "routes:") {
				base = "providers: [{name: p, base_url: http://x}]\n"
			} else if strings.HasPrefix(tt.yaml, "providers:") {
				base = "routes: [{name: r, tiers: [[{provider: p, model: m}]]}]\n"
			}
			c := MustParse(t, base+tt.yaml)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestHundredPercent: "100%" is 1, not an unset field that gets the default.
func TestHundredPercent(t *testing.T) {
	c := MustParse(t, "providers: [{name: p, base_url: http://x, breaker: {failure_rate: 100%}}]\nroutes: [{name: r, tiers: [[{provider: p, model: m}]]}]\n")
	if got := c.Providers[0].Breaker.FailureRate; got != 1 {
		t.Errorf("failure_rate: 100%% read as %v, want 1", got)
	}
}

func TestNotificationsConfig(t *testing.T) {
	base := "providers: [{name: p, base_url: http://x}]\nroutes: [{name: r, tiers: [[{provider: p, model: m}]]}]\n"
	c := MustParse(t, base+`notifications:
  webhook_secrets: ["${WH_NEW}", "${WH_OLD}"]
  link_secret: ${LINK}
  email: {host: smtp.example.com, from: "Status <status@example.com>", username: status, password: "${SMTP_PASSWORD}"}
`)
	if err := c.Validate(); err != nil {
		t.Fatalf("valid notifications: %v", err)
	}
	n := c.Notifications
	if len(n.WebhookSecrets) != 2 || n.WebhookSecrets[0].Value != "new-webhook-secret" || n.Email.Port != 587 || n.Email.Password.Value != "smtp-pass" || n.MaxAttempts != 8 {
		t.Errorf("notifications %+v email %+v", n, n.Email)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"notifications: {webhook_secrets: [literal-secret]}", "notifications.webhook_secrets[0]"},
		{"notifications: {email: {host: h, from: 'not an address'}, link_secret: \"${LINK}\"}", "notifications.email.from"},
		{"notifications: {email: {host: h, from: a@b.c}}", "notifications.link_secret: required with notifications.email"},
		{"notifications: {allow_networks: [10.0.0.0/33]}", "notifications.allow_networks[0]"},
	} {
		err := MustParse(t, base+tt.yaml).Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
