package lessons

import (
	"slices"
	"strconv"
	"strings"

	"github.com/understudy/understudy"
)

// IncidentDocument is what search sees of an incident: its title, and a
// text of one line per fact: the cause, components and detector; the
// evidence's failure classes (as written and in words: "server_error
// (server error)"), routes and targets; each sample error message, each
// detector signal and each provider report; then each update's message and
// its translations (sorted by language). Components are written as people
// read them ("provider openai"), so that "openai" finds them.
func IncidentDocument(inc understudy.Incident) Document {
	var lines []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			lines = append(lines, s)
		}
	}
	head := string(inc.Cause) + " incident"
	if len(inc.Components) > 0 {
		head += " on " + strings.Join(componentWords(inc.Components), ", ")
	}
	if inc.Detector != "" {
		head += " (detector " + inc.Detector + ")"
	}
	add(head)
	ev := inc.Evidence
	if len(ev.Classes) > 0 {
		classes := make([]string, 0, len(ev.Classes))
		for c := range ev.Classes {
			classes = append(classes, string(c))
		}
		slices.Sort(classes)
		for i, c := range classes {
			classes[i] = c + " (" + strings.ReplaceAll(c, "_", " ") + ")"
		}
		add("failures: " + strings.Join(classes, ", "))
	}
	if len(ev.Routes) > 0 {
		add("routes: " + strings.Join(ev.Routes, ", "))
	}
	if len(ev.Targets) > 0 {
		add("targets: " + strings.Join(ev.Targets, ", "))
	}
	for _, group := range [][]string{ev.Samples, ev.Signals, ev.Provider} {
		for _, s := range group {
			add(s)
		}
	}
	for _, u := range inc.Updates {
		add(u.Message)
		tr := make([]string, 0, len(u.Translations))
		for lang := range u.Translations {
			tr = append(tr, lang)
		}
		slices.Sort(tr)
		for _, lang := range tr {
			add(u.Translations[lang])
		}
	}
	return Document{Kind: KindIncident, ID: strconv.FormatInt(inc.ID, 10), IncidentID: inc.ID, Title: inc.Title,
		Text: strings.Join(lines, "\n"), When: inc.StartedAt}
}

// componentWords renders component names for people: "provider openai".
func componentWords(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		if p, ok := strings.CutPrefix(c, "provider:"); ok {
			out[i] = "provider " + p
		} else {
			out[i] = c
		}
	}
	return out
}
