package providerstatus

import (
	"fmt"
	"strings"
	"time"
)

// Report is what Understudy keeps of one provider's status page: the last
// successful poll, reduced to what is not fine, plus the outcome of the
// latest attempt.
type Report struct {
	Provider  string `json:"provider"`   // name given to Watch
	PageName  string `json:"page_name"`  // page.name
	PageURL   string `json:"page_url"`   // page.url
	SourceURL string `json:"source_url"` // the summary.json polled

	Indicator   string `json:"indicator"`   // none, minor, major, critical
	Description string `json:"description"` // e.g. "Partial System Outage"

	// Components lists the components whose status is not operational, in
	// page order.
	Components []ComponentStatus `json:"components"`
	// Incidents lists the unresolved incidents, as the page orders them
	// (newest first).
	Incidents []IncidentReport `json:"incidents"`
	// Maintenances lists the scheduled maintenances in progress or
	// verifying; upcoming ones are left out.
	Maintenances []IncidentReport `json:"maintenances"`

	// PolledAt is when the reported summary was fetched (zero: never).
	PolledAt time.Time `json:"polled_at"`
	// AttemptedAt is when the latest poll ran, successful or not.
	AttemptedAt time.Time `json:"attempted_at"`
	// LastError is the latest poll's error, nil when it succeeded. A failing
	// page keeps the last good summary.
	LastError error `json:"-"`
}

// ComponentStatus is a provider component that is not operational.
type ComponentStatus struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IncidentReport is one unresolved incident (or active maintenance) declared
// by the provider.
type IncidentReport struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	Impact     string    `json:"impact"`
	Started    time.Time `json:"started"`
	Latest     string    `json:"latest"`    // body of the newest update
	LatestAt   time.Time `json:"latest_at"` // when it was posted
	Components []string  `json:"components"`
	Shortlink  string    `json:"shortlink"`
}

// Stale reports whether the last successful poll is older than maxAge at now,
// or never happened.
func (r Report) Stale(now time.Time, maxAge time.Duration) bool {
	return r.PolledAt.IsZero() || now.Sub(r.PolledAt) > maxAge
}

// Evidence renders the provider's unresolved incidents as one-liners to attach
// to one of our incidents, e.g.
//
//	provider reports: "Elevated error rates on Chat Completions" (investigating, major) since 14:02 UTC — https://stspg.io/xyz
//
// With hints, only incidents with an affected component whose name contains
// one of them (case-insensitive) are kept; when no hint is given, or none
// matches, every unresolved incident is rendered. The result is nil when the
// provider declares nothing.
func (r Report) Evidence(componentHints ...string) []string {
	incidents := r.Incidents
	if matched := r.matching(componentHints); len(matched) > 0 {
		incidents = matched
	}
	var out []string
	for _, inc := range incidents {
		out = append(out, r.line(inc))
	}
	return out
}

func (r Report) matching(hints []string) []IncidentReport {
	var lower []string
	for _, h := range hints {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			lower = append(lower, h)
		}
	}
	if len(lower) == 0 {
		return nil
	}
	var out []IncidentReport
	for _, inc := range r.Incidents {
		if componentsMatch(inc.Components, lower) {
			out = append(out, inc)
		}
	}
	return out
}

func componentsMatch(components, lowerHints []string) bool {
	for _, c := range components {
		c = strings.ToLower(c)
		for _, h := range lowerHints {
			if strings.Contains(c, h) {
				return true
			}
		}
	}
	return false
}

func (r Report) line(inc IncidentReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "provider reports: %q", inc.Name)
	var qual []string
	for _, s := range []string{inc.Status, inc.Impact} {
		if s != "" {
			qual = append(qual, s)
		}
	}
	if len(qual) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(qual, ", "))
	}
	if !inc.Started.IsZero() {
		fmt.Fprintf(&b, " since %s", sinceText(inc.Started, r.PolledAt))
	}
	if inc.Shortlink != "" {
		fmt.Fprintf(&b, " — %s", inc.Shortlink)
	}
	return b.String()
}

// sinceText shows the clock time in UTC, with the date when the incident did
// not start on the day (UTC) of the poll.
func sinceText(started, polled time.Time) string {
	s, p := started.UTC(), polled.UTC()
	if polled.IsZero() || s.Format(time.DateOnly) == p.Format(time.DateOnly) {
		return s.Format("15:04 UTC")
	}
	return s.Format("2006-01-02 15:04 UTC")
}
