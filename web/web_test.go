package web_test

import (
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/live"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// get serves one request and returns the response.
func get(tb testing.TB, h http.Handler, target string, header ...string) *http.Response {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// body reads the response body.
func body(tb testing.TB, res *http.Response) string {
	tb.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// assetVersion is the static files' version in links: the goldens hold a
// placeholder, so that a change to the CSS or the script does not rewrite
// every golden file.
var assetVersion = regexp.MustCompile(`\?v=[0-9a-f]+"`)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	got = assetVersion.ReplaceAllString(got, `?v=VERSION"`)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./web -update to write it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				tb.Fatalf("%s differs from the golden file at line %d:\ngot:  %q\nwant: %q\n(run go test ./web -update if the change is intended)", name, i+1, g, w)
			}
		}
	}
}

func TestPagesGolden(t *testing.T) {
	tests := []struct {
		name   string
		src    func() *fakeSource
		target string
		hub    bool
	}{
		{"home-operational.en.html", operationalSource, "/?lang=en", true},
		{"home-operational.fr.html", operationalSource, "/?lang=fr", true},
		{"home-incident.en.html", incidentSource, "/?lang=en", true},
		{"home-incident.fr.html", incidentSource, "/?lang=fr", true},
		{"home-nolive.en.html", operationalSource, "/", false},
		{"fragment-incident.en.html", incidentSource, "/?fragment=live&lang=en", true},
		{"fragment-incident.fr.html", incidentSource, "/?fragment=live&lang=fr", true},
		{"incident-7.en.html", incidentSource, "/incidents/7?lang=en", true},
		{"incident-7.fr.html", incidentSource, "/incidents/7?lang=fr", true},
		{"incident-5.en.html", incidentSource, "/incidents/5", true},
		{"history.en.html", incidentSource, "/history", true},
		{"history.fr.html", incidentSource, "/history?lang=fr", true},
		{"notfound.fr.html", incidentSource, "/nowhere?lang=fr", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hub *live.Hub
			if tt.hub {
				hub = live.New()
			}
			res := get(t, newHandler(t, tt.src(), hub), tt.target)
			want := http.StatusOK
			if strings.HasPrefix(tt.name, "notfound") {
				want = http.StatusNotFound
			}
			if res.StatusCode != want {
				t.Fatalf("status: got %d, want %d", res.StatusCode, want)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type: got %q", ct)
			}
			golden(t, tt.name, body(t, res))
		})
	}
}

func TestLanguageChoice(t *testing.T) {
	h := newHandler(t, operationalSource(), nil)
	tests := []struct {
		name       string
		target     string
		header     []string
		wantLang   string
		wantCookie string // the Set-Cookie value, "" for none
	}{
		{"default", "/", nil, "en", ""},
		{"accept-language", "/", []string{"Accept-Language", "fr-FR,fr;q=0.9,en;q=0.8"}, "fr", ""},
		{"query wins over the header", "/?lang=en", []string{"Accept-Language", "fr"}, "en", "en"},
		{"query sets the cookie", "/history?lang=fr", nil, "fr", "fr"},
		{"cookie wins over the header", "/", []string{"Accept-Language", "en", "Cookie", "lang=fr"}, "fr", ""},
		{"unknown query ignored", "/?lang=de", []string{"Accept-Language", "fr"}, "fr", ""},
		{"bad cookie ignored", "/", []string{"Cookie", "lang=xx"}, "en", ""},
		{"fragment never sets the cookie", "/?fragment=live&lang=fr", nil, "fr", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, tt.target, tt.header...)
			b := body(t, res)
			if !strings.Contains(tt.target, "fragment") && !strings.Contains(b, `<html lang="`+tt.wantLang+`"`) {
				t.Errorf("got a page without <html lang=%q>", tt.wantLang)
			}
			var cookie string
			for _, c := range res.Cookies() {
				if c.Name == "lang" {
					cookie = c.Value
				}
			}
			if cookie != tt.wantCookie {
				t.Errorf("lang cookie: got %q, want %q", cookie, tt.wantCookie)
			}
			if tt.wantLang == "fr" && !strings.Contains(b, "Opérationnel") && !strings.Contains(b, "Langue") {
				t.Errorf("got a page not in French")
			}
		})
	}
}

