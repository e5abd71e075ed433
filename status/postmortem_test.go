package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/status"
)

// fakePostmortems publishes the postmortems it holds, by incident id.
type fakePostmortems struct {
	published map[int64]postmortem.Postmortem
	err       error
	asked     [][]int64
}

func (f *fakePostmortems) Published(ctx context.Context, ids []int64) (map[int64]postmortem.Postmortem, error) {
	f.asked = append(f.asked, ids)
	out := map[int64]postmortem.Postmortem{}
	for _, id := range ids {
		if p, ok := f.published[id]; ok {
			out[id] = p
		}
	}
	return out, f.err
}

var (
	_ status.Postmortems = (*fakePostmortems)(nil)
	_ status.Postmortems = (*postmortem.Service)(nil)
)

// TestPostmortemStatus: once its postmortem is published, a resolved
// incident's status is "postmortem" in the incident list and the feeds,
// with a last update linking to it; open incidents are never asked about.
func TestPostmortemStatus(t *testing.T) {
	pms := &fakePostmortems{published: map[int64]postmortem.Postmortem{5: {ID: 2, IncidentID: 5, Status: postmortem.StatusPublished,
		Summary: "Embeddings were slow for 45 minutes: a cold cache after a deploy.", PublishedAt: at("2026-11-22T10:00:00Z")}}}
	h := status.New(status.Options{Source: scenarios()["incident"], Postmortems: pms,
		Page: status.Page{ID: "us7x2k9q0abc", Name: "Acme AI", URL: "https://status.acme.test/"}, Clock: clockwork.NewFakeClockAt(now)})
	for _, ep := range []struct{ path, golden string }{
		{"/api/v2/incidents.json", "incidents.json"},
		{"/history.atom", "history.atom"},
	} {
		t.Run(ep.path, func(t *testing.T) {
			res := get(t, h, http.MethodGet, ep.path)
			body := mustBody(t, res)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("got %d: %s", res.StatusCode, body)
			}
			if strings.HasSuffix(ep.path, ".json") {
				var doc map[string]any
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatal(err)
				}
				for i, inc := range doc["incidents"].([]any) {
					shape{t}.incident(fmt.Sprintf("incidents[%d]", i), inc, false)
				}
				var buf bytes.Buffer
				if err := json.Indent(&buf, body, "", "  "); err != nil {
					t.Fatal(err)
				}
				body = buf.Bytes()
			}
			golden(t, filepath.Join("postmortem", ep.golden), body)
		})
	}
	if got := fmt.Sprint(pms.asked); got != "[[5] [5]]" {
		t.Errorf("asked about incidents %s, want only the resolved one (5), once a request", got)
	}
	// The open incidents' lists never ask.
	for _, path := range []string{"/api/v2/summary.json", "/api/v2/incidents/unresolved.json"} {
		if res := get(t, h, http.MethodGet, path); res.StatusCode != http.StatusOK || strings.Contains(string(mustBody(t, res)), `"postmortem"`) {
			t.Errorf("%s: %d, or shows a postmortem", path, res.StatusCode)
		}
	}
	if len(pms.asked) != 2 {
		t.Errorf("the open lists asked about postmortems: %v", pms.asked)
	}
	pms.err = errBroken
	if res := get(t, h, http.MethodGet, "/api/v2/incidents.json"); res.StatusCode != http.StatusInternalServerError {
		t.Errorf("with the postmortems unavailable: got %d, want 500", res.StatusCode)
	}
}
