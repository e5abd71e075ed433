package web

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy"
)

func TestAcceptLanguage(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"empty", "", "en"},
		{"french", "fr", "fr"},
		{"regional french", "fr-CA", "fr"},
		{"case-insensitive", "FR-be", "fr"},
		{"order without q", "fr, en", "fr"},
		{"order without q, english first", "en, fr", "en"},
		{"q decides over order", "en;q=0.5, fr;q=0.8", "fr"},
		{"browser style", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"},
		{"unsupported first", "de-DE, fr;q=0.5", "fr"},
		{"only unsupported", "de, es;q=0.8", "en"},
		{"q=0 excludes", "fr;q=0, en;q=0.1", "en"},
		{"everything excluded", "fr;q=0, en;q=0", "en"},
		{"exact range decides over a regional one", "fr-CA;q=0.9, fr;q=0.1, en;q=0.5", "en"},
		{"wildcard for the unnamed", "en;q=0.2, *;q=0.5", "fr"},
		{"wildcard after a named one of equal q", "fr;q=0.5, *;q=0.5", "fr"},
		{"wildcard alone", "*", "en"},
		{"wildcard excluded", "de, *;q=0", "en"},
		{"spaces and parameters", " fr ; q=0.7 ; foo=bar ,  en ; q=0.6", "fr"},
		{"uppercase Q", "en;Q=0.1, fr;Q=0.9", "fr"},
		{"malformed q ignored", "fr;q=abc, en;q=0.3", "en"},
		{"q above 1 ignored", "fr;q=2, en;q=0.3", "en"},
		{"q with too many digits ignored", "fr;q=0.12345, en;q=0.1", "en"},
		{"empty entries", ",,fr,,", "fr"},
		{"ties go to the first", "en;q=0.8, fr;q=0.8", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptLanguage(tt.header); got != tt.want {
				t.Errorf("acceptLanguage(%q): got %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// verbs is the sorted list of a message's fmt verbs, positions dropped.
func verbs(s string) []string {
	re := regexp.MustCompile(`%(\[\d+\])?[a-z%]`)
	var out []string
	for _, m := range re.FindAllString(s, -1) {
		out = append(out, m[len(m)-1:])
	}
	slices.Sort(out)
	return out
}

func TestCatalogsComplete(t *testing.T) {
	if len(catalogs) != len(langs) {
		t.Fatalf("got %d catalogues for %d languages", len(catalogs), len(langs))
	}
	for _, l := range langs {
		for _, other := range langs {
			if l == other {
				continue
			}
			for key, msg := range catalogs[l] {
				o, ok := catalogs[other][key]
				if !ok {
					t.Errorf("%q is in the %s catalogue but not in the %s one", key, l, other)
					continue
				}
				if !slices.Equal(verbs(msg), verbs(o)) {
					t.Errorf("%q: the %s message takes %v, the %s one %v", key, l, verbs(msg), other, verbs(o))
				}
			}
		}
		for key, msg := range catalogs[l] {
			if msg == "" {
				t.Errorf("%s: %q is empty", l, key)
			}
		}
	}
}

func TestCatalogsCoverEveryValue(t *testing.T) {
	var keys []string
	for _, s := range []understudy.ComponentStatus{understudy.ComponentOperational, understudy.ComponentUnderMaintenance,
		understudy.ComponentDegradedPerformance, understudy.ComponentPartialOutage, understudy.ComponentMajorOutage} {
		keys = append(keys, "status."+string(s), "overall."+string(s))
	}
	for _, s := range []understudy.IncidentStatus{understudy.IncidentInvestigating, understudy.IncidentIdentified,
		understudy.IncidentMonitoring, understudy.IncidentResolved} {
		keys = append(keys, "incident.status."+string(s))
	}
	for _, s := range []understudy.Severity{understudy.SeverityMinor, understudy.SeverityMajor, understudy.SeverityCritical} {
		keys = append(keys, "severity."+string(s))
	}
	for _, c := range []understudy.Cause{understudy.CauseTechnical, understudy.CauseOverload, understudy.CauseMaintenance,
		understudy.CauseQuota, understudy.CauseMisconfiguration, understudy.CauseUnknown} {
		keys = append(keys, "cause."+string(c))
	}
	for _, s := range []understudy.MaintenanceStatus{understudy.MaintenanceScheduled, understudy.MaintenanceInProgress,
		understudy.MaintenanceVerifying, understudy.MaintenanceCompleted, understudy.MaintenanceCanceled} {
		keys = append(keys, "maintenance.status."+string(s))
	}
	for m := time.January; m <= time.December; m++ {
		keys = append(keys, "month."+time.Month(m).String())
	}
	for i := range keys {
		if strings.HasPrefix(keys[i], "month.") {
			keys[i] = "month." + monthNumber(keys[i])
		}
	}
	for _, l := range langs {
		keys = append(keys, "lang.name."+l)
	}
	keys = append(keys, "uptime.requests.one", "uptime.requests.other")
	for _, key := range keys {
		for _, l := range langs {
			if _, ok := catalogs[l][key]; !ok {
				t.Errorf("%s catalogue: no %q", l, key)
			}
		}
	}
}

func monthNumber(key string) string {
	name := strings.TrimPrefix(key, "month.")
	for m := time.January; m <= time.December; m++ {
		if m.String() == name {
			return strings.TrimLeft(time.Date(2000, m, 1, 0, 0, 0, 0, time.UTC).Format("01"), "0")
		}
	}
	return name
}

// TestTemplatesUseKnownKeys checks every literal key the templates and the
// Go code ask for.
func TestTemplatesUseKnownKeys(t *testing.T) {
	re := regexp.MustCompile(`\bt "([a-z0-9_.]+)"|\.T\("([a-z0-9_.]+)"|\.N\("([a-z0-9_.]+)"|Heading: "([a-z0-9_.]+)"`)
	sources := map[string]string{}
	tmpls, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tmpls {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		sources[name] = string(b)
	}
	found := 0
	for name, src := range sources {
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			key := strings.Join(m[1:], "")
			found++
			for _, l := range langs {
				if _, ok := catalogs[l][key]; !ok {
					t.Errorf("%s uses %q, missing from the %s catalogue", name, key, l)
				}
			}
		}
	}
	if found < 40 {
		t.Errorf("found only %d keys in the templates: is the pattern stale?", found)
	}
}

func TestFormatting(t *testing.T) {
	day := time.Date(2026, 3, 5, 14, 2, 0, 0, time.UTC)
	tests := []struct {
		name, got, want string
	}{
		{"en day", newLocale("en").Day(day), "March 5, 2026"},
		{"fr day", newLocale("fr").Day(day), "5 mars 2026"},
		{"en datetime", newLocale("en").DateTime(day), "March 5, 2026, 14:02 UTC"},
		{"fr datetime", newLocale("fr").DateTime(day), "5 mars 2026 à 14:02 UTC"},
		{"fr month heading", newLocale("fr").Month(day), "Mars 2026"},
		{"en int", newLocale("en").Int(1234567), "1,234,567"},
		{"fr int", newLocale("fr").Int(1234567), "1\u202f234\u202f567"},
		{"en pct", newLocale("en").Pct(0.99949), "99.94%"},
		{"fr pct", newLocale("fr").Pct(0.5), "50,00\u00a0%"},
		{"pct never rounds up to 100", newLocale("en").Pct(0.999999), "99.99%"},
		{"pct 100", newLocale("en").Pct(1), "100%"},
		{"en plural one", newLocale("en").N("uptime.requests", 1), "1 request"},
		{"en plural zero", newLocale("en").N("uptime.requests", 0), "0 requests"},
		{"fr plural zero", newLocale("fr").N("uptime.requests", 0), "0 requête"},
		{"fr plural many", newLocale("fr").N("uptime.requests", 2000), "2\u202f000 requêtes"},
		{"duration minutes", newLocale("en").Duration(95 * time.Minute), "1 h 35 min"},
		{"duration days", newLocale("fr").Duration(50 * time.Hour), "2 j 2 h"},
		{"duration short", newLocale("fr").Duration(10 * time.Second), "moins d’une minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestStatusID(t *testing.T) {
	if got, want := statusID("provider:open ai"), "cs-provider_3Aopen_20ai"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if statusID("a:b") == statusID("a-b") || statusID("a_b") == statusID("a:b") {
		t.Errorf("distinct names share an id")
	}
}
