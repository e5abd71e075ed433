package incident_test

import (
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
	"github.com/understudy/understudy/incident"
	"github.com/understudy/understudy/simulate"
)

func TestPlan(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC)
	p := incident.NewPlan(config.Communication{
		Languages:  []string{"fr", "en"},
		Workaround: map[string]string{"fr": "écrivez à support@example.com.", "en": "write to support@example.com."},
		Templates: map[string]map[string]map[string]string{
			"overload": {"identified": {"en": "{title}: {components} are slow; back by {eta}."}},
		},
	})
	v := incident.Vars{Title: "Slow answers", Components: []string{"assistant", "provider:openai"}, Start: start, ETA: start.Add(90 * time.Minute)}
	for _, tt := range []struct {
		name  string
		cause understudy.Cause
		phase understudy.IncidentStatus
		lang  string
		want  string
	}{
		{"built-in fr", understudy.CauseTechnical, understudy.IncidentInvestigating, "fr",
			"Nous analysons des erreurs d'un fournisseur d'IA qui touchent assistant et fournisseur openai depuis 14:02 UTC. Vos demandes sont traitées par des fournisseurs de secours quand c'est possible. Contournement : écrivez à support@example.com."},
		{"override", understudy.CauseOverload, understudy.IncidentIdentified, "en", "Slow answers: assistant and provider openai are slow; back by 15:32 UTC."},
		{"not overridden", understudy.CauseOverload, understudy.IncidentIdentified, "fr",
			"La surcharge qui touche assistant et fournisseur openai est identifiée ; le trafic est réparti vers d'autres fournisseurs. Résolution prévue : 15:32 UTC. Contournement : écrivez à support@example.com."},
		{"quota speaks like a failure", understudy.CauseQuota, understudy.IncidentResolved, "en", "This incident has been resolved: assistant and provider openai work normally again."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := p.Render(tt.cause, tt.phase, tt.lang, v)
			if !ok || got != tt.want {
				t.Errorf("got %q (%v)\nwant %q", got, ok, tt.want)
			}
		})
	}
	v.ETA = time.Time{}
	msg, tr := p.Update(understudy.CauseMaintenance, understudy.IncidentIdentified, v)
	if !strings.HasPrefix(msg, "La mise à jour") || !strings.Contains(msg, "pas encore connue") || !strings.HasPrefix(tr["en"], "The update affecting") || !strings.Contains(tr["en"], "not known yet") {
		t.Errorf("update: %q / %q", msg, tr)
	}
	// Every built-in cause × phase exists in both languages.
	for _, c := range config.TemplateCauses {
		for _, ph := range config.TemplatePhases {
			for _, l := range []string{"en", "fr"} {
				if _, ok := p.Render(understudy.Cause(c), understudy.IncidentStatus(ph), l, v); !ok {
					t.Errorf("no built-in text for %s/%s/%s", c, ph, l)
				}
			}
		}
	}
}

// TestFirstUpdateFromPlan: a detected incident's first public update is
// written from the plan at once, in every language.
func TestFirstUpdateFromPlan(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.second()
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	for range 8 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("incidents %s", fmtIncidents(incs))
	}
	u := incs[0].Updates[0]
	if !strings.HasPrefix(u.Message, "We are investigating errors from an AI provider affecting provider primary since 10:00 UTC.") {
		t.Errorf("message %q", u.Message)
	}
	if fr := u.Text("fr"); !strings.HasPrefix(fr, "Nous analysons des erreurs d'un fournisseur d'IA qui touchent fournisseur primary") {
		t.Errorf("French %q", fr)
	}
}
