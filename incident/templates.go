package incident

import (
	"strings"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/config"
)

// Plan is the crisis communication plan: the messages public updates are
// written from, per cause, phase and language, with placeholders {title},
// {components}, {eta}, {start}, {workaround}.
type Plan struct {
	Languages  []string // the first is the default
	Workaround map[string]string
	templates  map[understudy.Cause]map[understudy.IncidentStatus]map[string]string
}

// builtin is the plan's default text. Every cause × phase exists in English
// and French.
var builtin = map[understudy.Cause]map[understudy.IncidentStatus]map[string]string{
	understudy.CauseTechnical: {
		understudy.IncidentInvestigating: {
			"en": "We are investigating errors from an AI provider affecting {components} since {start}. Your requests are being answered by backup providers where possible.{workaround}",
			"fr": "Nous analysons des erreurs d'un fournisseur d'IA qui touchent {components} depuis {start}. Vos demandes sont traitées par des fournisseurs de secours quand c'est possible.{workaround}",
		},
		understudy.IncidentIdentified: {
			"en": "We have identified the problem affecting {components} and are working on it. Expected resolution: {eta}.{workaround}",
			"fr": "Nous avons identifié le problème qui touche {components} et y travaillons. Résolution prévue : {eta}.{workaround}",
		},
		understudy.IncidentMonitoring: {
			"en": "Error rates on {components} are back to normal. We are monitoring the situation.",
			"fr": "Les taux d'erreur sur {components} sont revenus à la normale. Nous surveillons la situation.",
		},
		understudy.IncidentResolved: {
			"en": "This incident has been resolved: {components} work normally again.",
			"fr": "Cet incident est résolu : {components} fonctionnent de nouveau normalement.",
		},
	},
	understudy.CauseOverload: {
		understudy.IncidentInvestigating: {
			"en": "An AI provider is overloaded: answers from {components} may be slower or come from a backup provider since {start}.{workaround}",
			"fr": "Un fournisseur d'IA est surchargé : les réponses de {components} peuvent être plus lentes ou venir d'un fournisseur de secours depuis {start}.{workaround}",
		},
		understudy.IncidentIdentified: {
			"en": "The overload affecting {components} is identified; traffic is being spread to other providers. Expected resolution: {eta}.{workaround}",
			"fr": "La surcharge qui touche {components} est identifiée ; le trafic est réparti vers d'autres fournisseurs. Résolution prévue : {eta}.{workaround}",
		},
		understudy.IncidentMonitoring: {
			"en": "Load on {components} is back to normal. We are monitoring the situation.",
			"fr": "La charge sur {components} est revenue à la normale. Nous surveillons la situation.",
		},
		understudy.IncidentResolved: {
			"en": "This incident has been resolved: {components} answer at their usual speed again.",
			"fr": "Cet incident est résolu : {components} répondent de nouveau à leur vitesse habituelle.",
		},
	},
	understudy.CauseMaintenance: {
		understudy.IncidentInvestigating: {
			"en": "An update is affecting {components} since {start}. We are looking into it.{workaround}",
			"fr": "Une mise à jour perturbe {components} depuis {start}. Nous analysons la situation.{workaround}",
		},
		understudy.IncidentIdentified: {
			"en": "The update affecting {components} is identified and being corrected. Expected resolution: {eta}.{workaround}",
			"fr": "La mise à jour qui perturbe {components} est identifiée et en cours de correction. Résolution prévue : {eta}.{workaround}",
		},
		understudy.IncidentMonitoring: {
			"en": "{components} work normally again after the update. We are monitoring the situation.",
			"fr": "{components} fonctionnent de nouveau normalement après la mise à jour. Nous surveillons la situation.",
		},
		understudy.IncidentResolved: {
			"en": "This incident has been resolved: {components} work normally again.",
			"fr": "Cet incident est résolu : {components} fonctionnent de nouveau normalement.",
		},
	},
}

// The remaining causes speak to users like a technical failure: who pays
// which bill or which key was revoked is not the users' business.
func init() {
	for _, c := range []understudy.Cause{understudy.CauseQuota, understudy.CauseMisconfiguration, understudy.CauseUnknown} {
		builtin[c] = builtin[understudy.CauseTechnical]
	}
}

