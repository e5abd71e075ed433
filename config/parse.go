package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// Load reads the file at path, parses it and validates it. The error, when
// not nil, is a *ValidationError listing every problem (or one YAML error),
// except when the file cannot be read. Warnings() on the result lists what is
// allowed but probably unintended.
func Load(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return load(b, path, getenv)
}

func load(b []byte, filename string, getenv func(string) string) (*Config, error) {
	c, err := Parse(bytes.NewReader(b), filename, getenv)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// MaxFileBytes bounds the size of a configuration file. A real one is a few
// kilobytes; the bound keeps a wrong path (a log, a database) from stalling
// the YAML parser, which is slow on huge or deeply nested input.
const MaxFileBytes = 1 << 20

// Parse decodes one YAML document into a Config, expands environment
// references and applies the defaults (see ApplyDefaults). filename only
// names the file in messages.
//
// Decoding is strict: an unknown field, a wrong type or a YAML syntax error
// stops Parse with a *ValidationError holding that one problem, located by
// line and column. Environment problems (an unset variable, a literal
// secret) do not stop Parse: Validate reports them with all the others.
//
// Environment references are expanded in string values after decoding, so an
// expanded value can never change the YAML structure. ${NAME} is replaced by
// getenv("NAME") in listen, public_url, providers[].base_url,
// providers[].headers values, providers[].api_version and targets' model;
// $$ stands for one $. Secrets (keys[].key, providers[].api_key) must be
// exactly one ${NAME} reference. getenv nil means an empty environment.
func Parse(r io.Reader, filename string, getenv func(string) string) (cfg *Config, err error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filename, err)
	}
	if len(b) > MaxFileBytes {
		return nil, &ValidationError{Errors: []FieldError{{File: filename, Message: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}}}
	}
	src := newSource(filename)
	defer func() {
		// A configuration is read again on every reload: a bug in the YAML
		// library must not take the running gateway down with it.
		if p := recover(); p != nil {
			cfg = nil
			err = &ValidationError{Errors: []FieldError{{File: filename, Message: fmt.Sprintf("cannot parse YAML: %v", p)}}}
		}
	}()
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, syntaxHint(src.decodeError(err), b)
	}
	c := &Config{}
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		for _, doc := range f.Docs[1:] {
			if doc.Body != nil {
				fe := FieldError{File: filename, Message: "only one YAML document is allowed"}
				if p := tokenPos(doc.Body); p.Line > 0 {
					fe.Line, fe.Column = p.Line, p.Column
				}
				return nil, &ValidationError{Errors: []FieldError{fe}}
			}
		}
		body := f.Docs[0].Body
		src.walk(body, "", 0)
		if err := yaml.NodeToValue(body, c, yaml.DisallowUnknownField()); err != nil {
			return nil, src.decodeError(err)
		}
	}
	c.src = src
	c.expandEnv(getenv)
	c.ApplyDefaults()
	return c, nil
}

