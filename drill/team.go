package drill

import (
	"bytes"
	"cmp"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/understudy/understudy/config"
)

// team is the team's configuration rewritten for a drill: the same routes,
// providers, timeouts, breakers, ladders and incident settings, with every
// outside dependency replaced.
type team struct {
	cfg *config.Config
	// clientKeys are the drill's client keys by priority (the first key
	// of each priority); firstKey is the first key's, "" without keys.
	clientKeys map[string]string
	firstKey   string
	// providerKeys are the API keys the simulator requires, by provider
	// (those with an api_key in the team's configuration).
	providerKeys map[string]string
	// Notes say what was replaced, for the report.
	notes []string
}

// drillValue is what a ${NAME} reference expands to when the plan's env
// does not give it.
func drillValue(name string) string { return "drill-" + name }

// loadTeam reads the plan's team configuration and rewrites it: every
// provider's base_url points at the simulator (simURL), keys are drill
// keys, storage is the SQLite file sqlite ("" for a placeholder when the
// configuration is only checked), notifications, the Chatwoot relay and
// provider status pages are off. The real environment is never read:
// ${NAME} expands to the plan's env, else to drill-NAME.
func loadTeam(p *Plan, simURL, sqlite string) (*team, error) {
	path := p.ConfigPath()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var defaulted []string
	getenv := func(name string) string {
		if v, ok := p.Env[name]; ok {
			return v
		}
		if !slices.Contains(defaulted, name) {
			defaulted = append(defaulted, name)
		}
		return drillValue(name)
	}
	cfg, err := config.Parse(bytes.NewReader(b), path, getenv)
	if err != nil {
		return nil, err
	}
	t := &team{cfg: cfg, clientKeys: map[string]string{}, providerKeys: map[string]string{}}
	secretRefs := secretRefsOf(cfg)
	simURL = strings.TrimRight(simURL, "/")

	cfg.Listen = "127.0.0.1:0"
	if u, err := url.Parse(cfg.PublicURL); cfg.PublicURL != "" && (err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
		t.note("public_url %q is not a URL once its references are expanded: left empty for the drill", cfg.PublicURL)
		cfg.PublicURL = ""
	}
	for i := range cfg.Providers {
		pr := &cfg.Providers[i]
		was := pr.BaseURL
		base := simURL + "/" + url.PathEscape(pr.Name)
		switch pr.Kind {
		case config.KindAnthropic:
			pr.BaseURL = base
			t.note("provider %s (kind anthropic): %s → the simulator's Anthropic Messages endpoint %s/v1/messages", pr.Name, was, base)
		case config.KindAzure:
			pr.BaseURL = base
			t.note("provider %s (kind azure): %s → the simulator's Azure-style endpoint %s/openai/deployments/…", pr.Name, was, base)
		default:
			pr.BaseURL = base + "/v1"
			t.note("provider %s (kind %s): %s → the simulator's OpenAI-compatible endpoint %s/v1", pr.Name, pr.Kind, was, base)
		}
		if pr.APIKey.Ref != "" {
			key := "drill-provider-key-" + pr.Name
			pr.APIKey = config.Secret{Ref: "${DRILL_PROVIDER_KEY}", Value: key}
			t.providerKeys[pr.Name] = key
		}
		if pr.StatusPage != "" {
			t.note("provider %s: its status page %s is not polled", pr.Name, pr.StatusPage)
			pr.StatusPage, pr.StatusComponents = "", nil
		}
	}
	if len(t.providerKeys) > 0 {
		t.note("provider API keys: replaced by drill keys, which the simulator checks")
	}
	var keyNames []string
	for i := range cfg.Keys {
		k := &cfg.Keys[i]
		value := fmt.Sprintf("drill-key-%d-%s", i, k.Name)
		k.Key = config.Secret{Ref: "${DRILL_CLIENT_KEY}", Value: value}
		if _, ok := t.clientKeys[k.Priority]; !ok {
			t.clientKeys[k.Priority] = value
		}
		if i == 0 {
			t.firstKey = value
		}
		keyNames = append(keyNames, k.Name+" ("+k.Priority+")")
	}
	if len(keyNames) > 0 {
		t.note("client keys %s: replaced by drill keys; their priorities and limits are kept", strings.Join(keyNames, ", "))
	}
	was := "SQLite " + cfg.Storage.SQLite
	switch {
	case cfg.Storage.PostgresDSN.Ref != "":
		was = "PostgreSQL"
	case cfg.Storage.Disabled:
		was = "disabled"
	}
	cfg.Storage.Disabled, cfg.Storage.PostgresDSN = false, config.Secret{}
	cfg.Storage.SQLite = cmp.Or(sqlite, "drill.db")
	t.note("storage (%s): a temporary SQLite file, removed after the drill", was)
	n := &cfg.Notifications
	n.Disabled, n.WebhookSecrets, n.LinkSecret, n.Email = true, nil, config.Secret{}, nil
	t.note("notifications: off — no webhook, Slack, Teams or e-mail is sent")
	if cfg.Handoff.Chatwoot != nil {
		cfg.Handoff.Chatwoot = nil
		t.note("handoff: conversations are queued in the drill's store, not relayed to Chatwoot")
	}
	if cfg.FAQ.Dir != "" && !filepath.IsAbs(cfg.FAQ.Dir) {
		cfg.FAQ.Dir = filepath.Join(filepath.Dir(path), cfg.FAQ.Dir)
	}
	// Secrets were replaced above: only the other references matter.
	defaulted = slices.DeleteFunc(defaulted, func(name string) bool { return slices.Contains(secretRefs, "${"+name+"}") })
	if len(defaulted) > 0 {
		t.note("${…} references not given in the plan's env expanded to drill-NAME: %s", strings.Join(defaulted, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *team) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// key is the client key a request of priority is sent with; "" without keys.
func (t *team) key(priority string) string {
	if priority == "" {
		return t.firstKey
	}
	return t.clientKeys[priority]
}

// secretRefsOf are the references written in the configuration's secrets.
func secretRefsOf(cfg *config.Config) []string {
	refs := []string{cfg.Storage.PostgresDSN.Ref, cfg.Notifications.LinkSecret.Ref}
	for _, k := range cfg.Keys {
		refs = append(refs, k.Key.Ref)
	}
	for _, p := range cfg.Providers {
		refs = append(refs, p.APIKey.Ref)
	}
	for _, s := range cfg.Notifications.WebhookSecrets {
		refs = append(refs, s.Ref)
	}
	if e := cfg.Notifications.Email; e != nil {
		refs = append(refs, e.Password.Ref)
	}
	if cw := cfg.Handoff.Chatwoot; cw != nil {
		refs = append(refs, cw.APIToken.Ref, cw.WebhookSecret.Ref)
	}
	return refs
}