// NewPlan builds the plan of c over the built-in text.
func NewPlan(c config.Communication) *Plan {
	p := &Plan{Languages: c.Languages, Workaround: c.Workaround, templates: map[understudy.Cause]map[understudy.IncidentStatus]map[string]string{}}
	if len(p.Languages) == 0 {
		p.Languages = []string{"en"}
	}
	for cause, phases := range builtin {
		p.templates[cause] = map[understudy.IncidentStatus]map[string]string{}
		for phase, langs := range phases {
			m := map[string]string{}
			for l, t := range langs {
				m[l] = t
			}
			p.templates[cause][phase] = m
		}
	}
	for cause, phases := range c.Templates {
		for phase, langs := range phases {
			for l, t := range langs {
				p.templates[understudy.Cause(cause)][understudy.IncidentStatus(phase)][l] = t
			}
		}
	}
	return p
}

// Vars fill a template's placeholders.
type Vars struct {
	Title      string
	Components []string // component names; providers are shown as "provider NAME"
	ETA        time.Time
	Start      time.Time
}

var words = map[string]map[string]string{
	"en": {"unknown": "not known yet", "provider": "provider ", "and": " and ", "workaround": " Workaround: "},
	"fr": {"unknown": "pas encore connue", "provider": "fournisseur ", "and": " et ", "workaround": " Contournement : "},
}

func word(lang, k string) string {
	if w, ok := words[lang][k]; ok {
		return w
	}
	return words["en"][k]
}

// Render writes the message of cause and phase in lang; ok is false when
// the plan has no text for them.
func (p *Plan) Render(cause understudy.Cause, phase understudy.IncidentStatus, lang string, v Vars) (string, bool) {
	t, ok := p.templates[cause][phase][lang]
	if !ok || t == "" {
		return "", false
	}
	names := make([]string, len(v.Components))
	for i, c := range v.Components {
		if name, ok := strings.CutPrefix(c, "provider:"); ok {
			names[i] = word(lang, "provider") + name
		} else {
			names[i] = c
		}
	}
	comps := strings.Join(names, ", ")
	if n := len(names); n > 1 {
		comps = strings.Join(names[:n-1], ", ") + word(lang, "and") + names[n-1]
	}
	eta := word(lang, "unknown")
	if !v.ETA.IsZero() {
		eta = v.ETA.UTC().Format("15:04 UTC")
	}
	work := ""
	if w := p.Workaround[lang]; w != "" {
		work = word(lang, "workaround") + w
	}
	return strings.NewReplacer("{title}", v.Title, "{components}", comps, "{eta}", eta,
		"{start}", v.Start.UTC().Format("15:04 UTC"), "{workaround}", work).Replace(t), true
}

// Update writes an update from the plan: the message in the default
// language and the translations in the others.
func (p *Plan) Update(cause understudy.Cause, phase understudy.IncidentStatus, v Vars) (msg string, translations map[string]string) {
	for i, l := range p.Languages {
		text, ok := p.Render(cause, phase, l, v)
		if !ok {
			continue
		}
		if i == 0 {
			msg = text
			continue
		}
		if translations == nil {
			translations = map[string]string{}
		}
		translations[l] = text
	}
	if msg == "" { // the default language has no text: fall back to English
		msg, _ = p.Render(cause, phase, "en", v)
	}
	return msg, translations
}

// builtinNotice is the short in-band notice per language.
var builtinNotice = map[string]map[bool]string{
	"en": {
		false: "We are having trouble with {components}: answers may be slower or limited. Expected resolution: {eta}.",
		true:  "Maintenance is in progress on {components}: answers may be slower or limited. Expected end: {eta}.",
	},
	"fr": {
		false: "Nous rencontrons des difficultés avec {components} : les réponses peuvent être plus lentes ou limitées. Résolution prévue : {eta}.",
		true:  "Une maintenance est en cours sur {components} : les réponses peuvent être plus lentes ou limitées. Fin prévue : {eta}.",
	},
}

// Notice writes the short notice for a route that is not operational, in
// lang: the route's own text (routes[].notice) when it has one, else the
// built-in one. ok is false when neither exists in lang.
func (p *Plan) Notice(custom map[string]string, n understudy.RouteNotice, lang string) (string, bool) {
	t := custom[lang]
	if t == "" {
		t = builtinNotice[lang][n.Status == understudy.ComponentUnderMaintenance]
	}
	if t == "" {
		return "", false
	}
	one := Plan{Languages: p.Languages, Workaround: p.Workaround,
		templates: map[understudy.Cause]map[understudy.IncidentStatus]map[string]string{"": {"": {lang: t}}}}
	return one.Render("", "", lang, Vars{Title: n.Title, Components: n.Components, ETA: n.ETA, Start: n.Since})
}
