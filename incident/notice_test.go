package incident_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/notice"
	"github.com/understudy/understudy/simulate"
)

// TestInBandNotices: while the route is degraded (its primary is down and
// an incident is open), every answer carries its status, the incident and
// the status page; GET /api/notice tells users in their language; once
// the route is operational again, nothing is added.
func TestInBandNotices(t *testing.T) {
	h := newHarness(t, baseConfig)
	if resp := h.askHeaders(); resp.Header.Get("X-Understudy-Status") != "" {
		t.Fatalf("healthy route: X-Understudy-Status %q", resp.Header.Get("X-Understudy-Status"))
	}
	h.tick()
	h.fault("primary", simulate.Fault{Kind: simulate.KindServerError})
	for range 8 {
		h.second()
	}
	incs := h.incidents(true)
	if len(incs) != 1 {
		t.Fatalf("incidents %s", fmtIncidents(incs))
	}
	id := strconv.FormatInt(incs[0].ID, 10)
	resp := h.askHeaders()
	for k, want := range map[string]string{
		"X-Understudy-Status":      "degraded_performance",
		"X-Understudy-Incident":    id,
		"X-Understudy-Status-Page": "https://status.example.com/incidents/" + id,
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}

	srv := httptest.NewServer(notice.New(h.eng, func() string { return h.cfg.PublicURL }, func() []string { return []string{"assistant"} }))
	defer srv.Close()
	get := func(q string, header string) (int, notice.JSON) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/notice?"+q, nil)
		if header != "" {
			req.Header.Set("Accept-Language", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var n notice.JSON
		_ = json.NewDecoder(resp.Body).Decode(&n)
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no CORS header: chat UIs on other origins cannot read it")
		}
		return resp.StatusCode, n
	}
	code, n := get("route=assistant", "fr-CA,fr;q=0.9,en;q=0.5")
	if code != 200 || !n.Active || n.Lang != "fr" || n.Status != "degraded_performance" || n.Incident == nil ||
		!strings.HasPrefix(n.Message, "Nous rencontrons des difficultés avec fournisseur primary") {
		t.Errorf("notice: %d %+v", code, n)
	}
	if _, n := get("route=assistant&lang=en", "fr"); n.Lang != "en" || !strings.HasPrefix(n.Message, "We are having trouble with provider primary") {
		t.Errorf("explicit lang: %+v", n)
	}
	if code, _ := get("route=nope", ""); code != 404 {
		t.Errorf("unknown route: %d", code)
	}
	if code, _ := get("", ""); code != 400 {
		t.Errorf("no route: %d", code)
	}

	h.clear("primary")
	for range 20 {
		h.second()
	}
	h.idle(3 * time.Minute)
	if resp := h.askHeaders(); resp.Header.Get("X-Understudy-Status") != "" {
		t.Errorf("recovered route: X-Understudy-Status %q", resp.Header.Get("X-Understudy-Status"))
	}
	if _, n := get("route=assistant", ""); n.Active {
		t.Errorf("recovered route: notice %+v", n)
	}
}