func TestEscapesIncidentText(t *testing.T) {
	src := incidentSource()
	inc := majorIncident()
	inc.ID, inc.Title = 8, `<img src=x onerror="alert(1)">Outage`
	inc.Updates[1].Message = `Fixed soon <script>alert("pwned")</script> & "quoted"`
	src.addIncident(inc)
	src.maintenances[0].Message = "<script>alert(2)</script>"
	h := newHandler(t, src, live.New())
	for _, target := range []string{"/", "/?fragment=live", "/incidents/8", "/history"} {
		t.Run(target, func(t *testing.T) {
			b := body(t, get(t, h, target))
			for _, bad := range []string{"<script>alert", "<img src=x", `onerror="alert`} {
				if strings.Contains(b, bad) {
					t.Errorf("got %q unescaped in the page", bad)
				}
			}
			if !strings.Contains(b, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Outage") {
				t.Errorf("got no escaped title in the page")
			}
			if target != "/history" && !strings.Contains(b, "Fixed soon &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &#34;quoted&#34;") {
				t.Errorf("got no escaped update in the page")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Run("unknown incident", func(t *testing.T) {
		res := get(t, newHandler(t, incidentSource(), nil), "/incidents/99")
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("status: got %d, want 404", res.StatusCode)
		}
	})
	t.Run("bad incident id", func(t *testing.T) {
		res := get(t, newHandler(t, incidentSource(), nil), "/incidents/abc")
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("status: got %d, want 404", res.StatusCode)
		}
	})
	t.Run("source failure is internal", func(t *testing.T) {
		src := incidentSource()
		src.err = errors.New("database is on fire at 10.0.0.7")
		res := get(t, newHandler(t, src, nil), "/")
		b := body(t, res)
		if res.StatusCode != http.StatusInternalServerError {
			t.Errorf("status: got %d, want 500", res.StatusCode)
		}
		if strings.Contains(b, "on fire") {
			t.Errorf("got the internal error shown to visitors")
		}
		if !strings.Contains(b, "Something went wrong") {
			t.Errorf("got no generic message")
		}
	})
	t.Run("no /live without a hub", func(t *testing.T) {
		res := get(t, newHandler(t, incidentSource(), nil), "/live")
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("status: got %d, want 404", res.StatusCode)
		}
	})
	t.Run("POST is not allowed", func(t *testing.T) {
		rec := httptest.NewRecorder()
		newHandler(t, incidentSource(), nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("status: got %d, want 405", rec.Code)
		}
	})
}

func TestStatic(t *testing.T) {
	h := newHandler(t, operationalSource(), nil)
	page := body(t, get(t, h, "/"))
	for _, tt := range []struct{ name, ctype string }{
		{"status.css", "text/css; charset=utf-8"},
		{"status.js", "text/javascript; charset=utf-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			i := strings.Index(page, "/static/"+tt.name+"?v=")
			if i < 0 {
				t.Fatalf("the page does not link %s with a version", tt.name)
			}
			link := page[i : i+strings.IndexByte(page[i:], '"')]
			res := get(t, h, link)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type: got %q, want %q", got, tt.ctype)
			}
			if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
				t.Errorf("Cache-Control of a versioned asset: got %q", got)
			}
		})
	}
	if res := get(t, h, "/static/nothing.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: got %d, want 404", res.StatusCode)
	}
}

func TestHistoryPages(t *testing.T) {
	src := operationalSource()
	src.incidents = nil
	for i := range 45 {
		inc := pastIncident()
		inc.ID = int64(100 + i)
		inc.Title = "Incident " + string(rune('A'+i%26))
		inc.StartedAt = now.AddDate(0, 0, -2*i-1)
		inc.ResolvedAt = inc.StartedAt.Add(30 * 60e9)
		src.incidents = append(src.incidents, inc)
	}
	h := newHandler(t, src, nil)
	tests := []struct {
		target             string
		count              int
		wantPrev, wantNext bool
	}{
		{"/history", 20, false, true},
		{"/history?page=2", 20, true, true},
		{"/history?page=3", 5, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			res := get(t, h, tt.target)
			b := body(t, res)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d", res.StatusCode)
			}
			if got := strings.Count(b, `<li class="past`); got != tt.count {
				t.Errorf("incidents: got %d, want %d", got, tt.count)
			}
			if got := strings.Contains(b, `rel="prev"`); got != tt.wantPrev {
				t.Errorf("previous page link: got %v, want %v", got, tt.wantPrev)
			}
			if got := strings.Contains(b, `rel="next"`); got != tt.wantNext {
				t.Errorf("next page link: got %v, want %v", got, tt.wantNext)
			}
		})
	}
	for _, target := range []string{"/history?page=4", "/history?page=0", "/history?page=x"} {
		if res := get(t, h, target); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", target, res.StatusCode)
		}
	}
}

func TestUnknownComponentKindGoesByName(t *testing.T) {
	src := &fakeSource{components: []understudy.Component{{Name: "provider:mistral", Status: understudy.ComponentOperational}}}
	b := body(t, get(t, newHandler(t, src, nil), "/"))
	if !strings.Contains(b, "AI providers") || !strings.Contains(b, `<h4 class="cname">mistral</h4>`) {
		t.Errorf("a provider component without a kind is not shown as a provider")
	}
}

// TestTranslatedUpdates: an update written from the communication plan is
// shown in the reader's language; others as written.
func TestTranslatedUpdates(t *testing.T) {
	src := incidentSource()
	inc := majorIncident()
	inc.ID = 8
	inc.Updates[0].Message = "We are investigating errors."
	inc.Updates[0].Translations = map[string]string{"fr": "Nous analysons des erreurs."}
	src.addIncident(inc)
	h := newHandler(t, src, nil)
	for lang, want := range map[string]string{"en": "We are investigating errors.", "fr": "Nous analysons des erreurs."} {
		if b := body(t, get(t, h, "/incidents/8?lang="+lang)); !strings.Contains(b, want) {
			t.Errorf("lang %s: no %q in the page", lang, want)
		}
	}
}
