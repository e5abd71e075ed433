package analytics_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understudy/understudy/analytics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// MustGolden compares got with testdata/name, or rewrites it under -update
// (go test ./analytics -update).
func MustGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./analytics -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs from the output: got\n%s\nwant\n%s", path, got, want)
	}
}

// MustWellFormed parses markup as XML: the SVG charts and HTML fragments
// are written to be well-formed.
func MustWellFormed(tb testing.TB, markup template.HTML) {
	tb.Helper()
	d := xml.NewDecoder(strings.NewReader("<root>" + string(markup) + "</root>"))
	d.Entity = xml.HTMLEntity
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			tb.Fatalf("not well-formed: %v\n%s", err, markup)
		}
	}
}

func TestSVGGolden(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	r := MustCompute(t, s, 7)
	r30 := MustCompute(t, s, 30)
	tests := []struct {
		name string
		svg  func(analytics.Report) template.HTML
	}{
		{"availability_assistant_7d.svg", func(r analytics.Report) template.HTML { return analytics.AvailabilitySVG(r.Routes[0]) }},
		{"availability_support_7d.svg", func(r analytics.Report) template.HTML { return analytics.AvailabilitySVG(r.Routes[1]) }},
		{"availability_openai_7d.svg", func(r analytics.Report) template.HTML { return analytics.AvailabilitySVG(r.Providers[2]) }},
		{"availability_local_7d.svg", func(r analytics.Report) template.HTML { return analytics.AvailabilitySVG(r.Providers[3]) }},
		{"causes_7d.svg", func(r analytics.Report) template.HTML {
			return analytics.CausesSVG("all", "Incidents by cause, 7 days", r.Causes)
		}},
		{"causes_none.svg", func(r analytics.Report) template.HTML { return analytics.CausesSVG("none", "Incidents by cause", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.svg(r)
			if again := tt.svg(MustCompute(t, s, 7)); again != got {
				t.Errorf("two renderings of the same report differ")
			}
			MustWellFormed(t, got)
			for _, want := range []string{`role="img"`, `<title id=`, `<desc id=`, `aria-labelledby=`} {
				if !strings.Contains(string(got), want) {
					t.Errorf("missing %s", want)
				}
			}
			if strings.Contains(string(got), "style=") || strings.Contains(string(got), "<script") {
				t.Errorf("has a style attribute or a script")
			}
			MustGolden(t, tt.name, []byte(string(got)+"\n"))
		})
	}
	t.Run("availability_assistant_30d.svg", func(t *testing.T) {
		got := analytics.AvailabilitySVG(r30.Routes[0])
		MustWellFormed(t, got)
		MustGolden(t, "availability_assistant_30d.svg", []byte(string(got)+"\n"))
	})
}

func TestHTMLGolden(t *testing.T) {
	s := MustOpen(t)
	seed(t, s)
	r := MustCompute(t, s, 7)
	tests := []struct {
		name string
		html func() (template.HTML, error)
	}{
		{"report_7d.html", func() (template.HTML, error) { return analytics.HTML(r, "") }},
		{"scorecard_7d.html", func() (template.HTML, error) { return analytics.ScorecardHTML(r) }},
		{"routes_7d.html", func() (template.HTML, error) { return analytics.RoutesHTML(r) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.html()
			if err != nil {
				t.Fatal(err)
			}
			MustWellFormed(t, got)
			MustGolden(t, tt.name, []byte(string(got)+"\n"))
		})
	}
}