// refPattern is a whole-value environment reference, as secrets must be.
var refPattern = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandEnv expands references in the fields that take them and resolves
// secrets, recording problems for Validate.
func (c *Config) expandEnv(getenv func(string) string) {
	x := expander{src: c.src, getenv: getenv}
	x.str(&c.Listen, "listen")
	x.str(&c.PublicURL, "public_url")
	x.str(&c.Storage.SQLite, "storage.sqlite")
	x.str(&c.FAQ.Dir, "faq.dir")
	x.secret(&c.Storage.PostgresDSN, "storage.postgres_dsn")
	for i := range c.Keys {
		x.secret(&c.Keys[i].Key, fmt.Sprintf("keys[%d].key", i))
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		path := fmt.Sprintf("providers[%d]", i)
		x.str(&p.BaseURL, path+".base_url")
		x.str(&p.APIVersion, path+".api_version")
		x.secret(&p.APIKey, path+".api_key")
		for name, v := range p.Headers {
			x.str(&v, path+".headers."+name)
			p.Headers[name] = v
		}
	}
	n := &c.Notifications
	for i := range n.WebhookSecrets {
		x.secret(&n.WebhookSecrets[i], fmt.Sprintf("notifications.webhook_secrets[%d]", i))
	}
	x.secret(&n.LinkSecret, "notifications.link_secret")
	if e := n.Email; e != nil {
		x.str(&e.Host, "notifications.email.host")
		x.str(&e.Username, "notifications.email.username")
		x.str(&e.From, "notifications.email.from")
		x.secret(&e.Password, "notifications.email.password")
	}
	if cw := c.Handoff.Chatwoot; cw != nil {
		x.str(&cw.BaseURL, "handoff.chatwoot.base_url")
		x.secret(&cw.APIToken, "handoff.chatwoot.api_token")
		x.secret(&cw.WebhookSecret, "handoff.chatwoot.webhook_secret")
	}
	for i := range c.Routes {
		for t, tier := range c.Routes[i].Tiers {
			for j := range tier {
				x.str(&tier[j].Model, fmt.Sprintf("routes[%d].tiers[%d][%d].model", i, t, j))
			}
		}
	}
}

type expander struct {
	src    *source
	getenv func(string) string
}

func (x expander) str(s *string, path string) {
	out, err := expand(*s, x.getenv)
	if err != nil {
		x.src.problems = append(x.src.problems, x.src.fieldError(path, err.ref, err.msg))
		return
	}
	*s = out
}

// secret checks that the secret is one ${NAME} reference and reads it. A
// literal is dropped from the Config so that nothing can print it; an empty
// variable leaves Value empty for Validate to report.
func (x expander) secret(s *Secret, path string) {
	if s.Ref == "" {
		return
	}
	m := refPattern.FindStringSubmatch(s.Ref)
	if m == nil {
		*s = Secret{}
		x.src.problems = append(x.src.problems, x.src.fieldError(path, "",
			"a literal secret is not allowed: secrets come from the environment; write ${NAME} and set NAME"))
		return
	}
	s.Value = x.getenv(m[1])
}

type expandError struct {
	ref string // the reference or text at fault
	msg string
}

// expand replaces ${NAME} with getenv("NAME") and $$ with $. Every other $ is
// an error, as is a reference to an unset or empty variable.
func expand(s string, getenv func(string) string) (string, *expandError) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", &expandError{ref: s[i:], msg: "unterminated ${: write ${NAME}, or $$ for a literal $"}
			}
			ref := s[i : i+end+2]
			m := refPattern.FindStringSubmatch(ref)
			if m == nil {
				return "", &expandError{ref: ref, msg: fmt.Sprintf("invalid environment reference %s: a name is letters, digits and _, not starting with a digit", ref)}
			}
			v := getenv(m[1])
			if v == "" {
				return "", &expandError{ref: ref, msg: fmt.Sprintf("environment variable %s is unset or empty", m[1])}
			}
			b.WriteString(v)
			i += end + 1
		default:
			return "", &expandError{ref: s, msg: "a lone $ at byte " + strconv.Itoa(i) + ": write ${NAME} for a variable, or $$ for a literal $"}
		}
	}
	return b.String(), nil
}

// syntaxHint explains the most likely syntax error in a configuration: an
// unquoted ${NAME} inside { } or [ ], where YAML reads the braces as structure.
func syntaxHint(err error, b []byte) error {
	ve, ok := err.(*ValidationError)
	if !ok || len(ve.Errors) != 1 || ve.Errors[0].Line == 0 {
		return err
	}
	lines := strings.Split(string(b), "\n")
	if n := ve.Errors[0].Line; n <= len(lines) && strings.Contains(lines[n-1], "${") {
		ve.Errors[0].Message += ` (inside { } or [ ], quote environment references: key: "${NAME}")`
	}
	return ve
}
