package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/understudy/understudy/postmortem"
	"github.com/understudy/understudy/web"
)

// fakePostmortems holds published postmortems by incident id.
type fakePostmortems struct {
	published map[int64]postmortem.Postmortem
	err       error
}

func (f *fakePostmortems) Published(ctx context.Context, ids []int64) (map[int64]postmortem.Postmortem, error) {
	out := map[int64]postmortem.Postmortem{}
	for _, id := range ids {
		if p, ok := f.published[id]; ok {
			out[id] = p
		}
	}
	return out, f.err
}

var (
	_ web.Postmortems = (*fakePostmortems)(nil)
	_ web.Postmortems = (*postmortem.Service)(nil)
)

// publishedPostmortem is incident 5's, with Markdown and text to escape.
func publishedPostmortem() postmortem.Postmortem {
	start := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	return postmortem.Postmortem{ID: 3, IncidentID: 5, Status: postmortem.StatusPublished,
		Summary: "Answers were **slow** for 95 minutes <b>not bold</b>.",
		Impact: postmortem.Impact{Routes: []string{"assistant"}, Duration: 95 * time.Minute,
			Traffic: postmortem.Traffic{Requests: 1200, Failed: 3, ServedByFailover: 40, HandedOff: 2, UsersAffected: 9,
				Degraded: map[string]int64{"degraded_cache": 5}}},
		Trigger:             "A traffic peak after a newsletter.",
		RootCause:           "Our rate limit at the provider was too low.",
		ContributingFactors: "- no alert on latency\n- one provider only for this route",
		WentBadly:           "Internal only: not on the public page.",
		ActionItems: []postmortem.ActionItem{{ID: 1, Title: "Raise the rate limit", Owner: "internal-owner", Status: postmortem.ItemDone},
			{ID: 2, Title: "Add a second provider", Status: postmortem.ItemOpen}},
		PublishedAt: start.Add(26 * time.Hour)}
}

// TestPostmortemOnIncidentPage: a resolved incident's page shows its
// published postmortem — the public parts — in the reader's language.
func TestPostmortemOnIncidentPage(t *testing.T) {
	pms := &fakePostmortems{published: map[int64]postmortem.Postmortem{5: publishedPostmortem()}}
	h := web.New(web.Options{Source: incidentSource(), Uptime: testUptime(), Postmortems: pms,
		Page: web.Page{Name: "Acme Assistant", URL: "https://status.example.com"}, Clock: clockwork.NewFakeClockAt(now)})
	for _, tt := range []struct{ golden, target string }{
		{"incident-5-postmortem.en.html", "/incidents/5?lang=en"},
		{"incident-5-postmortem.fr.html", "/incidents/5?lang=fr"},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			res := get(t, h, tt.target)
			page := body(t, res)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("got %d", res.StatusCode)
			}
			for _, private := range []string{"Internal only", "internal-owner"} {
				if strings.Contains(page, private) {
					t.Errorf("the public page shows %q", private)
				}
			}
			golden(t, tt.golden, page)
		})
	}
	// Without a published postmortem the page is as before.
	if got := body(t, get(t, h, "/incidents/7?lang=en")); strings.Contains(got, `id="postmortem"`) {
		t.Errorf("an open incident's page shows a postmortem")
	}
	pms.err = errors.New("database is locked")
	if res := get(t, h, "/incidents/5"); res.StatusCode != http.StatusInternalServerError {
		t.Errorf("with the postmortems unavailable: got %d, want 500", res.StatusCode)
	}
}
