package status

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// The types below are the Statuspage public API v2 wire format, field for
// field and in Statuspage's order.

// stamp is a time as Statuspage writes it: UTC with milliseconds, null
// when zero.
type stamp time.Time

const stampLayout = "2006-01-02T15:04:05.000Z07:00"

func (s stamp) MarshalJSON() ([]byte, error) {
	t := time.Time(s)
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(stampLayout) + `"`), nil
}

type pageJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	TimeZone  string `json:"time_zone"`
	UpdatedAt stamp  `json:"updated_at"`
}

type statusJSON struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

type componentJSON struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name"`
	Status             string  `json:"status"`
	CreatedAt          stamp   `json:"created_at"`
	UpdatedAt          stamp   `json:"updated_at"`
	Position           int     `json:"position"`
	Description        *string `json:"description"`
	Showcase           bool    `json:"showcase"`
	StartDate          *string `json:"start_date"`
	GroupID            *string `json:"group_id"`
	PageID             string  `json:"page_id"`
	Group              bool    `json:"group"`
	OnlyShowIfDegraded bool    `json:"only_show_if_degraded"`
}

type affectedJSON struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	OldStatus string `json:"old_status"`
	NewStatus string `json:"new_status"`
}

type updateJSON struct {
	ID                   string         `json:"id"`
	Status               string         `json:"status"`
	Body                 string         `json:"body"`
	IncidentID           string         `json:"incident_id"`
	CreatedAt            stamp          `json:"created_at"`
	UpdatedAt            stamp          `json:"updated_at"`
	DisplayAt            stamp          `json:"display_at"`
	AffectedComponents   []affectedJSON `json:"affected_components"` // null when none changed
	DeliverNotifications bool           `json:"deliver_notifications"`
	CustomTweet          *string        `json:"custom_tweet"`
	TweetID              *string        `json:"tweet_id"`
}

type incidentJSON struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	Status          string          `json:"status"`
	CreatedAt       stamp           `json:"created_at"`
	UpdatedAt       stamp           `json:"updated_at"`
	MonitoringAt    stamp           `json:"monitoring_at"`
	ResolvedAt      stamp           `json:"resolved_at"`
	Impact          string          `json:"impact"`
	Shortlink       string          `json:"shortlink"`
	StartedAt       stamp           `json:"started_at"`
	PageID          string          `json:"page_id"`
	IncidentUpdates []updateJSON    `json:"incident_updates"` // newest first
	Components      []componentJSON `json:"components"`
}

type maintenanceJSON struct {
	incidentJSON
	ScheduledFor   stamp `json:"scheduled_for"`
	ScheduledUntil stamp `json:"scheduled_until"`
}

// Response bodies.
type (
	summaryResponse struct {
		Page                  pageJSON          `json:"page"`
		Components            []componentJSON   `json:"components"`
		Incidents             []incidentJSON    `json:"incidents"`
		ScheduledMaintenances []maintenanceJSON `json:"scheduled_maintenances"`
		Status                statusJSON        `json:"status"`
	}
	statusResponse struct {
		Page   pageJSON   `json:"page"`
		Status statusJSON `json:"status"`
	}
	componentsResponse struct {
		Page       pageJSON        `json:"page"`
		Components []componentJSON `json:"components"`
	}
	incidentsResponse struct {
		Page      pageJSON       `json:"page"`
		Incidents []incidentJSON `json:"incidents"`
	}
	maintenancesResponse struct {
		Page                  pageJSON          `json:"page"`
		ScheduledMaintenances []maintenanceJSON `json:"scheduled_maintenances"`
	}
)

// Overall indicators and their descriptions.
const (
	indicatorNone        = "none"
	indicatorMinor       = "minor"
	indicatorMajor       = "major"
	indicatorCritical    = "critical"
	indicatorMaintenance = "maintenance"
)

var indicatorDescription = map[string]string{
	indicatorNone:        "All Systems Operational",
	indicatorMinor:       "Minor Service Outage",
	indicatorMajor:       "Partial System Outage",
	indicatorCritical:    "Major System Outage",
	indicatorMaintenance: "Service Under Maintenance",
}

// indicatorOfRank maps a severity rank (0 to 3) to an indicator.
var indicatorOfRank = [4]string{indicatorNone, indicatorMinor, indicatorMajor, indicatorCritical}

// componentRank is the indicator rank of a component status: degraded 1,
// partial 2, major 3, else 0.
func componentRank(s understudy.ComponentStatus) int {
	switch s {
	case understudy.ComponentDegradedPerformance:
		return 1
	case understudy.ComponentPartialOutage:
		return 2
	case understudy.ComponentMajorOutage:
		return 3
	}
	return 0
}

// overall is the page's status: see the package documentation.
func overall(comps []understudy.Component, open []understudy.Incident, active []understudy.Maintenance) statusJSON {
	rank, maint := 0, false
	for _, c := range comps {
		rank = max(rank, componentRank(c.Status))
		maint = maint || c.Status == understudy.ComponentUnderMaintenance
	}
	for _, inc := range open {
		if inc.Status.Open() {
			rank = max(rank, inc.Severity.Rank())
		}
	}
	for _, m := range active {
		maint = maint || m.Status == understudy.MaintenanceInProgress || m.Status == understudy.MaintenanceVerifying
	}
	ind := indicatorOfRank[rank]
	if rank == 0 && maint {
		ind = indicatorMaintenance
	}
	return statusJSON{Indicator: ind, Description: indicatorDescription[ind]}
}

// impact is the Statuspage impact of a severity.
func impact(s understudy.Severity) string {
	if s.Valid() {
		return string(s)
	}
	return "none"
}

const providerPrefix = "provider:"

// ComponentID is the public id of the component named name: a route name
// made only of lowercase letters, digits and '-' (and not starting with
// "provider-") is its own id; "provider:NAME" is "provider-NAME" when NAME
// is made of those characters; any other name is slugged (lowercase, each
// run of other characters becomes '-') and suffixed with '-' and the first
// 8 hex digits of the SHA-256 of the full name. The id depends on the name
// only, so it is stable across restarts and reloads, and two names never
// share one.
func ComponentID(name string) string {
	if p, ok := strings.CutPrefix(name, providerPrefix); ok {
		if clean(p) {
			return "provider-" + p
		}
		return "provider-" + hashed(p, name)
	}
	if clean(name) && !strings.HasPrefix(name, "provider-") {
		return name
	}
	return hashed(name, name)
}

// ComponentName is the public name of the component named name: routes
// keep theirs, "provider:NAME" becomes "Provider NAME".
func ComponentName(name string) string {
	if p, ok := strings.CutPrefix(name, providerPrefix); ok {
		return "Provider " + p
	}
	return name
}

func clean(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func hashed(s, full string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	sum := sha256.Sum256([]byte(full))
	slug := strings.TrimSuffix(b.String(), "-")
	if slug == "" {
		return hex.EncodeToString(sum[:4])
	}
	return slug + "-" + hex.EncodeToString(sum[:4])
}
