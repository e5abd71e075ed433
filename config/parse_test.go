package config

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"public_url", c.PublicURL, ""},
		{"max_body_bytes", c.Limits.MaxBodyBytes, int64(4 << 20)},
		{"max_inflight", c.Limits.MaxInflight, 0},
		{"shed_retry_after", c.Limits.ShedRetryAfter.D(), time.Second},
		{"queue_wait", c.Limits.QueueWait, QueueWait{Critical: Duration(5 * time.Second), Default: Duration(time.Second)}},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"no keys", len(c.Keys), 0},
		{"no providers", len(c.Providers), 0},
		{"no routes", len(c.Routes), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestParseAppliesElementDefaults(t *testing.T) {
	c := MustParse(t, validBase+`keys:
  - {name: web, key: "${WEB_CHAT_KEY}"}
  - {name: az, key: "${BATCH_KEY}"}
`+"")
	p := c.Providers[0]
	r := c.Routes[0]
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"provider kind", p.Kind, KindOpenAI},
		{"provider api_version (not azure)", p.APIVersion, ""},
		{"probe", p.Probe, Probe{Interval: Duration(2 * time.Second), Timeout: Duration(5 * time.Second)}},
		{"breaker", p.Breaker, Breaker{
			ConsecutiveFailures: 5, FailureRate: 0.5, MinRequests: 10, Window: Duration(30 * time.Second),
			OpenFor: Duration(5 * time.Second), MaxOpenFor: Duration(5 * time.Minute), HalfOpenRequests: 1,
		}},
		{"selection", r.Selection, SelectWeighted},
		{"timeouts", r.Timeouts, Timeouts{
			Connect: Duration(2 * time.Second), FirstToken: Duration(10 * time.Second), Response: Duration(60 * time.Second),
			StreamIdle: Duration(10 * time.Second), Total: Duration(120 * time.Second),
		}},
		{"retry", r.Retry, Retry{Budget: 0.2, MinPerSecond: 3, RetryAfterMaxWait: Duration(2 * time.Second), Backoff: Duration(100 * time.Millisecond)}},
		{"weight", r.Tiers[0][0].Weight, 1},
		{"key priority", c.Keys[0].Priority, PriorityDefault},
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"max_body_bytes", c.Limits.MaxBodyBytes, int64(4 << 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		src  string
		get  func(*Config) any
		want any
	}{
		{"duration ms", validBase + "    retry: {backoff: 150ms}\n",
			func(c *Config) any { return c.Routes[0].Retry.Backoff.D() }, 150 * time.Millisecond},
		{"duration compound", validBase + "    timeouts: {total: 1m30s}\n",
			func(c *Config) any { return c.Routes[0].Timeouts.Total.D() }, 90 * time.Second},
		{"duration zero means default", validBase + "    timeouts: {total: 0}\n",
			func(c *Config) any { return c.Routes[0].Timeouts.Total.D() }, 120 * time.Second},
		{"budget float", validBase + "    retry: {budget: 0.35}\n",
			func(c *Config) any { return c.Routes[0].Retry.Budget }, 0.35},
		{"budget percent", validBase + "    retry: {budget: 20%}\n",
			func(c *Config) any { return c.Routes[0].Retry.Budget }, 0.2},
		{"budget explicit zero kept", validBase + "    retry: {budget: 0, min_per_second: 0}\n",
			func(c *Config) any { return [2]float64{c.Routes[0].Retry.Budget, c.Routes[0].Retry.MinPerSecond} }, [2]float64{0, 0}},
		{"failure_rate percent", strings.Replace(validBase, "    api_key:", "    breaker: {failure_rate: 25%}\n    api_key:", 1),
			func(c *Config) any { return c.Providers[0].Breaker.FailureRate }, 0.25},
		{"weight zero means default", strings.Replace(validBase, "gpt-4o-mini}", "gpt-4o-mini, weight: 0}", 1),
			func(c *Config) any { return c.Routes[0].Tiers[0][0].Weight }, 1},
		{"secret expanded", validBase,
			func(c *Config) any { return c.Providers[0].APIKey }, Secret{Ref: "${OPENAI_API_KEY}", Value: "sk-test-openai"}},
		{"header expanded", strings.Replace(validBase, "    api_key:", "    headers: {OpenAI-Organization: 'id=${OPENAI_ORG}'}\n    api_key:", 1),
			func(c *Config) any { return c.Providers[0].Headers["OpenAI-Organization"] }, "id=org-test"},
		{"dollar escape", strings.Replace(validBase, "gpt-4o-mini", "'m$$1'", 1),
			func(c *Config) any { return c.Routes[0].Tiers[0][0].Model }, "m$1"},
		{"expanded value is not YAML", "listen: ${INJECT}\n",
			func(c *Config) any { return c.Listen }, "127.0.0.1:1\nkeys: []"},
		{"empty file", "",
			func(c *Config) any { return c.Listen }, DefaultListen},
		{"comments only", "# nothing yet\n",
			func(c *Config) any { return c.Log.Level }, DefaultLogLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{"INJECT": "127.0.0.1:1\nkeys: []"}
			for k, v := range testEnv {
				e[k] = v
			}
			c, err := Parse(strings.NewReader(tt.src), "u.yaml", e.get)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseAzureDefault(t *testing.T) {
	src := strings.Replace(validBase, "routes:", "  - {name: az, kind: azure, base_url: 'https://x.openai.azure.com'}\nroutes:", 1)
	c := MustParse(t, src)
	if got, want := c.Providers[1].APIVersion, "2024-10-21"; got != want {
		t.Errorf("got api_version %q, want %q", got, want)
	}
}

// TestParseErrors checks that decoding problems stop Parse with the file,
// line, column and field.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unknown top-level field", "listen: 127.0.0.1:1\nlisten_addr: x\n",
			`u.yaml:2:1: unknown field "listen_addr"`},
		{"unknown nested field", validBase + "    timeouts:\n      totl: 5s\n",
			`u.yaml:11:7: routes[0].timeouts: unknown field "totl"`},
		{"unknown target field", strings.Replace(validBase, "model: gpt-4o-mini", "modle: gpt-4o-mini", 1),
			`u.yaml:9:29: routes[0].tiers[0][0]: unknown field "modle"`},
		{"wrong type int", strings.Replace(validBase, "gpt-4o-mini}", "gpt-4o-mini, weight: heavy}", 1),
			`u.yaml:9:57: routes[0].tiers[0][0].weight: expected an integer, got a string`},
		{"wrong type list", "listen: [a, b]\n",
			`u.yaml:1:9: listen: expected a string, got a list`},
		{"wrong type tiers", "routes:\n  - name: x\n    tiers: 5\n",
			`u.yaml:3:12: routes[0].tiers: int was used where sequence is expected`},
		{"bad duration", validBase + "    timeouts: {total: 2 minutes}\n",
			`u.yaml:10:23: routes[0].timeouts.total: invalid duration "2 minutes": use a number with a unit such as 2s, 150ms or 1m30s`},
		{"duration without unit", validBase + "    timeouts: {connect: 5}\n",
			`u.yaml:10:25: routes[0].timeouts.connect: duration 5 has no unit: write 5s or 5ms`},
		{"bad percentage", validBase + "    retry: {budget: lots}\n",
			`u.yaml:10:21: routes[0].retry.budget: expected a number, got a string (write 0.2 or 20%)`},
		{"secret not a string", validBase + "keys:\n  - {name: k, key: [a]}\n",
			`u.yaml:11:20: keys[0].key: expected a ${NAME} environment reference, got a list`},
		{"syntax error", "routes: [\n",
			`u.yaml:1:9: sequence end token ']' not found`},
		{"unquoted reference in flow mapping", validBase + "keys:\n  - {name: web, key: ${WEB_CHAT_KEY}}\n",
			`u.yaml:11:23: ',' or '}' must be specified (inside { } or [ ], quote environment references: key: "${NAME}")`},
		{"duplicate key", "listen: a:1\nlisten: b:2\n",
			`u.yaml:2:1: mapping key "listen" already defined at [1:1]`},
		{"two documents", "listen: a:1\n---\nlisten: b:2\n",
			`u.yaml:3:7: only one YAML document is allowed`},
		{"top level not a mapping", "hello\n",
			`u.yaml:1:1: string was used where mapping is expected`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.src), "u.yaml", testEnv.get)
			if err == nil {
				t.Fatalf("got config %+v, want error %q", c, tt.want)
			}
			errs := MustFieldErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(errs), err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	withKey := func(key string) string { return validBase + "keys:\n  - name: web\n    key: " + key + "\n" }
	tests := []struct {
		name string
		src  string
		env  env
		want []string // every problem, in order
	}{
		{"literal key", withKey("sk-live-123"), testEnv,
			[]string{`u.yaml:12:10: keys[0].key: a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME`}},
		{"numeric key", withKey("12345"), testEnv,
			[]string{`u.yaml:12:10: keys[0].key: a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME`}},
		{"reference with text around", withKey("'pre-${WEB_CHAT_KEY}'"), testEnv,
			[]string{`u.yaml:12:10: keys[0].key: a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME`}},
		{"literal api_key", strings.Replace(validBase, "${OPENAI_API_KEY}", "sk-abc", 1), testEnv,
			[]string{`u.yaml:5:14: providers[0].api_key: a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME`}},
		{"unset key variable", withKey("${NOPE}"), testEnv,
			[]string{`u.yaml:12:10: keys[0].key: environment variable NOPE is unset or empty`}},
		{"unset api_key variable", validBase, env{},
			[]string{`u.yaml:5:14: providers[0].api_key: environment variable OPENAI_API_KEY is unset or empty`}},
		{"missing key", validBase + "keys:\n  - name: web\n", testEnv,
			[]string{`u.yaml:11:5: keys[0].key: required: write ${NAME} and set the environment variable NAME`}},
		{"unset in base_url", strings.Replace(validBase, "https://api.openai.com/v1", "https://${HOST}/v1", 1), testEnv,
			[]string{`u.yaml:4:15: providers[0].base_url: environment variable HOST is unset or empty`}},
		{"unset in listen", strings.Replace(validBase, "127.0.0.1:8080", "${LISTEN}", 1), testEnv,
			[]string{`u.yaml:1:9: listen: environment variable LISTEN is unset or empty`}},
		{"unset in header", strings.Replace(validBase, "    api_key:", "    headers: {X-Team: '${TEAM}'}\n    api_key:", 1), testEnv,
			[]string{`u.yaml:5:23: providers[0].headers.X-Team: environment variable TEAM is unset or empty`}},
		{"lone dollar", "public_url: https://x/$HOME\n" + validBase, testEnv,
			[]string{`u.yaml:1:13: public_url: a lone $ at byte 10: write ${NAME} for a variable, or $$ for a literal $`}},
		{"unterminated", "public_url: https://x/${HOME\n" + validBase, testEnv,
			[]string{`u.yaml:1:13: public_url: unterminated ${: write ${NAME}, or $$ for a literal $`}},
		{"bad name", "public_url: https://x/${1A}\n" + validBase, testEnv,
			[]string{`u.yaml:1:13: public_url: invalid environment reference ${1A}: a name is letters, digits and _, not starting with a digit`}},
		{"set", withKey("${WEB_CHAT_KEY}"), testEnv, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.src), "u.yaml", tt.env.get)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = c.Validate()
			var got []string
			if err != nil {
				for _, fe := range MustFieldErrors(t, err) {
					got = append(got, fe.Error())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLiteralSecretNeverShown(t *testing.T) {
	const secret = "sk-live-DO-NOT-PRINT"
	src := strings.Replace(validBase, "${OPENAI_API_KEY}", secret, 1) + "keys:\n  - {name: web, key: " + secret + "x}\n"
	c := MustParse(t, src)
	var out strings.Builder
	err := c.Validate()
	out.WriteString(err.Error())
	for _, fe := range MustFieldErrors(t, err) {
		out.WriteString(fe.Value)
	}
	c.Describe(&out)
	out.WriteString(strings.Join(c.Warnings(), "\n"))
	if strings.Contains(out.String(), secret) {
		t.Errorf("got the literal secret in the output:\n%s", out.String())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "understudy.yaml")
	if err := os.WriteFile(path, []byte(validBase), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, testEnv.get)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.Routes[0].Tiers[0][0].Model, "gpt-4o-mini"; got != want {
		t.Errorf("got model %q, want %q", got, want)
	}

	if err := os.WriteFile(path, []byte(strings.Replace(validBase, "provider: openai", "provider: opnai", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, testEnv.get)
	if err == nil || err.Error() != path+`:9:21: routes[0].tiers[0][0].provider: unknown provider "opnai" (known: openai)` {
		t.Errorf("got %v, want the unknown provider on line 9", err)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml"), testEnv.get); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want a not-exist error", err)
	}
}

func TestHashKey(t *testing.T) {
	got := HashKey("web-chat-secret")
	want := sha256.Sum256([]byte("web-chat-secret"))
	if got != want {
		t.Errorf("got %x, want %x", got, want)
	}
	k := Key{Key: Secret{Ref: "${K}", Value: "web-chat-secret"}}
	if k.Hash() != want {
		t.Errorf("got Key.Hash %x, want %x", k.Hash(), want)
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{2 * time.Second, "2s"},
		{150 * time.Millisecond, "150ms"},
		{2 * time.Minute, "2m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{0, "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := Duration(tt.in).String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			var d Duration
			if err := d.UnmarshalText([]byte(tt.want)); err != nil || d.D() != tt.in {
				t.Errorf("got %v (err %v) reading back %q, want %v", d.D(), err, tt.want, tt.in)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	src := validBase + "# " + strings.Repeat("x", MaxFileBytes) + "\n"
	_, err := Parse(strings.NewReader(src), "u.yaml", testEnv.get)
	if want := "u.yaml: file is larger than 1048576 bytes"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestAdaptiveConcurrencyDefaults(t *testing.T) {
	c := MustParse(t, strings.Replace(validBase, "    api_key:", "    max_concurrency: 50\n    adaptive_concurrency: {enabled: true}\n    api_key:", 1))
	want := AdaptiveConcurrency{Enabled: true, Min: 1, Max: 50, Initial: 10, Queue: 2}
	if got := c.Providers[0].AdaptiveConcurrency; got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	// Zeros written in the file are settings: no queue, never wait.
	c = MustParse(t, "limits: {queue_wait: {critical: 0s, default: 0s, batch: 2s}}\n"+
		strings.Replace(validBase, "    api_key:", "    adaptive_concurrency: {enabled: true, queue: 0}\n    api_key:", 1))
	if q := c.Providers[0].AdaptiveConcurrency.Queue; q != 0 {
		t.Errorf("queue: 0 in the file became %v", q)
	}
	if got, want := c.Limits.QueueWait, (QueueWait{Batch: Duration(2 * time.Second)}); got != want {
		t.Errorf("queue_wait: %+v, want %+v", got, want)
	}
	if got := c.Limits.QueueWait.For(PriorityBatch).D(); got != 2*time.Second {
		t.Errorf("For(batch) = %v", got)
	}
}

func TestChatwootEnv(t *testing.T) {
	env := map[string]string{"CW_URL": "https://chat.example.com", "CW_TOKEN": "tok", "CW_SECRET": "sec", "OPENAI_API_KEY": "sk"}
	c, err := Parse(strings.NewReader(validBase+`handoff:
  chatwoot: {base_url: "${CW_URL}", account_id: 1, inbox_id: 7, api_token: "${CW_TOKEN}", webhook_secret: "${CW_SECRET}"}
`), "u.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cw := c.Handoff.Chatwoot
	if cw.BaseURL != "https://chat.example.com" || cw.APIToken.Value != "tok" || cw.WebhookSecret.Value != "sec" {
		t.Errorf("got %+v", cw)
	}
	if c.Handoff.SLA.D() != 2*time.Minute {
		t.Errorf("sla default %v", c.Handoff.SLA)
	}
}
